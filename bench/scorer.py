"""The project's streamed scorer beside the naive way and the bare matrix product, then its growth curve.

The data has the shape of the MCS2019 private test: one track per identity and five
references per identity, so N identities make 5 N^2 pairs (4,025 identities: 81 million).
Descriptors scatter around a random centre per identity, so that the TPR at each FPR
target lies strictly between 0 and 1 and a wrong threshold would show.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.metrics import roc_curve

from bench.measure import best_time, traced_in_subprocess
from contracts.competition import DEVBATTLE
from contracts.names import PRIVATE
from evaluate.groundtruth import SubsetTruth
from evaluate.scoring import BLOCK_BYTES, score_subset

REFERENCES_PER_IDENTITY = 5
MCS_IDENTITIES = 4025
FULL_DIMS = (128, 512)
FULL_GROWTH_PAIRS = (10**6, 10**7, 10**8, 10**9)
QUICK_IDENTITIES = 120
QUICK_DIMS = (128,)
QUICK_GROWTH_PAIRS = (10**4, 10**5)
# Within-identity spread relative to the spread of the centres: the TPRs land mid-range.
NOISE = 1.1
MB = 1024**2
FPRS = DEVBATTLE.metric.fpr


@dataclass(frozen=True)
class Case:
    """One private subset: its ground truth and the track descriptors [N, D] float32, in its order."""

    part: SubsetTruth
    tracks: np.ndarray

    @property
    def pairs(self) -> int:
        """Every (track, reference) pair the scorer compares."""
        return int(self.tracks.shape[0] * self.part.reference_descriptor.shape[0])


def make_case(spec: tuple[int, int, int]) -> Case:
    """Return the seeded case of `spec` = (identities, dimension, seed).

    Raises ValueError when there are fewer than 2 identities (no negative pairs) or the
    dimension is below 1.
    """
    identities, dim, seed = spec
    if identities < 2 or dim < 1:
        raise ValueError(f"a case must have at least 2 identities and dimension 1, got {identities} and {dim}")
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(identities, 1, dim)) / math.sqrt(dim)
    spread = NOISE / math.sqrt(dim)
    references = centres + spread * rng.normal(size=(identities, REFERENCES_PER_IDENTITY, dim))
    tracks = centres[:, 0, :] + spread * rng.normal(size=(identities, dim))
    person = np.arange(identities, dtype=np.int64)
    part = SubsetTruth(
        name=PRIVATE,
        track_id=person.copy(),
        track_person=person,
        reference_person=np.repeat(person, REFERENCES_PER_IDENTITY),
        reference_descriptor=references.reshape(-1, dim).astype(np.float32),
    )
    return Case(part, tracks.astype(np.float32))


def pairs_of(identities: int) -> int:
    """Return the pairs of a case of `identities` identities: every track against every reference."""
    return identities * identities * REFERENCES_PER_IDENTITY


def identities_for(pairs: int) -> int:
    """Return the number of identities whose case holds about `pairs` pairs (5 N^2)."""
    return max(2, round(math.sqrt(pairs / REFERENCES_PER_IDENTITY)))


def ours(case: Case) -> list[float]:
    """The project's streamed scorer (`evaluate.scoring.score_subset`): the TPR at each target."""
    return [point.tpr for point in score_subset(case.part, case.tracks, FPRS).points]


def naive(case: Case) -> list[float]:
    """The naive way: every pair distance in one matrix, then sklearn's ROC curve; the TPR at each target.

    ``drop_intermediate=False`` keeps every threshold, so the largest TPR with FPR <= f
    is exact (the default drops points and is wrong on ties).
    """
    tracks = case.tracks.astype(np.float64)
    references = case.part.reference_descriptor.astype(np.float64)
    squared = (tracks**2).sum(axis=1)[:, None] + (references**2).sum(axis=1)[None, :] - 2 * tracks @ references.T
    distances = np.sqrt(np.maximum(squared, 0))
    labels = case.part.track_person[:, None] == case.part.reference_person[None, :]
    fpr, tpr, _ = roc_curve(labels.ravel(), -distances.ravel(), drop_intermediate=False)
    return [float(tpr[fpr <= f].max()) for f in FPRS]


def floor(case: Case) -> np.ndarray:
    """The bare float64 matrix product of tracks and references: no scorer can do less work."""
    return case.tracks.astype(np.float64) @ case.part.reference_descriptor.astype(np.float64).T


def blocked_product(case: Case) -> None:
    """The same product in the row blocks the scorer uses (`evaluate.scoring.BLOCK_BYTES`), results dropped.

    Beside `floor` it shows what blocking costs or saves; beside `ours`, what the scorer
    does per pair besides the product.
    """
    tracks = case.tracks.astype(np.float64)
    references = case.part.reference_descriptor.astype(np.float64)
    rows = max(1, BLOCK_BYTES // (8 * references.shape[0]))
    for start in range(0, tracks.shape[0], rows):
        tracks[start : start + rows] @ references.T


def compare(identities: int, dim: int, repeats: int, log: Callable[[str], None]) -> dict[str, Any]:
    """Time ours, naive and the floor on one case in this process, and trace each one's peak in its own.

    Returns the case's figures: pairs, seconds, peak MiB, the TPRs, whether they are identical.
    """
    spec = (identities, dim, 0)
    case = make_case(spec)
    log(f"scorer: {case.pairs:,} pairs, D = {dim}")
    floor_s, _ = best_time(lambda: floor(case), repeats)
    blocked_s, _ = best_time(lambda: blocked_product(case), repeats)
    ours_s, ours_tprs = best_time(lambda: ours(case), repeats)
    naive_s, naive_tprs = best_time(lambda: naive(case), 1)
    peaks = {name: traced_in_subprocess(make_case, run, spec)[1] for name, run in _CONTENDERS.items()}
    return {
        "dim": dim,
        "pairs": case.pairs,
        "ours_s": round(ours_s, 3),
        "naive_s": round(naive_s, 3),
        "floor_s": round(floor_s, 3),
        "blocked_product_s": round(blocked_s, 3),
        "ours_peak_mb": round(peaks["ours"] / MB, 1),
        "naive_peak_mb": round(peaks["naive"] / MB, 1),
        "floor_peak_mb": round(peaks["floor"] / MB, 1),
        "speedup": round(naive_s / ours_s, 2),
        "memory_ratio": round(peaks["ours"] / peaks["naive"], 4),
        "over_floor": round(ours_s / floor_s, 2),
        "ns_per_pair_beyond_product": round((ours_s - blocked_s) / case.pairs * 1e9, 1),
        "tpr_ours": ours_tprs,
        "tpr_naive": naive_tprs,
        "identical": ours_tprs == naive_tprs,
    }


def growth(pair_counts: Sequence[int], dim: int, log: Callable[[str], None]) -> list[dict[str, Any]]:
    """Time and trace the project's scorer alone, each size in a fresh process; one row per size."""
    rows = []
    for pairs in pair_counts:
        identities = identities_for(pairs)
        log(f"scorer growth: {pairs:.0e} pairs")
        seconds, peak = traced_in_subprocess(make_case, ours, (identities, dim, 1))
        rows.append(
            {
                "pairs": pairs_of(identities),
                "identities": identities,
                "seconds": round(seconds, 3),
                "peak_mb": round(peak / MB, 1),
                "pairs_per_s": round(pairs_of(identities) / seconds),
            }
        )
    return rows


def bench_scorer(quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    """Run the scorer section; return its results: the headline case (first dimension), every case, the growth.

    Quick mode uses a small case and a short growth curve, so only the schema is meaningful.
    """
    identities = QUICK_IDENTITIES if quick else MCS_IDENTITIES
    dims = QUICK_DIMS if quick else FULL_DIMS
    cases = [compare(identities, dim, 1 if quick else 2, log) for dim in dims]
    headline = {key: value for key, value in cases[0].items() if not key.startswith("tpr_")}
    return {
        **headline,
        "identities": identities,
        "references_per_identity": REFERENCES_PER_IDENTITY,
        "fprs": list(FPRS),
        "memory_method": "tracemalloc",
        "cases": cases,
        "growth_dim": dims[0],
        "growth": growth(QUICK_GROWTH_PAIRS if quick else FULL_GROWTH_PAIRS, dims[0], log),
    }


_CONTENDERS: dict[str, Callable[[Case], object]] = {"ours": ours, "naive": naive, "floor": floor}
