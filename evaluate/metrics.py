"""TPR at fixed FPR targets, exactly as docs/design.md, "Metric", defines it: pure functions over arrays.

Scores are similarities (higher means "same person"). For a target FPR ``f`` over
``N_neg`` negative pairs, ``k`` negatives may be accepted; the threshold ``t`` is the
(k+1)-th largest negative score and a pair is accepted when its score is strictly above
``t``. Ties at ``t`` are all rejected, so at most ``k`` negatives pass and the achieved
FPR is ``<= f``. The result equals scikit-learn's ``roc_curve(y, s,
drop_intermediate=False)`` followed by the largest TPR whose FPR is ``<= f``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from contracts.ids import few_ids


@dataclass(frozen=True)
class OperatingPoint:
    """The TPR reached at one FPR target.

    `threshold` is the similarity a pair must exceed (strictly) to be accepted;
    `accepted_negatives` is how many negatives exceed it (at most k, fewer on ties);
    `resolvable` is False when k = 0, i.e. there are fewer than 1/fpr negatives and the
    target cannot be told apart from FPR = 0.
    """

    fpr: float
    tpr: float
    threshold: float
    accepted_negatives: int
    resolvable: bool


def allowed_false_accepts(fpr: float, n_negatives: int) -> int:
    """Return k, the number of negatives the FPR target `fpr` allows among `n_negatives`.

    k is the largest integer j with ``j / n_negatives <= fpr``, the division correctly
    rounded in float64. That is floor(fpr * n_negatives) in exact arithmetic whenever
    fpr * n_negatives is not within rounding of an integer, and at such edges it is the
    comparison scikit-learn makes, so 81 negatives pass at 1e-6 over 81e6 (a float
    product gives 80.99999...) and 2 of 3 pass at ``fpr = 2 / 3``.

    Raises ValueError when fpr is not in (0, 1) or n_negatives is below 1.

    >>> allowed_false_accepts(1e-6, 81_000_000), allowed_false_accepts(2 / 3, 3), allowed_false_accepts(1e-6, 999_999)
    (81, 2, 0)
    """
    _check_fpr(fpr)
    if n_negatives < 1:
        raise ValueError(f"the number of negatives must be at least 1, got {n_negatives}")
    k = min(max(math.floor(fpr * n_negatives), 0), n_negatives - 1)
    # The float product can be off by one either way; the integer division below is exact.
    while k + 1 < n_negatives and (k + 1) / n_negatives <= fpr:
        k += 1
    while k > 0 and k / n_negatives > fpr:
        k -= 1
    return k


def negatives_needed(fprs: Sequence[float], n_negatives: int) -> int:
    """Return how many of the largest negatives `tpr_at_fpr` needs for every target: max k + 1.

    Raises ValueError as `allowed_false_accepts` does, or when `fprs` is empty.
    """
    if len(fprs) == 0:
        raise ValueError("fprs must hold at least one FPR target, got none")
    return max(allowed_false_accepts(f, n_negatives) for f in fprs) + 1


def tpr_at_fpr(
    positive_scores: ArrayLike,
    negative_scores: ArrayLike,
    fprs: Sequence[float],
    n_negatives: int | None = None,
) -> list[OperatingPoint]:
    """Return the operating point of each FPR target, in the order of `fprs`.

    Parameters
    ----------
    positive_scores : similarities of every positive pair, 1-D, finite.
    negative_scores : similarities of the negative pairs, 1-D, finite. Either all of them,
        or (the streamed scorer's case) only the largest ones, at least
        ``negatives_needed(fprs, n_negatives)`` of them.
    fprs : FPR targets, each in (0, 1).
    n_negatives : the total number of negative pairs; defaults to ``len(negative_scores)``.

    Returns
    -------
    One `OperatingPoint` per target: with k = `allowed_false_accepts(fpr, n_negatives)`,
    threshold t = the (k+1)-th largest negative score, tpr = (positives > t) / positives.

    Raises
    ------
    ValueError
        when an array is empty, not 1-D or not finite, a target is outside (0, 1), or
        too few of the largest negatives were given.

    Examples
    --------
    Ties at the threshold are rejected: at 2/3 two of the three negatives may pass, the
    threshold is the third largest negative, 1, and the positives 3 and 2 are above it.

    >>> point = tpr_at_fpr([3, 2, 1], [3, 2, 1], [2 / 3])[0]
    >>> point.tpr, point.threshold, point.accepted_negatives, point.resolvable
    (0.6666666666666666, 1.0, 2, True)
    """
    positives = _scores(positive_scores, "positive_scores")
    negatives = _scores(negative_scores, "negative_scores")
    total = negatives.size if n_negatives is None else int(n_negatives)
    if total < negatives.size:
        raise ValueError(f"n_negatives must be at least len(negative_scores) = {negatives.size}, got {total}")
    needed = negatives_needed(fprs, total)
    if negatives.size < needed:
        raise ValueError(
            f"negative_scores must hold the {needed} largest negatives for these targets, got {negatives.size}; "
            "keep negatives_needed(fprs, n_negatives) of them"
        )
    top = np.sort(np.partition(negatives, negatives.size - needed)[negatives.size - needed :])
    positives = np.sort(positives)
    points = []
    for fpr in fprs:
        k = allowed_false_accepts(fpr, total)
        threshold = top[needed - 1 - k]
        accepted_positives = positives.size - int(np.searchsorted(positives, threshold, side="right"))
        accepted_negatives = needed - int(np.searchsorted(top, threshold, side="right"))
        points.append(
            OperatingPoint(
                fpr=float(fpr),
                tpr=accepted_positives / positives.size,
                threshold=float(threshold),
                accepted_negatives=accepted_negatives,
                resolvable=k > 0,
            )
        )
    return points


def negated_distances(queries: np.ndarray, references: np.ndarray) -> np.ndarray:
    """Return the pair scores -||q - r|| of every query row against every reference row, [Q, R] float64.

    Computed as sqrt(max(|q|^2 + |r|^2 - 2 q.r, 0)) with one float64 matrix product, the
    form that makes 81 million pairs cheap. It can differ in the last bits from the
    directly summed distance, and the product's rounding may depend on how rows are
    blocked (BLAS kernels); near-ties within such rounding are decided by these values.
    Both inputs are converted to float64 first (exact for float32).

    Raises ValueError when the inputs are not 2-D with the same number of columns.

    >>> negated_distances(np.array([[0.0, 0.0]]), np.array([[3.0, 4.0], [0.0, 0.0]]))
    array([[-5., -0.]])
    """
    q = np.asarray(queries, dtype=np.float64)
    r = np.asarray(references, dtype=np.float64)
    if q.ndim != 2 or r.ndim != 2 or q.shape[1] != r.shape[1]:
        raise ValueError(
            f"queries and references must be 2-D with the same number of columns, got {q.shape} and {r.shape}"
        )
    scores = q @ r.T
    scores *= -2.0
    # einsum needs no [Q, D] temporary; its per-row sums do not depend on the other rows.
    scores += np.einsum("ij,ij->i", q, q)[:, None]
    scores += np.einsum("ij,ij->i", r, r)[None, :]
    np.maximum(scores, 0.0, out=scores)
    np.sqrt(scores, out=scores)
    np.negative(scores, out=scores)
    return scores


def normalize_rows(vectors: np.ndarray) -> np.ndarray:
    """Return the rows of `vectors` scaled to unit Euclidean norm, in float64 (the cosine option).

    Raises ValueError naming the first rows whose norm is zero (they have no direction).
    """
    v = np.asarray(vectors, dtype=np.float64)
    norms = np.sqrt((v * v).sum(axis=1))
    zero = np.flatnonzero(norms == 0)
    if zero.size:
        raise ValueError(
            f"every row must have a non-zero norm for cosine similarity, got {zero.size} zero row(s) "
            f"at index {few_ids(zero)}"
        )
    return v / norms[:, None]


def binned_roc(
    positive_scores: ArrayLike,
    top_negatives: ArrayLike,
    n_negatives: int,
    bin_edges: ArrayLike,
    negative_counts: ArrayLike,
) -> tuple[np.ndarray, np.ndarray]:
    """Return ROC points (fpr, tpr), sorted by fpr, for plotting a curve over many pairs.

    Every returned point is an exact ROC point "accept scores >= v": at each distinct
    value v of `top_negatives` (the largest negatives, exact low-FPR end; its smallest
    value only when it holds every negative, as ties may continue outside it) and at each
    edge of the histogram `negative_counts` over `bin_edges` (counts of every negative,
    ``numpy.histogram`` convention). Between points the curve is only as fine as the
    grid, which is what a plot needs; the reported numbers come from `tpr_at_fpr`.

    Raises ValueError when the histogram does not count `n_negatives` negatives or
    `positive_scores` is empty.
    """
    positives = np.sort(_scores(positive_scores, "positive_scores"))
    top = np.sort(np.asarray(top_negatives, dtype=np.float64))
    edges = np.asarray(bin_edges, dtype=np.float64)
    counts = np.asarray(negative_counts, dtype=np.int64)
    if int(counts.sum()) != n_negatives:
        raise ValueError(f"negative_counts must sum to n_negatives = {n_negatives}, got {int(counts.sum())}")
    # Negatives >= edges[i] are the counts of bins i and above.
    at_or_above_edge = np.concatenate([np.cumsum(counts[::-1])[::-1], [0]])
    values = np.unique(top)
    if top.size < n_negatives:
        # Negatives equal to the buffer's smallest value may lie outside it: that count is unknown.
        values = values[1:]
    at_or_above_value = top.size - np.searchsorted(top, values, side="left")
    thresholds = np.concatenate([values, edges])
    false_accepts = np.concatenate([at_or_above_value, at_or_above_edge])
    true_accepts = positives.size - np.searchsorted(positives, thresholds, side="left")
    fpr = np.concatenate([[0.0], false_accepts / n_negatives, [1.0]])
    tpr = np.concatenate([[0.0], true_accepts / positives.size, [1.0]])
    order = np.lexsort((tpr, fpr))
    return fpr[order], tpr[order]


def _check_fpr(fpr: float) -> None:
    if not (isinstance(fpr, int | float | np.floating) and 0 < fpr < 1):
        raise ValueError(f"an FPR target must be a number in (0, 1), got {fpr!r}")


def _scores(values: ArrayLike, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {list(array.shape)}")
    if array.size == 0:
        raise ValueError(f"{name} must not be empty")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite, got {int((~np.isfinite(array)).sum())} NaN or inf value(s)")
    return array
