"""solution.py end to end beside the bare encoder session on pre-decoded batches, and the GPU projection.

The solution runs as a participant's would, as a process (`python solution.py`); the bare
encoder runs in this process with the batch size and thread count the solution reported
in its solution.json, so the difference is what decoding, batching, the aggregator and
writing cost on top of inference.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pandas as pd
from PIL import Image

from bench.flops import encoder_macs_per_image
from contracts.competition import DEVBATTLE
from contracts.names import DESCRIPTORS_FILE, FRAMES_PER_TRACK, SOLUTION_REPORT_FILE, TRACK_COLUMNS, TRACKS_FILE

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = ROOT / "solution.py"
ENCODER = ROOT / "models" / "encoder.onnx"
FACES_DIR = ROOT / "assets" / "faces"
CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
FULL_TRACKS = 100
QUICK_TRACKS = 4
MCS_TEST_TRACKS = 8050
JPEG_QUALITY = 90
# Peak dense fp32 throughput, FLOP/s: the reference GPU of MCS2019 and an H100 (SXM, no tensor cores).
GPUS = {"RTX 2080 Ti": 13.4e12, "H100 SXM": 67e12}
# A convolutional network of this size rarely keeps a GPU busier than this; the projection says so.
ASSUMED_UTILIZATION = 0.25

_TRACK, _FRAME, _PATH = TRACK_COLUMNS


class PipelineError(RuntimeError):
    """The pipeline could not be measured: solution.py failed or the data is unusable."""


def prepare_tracks(source: Path | None, tracks: int, dest: Path) -> str:
    """Write a test folder of `tracks` tracks into `dest`; return where its images came from.

    From the first tracks of the test folder `source` (the dataset of `make data`) when it
    holds a tracks.csv; otherwise from the real 112x112 face chips in assets/faces, as
    JPEG, ten frames a track. Raises PipelineError when neither is there or `source` names
    an image that does not exist.
    """
    dest.mkdir(parents=True, exist_ok=True)
    if source is not None and (source / TRACKS_FILE).is_file():
        table = pd.read_csv(source / TRACKS_FILE)
        table = table[table[_TRACK].isin(table[_TRACK].drop_duplicates().head(tracks))]
        for relative in table[_PATH]:
            if not (source / relative).is_file():
                raise PipelineError(f"every image {TRACKS_FILE} names must exist, got {source / relative} missing")
            (dest / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / relative, dest / relative)
        table.to_csv(dest / TRACKS_FILE, index=False)
        return str(source)
    chips = sorted(FACES_DIR.glob("*_112.png"))
    if not chips:
        raise PipelineError(f"no test data: {source} must hold {TRACKS_FILE} (run `make data`) or {FACES_DIR} faces")
    (dest / "images").mkdir(exist_ok=True)
    rows = []
    for track in range(tracks):
        for frame in range(FRAMES_PER_TRACK):
            relative = f"images/{track}_{frame}.jpg"
            with Image.open(chips[(track * FRAMES_PER_TRACK + frame) % len(chips)]) as chip:
                chip.convert("RGB").save(dest / relative, quality=JPEG_QUALITY)
            rows.append((track, frame, relative))
    pd.DataFrame(rows, columns=list(TRACK_COLUMNS)).to_csv(dest / TRACKS_FILE, index=False)
    return str(FACES_DIR.relative_to(ROOT))


def run_solution(test_dir: Path, output_dir: Path, gpu: bool) -> tuple[float, dict[str, Any]]:
    """Run solution.py on `test_dir`; return its process wall time and its solution.json.

    On a CPU run the GPU is hidden from it, so the CPU figure stays a CPU figure on a GPU host.
    Raises PipelineError with the end of its stderr when it fails.
    """
    if output_dir.exists():
        shutil.rmtree(output_dir)
    output_dir.mkdir(parents=True)
    env = dict(os.environ)
    if not gpu:
        env["CUDA_VISIBLE_DEVICES"] = ""
    command = [sys.executable, str(SOLUTION), "--data", str(test_dir), "--output", str(output_dir)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - started
    if done.returncode != 0 or not (output_dir / DESCRIPTORS_FILE).is_file():
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        raise PipelineError(f"solution.py must exit 0 and write {DESCRIPTORS_FILE}, got exit {done.returncode}: {tail}")
    report: dict[str, Any] = json.loads((output_dir / SOLUTION_REPORT_FILE).read_text())
    return wall, report


def decode_all(test_dir: Path) -> tuple[np.ndarray, float]:
    """Decode every image of `test_dir` on one thread; return uint8 [N, 112, 112, 3] and the images per second."""
    paths = pd.read_csv(test_dir / TRACKS_FILE)[_PATH]
    started = time.perf_counter()
    images = []
    for relative in paths:
        with Image.open(test_dir / relative) as image:
            images.append(np.asarray(image.convert("RGB"), dtype=np.uint8))
    seconds = time.perf_counter() - started
    return np.stack(images), len(images) / seconds


def encoder_session(provider: str, threads: int) -> ort.InferenceSession:
    """Open models/encoder.onnx on `provider` with `threads` intra-op threads (CPU last as ORT requires)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    providers = [provider] if provider == CPU else [provider, CPU]
    return ort.InferenceSession(str(ENCODER), sess_options=options, providers=providers)


def encoder_only(session: ort.InferenceSession, images: np.ndarray, batch_size: int) -> float:
    """Run the bare encoder over `images` in batches of `batch_size`; return images per second.

    On CUDA the batches are bound on the device first (IO binding), so the figure is the
    network's own speed without host copies; on the CPU they are plain numpy inputs.
    """
    name = session.get_inputs()[0].name
    batches = [images[i : i + batch_size] for i in range(0, len(images), batch_size)]
    if session.get_providers()[0] != CUDA:
        started = time.perf_counter()
        for batch in batches:
            session.run(None, {name: batch})
        return len(images) / (time.perf_counter() - started)
    bindings = []
    for batch in batches:
        binding = session.io_binding()
        binding.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(batch, "cuda", 0))
        binding.bind_output(session.get_outputs()[0].name, "cuda")
        bindings.append(binding)
    session.run_with_iobinding(bindings[0])  # the first CUDA run picks kernels: not part of the figure
    started = time.perf_counter()
    for binding in bindings:
        session.run_with_iobinding(binding)
    return len(images) / (time.perf_counter() - started)


def projection(flops_per_image: float, decode_per_core: float) -> dict[str, Any]:
    """Project the full MCS test on each GPU of `GPUS` from the encoder's FLOPs; these are not measurements.

    Encoder seconds at the GPU's peak and at `ASSUMED_UTILIZATION` of it; JPEG decoding on
    the DevBattle profile's CPUs at the single-core rate measured here; the projected run
    is the slower of the two (decoding overlaps inference in solution.py), against the limit.
    """
    images = MCS_TEST_TRACKS * FRAMES_PER_TRACK
    cpus = DEVBATTLE.hardware.cpus
    decode_s = images / (decode_per_core * cpus)
    gpus = {}
    for name, peak in GPUS.items():
        at_peak = images * flops_per_image / peak
        realistic = at_peak / ASSUMED_UTILIZATION
        gpus[name] = {
            "peak_tflops": peak / 1e12,
            "encoder_s_at_peak": round(at_peak, 1),
            "encoder_s_at_assumed_utilization": round(realistic, 1),
            "projected_run_s": round(max(realistic, decode_s), 1),
            "fits_limit": max(realistic, decode_s) < DEVBATTLE.time_limit_s,
        }
    return {
        "measured": False,
        "images": images,
        "assumed_utilization": ASSUMED_UTILIZATION,
        "decode_cpus": cpus,
        "decode_s": round(decode_s, 1),
        "time_limit_s": DEVBATTLE.time_limit_s,
        "gpus": gpus,
    }


def bench_pipeline(work: Path, data: Path | None, quick: bool, gpu: bool, log: Callable[[str], None]) -> dict[str, Any]:
    """Run the pipeline section in the folder `work`; return its results.

    Solution and bare encoder alternate, twice each in a full run, and the best of each
    counts. Raises PipelineError when solution.py fails or there is no test data.
    """
    test_dir = work / "pipeline-test"
    source = prepare_tracks(data, QUICK_TRACKS if quick else FULL_TRACKS, test_dir)
    images, decode_per_core = decode_all(test_dir)
    log(f"pipeline: {len(images)} images from {source}")
    walls, reports, bare = [], [], []
    session: ort.InferenceSession | None = None
    for _ in range(1 if quick else 2):
        wall, report = run_solution(test_dir, work / "pipeline-output", gpu)
        walls.append(wall)
        reports.append(report)
        session = session or encoder_session(CUDA if gpu else CPU, int(report["intra_op_threads"]))
        encoder_provider = session.get_providers()[0]
        bare.append(encoder_only(session, images, int(report["batch_size"])))
    steady = [r["images"] / (r["timings_s"]["total_s"] - r["timings_s"]["load_s"]) for r in reports]
    best = int(np.argmax(steady))
    report = reports[best]
    macs = encoder_macs_per_image(ENCODER)
    return {
        "images": int(report["images"]),
        "tracks": int(report["tracks"]),
        "data": source,
        "provider": report["execution_provider"],
        "encoder_only_provider": encoder_provider,
        "batch_size": int(report["batch_size"]),
        "threads": int(report["intra_op_threads"]),
        "decode_workers": int(report["decode_workers"]),
        "images_per_s": round(steady[best], 2),
        "process_images_per_s": round(report["images"] / min(walls), 2),
        "encoder_only_images_per_s": round(max(bare), 2),
        "ratio": round(steady[best] / max(bare), 3),
        "timings_s": report["timings_s"],
        "bare_encoder_s": round(report["images"] / max(bare), 3),
        "decode_images_per_s_per_core": round(decode_per_core, 1),
        "encoder_macs_per_image": macs,
        "encoder_gflops_per_image": round(2 * macs / 1e9, 3),
        "projection": projection(2 * macs, decode_per_core),
    }
