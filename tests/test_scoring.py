"""Streamed scoring (evaluate/scoring.py) and ground truth loading (evaluate/groundtruth.py).

The brute force below compares every pair with the directly summed distance. Two
regimes keep the comparison honest without tuning tolerances to the code:
- integer-valued descriptors: every distance is an exact float64 whatever the formula or
  the blocking, so everything must be equal, heavy ties included;
- continuous random descriptors: the matrix-product formula differs from the direct one
  in the last bits, so TPRs are compared exactly only after checking that no two distinct
  scores are close enough for those bits to reorder them; thresholds are compared with a
  tolerance.
"""

import shutil
import tracemalloc
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scoring_data import Case, make_case
from sklearn.metrics import roc_curve

from contracts.competition import NEGATIVES
from contracts.descriptors import Descriptors
from contracts.errors import InvalidOutputError
from contracts.names import PRIVATE, PUBLIC, REFERENCES_FILE, SUBSETS, TEST_LABELS_FILE
from evaluate.groundtruth import GroundTruth, GroundTruthError, SubsetTruth, load_groundtruth
from evaluate.metrics import negated_distances
from evaluate.scoring import score_submission, score_subset

FPRS = (0.001, 0.01, 0.05, 0.2)


def truth_of(case: Case) -> GroundTruth:
    return GroundTruth(
        case.reference_person, case.reference_descriptor, case.track_id, case.track_person, case.track_subset
    )


def submitted(case: Case, order: np.ndarray | None = None) -> Descriptors:
    rows = np.arange(case.track_id.size) if order is None else order
    return Descriptors(track_id=case.track_id[rows], descriptor=case.descriptor[rows])


def direct_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return -np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=-1))


def brute_force_pairs(
    case: Case, subset: str, cosine: bool = False, distances=direct_distances, everyone: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Every pair's score of one subset, in one piece: (positive scores, negative scores).

    The subset's tracks meet the references of the subset's persons, or every reference with `everyone`.
    """
    tracks = case.track_subset == subset
    persons = np.unique(case.track_person[tracks])
    refs = np.ones(case.reference_person.size, bool) if everyone else np.isin(case.reference_person, persons)
    a, b = case.descriptor[tracks].astype(float), case.reference_descriptor[refs].astype(float)
    if cosine:
        a, b = a / np.linalg.norm(a, axis=1, keepdims=True), b / np.linalg.norm(b, axis=1, keepdims=True)
    scores = distances(a, b)
    same = case.track_person[tracks][:, None] == case.reference_person[refs][None, :]
    return scores[same], scores[~same]


def reference_tpr(positives: np.ndarray, negatives: np.ndarray, fpr: float) -> float:
    labels = np.r_[np.ones(positives.size), np.zeros(negatives.size)]
    curve_fpr, curve_tpr, _ = roc_curve(labels, np.r_[positives, negatives], drop_intermediate=False)
    return float(curve_tpr[curve_fpr <= fpr].max())


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("block_rows", [1, 5, None])
@pytest.mark.parametrize("string_ids", [False, True], ids=["integer ids", "md5 ids"])
def test_integer_descriptors_equal_the_brute_force_exactly(seed, block_rows, string_ids):
    case = make_case(
        seed,
        n_persons=30,
        references_per_person=3,
        tracks_per_person=3,
        dim=6,
        integer_valued=True,
        string_ids=string_ids,
    )
    scores = score_submission(submitted(case), truth_of(case), FPRS, SUBSETS, block_rows=block_rows)
    assert set(scores) == set(SUBSETS)
    for name, score in scores.items():
        positives, negatives = brute_force_pairs(case, name)
        assert len(np.unique(negatives)) < negatives.size / 10, "the case must be full of ties"
        assert (score.n_tracks, score.n_references, score.n_pos, score.n_neg) == (45, 45, 135, 45 * 45 - 135)
        assert score.mean_positive_distance == -positives.mean()
        for point, fpr in zip(score.points, FPRS, strict=True):
            assert point.tpr == reference_tpr(positives, negatives, fpr)
            assert point.accepted_negatives == int((negatives > point.threshold).sum())
            assert point.threshold in negatives


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("cosine", [False, True])
def test_continuous_descriptors_match_the_brute_force(seed, cosine):
    case = make_case(seed + 100, n_persons=50, references_per_person=4, tracks_per_person=3, dim=24)
    scores = score_submission(
        submitted(case), truth_of(case), FPRS, SUBSETS, similarity="cosine" if cosine else "euclidean", block_rows=7
    )
    for name, score in scores.items():
        positives, negatives = brute_force_pairs(case, name, cosine)
        everything = np.sort(np.r_[positives, negatives])
        # The premise of an exact comparison: the two formulas agree far closer than any two
        # distinct scores lie, so rounding cannot reorder a pair (measured error ~1e-15).
        bound = 1e-12 * np.abs(everything).max()
        formula = np.sort(np.concatenate(brute_force_pairs(case, name, cosine, negated_distances)))
        assert np.abs(formula - everything).max() < bound
        assert np.diff(everything).min() > 2 * bound
        assert score.mean_positive_distance == pytest.approx(-positives.mean(), rel=1e-12)
        for point, fpr in zip(score.points, FPRS, strict=True):
            assert point.tpr == reference_tpr(positives, negatives, fpr)
            assert point.threshold == pytest.approx(np.sort(negatives)[::-1][int(fpr * negatives.size)], rel=1e-12)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("rule", NEGATIVES)
@pytest.mark.parametrize("string_ids", [False, True], ids=["integer ids", "md5 ids"])
def test_each_negatives_rule_equals_the_brute_force(seed, rule, string_ids):
    case = make_case(
        seed + 200,
        n_persons=24,
        references_per_person=3,
        tracks_per_person=2,
        dim=5,
        integer_valued=True,
        string_ids=string_ids,
    )
    scores = score_submission(submitted(case), truth_of(case), FPRS, SUBSETS, block_rows=5, negatives=rule)
    for name, score in scores.items():
        positives, negatives = brute_force_pairs(case, name, everyone=rule == "all")
        n_references = 72 if rule == "all" else 36
        assert (score.negatives, score.n_tracks, score.n_references) == (rule, 24, n_references)
        assert (score.n_pos, score.n_neg) == (positives.size, negatives.size) == (72, 24 * n_references - 72)
        assert score.mean_positive_distance == -positives.mean()
        for point, fpr in zip(score.points, FPRS, strict=True):
            assert point.tpr == reference_tpr(positives, negatives, fpr)
            assert point.accepted_negatives == int((negatives > point.threshold).sum())


def test_all_references_add_negatives_never_positives():
    case = make_case(300, n_persons=40, references_per_person=3, tracks_per_person=3, dim=16)
    own, everyone = (score_submission(submitted(case), truth_of(case), FPRS, SUBSETS, negatives=r) for r in NEGATIVES)
    for name in SUBSETS:
        assert (everyone[name].n_pos, everyone[name].mean_positive_distance) == (
            own[name].n_pos,
            own[name].mean_positive_distance,
        )
        # Two subsets of equal size: every track meets twice the references, all new ones negatives.
        assert everyone[name].n_neg == 2 * own[name].n_neg + own[name].n_pos
    with pytest.raises(ValueError, match=r"^negatives must be one of subset, all, got 'others'$"):
        score_submission(submitted(case), truth_of(case), FPRS, SUBSETS, negatives="others")


def test_cosine_ignores_the_length_of_descriptors():
    case = make_case(7, n_persons=20, dim=8)
    scaled = submitted(case)
    # Powers of two scale exactly, so normalised vectors are bit-identical.
    factors = 2.0 ** np.arange(-3, 4)[np.arange(case.track_id.size) % 7]
    scaled = Descriptors(scaled.track_id, (scaled.descriptor * factors[:, None]).astype(np.float32))
    plain = score_submission(submitted(case), truth_of(case), FPRS, SUBSETS, similarity="cosine")
    assert score_submission(scaled, truth_of(case), FPRS, SUBSETS, similarity="cosine") == plain
    assert score_submission(scaled, truth_of(case), FPRS, SUBSETS) != plain


def test_cosine_rejects_a_zero_descriptor_with_its_track_id():
    case = make_case(2, n_persons=10)
    case.descriptor[3] = 0
    with pytest.raises(InvalidOutputError, match=r"non-zero for cosine similarity, got 1 zero row\(s\) \(track ids "):
        score_submission(submitted(case), truth_of(case), FPRS, SUBSETS, similarity="cosine")


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 70), st.randoms(use_true_random=False))
def test_invariant_to_block_size_and_track_order(seed, block_rows, random):
    case = make_case(seed, n_persons=12, references_per_person=2, tracks_per_person=3, dim=4, integer_valued=True)
    order = list(range(case.track_id.size))
    random.shuffle(order)
    whole = score_submission(submitted(case), truth_of(case), FPRS, SUBSETS, block_rows=10**6)
    shuffled = score_submission(submitted(case, np.array(order)), truth_of(case), FPRS, SUBSETS, block_rows=block_rows)
    for name in SUBSETS:
        assert shuffled[name].points == whole[name].points
        assert shuffled[name].mean_positive_distance == whole[name].mean_positive_distance


def peak_bytes_scoring(part: SubsetTruth, descriptors: np.ndarray) -> int:
    tracemalloc.start()
    try:
        # Small, realistic targets: the kept negatives (max k + 1) stay few.
        score = score_subset(part, descriptors, (1e-4, 1e-3), block_rows=8)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert score.n_pos + score.n_neg == part.track_id.size * part.reference_person.size
    return peak


def test_memory_is_bounded_by_the_block_not_the_pairs():
    case = make_case(4, n_persons=1200, references_per_person=5, tracks_per_person=4, dim=32)
    part = truth_of(case).subset(PUBLIC)
    descriptors = case.descriptor[case.track_subset == PUBLIC]
    few = replace(part, track_id=part.track_id[:300], track_person=part.track_person[:300])
    peak_few, peak_all = peak_bytes_scoring(few, descriptors[:300]), peak_bytes_scoring(part, descriptors)
    all_pairs_bytes = part.track_id.size * part.reference_person.size * 8
    assert part.track_id.size == 8 * few.track_id.size
    assert peak_all < 1.5 * peak_few, f"8 times the pairs took {peak_all} bytes against {peak_few}"
    assert peak_all < all_pairs_bytes / 10, f"peak {peak_all} bytes for {all_pairs_bytes} bytes of scores"


def test_unknown_similarity_and_block_size_are_rejected():
    case = make_case(1, n_persons=6)
    with pytest.raises(ValueError, match="similarity must be euclidean or cosine, got 'dot'"):
        score_submission(submitted(case), truth_of(case), FPRS, SUBSETS, similarity="dot")
    with pytest.raises(ValueError, match="block_rows must be at least 1, got 0"):
        score_submission(submitted(case), truth_of(case), FPRS, SUBSETS, block_rows=0)


def test_subset_holds_its_tracks_and_the_references_of_its_persons():
    case = make_case(9, n_persons=10, references_per_person=2, tracks_per_person=3)
    part = truth_of(case).subset(PRIVATE)
    assert set(part.track_id) == set(case.track_id[case.track_subset == PRIVATE])
    assert set(part.reference_person) == set(part.track_person)
    assert part.reference_person.size == 10
    with pytest.raises(ValueError, match="subset must be one of public, private, got 'secret'"):
        truth_of(case).subset("secret")


# ----- ground truth loading ---------------------------------------------------------------


def write_gt(tmp_path: Path, case: Case | None = None) -> Path:
    return (case or make_case(0, n_persons=8)).write_gt(tmp_path / "gt")


@pytest.mark.parametrize(("string_ids", "dtype"), [(False, np.int64), (True, np.dtype("<U32"))])
def test_load_groundtruth_reads_what_was_written(tmp_path, string_ids, dtype):
    case = make_case(0, n_persons=8, string_ids=string_ids)
    truth = load_groundtruth(write_gt(tmp_path, case))
    np.testing.assert_array_equal(truth.reference_descriptor, case.reference_descriptor)
    np.testing.assert_array_equal(truth.track_id, case.track_id)
    np.testing.assert_array_equal(truth.track_person, case.track_person)
    np.testing.assert_array_equal(truth.reference_person, case.reference_person)
    assert truth.dim == case.descriptor.shape[1]
    assert truth.reference_person.dtype == truth.track_id.dtype == truth.track_person.dtype == dtype


def test_one_text_id_makes_the_whole_column_strings(tmp_path):
    gt = write_gt(tmp_path)
    rewrite_labels(gt, edit_first_row(0, "00a7"))
    truth = load_groundtruth(gt)
    labels = (gt / TEST_LABELS_FILE).read_text().splitlines()[1:]
    assert truth.track_id.tolist() == [line.split(",")[0] for line in labels]
    assert truth.track_id[0] == "00a7" and truth.track_person.dtype == np.int64


def rewrite_references(gt: Path, **arrays: np.ndarray) -> None:
    with np.load(gt / REFERENCES_FILE) as npz:
        current = dict(npz)
    current.update(arrays)
    np.savez(gt / REFERENCES_FILE, **{k: v for k, v in current.items() if v is not None})


def nan_in_row_4(gt: Path) -> None:
    with np.load(gt / REFERENCES_FILE) as npz:
        descriptor = npz["descriptor"].copy()
    descriptor[4, 2] = np.nan
    rewrite_references(gt, descriptor=descriptor)


def rewrite_labels(gt: Path, edit) -> None:
    path = gt / TEST_LABELS_FILE
    path.write_text(edit(path.read_text()))


def edit_first_row(column: int, value: str):
    def edit(text: str) -> str:
        lines = text.splitlines()
        cells = lines[1].split(",")
        cells[column] = value
        lines[1] = ",".join(cells)
        return "\n".join(lines) + "\n"

    return edit


GT_PROBLEMS = [
    ("missing folder", shutil.rmtree, r"the ground truth folder .* must exist"),
    ("no references", lambda gt: (gt / REFERENCES_FILE).unlink(), r"references.npz must be a file holding person_id"),
    ("references not npz", lambda gt: (gt / REFERENCES_FILE).write_text("x"), r"must be an npz archive"),
    (
        "references lack a key",
        lambda gt: rewrite_references(gt, person_id=None),
        r"references.npz must hold person_id, got only descriptor",
    ),
    (
        "float64 references",
        lambda gt: rewrite_references(gt, descriptor=np.zeros((24, 16))),
        r"descriptor must be float32 \[R, D\], got float64 \[24, 16\]",
    ),
    (
        "float person ids",
        lambda gt: rewrite_references(gt, person_id=np.zeros(24)),
        r"person_id must be 1-D integers or strings \(numpy dtype <U\), got float64 \[24\]",
    ),
    (
        "object person ids",
        lambda gt: rewrite_references(gt, person_id=np.zeros(24).astype(object)),
        r"references.npz must be a readable npz archive without objects",
    ),
    (
        "string person ids for integer labels",
        lambda gt: rewrite_references(gt, person_id=np.arange(24).astype(str)),
        r"references.npz person_id holds string ids but the person_id column of test_labels.csv holds integer ids; "
        r"write them as integers \(int64\), exactly as the person_id column of test_labels.csv has them$",
    ),
    (
        "integer person ids for string labels",
        lambda gt: rewrite_labels(gt, edit_first_row(1, "p1")),
        r"references.npz person_id holds integer ids but the person_id column of test_labels.csv holds string ids; "
        r"write them as strings \(numpy unicode, dtype <U\), exactly as",
    ),
    (
        "too long person id",
        lambda gt: rewrite_references(gt, person_id=np.array(["p" * 65] * 24)),
        r"references.npz: person_id must be at most 64 characters, got one of 65$",
    ),
    (
        "row count",
        lambda gt: rewrite_references(gt, descriptor=np.zeros((5, 16), np.float32)),
        r"one row per person_id, got \[5, 16\] for 24 ids",
    ),
    ("NaN reference", lambda gt: nan_in_row_4(gt), r"descriptor must be finite, got NaN or inf in rows 4"),
    ("no labels", lambda gt: (gt / TEST_LABELS_FILE).unlink(), r"test_labels.csv must be a file with columns"),
    (
        "label column missing",
        lambda gt: rewrite_labels(gt, lambda t: t.replace("subset", "split", 1)),
        r"must have the columns subset, got track_id, person_id, split",
    ),
    ("no rows", lambda gt: rewrite_labels(gt, lambda t: t.splitlines()[0] + "\n"), r"must hold at least one track"),
    (
        "empty track id",
        lambda gt: rewrite_labels(gt, edit_first_row(0, "")),
        r"test_labels.csv: track_id must not be empty, got an empty id$",
    ),
    (
        "empty person id",
        lambda gt: rewrite_labels(gt, edit_first_row(1, "")),
        r"test_labels.csv: person_id must not be empty, got an empty id$",
    ),
    (
        "unknown subset",
        lambda gt: rewrite_labels(gt, edit_first_row(2, "secret")),
        r"subset must be one of public, private, got secret",
    ),
]


@pytest.mark.parametrize(("problem", "breaks", "message"), GT_PROBLEMS, ids=[p[0] for p in GT_PROBLEMS])
def test_broken_ground_truth_is_rejected(tmp_path, problem, breaks, message):
    gt = write_gt(tmp_path)
    breaks(gt)
    with pytest.raises(GroundTruthError, match=message):
        load_groundtruth(gt)


def case_with(**changes) -> Case:
    case = make_case(0, n_persons=8, references_per_person=3, tracks_per_person=2)
    for name, change in changes.items():
        change(getattr(case, name))
    return case


def test_inconsistent_ground_truth_is_rejected(tmp_path):
    duplicate = case_with(track_id=lambda ids: ids.__setitem__(1, ids[0]))
    with pytest.raises(GroundTruthError, match=rf"track_id must be unique, got 1 repeated: {duplicate.track_id[0]}"):
        load_groundtruth(write_gt(tmp_path / "a", duplicate))

    both = case_with(track_subset=lambda subsets: subsets.__setitem__(0, PRIVATE))
    person = both.track_person[0]
    with pytest.raises(GroundTruthError, match=rf"one subset only, got 1 in both: person ids {person}"):
        load_groundtruth(write_gt(tmp_path / "b", both))

    orphan = case_with(reference_person=lambda persons: persons.__setitem__(0, 99))
    with pytest.raises(GroundTruthError, match=r"references of 1 person\(s\) without tracks: person ids 99"):
        load_groundtruth(write_gt(tmp_path / "c", orphan))

    bare = make_case(0, n_persons=8, references_per_person=1)
    lost = bare.reference_person[0]
    bare.reference_person, bare.reference_descriptor = bare.reference_person[1:], bare.reference_descriptor[1:]
    with pytest.raises(GroundTruthError, match=rf"every labelled person must have references, got 1 without: .*{lost}"):
        load_groundtruth(write_gt(tmp_path / "d", bare))

    lonely = make_case(0, n_persons=3)  # persons 0 and 2 public, 1 alone in private
    with pytest.raises(GroundTruthError, match=r"subset private must have tracks of at least 2 persons .* got 1"):
        load_groundtruth(write_gt(tmp_path / "e", lonely))


def test_descriptors_of_another_id_kind_are_refused():
    case = make_case(5, n_persons=6, string_ids=True)
    wrong = Descriptors(track_id=np.arange(case.track_id.size), descriptor=case.descriptor)
    with pytest.raises(
        ValueError, match=r"^descriptors must hold string track ids like the ground truth, got integer ids; validate"
    ):
        score_submission(wrong, truth_of(case), FPRS, SUBSETS)
