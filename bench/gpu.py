"""The GPU variant (`python -m bench --gpu`): the pipeline on CUDA, the bare encoder with IO binding, fp16.

It refuses to run, with one sentence, where no GPU can be used: a CPU figure must never
be recorded as a GPU one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.transformers.float16 import convert_float_to_float16

from bench.machine import gpu_name
from bench.pipeline import CUDA, ENCODER, bench_pipeline, decode_all, encoder_only, encoder_session

# fp16 is used only when every descriptor stays this close (cosine) to its fp32 value.
FP16_MIN_COSINE = 0.999


class GpuUnavailable(RuntimeError):
    """No GPU that ONNX Runtime can use is on this host; the message says which step failed."""


def require_gpu() -> str:
    """Return the GPU's name when ONNX Runtime really runs the encoder on CUDA here.

    Raises GpuUnavailable naming the missing piece: no NVIDIA GPU, an onnxruntime build
    without CUDA, or a CUDA provider that cannot load (it would fall back to the CPU).
    """
    name = gpu_name()
    if name is None:
        raise GpuUnavailable("--gpu needs an NVIDIA GPU, and nvidia-smi finds none on this host; run `make bench`")
    if CUDA not in ort.get_available_providers():
        raise GpuUnavailable(f"--gpu needs onnxruntime-gpu, got onnxruntime {ort.__version__} without {CUDA}")
    provider = encoder_session(CUDA, 1).get_providers()[0]
    if provider != CUDA:
        raise GpuUnavailable(f"{CUDA} cannot load on {name} (CUDA or cuDNN libraries missing?): ORT_VERBOSE=1 says why")
    return name


def fp16_session(threads: int, provider: str) -> ort.InferenceSession:
    """Open an fp16 copy of the encoder (inputs and outputs keep their types) on `provider`."""
    model = convert_float_to_float16(onnx.load(str(ENCODER)), keep_io_types=True)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), sess_options=options, providers=[provider])


def min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Return the smallest cosine between matching rows of `a` and `b` ([N, D] each)."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    cosine = (a64 * b64).sum(axis=1) / (np.linalg.norm(a64, axis=1) * np.linalg.norm(b64, axis=1))
    return float(cosine.min())


def fp16_figures(images: np.ndarray, batch_size: int, provider: str) -> dict[str, Any]:
    """Compare the fp16 encoder with the fp32 one on `images`: fidelity, and throughput when it holds."""
    fp32 = encoder_session(provider, 1)
    fp16 = fp16_session(1, provider)
    name = fp32.get_inputs()[0].name
    sample = images[:batch_size]
    cosine = min_cosine(fp16.run(None, {name: sample})[0], fp32.run(None, {name: sample})[0])
    holds = cosine >= FP16_MIN_COSINE
    return {
        "min_cosine_vs_fp32": round(cosine, 6),
        "holds_fidelity": holds,
        "threshold": FP16_MIN_COSINE,
        "encoder_only_images_per_s": round(encoder_only(fp16, images, batch_size), 2) if holds else None,
    }


def bench_gpu(work: Path, data: Path | None, quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    """Run the GPU variant: the pipeline on CUDA beside the IO-bound bare encoder, then fp16.

    Raises GpuUnavailable before anything runs when there is no usable GPU, and
    PipelineError when solution.py fails.
    """
    device = require_gpu()
    log(f"gpu: {device}")
    pipeline = bench_pipeline(work, data, quick, gpu=True, log=log)
    if pipeline["provider"] != CUDA:
        raise GpuUnavailable(f"solution.py must run on {CUDA} for the GPU figures, got {pipeline['provider']}")
    images, _ = decode_all(work / "pipeline-test")
    return {"device": device, "pipeline": pipeline, "fp16": fp16_figures(images, pipeline["batch_size"], CUDA)}
