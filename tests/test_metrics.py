"""TPR@FPR (evaluate/metrics.py) against hand-worked arrays, scikit-learn, a brute force and properties."""

import doctest
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_curve

from evaluate import metrics
from evaluate.metrics import (
    allowed_false_accepts,
    binned_roc,
    negated_distances,
    negatives_needed,
    normalize_rows,
    tpr_at_fpr,
)


def sklearn_tpr(positives: np.ndarray, negatives: np.ndarray, fpr: float) -> float:
    """The reference: roc_curve without dropping points, then the largest TPR with FPR <= fpr."""
    labels = np.r_[np.ones(len(positives)), np.zeros(len(negatives))]
    curve_fpr, curve_tpr, _ = roc_curve(labels, np.r_[positives, negatives], drop_intermediate=False)
    return float(curve_tpr[curve_fpr <= fpr].max())


def brute_force_tpr(positives: np.ndarray, negatives: np.ndarray, fpr: float) -> float:
    """Try every threshold (each score and -inf/+inf) with the rule "accept s > t"; keep the best allowed."""
    best = 0.0
    for t in np.r_[np.unique(np.r_[positives, negatives]), -np.inf, np.inf]:
        false_accepts = int((negatives > t).sum())
        if false_accepts / len(negatives) <= fpr:
            best = max(best, float((positives > t).sum()) / len(positives))
    return best


# positives, negatives, fpr, expected tpr, threshold, accepted negatives, resolvable
TOY = [
    pytest.param([3, 2, 1], [3, 2, 1], 2 / 3, 2 / 3, 1.0, 2, True, id="ties: the issue's example"),
    pytest.param([0.9, 0.8, 0.3], [0.7, 0.5, 0.4, 0.2], 0.25, 2 / 3, 0.5, 1, True, id="k=1 of 4"),
    pytest.param([5, 6], [1, 2, 3, 4], 0.3, 1.0, 3.0, 1, True, id="all positives above"),
    pytest.param([0, 0.5], [1, 2, 3, 4], 0.5, 0.0, 2.0, 2, True, id="all positives below"),
    pytest.param([4, 3, 2], [1, 2, 3], 0.2, 1 / 3, 3.0, 0, False, id="k=0: unresolvable, FPR 0"),
    pytest.param([6, 5], [5, 5, 5, 1], 0.5, 0.5, 5.0, 0, True, id="ties at the threshold are all rejected"),
    pytest.param([98.5, 99.5, 97], list(range(100)), 0.01, 2 / 3, 98.0, 1, True, id="N_neg = 1/f exactly"),
    pytest.param([98.5, 99.5, 97.5], list(range(100)), 0.02, 1.0, 97.0, 2, True, id="N_neg = 2/f exactly"),
    pytest.param([1, 1, 1], [1, 1, 1, 1], 0.5, 0.0, 1.0, 0, True, id="every score equal"),
]


@pytest.mark.parametrize(("positives", "negatives", "fpr", "tpr", "threshold", "accepted", "resolvable"), TOY)
def test_hand_worked_points(positives, negatives, fpr, tpr, threshold, accepted, resolvable):
    (point,) = tpr_at_fpr(positives, negatives, [fpr])
    assert point.tpr == pytest.approx(tpr, abs=0)
    assert (point.threshold, point.accepted_negatives, point.resolvable, point.fpr) == (
        threshold,
        accepted,
        resolvable,
        fpr,
    )
    assert point.tpr == sklearn_tpr(np.array(positives), np.array(negatives), fpr)


def test_sklearn_default_drop_intermediate_is_wrong_on_ties():
    """The reason the reference must keep every point: the default loses the answer 2/3."""
    labels, scores = [1, 1, 1, 0, 0, 0], [3, 2, 1, 3, 2, 1]
    fpr, tpr, _ = roc_curve(labels, scores)
    assert tpr[fpr <= 2 / 3].max() != 2 / 3
    assert tpr_at_fpr([3, 2, 1], [3, 2, 1], [2 / 3])[0].tpr == 2 / 3


def official_mcs2019_tpr(positives: list[float], negatives: list[float], fpr: float) -> float:
    """MCS2019's official script: sklearn's roc_curve with its default drop_intermediate=True."""
    labels = np.r_[np.ones(len(positives)), np.zeros(len(negatives))]
    curve_fpr, curve_tpr, _ = roc_curve(labels, np.r_[positives, negatives])
    return float(curve_tpr[curve_fpr <= fpr].max())


def test_the_readme_example_where_the_official_script_skips_the_operating_point():
    """README "Scoring": k = 4 of 8 negatives may pass; the threshold is the 5th largest negative, 1."""
    positives, negatives = [0, 1, 2], [0, 0, 0, 1, 1, 2, 2, 3]
    (point,) = tpr_at_fpr(positives, negatives, [0.5])
    assert (point.tpr, point.threshold, point.accepted_negatives) == (1 / 3, 1.0, 3)
    assert sklearn_tpr(np.array(positives), np.array(negatives), 0.5) == 1 / 3
    # Dropping "intermediate" points loses (FPR 3/8, TPR 1/3); the next point kept is FPR 5/8.
    assert official_mcs2019_tpr(positives, negatives, 0.5) == 0.0


@pytest.mark.parametrize(
    ("fpr", "n_negatives", "k"),
    [
        (1e-6, 81_000_000, 81),
        (1e-6, 80_999_999, 80),
        (1e-6, 999_999, 0),
        (1e-6, 1_000_000, 1),
        (1e-4, 80_983_000, 8098),
        (2 / 3, 3, 2),
        (0.1, 10, 1),
        (0.1, 9, 0),
        (0.3, 10, 3),
        (0.7, 10, 7),
    ],
)
def test_allowed_false_accepts_table(fpr, n_negatives, k):
    assert allowed_false_accepts(fpr, n_negatives) == k


def test_allowed_false_accepts_is_the_exact_floor_for_decimal_targets():
    rng = np.random.default_rng(11)
    for fpr in (1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.05, 0.3):
        for n in rng.integers(1, 10**10, size=300).tolist() + [10**k for k in range(1, 11)]:
            assert allowed_false_accepts(fpr, n) == int(Fraction(str(fpr)) * n), (fpr, n)


@pytest.mark.parametrize("seed", range(60))
def test_random_tied_cases_match_sklearn_and_brute_force(seed):
    rng = np.random.default_rng(seed)
    levels = int(rng.integers(2, 12))
    positives = rng.integers(0, levels, size=int(rng.integers(1, 40))).astype(float)
    negatives = rng.integers(0, levels, size=int(rng.integers(1, 60))).astype(float) - int(rng.integers(0, 3))
    n = len(negatives)
    fprs = sorted({float(f) for f in rng.uniform(0.001, 0.999, size=3)} | {1 / n if n > 1 else 0.5, 0.5})
    for point, fpr in zip(tpr_at_fpr(positives, negatives, fprs), fprs, strict=True):
        assert point.tpr == sklearn_tpr(positives, negatives, fpr) == brute_force_tpr(positives, negatives, fpr)
        assert point.accepted_negatives == int((negatives > point.threshold).sum())
        assert point.accepted_negatives <= allowed_false_accepts(fpr, n)
        assert point.accepted_negatives / n <= fpr
        assert point.threshold in negatives


def test_the_largest_negatives_suffice():
    rng = np.random.default_rng(3)
    positives, negatives = rng.normal(1, 1, 500), rng.integers(-50, 50, 20_000).astype(float)
    fprs = [1e-4, 1e-3, 0.01]
    needed = negatives_needed(fprs, negatives.size)
    assert needed == 201
    top = np.sort(negatives)[-needed:]
    assert tpr_at_fpr(positives, rng.permutation(top), fprs, n_negatives=negatives.size) == tpr_at_fpr(
        positives, negatives, fprs
    )


def test_points_come_in_the_order_of_the_targets():
    points = tpr_at_fpr([3, 2, 1], list(range(10)), [0.5, 0.1, 0.3])
    assert [p.fpr for p in points] == [0.5, 0.1, 0.3]


@pytest.mark.parametrize(
    ("positives", "negatives", "fprs", "n_negatives", "message"),
    [
        ([], [1.0], [0.5], None, "positive_scores must not be empty"),
        ([1.0], [], [0.5], None, "negative_scores must not be empty"),
        ([[1.0]], [1.0], [0.5], None, r"positive_scores must be one-dimensional, got shape \[1, 1\]"),
        ([1.0, np.nan], [1.0], [0.5], None, r"positive_scores must be finite, got 1 NaN or inf"),
        ([1.0], [np.inf, 2.0], [0.5], None, r"negative_scores must be finite, got 1 NaN or inf"),
        ([1.0], [1.0, 2.0], [0.0], None, r"an FPR target must be a number in \(0, 1\), got 0.0"),
        ([1.0], [1.0, 2.0], [1.0], None, r"an FPR target must be a number in \(0, 1\), got 1.0"),
        ([1.0], [1.0, 2.0], ["0.1"], None, r"an FPR target must be a number in \(0, 1\), got '0.1'"),
        ([1.0], [1.0, 2.0], [], None, "fprs must hold at least one FPR target, got none"),
        ([1.0], [1.0, 2.0], [0.5], 1, "n_negatives must be at least len\\(negative_scores\\) = 2, got 1"),
        ([1.0], [1.0, 2.0], [0.5], 100, "negative_scores must hold the 51 largest negatives for these targets, got 2"),
    ],
)
def test_bad_inputs_are_rejected(positives, negatives, fprs, n_negatives, message):
    with pytest.raises(ValueError, match=message):
        tpr_at_fpr(positives, negatives, fprs, n_negatives=n_negatives)


def test_allowed_false_accepts_needs_negatives():
    with pytest.raises(ValueError, match="the number of negatives must be at least 1, got 0"):
        allowed_false_accepts(0.5, 0)


scores_lists = st.lists(st.integers(-20, 20), min_size=1, max_size=40)
targets = st.floats(min_value=1e-3, max_value=0.999)


@settings(max_examples=150, deadline=None)
@given(scores_lists, scores_lists, targets, targets, st.randoms(use_true_random=False))
def test_properties(positives, negatives, f1, f2, random):
    pos, neg = np.array(positives, dtype=float), np.array(negatives, dtype=float)
    low, high = sorted((f1, f2))
    p_low, p_high = tpr_at_fpr(pos, neg, [low, high])
    assert 0.0 <= p_low.tpr <= p_high.tpr <= 1.0
    shuffled_pos, shuffled_neg = list(pos), list(neg)
    random.shuffle(shuffled_pos)
    random.shuffle(shuffled_neg)
    assert tpr_at_fpr(shuffled_pos, shuffled_neg, [low, high]) == [p_low, p_high]
    # Strictly increasing maps keep every ordering, hence every TPR (exact on these integers).
    for transform in (lambda s: 3 * s - 5, lambda s: s**3, lambda s: np.exp(s / 4)):
        moved = tpr_at_fpr(transform(pos), transform(neg), [low, high])
        assert [m.tpr for m in moved] == [p_low.tpr, p_high.tpr]
        assert [m.accepted_negatives for m in moved] == [p_low.accepted_negatives, p_high.accepted_negatives]


def test_negated_distances_match_the_direct_distance():
    rng = np.random.default_rng(5)
    queries, references = rng.normal(size=(7, 32)).astype(np.float32), rng.normal(size=(11, 32)).astype(np.float32)
    direct = -np.sqrt(((queries[:, None, :].astype(float) - references[None, :, :]) ** 2).sum(axis=-1))
    np.testing.assert_allclose(negated_distances(queries, references), direct, rtol=1e-12)
    assert negated_distances(queries, queries).diagonal().max() == 0.0


def test_negated_distances_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"same number of columns, got \(2, 3\) and \(2, 4\)"):
        negated_distances(np.zeros((2, 3)), np.zeros((2, 4)))


def test_normalize_rows():
    np.testing.assert_allclose(normalize_rows(np.array([[3.0, 4.0]])), [[0.6, 0.8]])
    with pytest.raises(ValueError, match="non-zero norm for cosine similarity, got 2 zero row\\(s\\) at index 1, 2"):
        normalize_rows(np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]]))


def test_binned_roc_points_lie_on_the_exact_curve():
    rng = np.random.default_rng(8)
    positives, negatives = rng.integers(0, 30, 200).astype(float), rng.integers(-10, 20, 5000).astype(float)
    edges = np.linspace(-10.5, 30.5, 17)
    counts = np.histogram(negatives, bins=edges)[0]
    top = np.sort(negatives)[-40:]
    fpr, tpr = binned_roc(positives, top, negatives.size, edges, counts)
    labels = np.r_[np.ones(positives.size), np.zeros(negatives.size)]
    exact_fpr, exact_tpr, _ = roc_curve(labels, np.r_[positives, negatives], drop_intermediate=False)
    exact = set(zip(exact_fpr.tolist(), exact_tpr.tolist(), strict=True)) | {(0.0, 0.0), (1.0, 1.0)}
    assert set(zip(fpr.tolist(), tpr.tolist(), strict=True)) <= exact
    assert (np.diff(fpr) >= 0).all() and (np.diff(tpr) >= 0).all()
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="negative_counts must sum to n_negatives = 5001, got 5000"):
        binned_roc(positives, top, negatives.size + 1, edges, counts)


def test_docstring_examples():
    assert doctest.testmod(metrics).failed == 0
