"""models/aggregator.onnx: the mean of the frame descriptors, L2-normalized, equal to numpy."""

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from models.export_aggregator import EPSILON, INPUT_NAME, OUTPUT_NAME, build_aggregator

MODEL = Path(__file__).resolve().parent.parent / "models" / "aggregator.onnx"
DIM = 128


@pytest.fixture(scope="module")
def aggregator() -> ort.InferenceSession:
    return ort.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"])


def aggregate(session: ort.InferenceSession, frames: np.ndarray) -> np.ndarray:
    return session.run([OUTPUT_NAME], {INPUT_NAME: frames})[0]


def reference(frames: np.ndarray) -> np.ndarray:
    mean = frames.astype(np.float64).mean(axis=1)
    return mean / np.linalg.norm(mean, axis=1, keepdims=True)


def test_signature(aggregator):
    [frames] = aggregator.get_inputs()
    [tracks] = aggregator.get_outputs()
    assert (frames.name, frames.type, frames.shape) == (INPUT_NAME, "tensor(float)", ["T", "F", DIM])
    assert (tracks.name, tracks.type, tracks.shape) == (OUTPUT_NAME, "tensor(float)", ["T", DIM])


def test_committed_aggregator_is_what_the_exporter_builds():
    assert build_aggregator().SerializeToString() == MODEL.read_bytes()


@pytest.mark.parametrize(("tracks", "frames"), [(1, 1), (1, 10), (7, 10), (64, 3), (5, 33)])
def test_equals_numpy_mean_then_l2_normalization(aggregator, tracks, frames):
    rng = np.random.default_rng(tracks * 100 + frames)
    descriptors = rng.normal(loc=0.1, scale=0.2, size=(tracks, frames, DIM)).astype(np.float32)
    result = aggregate(aggregator, descriptors)
    assert result.shape == (tracks, DIM)
    assert result.dtype == np.float32
    np.testing.assert_allclose(result, reference(descriptors), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(result, axis=1), 1.0, rtol=1e-5)


def test_frame_order_does_not_matter(aggregator):
    descriptors = np.random.default_rng(1).normal(size=(4, 10, DIM)).astype(np.float32)
    reversed_frames = descriptors[:, ::-1, :].copy()
    np.testing.assert_allclose(aggregate(aggregator, reversed_frames), aggregate(aggregator, descriptors), atol=1e-6)


def test_zero_mean_track_stays_zero_and_finite(aggregator):
    descriptors = np.random.default_rng(2).normal(size=(3, 4, DIM)).astype(np.float32)
    descriptors[1] = 0.0
    descriptors[2, 1] = -descriptors[2, 0]  # two frames that cancel out
    descriptors[2, 2:] = 0.0
    result = aggregate(aggregator, descriptors)
    assert np.isfinite(result).all()
    np.testing.assert_array_equal(result[1:], 0.0)
    np.testing.assert_allclose(result[0], reference(descriptors[:1])[0], rtol=1e-5, atol=1e-6)


def test_tiny_but_nonzero_mean_is_still_normalized(aggregator):
    # Far below a real descriptor's norm, yet above the guard: the direction survives.
    descriptors = np.full((1, 2, DIM), 1e-8, dtype=np.float32)
    assert np.sqrt(DIM) * 1e-8 > EPSILON
    np.testing.assert_allclose(np.linalg.norm(aggregate(aggregator, descriptors), axis=1), 1.0, rtol=1e-5)
