"""The organizer's encoder (models/encoder.onnx) on the CPU, run the same way every time.

References and train frame descriptors come from here. ONNX Runtime's CPU kernels give
the same bits for the same batch on the same thread count, so the batch size and the
thread count are fixed: the same seed then gives byte-identical arrays on one machine.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import ParamSpec, TypeVar

import numpy as np
import onnxruntime as ort

from contracts.names import IMAGE_SIZE

ENCODER_PATH = Path(__file__).resolve().parents[2] / "models" / "encoder.onnx"
INPUT_NAME = "images"
BATCH_SIZE = 32
THREADS = 2

_P = ParamSpec("_P")
_T = TypeVar("_T")


class EncoderError(RuntimeError):
    """models/encoder.onnx is missing or does not take uint8 [N, 112, 112, 3] images."""


class Encoder:
    """models/encoder.onnx (or another encoder) on the CPU with a fixed thread count and batch size."""

    def __init__(self, model: Path | bytes = ENCODER_PATH) -> None:
        """Open the model file `model`, or the serialized model given as bytes (a variant built in memory).

        Raises EncoderError when the file is missing or the model cannot be loaded.
        """
        path = model if isinstance(model, Path) else "the encoder given as bytes"
        if isinstance(model, Path) and not model.is_file():
            raise EncoderError(f"the encoder {path} must exist; restore it with `git checkout -- models/encoder.onnx`")
        options = ort.SessionOptions()
        options.intra_op_num_threads = THREADS
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session = ort.InferenceSession(
                model if isinstance(model, bytes) else str(model),
                sess_options=options,
                providers=["CPUExecutionProvider"],
            )
        except Exception as exc:  # onnxruntime raises its own exception types per failure
            raise EncoderError(
                f"the encoder {path} must be a loadable ONNX model: {str(exc).splitlines()[0]}"
            ) from None
        self.dim = int(self._session.get_outputs()[0].shape[1])

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """Return the float32 [N, D] descriptors of uint8 `images` [N, 112, 112, 3], in batches of BATCH_SIZE.

        Raises ValueError when `images` has another shape or dtype.
        """
        shape = (IMAGE_SIZE, IMAGE_SIZE, 3)
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != shape:
            raise ValueError(
                f"images must be uint8 [N, {IMAGE_SIZE}, {IMAGE_SIZE}, 3], got {images.dtype} {images.shape}"
            )
        out = np.empty((images.shape[0], self.dim), dtype=np.float32)
        for start in range(0, images.shape[0], BATCH_SIZE):
            batch = images[start : start + BATCH_SIZE]
            out[start : start + batch.shape[0]] = self._session.run(None, {INPUT_NAME: batch})[0]
        return out


class InlineExecutor(Executor):
    """An executor that runs each task at once on the calling thread: encoding without a background thread."""

    def submit(self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> Future[_T]:
        """Run `fn(*args, **kwargs)` now; return a finished future holding its result or its exception."""
        future: Future[_T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # the future carries it to whoever asks for the result, as a thread's would
            future.set_exception(exc)
        return future
