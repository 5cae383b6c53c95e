"""Streamed per-subset scoring: blocks of tracks against the references of the negatives rule.

Each block of track descriptors meets all of the subset's references in one float64
matrix product (`metrics.negated_distances`). From each block only three things are
kept: the positive scores (a handful per track), the largest negatives (a buffer of
``negatives_needed`` values, which serves every FPR target at once) and a histogram of
the negatives for the plot. Peak memory is therefore a few copies of one block,
``block_rows x n_references`` float64, plus the kept negatives (max k + 1: 8,099 at
FPR 1e-4 over 81 million pairs), however many pairs there are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from contracts.competition import Metric, Negatives, Similarity
from contracts.descriptors import Descriptors
from contracts.errors import InvalidOutputError
from contracts.ids import few_ids, id_kind
from evaluate.groundtruth import GroundTruth, GroundTruthError, SubsetTruth
from evaluate.metrics import OperatingPoint, binned_roc, negated_distances, negatives_needed, normalize_rows, tpr_at_fpr

BLOCK_BYTES = 32 * 1024**2
ROC_BINS = 2048


@dataclass(frozen=True)
class SubsetScore:
    """The scores of one subset: the counts, the secondary score, one point per FPR target, the ROC to plot.

    `negatives` is the rule that chose the references (`contracts.competition.NEGATIVES`):
    `n_references` and `n_neg` depend on it, the positives do not.

    `mean_positive_distance` is the mean distance over positive pairs (between unit
    vectors under the cosine option), MCS2019's secondary score: lower is better.

    `roc_fpr` / `roc_tpr` are the `metrics.binned_roc` points, for the plot only (not compared by ==).
    """

    subset: str
    negatives: str
    n_tracks: int
    n_references: int
    n_pos: int
    n_neg: int
    mean_positive_distance: float
    points: tuple[OperatingPoint, ...]
    roc_fpr: np.ndarray = field(compare=False)
    roc_tpr: np.ndarray = field(compare=False)


def score_submission(
    descriptors: Descriptors,
    truth: GroundTruth,
    fprs: Sequence[float],
    subsets: Sequence[str],
    similarity: str = Similarity.EUCLIDEAN,
    block_rows: int | None = None,
    negatives: str = Negatives.SUBSET,
) -> dict[str, SubsetScore]:
    """Score a validated descriptors file on each of `subsets`; return the scores by subset name.

    `negatives` chooses the references each subset's tracks meet (`GroundTruth.subset`):
    ``"subset"``, the references of the subset's persons, or ``"all"``, every reference.

    `descriptors` must already hold exactly the ground truth's track ids, in their kind
    (see `contracts.descriptors.read_descriptors`); rows are matched to labels by track id.
    Raises `InvalidOutputError` when the cosine option meets a zero descriptor, ValueError
    when `descriptors` does not hold every track of a subset in the ground truth's id kind
    or `negatives` is not a known rule.
    """
    if id_kind(descriptors.track_id.dtype) is not id_kind(truth.track_id.dtype):
        raise ValueError(
            f"descriptors must hold {id_kind(truth.track_id.dtype)} track ids like the ground truth, got "
            f"{id_kind(descriptors.track_id.dtype)} ids; validate them with read_descriptors"
        )
    order = np.argsort(descriptors.track_id, kind="stable")
    sorted_ids = descriptors.track_id[order]
    scores = {}
    for name in subsets:
        part = truth.subset(name, negatives)
        rows = order[np.minimum(np.searchsorted(sorted_ids, part.track_id), sorted_ids.size - 1)]
        if not np.array_equal(descriptors.track_id[rows], part.track_id):
            raise ValueError(f"descriptors must hold every track of subset {name}; validate them with read_descriptors")
        scores[name] = score_subset(part, descriptors.descriptor[rows], fprs, similarity, block_rows)
    return scores


def score_both_rules(
    descriptors: Descriptors, truth: GroundTruth, metric: Metric, subsets: Sequence[str]
) -> tuple[dict[str, SubsetScore], dict[str, SubsetScore]]:
    """Score `subsets` under the negatives rule of `metric` and under the other one.

    Returns (official, alternative): the scores by subset of `metric.negatives`, and of the
    other rule, reported beside them. Raises as `score_submission`.
    """
    by_rule = {
        rule: score_submission(descriptors, truth, metric.fpr, subsets, similarity=metric.similarity, negatives=rule)
        for rule in Negatives
    }
    (other,) = (rule for rule in Negatives if rule != metric.negatives)
    return by_rule[metric.negatives], by_rule[other]


def score_subset(
    part: SubsetTruth,
    track_descriptors: np.ndarray,
    fprs: Sequence[float],
    similarity: str = "euclidean",
    block_rows: int | None = None,
) -> SubsetScore:
    """Score one subset: `track_descriptors` [N, D] are the rows of ``part.track_id``, in that order.

    `block_rows` tracks are compared at a time (default: as many as fit `BLOCK_BYTES` of
    float64 scores). The result does not depend on it beyond the last-bit rounding of the
    matrix product (see `metrics.negated_distances`).

    Raises `InvalidOutputError` when `similarity` is cosine and a track descriptor is zero;
    ValueError when `similarity` is unknown or `block_rows` is below 1.
    """
    tracks, references = _prepared(part, track_descriptors, similarity)
    n_tracks, n_references = tracks.shape[0], references.shape[0]
    if block_rows is None:
        block_rows = max(1, BLOCK_BYTES // (8 * n_references))
    if block_rows < 1:
        raise ValueError(f"block_rows must be at least 1, got {block_rows}")
    persons, per_person = np.unique(part.reference_person, return_counts=True)
    n_pos = int(per_person[np.searchsorted(persons, part.track_person)].sum())
    n_neg = n_tracks * n_references - n_pos
    keep = negatives_needed(fprs, n_neg)
    # Every score lies in [-(max |track| + max |reference|), 0]; the margin covers rounding.
    reach = float(np.sqrt((tracks * tracks).sum(axis=1)).max() + np.sqrt((references * references).sum(axis=1)).max())
    score_range = (-(reach * (1 + 1e-9) + 1e-12), 0.0)

    positives: list[np.ndarray] = []
    top = np.empty(0, dtype=np.float64)
    histogram = np.zeros(ROC_BINS, dtype=np.int64)
    edges = np.linspace(*score_range, ROC_BINS + 1)
    for start in range(0, n_tracks, block_rows):
        block = negated_distances(tracks[start : start + block_rows], references)
        is_positive = part.track_person[start : start + block_rows, None] == part.reference_person[None, :]
        positives.append(block[is_positive])
        # Positives become -inf so that they fall out of both the buffer and the histogram.
        block[is_positive] = -np.inf
        # An int bin count with a range takes numpy's fast path; its edges are `edges`.
        histogram += np.histogram(block, bins=ROC_BINS, range=score_range)[0]
        # Once the buffer is full only values above its smallest can change it (equal ones
        # would only replace an equal value), so the rest is never copied.
        floor = top[0] if top.size == keep else -np.inf
        top = _largest(np.concatenate([top, _largest(block[block > floor], keep)]), keep)

    positive_scores = np.concatenate(positives)
    roc_fpr, roc_tpr = binned_roc(positive_scores, top, n_neg, edges, histogram)
    return SubsetScore(
        subset=part.name,
        negatives=part.negatives,
        n_tracks=n_tracks,
        n_references=n_references,
        n_pos=n_pos,
        n_neg=n_neg,
        mean_positive_distance=float(-positive_scores.mean()),
        points=tuple(tpr_at_fpr(positive_scores, top, fprs, n_negatives=n_neg)),
        roc_fpr=roc_fpr,
        roc_tpr=roc_tpr,
    )


def _prepared(part: SubsetTruth, tracks: np.ndarray, similarity: str) -> tuple[np.ndarray, np.ndarray]:
    tracks = np.asarray(tracks, dtype=np.float64)
    references = np.asarray(part.reference_descriptor, dtype=np.float64)
    if similarity == Similarity.EUCLIDEAN:
        return tracks, references
    if similarity != Similarity.COSINE:
        raise ValueError(f"similarity must be euclidean or cosine, got {similarity!r}")
    zero = np.flatnonzero(~tracks.any(axis=1))
    if zero.size:
        raise InvalidOutputError(
            f"descriptors must be non-zero for cosine similarity, got {zero.size} zero row(s) "
            f"(track ids {few_ids(part.track_id[zero])}); a zero vector has no direction"
        )
    try:
        references = normalize_rows(references)
    except ValueError as exc:
        raise GroundTruthError(f"the {part.name} references cannot be compared by cosine similarity: {exc}") from None
    return normalize_rows(tracks), references


def _largest(values: np.ndarray, count: int) -> np.ndarray:
    """The `count` largest of `values`, sorted ascending (all of them when there are fewer); reorders `values`."""
    if values.size > count:
        values.partition(values.size - count)
        values = values[values.size - count :]
    return np.sort(values)
