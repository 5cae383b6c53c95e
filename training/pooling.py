"""Training-free aggregators over frame descriptors [T, F, D] -> [T, D], L2-normalized: the references.

`mean_l2` is MCS2019's baseline (what models/aggregator.onnx computes); `median_l2`
takes the coordinate-wise median; `drop_k` averages the frames left after dropping the
k farthest from the track's coordinate-wise median, which discards a short identity
switch when it is shorter than k frames.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

EPSILON = 1e-12


def _unit(vectors: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.maximum(norm, EPSILON)).astype(np.float32)


def _check(frames: np.ndarray) -> np.ndarray:
    array = np.asarray(frames, dtype=np.float64)
    if array.ndim != 3 or array.shape[1] < 1:
        raise ValueError(f"frames must be [T, F, D] with F >= 1, got shape {array.shape}")
    return array


def mean_l2(frames: np.ndarray) -> np.ndarray:
    """Return the L2-normalized mean over frames, float32 [T, D]. Raises ValueError unless `frames` is [T, F>=1, D]."""
    return _unit(_check(frames).mean(axis=1))


def median_l2(frames: np.ndarray) -> np.ndarray:
    """Return the L2-normalized coordinate-wise median over the unit frames, float32 [T, D]. Raises as mean_l2."""
    return _unit(np.median(_unit(_check(frames)), axis=1))


def drop_k(frames: np.ndarray, k: int = 3) -> np.ndarray:
    """Return the L2-normalized mean of the unit frames closest to the track median, all but `k`, float32 [T, D].

    Tracks of k frames or fewer keep one frame, the closest. Raises ValueError as mean_l2,
    or when k is negative.
    """
    if k < 0:
        raise ValueError(f"k must be at least 0, got {k}")
    unit = _unit(_check(frames)).astype(np.float64)
    median = np.median(unit, axis=1, keepdims=True)
    distance = np.linalg.norm(unit - median, axis=2)
    keep = max(1, unit.shape[1] - k)
    nearest = np.argsort(distance, axis=1, kind="stable")[:, :keep]
    return _unit(np.take_along_axis(unit, nearest[:, :, None], axis=1).mean(axis=1))


POOLINGS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "mean+L2": mean_l2,
    "median": median_l2,
    "drop-3": drop_k,
}
