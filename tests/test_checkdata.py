"""check-data: a clean generated dataset passes; each kind of breakage is reported with its file and fix."""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from contracts.names import (
    COMPETITION_FILE,
    DESCRIPTOR_KEY,
    GT_DIR,
    PERSON_ID_KEY,
    REFERENCES_FILE,
    TEST_DIR,
    TEST_LABELS_FILE,
    TRACK_ID_KEY,
    TRACKS_FILE,
    TRAIN_DESCRIPTORS_FILE,
    TRAIN_DIR,
)
from evaluate.checkdata import check_dataset
from evaluate.cli import main
from evaluate.datagen.presets import PRESETS
from evaluate.datagen.writer import generate

TEST_TRACKS = f"{TEST_DIR}/{TRACKS_FILE}"
LABELS = f"{GT_DIR}/{TEST_LABELS_FILE}"
REFERENCES = f"{GT_DIR}/{REFERENCES_FILE}"
TRAIN_DESCRIPTORS = f"{TRAIN_DIR}/{TRAIN_DESCRIPTORS_FILE}"


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("clean") / "data"
    generate(out, PRESETS["tiny"], seed=0, progress=False)
    return out


@pytest.fixture
def copy(clean: Path, tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(clean, target)
    return target


def _edit_csv(path: Path, change: Callable[[pd.DataFrame], pd.DataFrame]) -> None:
    change(pd.read_csv(path)).to_csv(path, index=False)


def _edit_npz(path: Path, change: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]) -> None:
    with np.load(path) as npz:
        arrays = {key: npz[key] for key in npz.files}
    np.savez(path, **change(arrays))


def _first_image(root: Path) -> Path:
    return root / TEST_DIR / pd.read_csv(root / TEST_TRACKS).path[0]


def _mix_subsets(root: Path) -> None:
    def move(labels: pd.DataFrame) -> pd.DataFrame:
        public = labels[labels.subset == "public"]
        private_row = labels.index[labels.subset == "private"][0]
        labels.loc[private_row, "person_id"] = public.person_id.iloc[0]
        return labels

    _edit_csv(root / LABELS, move)


def _drop_references_of_one_person(root: Path) -> None:
    def drop(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        keep = arrays[PERSON_ID_KEY] != arrays[PERSON_ID_KEY][0]
        return {key: value[keep] for key, value in arrays.items()}

    _edit_npz(root / REFERENCES, drop)


BREAKAGES: list[tuple[str, Callable[[Path], None], str, str]] = [
    (
        "missing column",
        lambda root: _edit_csv(root / TEST_TRACKS, lambda t: t.drop(columns="frame")),
        TEST_TRACKS,
        "lacks the columns frame",
    ),
    (
        "frames per track",
        lambda root: _edit_csv(root / TEST_TRACKS, lambda t: t.iloc[1:]),
        TEST_TRACKS,
        "1 tracks do not have 10 frames",
    ),
    (
        "frame numbers",
        lambda root: _edit_csv(root / TEST_TRACKS, lambda t: t.assign(frame=t.frame.where(t.index != 0, 10))),
        TEST_TRACKS,
        r"do not number their frames 0\.\.9",
    ),
    (
        "image size",
        lambda root: Image.new("RGB", (100, 112)).save(_first_image(root), format="JPEG"),
        TEST_TRACKS,
        "1 images: must be 112x112",
    ),
    (
        "image format",
        lambda root: Image.new("RGB", (112, 112)).save(_first_image(root), format="PNG"),
        TEST_TRACKS,
        "1 images: must be JPEG, got PNG",
    ),
    ("image missing", lambda root: _first_image(root).unlink(), TEST_TRACKS, "1 images: do not exist"),
    (
        "label column in test",
        lambda root: _edit_csv(root / TEST_TRACKS, lambda t: t.assign(person_id=1)),
        TEST_TRACKS,
        "has columns beyond track_id,frame,path: person_id",
    ),
    (
        "label file in test",
        lambda root: shutil.copy(root / LABELS, root / TEST_DIR / TEST_LABELS_FILE),
        TEST_DIR,
        "holds 1 files that tracks.csv does not name.*test_labels.csv",
    ),
    ("person in two subsets", _mix_subsets, LABELS, r"persons \d+ have tracks in both subsets"),
    ("references missing", _drop_references_of_one_person, REFERENCES, r"labelled persons \d+ have no reference"),
    (
        "unlabelled track",
        lambda root: _edit_csv(root / LABELS, lambda t: t.iloc[1:]),
        LABELS,
        r"test tracks \d+ have no label",
    ),
    (
        "dimension mismatch",
        lambda root: _edit_npz(root / TRAIN_DESCRIPTORS, lambda a: {**a, DESCRIPTOR_KEY: a[DESCRIPTOR_KEY][:, :64]}),
        TRAIN_DESCRIPTORS,
        "has dimension 64, the references 128",
    ),
    (
        "train descriptor rows",
        lambda root: _edit_npz(root / TRAIN_DESCRIPTORS, lambda a: {k: v[1:] for k, v in a.items()}),
        TRAIN_DESCRIPTORS,
        "1 frames without a descriptor",
    ),
    (
        "reference dtype",
        lambda root: _edit_npz(
            root / REFERENCES, lambda a: {**a, DESCRIPTOR_KEY: a[DESCRIPTOR_KEY].astype(np.float64)}
        ),
        REFERENCES,
        r"descriptor must be float32 \[rows, D\], got float64",
    ),
    (
        "NaN reference",
        lambda root: _edit_npz(root / REFERENCES, lambda a: {**a, DESCRIPTOR_KEY: a[DESCRIPTOR_KEY] * np.nan}),
        REFERENCES,
        "holds NaN or inf",
    ),
    (
        "missing array",
        lambda root: _edit_npz(root / TRAIN_DESCRIPTORS, lambda a: {k: v for k, v in a.items() if k != TRACK_ID_KEY}),
        TRAIN_DESCRIPTORS,
        "lacks the arrays track_id",
    ),
    ("no competition.yaml", lambda root: (root / COMPETITION_FILE).unlink(), COMPETITION_FILE, "is missing"),
    (
        "bad competition.yaml",
        lambda root: (root / COMPETITION_FILE).write_text("metric:\n  similarity: hamming\n"),
        COMPETITION_FILE,
        'invalid metric.similarity "hamming"',
    ),
    (
        "one person per subset",
        lambda root: _edit_csv(root / LABELS, lambda t: t[(t.subset == "public") | (t.index == t.index[-1])]),
        LABELS,
        "subset private has tracks of fewer than 2 persons",
    ),
]


def _md5(prefix: str, ids: np.ndarray) -> np.ndarray:
    return np.array([hashlib.md5(f"{prefix}{i}".encode()).hexdigest() for i in ids.tolist()])


def _to_md5_ids(root: Path) -> None:
    """Rename every track and person of the dataset to an md5 string, as MCS2019's data names them."""
    track = {"track_id": "track", "person_id": "person"}
    for table in (TEST_TRACKS, LABELS, f"{TRAIN_DIR}/{TRACKS_FILE}"):
        _edit_csv(root / table, lambda t: t.assign(**{c: _md5(p, t[c].to_numpy()) for c, p in track.items() if c in t}))
    _edit_npz(root / REFERENCES, lambda a: {**a, PERSON_ID_KEY: _md5("person", a[PERSON_ID_KEY])})
    _edit_npz(root / TRAIN_DESCRIPTORS, lambda a: {**a, TRACK_ID_KEY: _md5("track", a[TRACK_ID_KEY])})


def test_a_dataset_with_md5_ids_is_clean(copy: Path) -> None:
    _to_md5_ids(copy)
    report = check_dataset(copy)
    assert report.findings == []
    assert report.counts["references"] == 12 and report.negatives == {
        "public": PRESETS["tiny"].negatives("public"),
        "private": PRESETS["tiny"].negatives("private"),
    }


ID_BREAKAGES: list[tuple[str, Callable[[Path], None], str, str]] = [
    (
        "labels of another kind than tracks.csv",
        lambda root: _edit_csv(root / LABELS, lambda t: t.assign(track_id=_md5("track", t.track_id.to_numpy()))),
        LABELS,
        r"^track_id of gt/test_labels.csv holds string ids but test/tracks.csv holds integer ids$",
    ),
    (
        "references of another kind than the labels",
        lambda root: _edit_npz(root / REFERENCES, lambda a: {**a, PERSON_ID_KEY: a[PERSON_ID_KEY].astype(str)}),
        REFERENCES,
        r"^person_id of gt/references.npz holds string ids but gt/test_labels.csv holds integer ids$",
    ),
    (
        "train descriptors of another kind",
        lambda root: _edit_npz(root / TRAIN_DESCRIPTORS, lambda a: {**a, TRACK_ID_KEY: a[TRACK_ID_KEY].astype(str)}),
        TRAIN_DESCRIPTORS,
        r"^track_id of train/frame_descriptors.npz holds string ids but train/tracks.csv holds integer ids$",
    ),
    (
        "float reference ids",
        lambda root: _edit_npz(root / REFERENCES, lambda a: {**a, PERSON_ID_KEY: a[PERSON_ID_KEY].astype(float)}),
        REFERENCES,
        r"^person_id must be 1-D integers or strings \(numpy dtype <U\), got float64 \[12\]$",
    ),
    (
        "empty track id",
        lambda root: _edit_csv(
            root / TEST_TRACKS, lambda t: t.assign(track_id=t.track_id.astype(str).where(t.index != 3, ""))
        ),
        TEST_TRACKS,
        r"^track_id must not be empty, got an empty id$",
    ),
]


@pytest.mark.parametrize(("breakage", "file", "match"), [b[1:] for b in ID_BREAKAGES], ids=[b[0] for b in ID_BREAKAGES])
def test_each_id_problem_is_found_with_its_fix(
    copy: Path, breakage: Callable[[Path], None], file: str, match: str
) -> None:
    breakage(copy)
    findings = check_dataset(copy).findings
    hits = [f for f in findings if f.file == file and re.search(match, f.problem)]
    assert len(hits) == 1, f"no finding on {file} matching {match!r} in {[str(f) for f in findings]}"
    assert hits[0].fix


def test_a_generated_dataset_is_clean(clean: Path) -> None:
    report = check_dataset(clean)
    assert report.findings == []
    assert report.negatives == {
        "public": PRESETS["tiny"].negatives("public"),
        "private": PRESETS["tiny"].negatives("private"),
    }


@pytest.mark.parametrize(("breakage", "file", "match"), [b[1:] for b in BREAKAGES], ids=[b[0] for b in BREAKAGES])
def test_each_breakage_is_found(copy: Path, breakage: Callable[[Path], None], file: str, match: str) -> None:
    breakage(copy)
    findings = check_dataset(copy).findings
    hits = [f for f in findings if f.file == file and re.search(match, f.problem)]
    assert hits, f"no finding on {file} matching {match!r} in {[str(f) for f in findings]}"
    assert all(f.fix for f in findings)


def test_every_problem_is_reported_at_once(copy: Path) -> None:
    _first_image(copy).unlink()
    _mix_subsets(copy)
    (copy / COMPETITION_FILE).unlink()
    files = {f.file for f in check_dataset(copy).findings}
    assert {TEST_TRACKS, LABELS, COMPETITION_FILE} <= files


def test_the_cli_exits_3_and_lists_each_problem_with_its_fix(copy: Path) -> None:
    _first_image(copy).unlink()
    result = CliRunner().invoke(main, ["check-data", str(copy), "--quiet"])
    assert result.exit_code == 3
    assert f"- {TEST_TRACKS}: 1 images: do not exist" in result.output
    assert "fix: write every frame as an aligned 112x112 RGB JPEG" in result.output


def test_the_cli_exits_0_with_a_summary_on_a_clean_dataset(clean: Path) -> None:
    result = CliRunner().invoke(main, ["check-data", str(clean), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "follows the data contract" in result.output
    assert "public negative pairs: 20 (FPR targets resolvable: 0.1 yes, 0.2 yes)" in result.output


def test_the_cli_exits_2_on_a_missing_folder(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["check-data", str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    assert "does not exist" in result.output
