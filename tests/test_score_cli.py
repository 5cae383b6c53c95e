"""`python -m evaluate score`: the reports it writes, --public-only, and one `Error:` line for each bad input."""

import io
import json
import os
import re
import subprocess
import sys
import zipfile
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from scoring_data import Case, make_case

from contracts.competition import NEGATIVES, Metric
from contracts.descriptors import Descriptors
from contracts.names import (
    DESCRIPTOR_KEY,
    DESCRIPTORS_FILE,
    METRICS_FILE,
    PRIVATE,
    PUBLIC,
    REFERENCES_FILE,
    ROC_FILE,
    SCORE_FILE,
    SUBSETS,
    TRACK_ID_KEY,
)
from evaluate.cli import main
from evaluate.groundtruth import load_groundtruth
from evaluate.reports import write_roc
from evaluate.scoring import score_submission

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class Setup:
    """A written dataset and submission under tmp_path, and a way to run `score` on it."""

    def __init__(self, root: Path, case: Case) -> None:
        self.case = case
        self.gt = case.write_gt(root / "gt")
        self.descriptors = case.write_descriptors(root / DESCRIPTORS_FILE, np.argsort(case.track_id)[::-1])
        self.out = root / "run"
        self.config: Path | None = None

    def score(self, *extra: str):
        args = ["score", "--descriptors", str(self.descriptors), "--gt", str(self.gt), "--out", str(self.out)]
        if self.config is not None:
            args += ["--config", str(self.config)]
        return CliRunner().invoke(main, args + list(extra))

    def write_descriptors(self, **arrays) -> None:
        np.savez(self.descriptors, **arrays)

    def valid_arrays(self) -> dict[str, np.ndarray]:
        return {TRACK_ID_KEY: self.case.track_id.copy(), DESCRIPTOR_KEY: self.case.descriptor.copy()}


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    return Setup(tmp_path, make_case(21, n_persons=40, references_per_person=3, tracks_per_person=3, dim=16))


def test_score_writes_exact_reports_for_both_subsets(setup):
    result = setup.score()
    assert result.exit_code == 0, result.output
    document = json.loads((setup.out / SCORE_FILE).read_text())
    truth = load_groundtruth(setup.gt)
    expected = score_submission(Descriptors(setup.case.track_id, setup.case.descriptor), truth, Metric().fpr, SUBSETS)
    assert document["metric"] == {
        "name": "tpr_at_fpr",
        "similarity": "euclidean",
        "fpr": [1e-6, 1e-5, 1e-4],
        "negatives": "subset",
    }
    everything = score_submission(
        Descriptors(setup.case.track_id, setup.case.descriptor), truth, Metric().fpr, SUBSETS, negatives="all"
    )
    assert document["primary"] == {
        "subset": PUBLIC,
        "fpr": 1e-6,
        "tpr": expected[PUBLIC].points[0].tpr,
        "resolvable": False,
    }
    assert set(document["subsets"]) == {PUBLIC, PRIVATE}
    for name, score in expected.items():
        written = document["subsets"][name]
        assert written["n_tracks"] == 60 and written["n_references"] == 60
        assert (written["n_pos"], written["n_neg"]) == (180, 60 * 60 - 180)
        assert written["mean_positive_distance"] == score.mean_positive_distance
        assert written["points"] == [
            {
                "fpr": p.fpr,
                "tpr": p.tpr,
                "threshold": p.threshold,
                "accepted_negatives": p.accepted_negatives,
                "resolvable": False,
            }
            for p in score.points
        ]
        assert written["by_negatives"] == {
            "subset": {"n_references": 60, "n_neg": 60 * 60 - 180, "points": written["points"]},
            "all": {
                "n_references": 120,
                "n_neg": 60 * 120 - 180,
                "points": [asdict(p) for p in everything[name].points],
            },
        }
    metrics = (setup.out / METRICS_FILE).read_text().splitlines()
    assert f"public_tpr_at_fpr_1e-06 {expected[PUBLIC].points[0].tpr:.6f}" in metrics
    assert f"private_tpr_at_fpr_1e-04 {expected[PRIVATE].points[2].tpr:.6f}" in metrics
    assert "public_tpr_at_fpr_1e-05_resolvable 0" in metrics
    assert f"private_tpr_at_fpr_1e-04_negatives_all {everything[PRIVATE].points[2].tpr:.6f}" in metrics
    assert all(len(line.split()) == 2 for line in metrics)
    assert (setup.out / ROC_FILE).read_bytes().startswith(PNG_SIGNATURE)
    table = result.output.splitlines()
    assert table[0].split() == ["subset", "n_tracks", "TPR@1e-06", "TPR@1e-05", "TPR@1e-04", "mean_pos_dist"]
    assert table[1].split()[:3] == [PUBLIC, "60", f"{expected[PUBLIC].points[0].tpr:.4f}*"]
    assert table[2].split()[0] == PRIVATE
    assert table[3].startswith("public (negatives: all)")
    assert table[4].startswith("private (negatives: all)")
    assert table[5].startswith("* unresolvable")


def test_config_chooses_similarity_targets_and_primary(setup, tmp_path):
    setup.config = tmp_path / "competition.yaml"
    setup.config.write_text("metric:\n  similarity: cosine\n  fpr: [0.01, 1e-3]\n  primary_subset: private\n")
    result = setup.score()
    assert result.exit_code == 0, result.output
    document = json.loads((setup.out / SCORE_FILE).read_text())
    expected = score_submission(
        Descriptors(setup.case.track_id, setup.case.descriptor),
        load_groundtruth(setup.gt),
        (0.001, 0.01),
        SUBSETS,
        similarity="cosine",
    )
    assert document["primary"]["subset"] == PRIVATE and document["primary"]["fpr"] == 0.001
    assert document["primary"]["tpr"] == expected[PRIVATE].points[0].tpr
    assert [p["resolvable"] for p in document["subsets"][PUBLIC]["points"]] == [True, True]
    assert [p["tpr"] for p in document["subsets"][PUBLIC]["points"]] == [p.tpr for p in expected[PUBLIC].points]
    assert "*" not in result.output


@pytest.mark.parametrize("primary", [PUBLIC, PRIVATE])
def test_public_only_says_nothing_about_the_private_subset(setup, tmp_path, primary):
    setup.config = tmp_path / "competition.yaml"
    setup.config.write_text(f"metric: {{primary_subset: {primary}}}\n")
    full = setup.score()
    full_document = json.loads((setup.out / SCORE_FILE).read_text())
    full_png = (setup.out / ROC_FILE).read_bytes()
    result = setup.score("--public-only")
    assert full.exit_code == result.exit_code == 0
    document = json.loads((setup.out / SCORE_FILE).read_text())
    written = [(setup.out / SCORE_FILE).read_text(), (setup.out / METRICS_FILE).read_text(), result.output]
    private_tprs = {f"{p['tpr']:.4f}" for p in full_document["subsets"][PRIVATE]["points"]} - {
        f"{p['tpr']:.4f}" for p in full_document["subsets"][PUBLIC]["points"]
    }
    for text in written:
        assert PRIVATE not in text
        assert not any(tpr in text for tpr in private_tprs)
    assert document["subsets"] == {PUBLIC: full_document["subsets"][PUBLIC]}
    assert document["primary"]["subset"] == PUBLIC
    public_only = score_submission(
        Descriptors(setup.case.track_id, setup.case.descriptor), load_groundtruth(setup.gt), Metric().fpr, (PUBLIC,)
    )
    write_roc(tmp_path / "public.png", public_only)
    png = (setup.out / ROC_FILE).read_bytes()
    assert png == (tmp_path / "public.png").read_bytes()
    assert png != full_png


def run_arrays(setup: Setup, change) -> Setup:
    arrays = setup.valid_arrays()
    change(arrays)
    setup.write_descriptors(**arrays)
    return setup


def with_nan(arrays):
    arrays[DESCRIPTOR_KEY][[3, 8], 1] = np.nan


def drop_rows(n):
    def change(arrays):
        for key in arrays:
            arrays[key] = arrays[key][n:]

    return change


def duplicate_first(arrays):
    arrays[TRACK_ID_KEY][1] = arrays[TRACK_ID_KEY][0]


def replace_ids(arrays):
    arrays[TRACK_ID_KEY][:2] = [10**9, 10**9 + 1]


def extra_ids(arrays):
    arrays[TRACK_ID_KEY] = np.r_[arrays[TRACK_ID_KEY], 10**9, 10**9 + 1]
    arrays[DESCRIPTOR_KEY] = np.r_[arrays[DESCRIPTOR_KEY], arrays[DESCRIPTOR_KEY][:2]]


BAD_DESCRIPTORS = [
    ("missing", lambda s: s.descriptors.unlink(), r"descriptors.npz was not written"),
    ("not an npz", lambda s: s.descriptors.write_text("hello"), r"descriptors.npz is not an npz archive"),
    ("empty file", lambda s: s.descriptors.write_bytes(b""), r"descriptors.npz is empty"),
    ("a folder", lambda s: (s.descriptors.unlink(), s.descriptors.mkdir()), r"is not a regular file"),
    (
        "a link",
        lambda s: (s.descriptors.rename(s.descriptors.with_suffix(".real")), s.descriptors.symlink_to("x.real")),
        r"descriptors.npz is a symbolic link",
    ),
    (
        "missing key",
        lambda s: s.write_descriptors(**{TRACK_ID_KEY: s.case.track_id}),
        r"lacks the array\(s\) descriptor",
    ),
    (
        "float64",
        lambda s: run_arrays(s, lambda a: a.__setitem__(DESCRIPTOR_KEY, a[DESCRIPTOR_KEY].astype(float))),
        r"descriptor must be float32, got float64",
    ),
    (
        "wrong dimension",
        lambda s: run_arrays(s, lambda a: a.__setitem__(DESCRIPTOR_KEY, a[DESCRIPTOR_KEY][:, :8].copy())),
        r"descriptor has dimension 8, the references have 16; write \[N, 16\] descriptors",
    ),
    ("NaN", lambda s: run_arrays(s, with_nan), r"NaN or inf in 2 row\(s\) \(track ids \d+, \d+\)"),
    ("missing ids", lambda s: run_arrays(s, drop_rows(7)), r"track_id holds 113 rows, tracks.csv has 120 tracks"),
    ("other ids", lambda s: run_arrays(s, replace_ids), r"2 track id\(s\) of tracks.csv are missing: \d+, \d+, and in"),
    ("empty arrays", lambda s: run_arrays(s, drop_rows(10**6)), r"the descriptors file is empty"),
    ("duplicated ids", lambda s: run_arrays(s, duplicate_first), r"1 track id\(s\) appear more than once"),
    ("extra ids", lambda s: run_arrays(s, extra_ids), r"track_id holds 122 rows, tracks.csv has 120 tracks; write one"),
]

BAD_OTHERS = [
    (
        "gt missing",
        lambda s: setattr(s, "gt", s.gt.parent / "nowhere"),
        r"the ground truth folder .*nowhere must exist",
    ),
    ("gt broken", lambda s: (s.gt / REFERENCES_FILE).write_text("x"), r"references.npz must be an npz archive"),
    (
        "config invalid",
        lambda s: (
            setattr(s, "config", s.gt.parent / "competition.yaml"),
            s.config.write_text("metric: {fpr: [2], similarity: dot}\n"),
        ),
        r'competition.yaml is invalid: invalid metric.similarity "dot".*; invalid metric.fpr \[2\]',
    ),
    (
        "config missing",
        lambda s: setattr(s, "config", s.gt.parent / "none.yaml"),
        r"none.yaml is invalid: cannot be read",
    ),
    (
        "out is a file",
        lambda s: (setattr(s, "out", s.gt.parent / "taken"), s.out.write_text("")),
        r"the reports must go to a writable folder, .*taken is not",
    ),
]


@pytest.mark.parametrize(
    ("problem", "breaks", "message", "code"),
    [(*case, 1) for case in BAD_DESCRIPTORS] + [(*case, 3) for case in BAD_OTHERS],
    ids=[c[0] for c in BAD_DESCRIPTORS + BAD_OTHERS],
)
def test_bad_input_is_one_error_line_and_the_exit_code_of_whose_fault_it_is(setup, problem, breaks, message, code):
    """The descriptors are the participant's (exit code 1); gt, config and the output folder the organizer's (3)."""
    breaks(setup)
    result = setup.score()
    lines = result.output.strip().splitlines()
    assert result.exit_code == code, result.output
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert re.search(message, lines[0]), lines[0]
    assert not (setup.out / SCORE_FILE).exists()


def test_cosine_zero_descriptor_is_a_bad_input(setup, tmp_path):
    setup.config = tmp_path / "competition.yaml"
    setup.config.write_text("metric: {similarity: cosine}\n")
    run_arrays(setup, lambda a: a[DESCRIPTOR_KEY].__setitem__(5, 0.0))
    result = setup.score()
    assert result.exit_code == 1
    track = setup.case.track_id[5]
    assert result.output == (
        f"Error: descriptors must be non-zero for cosine similarity, got 1 zero row(s) (track ids {track}); "
        "a zero vector has no direction\n"
    )


def test_module_entry_point_exit_codes(setup, project_root):
    env = {**os.environ, "PYTHONPATH": str(project_root)}
    command = [sys.executable, "-m", "evaluate", "score", "--gt", str(setup.gt), "--out", str(setup.out)]
    ok = subprocess.run([*command, "--descriptors", str(setup.descriptors)], capture_output=True, text=True, env=env)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("subset")
    bad = subprocess.run([*command, "--descriptors", str(setup.gt)], capture_output=True, text=True, env=env)
    assert bad.returncode == 1
    assert bad.stderr == "Error: gt is not a regular file; write a plain .npz file\n"


def test_header_bomb_is_one_error_line_without_a_traceback(setup, project_root):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (10**9, 10**9)})
    ids = io.BytesIO()
    np.lib.format.write_array(ids, setup.case.track_id)
    with zipfile.ZipFile(setup.descriptors, "w") as archive:
        archive.writestr(f"{TRACK_ID_KEY}.npy", ids.getvalue())
        archive.writestr(f"{DESCRIPTOR_KEY}.npy", header.getvalue() + bytes(64))
    env = {**os.environ, "PYTHONPATH": str(project_root)}
    command = [sys.executable, "-m", "evaluate", "score", "--gt", str(setup.gt), "--out", str(setup.out)]
    done = subprocess.run([*command, "--descriptors", str(setup.descriptors)], capture_output=True, text=True, env=env)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr == (
        "Error: descriptor must hold the 4000000000000000000 bytes its .npy header declares "
        "(shape [1000000000, 1000000000], float32), got 64; write it with numpy.savez\n"
    )
    assert done.stdout == ""
    assert not (setup.out / SCORE_FILE).exists()


@pytest.mark.parametrize(("status", "scored"), [("ok", True), ("timeout", False), ("invalid_output", False)])
def test_output_of_a_run_that_did_not_end_ok_is_never_scored(setup, tmp_path, status, scored):
    run_dir = tmp_path / "finished-run"
    (run_dir / "output").mkdir(parents=True)
    setup.descriptors = setup.case.write_descriptors(run_dir / "output" / DESCRIPTORS_FILE)
    (run_dir / "run.json").write_text(json.dumps({"status": status}))
    result = setup.score()
    if scored:
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code == 1
        assert f"says the run ended with status {status}: the output of a run that did not end ok" in result.output


def test_md5_ids_score_exactly_as_integer_ids(tmp_path):
    results = {}
    for string_ids in (False, True):
        case = make_case(
            21, n_persons=40, references_per_person=3, tracks_per_person=3, integer_valued=True, string_ids=string_ids
        )
        run = Setup(tmp_path / str(string_ids), case)
        result = run.score()
        assert result.exit_code == 0, result.output
        results[string_ids] = json.loads((run.out / SCORE_FILE).read_text())
    assert results[True] == results[False]


@pytest.mark.parametrize(
    ("string_ids", "written", "message"),
    [
        (
            True,
            lambda ids: np.arange(ids.size),
            "Error: track_id holds integer ids but tracks.csv holds string ids; write them as strings "
            "(numpy unicode, dtype <U), exactly as tracks.csv has them\n",
        ),
        (
            False,
            lambda ids: ids.astype(str),
            "Error: track_id holds string ids but tracks.csv holds integer ids; write them as integers (int64), "
            "exactly as tracks.csv has them\n",
        ),
    ],
    ids=["integers for md5s", "integer texts for integers"],
)
def test_ids_of_the_other_kind_are_one_error_line(tmp_path, string_ids, written, message):
    run = Setup(tmp_path, make_case(3, n_persons=10, string_ids=string_ids))
    run.write_descriptors(**{TRACK_ID_KEY: written(run.case.track_id), DESCRIPTOR_KEY: run.case.descriptor})
    result = run.score()
    assert result.exit_code == 1
    assert result.output == message


@pytest.mark.parametrize("string_ids", [False, True], ids=["integer ids", "md5 ids"])
def test_negatives_all_is_the_official_rule_when_configured(tmp_path, string_ids):
    run = Setup(
        tmp_path, make_case(8, n_persons=30, references_per_person=2, tracks_per_person=4, string_ids=string_ids)
    )
    run.config = tmp_path / "competition.yaml"
    run.config.write_text("metric: {negatives: all, fpr: [0.01, 0.05]}\n")
    result = run.score()
    assert result.exit_code == 0, result.output
    document = json.loads((run.out / SCORE_FILE).read_text())
    truth, submitted = load_groundtruth(run.gt), Descriptors(run.case.track_id, run.case.descriptor)
    by_rule = {rule: score_submission(submitted, truth, (0.01, 0.05), SUBSETS, negatives=rule) for rule in NEGATIVES}
    assert document["metric"]["negatives"] == "all"
    assert document["primary"]["tpr"] == by_rule["all"][PUBLIC].points[0].tpr
    for name in SUBSETS:
        written = document["subsets"][name]
        assert written["points"] == [asdict(p) for p in by_rule["all"][name].points]
        assert (written["n_references"], written["n_neg"]) == (60, 60 * 60 - 60 * 2)
        assert set(written["by_negatives"]) == set(NEGATIVES)
        assert written["by_negatives"]["subset"]["points"] == [asdict(p) for p in by_rule["subset"][name].points]
    assert result.output.splitlines()[3].startswith("public (negatives: subset)")
