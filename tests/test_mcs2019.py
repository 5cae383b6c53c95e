"""import-mcs2019 on a replica of MCS2019's original files: the round trip, and every bad input named with its fix."""

from __future__ import annotations

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
    PRIVATE,
    PUBLIC,
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
from evaluate.datagen.writer import DatasetExistsError, generate
from evaluate.groundtruth import load_groundtruth
from evaluate.mcs2019.importer import OriginalDataError, import_mcs2019
from evaluate.mcs2019.layout import (
    FRAME_COLUMNS,
    IMAGES_DIR,
    REFERENCE_DESCRIPTORS,
    REFERENCE_TABLE,
    TEST_TABLE,
    TRACK_ORDER,
    TRAIN_DESCRIPTORS,
    TRAIN_REFERENCE_DESCRIPTORS,
    TRAIN_REFERENCE_TABLE,
    TRAIN_TABLE,
)
from evaluate.mcs2019.replica import PERSON, TEST_TRACK, TRAIN_TRACK, replica_id, write_replica
from evaluate.trainset import TrainDataError
from training.data import load_train

TINY = PRESETS["tiny"]
HEX32 = r"^[0-9a-f]{32}$"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("generated") / "data"
    generate(out, TINY, seed=0, progress=False)
    return out


@pytest.fixture(scope="module")
def replica(generated: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_replica(generated, tmp_path_factory.mktemp("replica") / "original", seed=0).out


@pytest.fixture(scope="module")
def imported(replica: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("imported") / "data"
    import_mcs2019(replica, out)
    return out


@pytest.fixture
def broken(replica: Path, tmp_path: Path) -> Path:
    """A copy of the replica for one test to break."""
    return Path(shutil.copytree(replica, tmp_path / "original"))


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _edit_csv(path: Path, change: Callable[[pd.DataFrame], pd.DataFrame]) -> None:
    change(_read(path)).to_csv(path, index=False)


def _edit_npy(path: Path, change: Callable[[np.ndarray], np.ndarray]) -> None:
    np.save(path, change(np.load(path)))


def _first_image(root: Path, table: str = TEST_TABLE) -> Path:
    return root / IMAGES_DIR / _read(root / table).warp_path[0]


# --- the round trip ---------------------------------------------------------------------------


def test_the_replica_has_the_original_layout(replica: Path) -> None:
    test = _read(replica / TEST_TABLE)
    assert tuple(test.columns) == FRAME_COLUMNS
    assert tuple(_read(replica / TRAIN_TABLE).columns) == FRAME_COLUMNS
    assert list(_read(replica / TRACK_ORDER).columns) == ["track_id", "person_id"]
    assert list(_read(replica / REFERENCE_TABLE).columns) == ["crop_path", "warp_path", "person_id"]
    train_references = _read(replica / TRAIN_REFERENCE_TABLE)
    assert list(train_references.columns) == ["crop_path", "warp_path", "person_id"]
    assert set(train_references.person_id) == set(_read(replica / TRAIN_TABLE).person_id)
    assert test.track_id.str.match(HEX32).all() and test.person_id.str.match(HEX32).all()
    assert set(test.is_val) == {"True", "False"}
    # Frame ids are video frame numbers, and the rows are not in frame order.
    assert not set(test.frame_id.astype(int)) <= set(range(10))
    assert not test.frame_id.astype(int).is_monotonic_increasing
    assert np.load(replica / REFERENCE_DESCRIPTORS).shape == (TINY.references * 6, 128)
    assert np.load(replica / TRAIN_DESCRIPTORS).shape == (TINY.train_tracks * 10, 128)
    assert np.load(replica / TRAIN_REFERENCE_DESCRIPTORS).shape == (len(train_references), 128)


def test_tracks_frames_and_image_bytes_come_back(generated: Path, imported: Path) -> None:
    before = pd.read_csv(generated / TEST_DIR / TRACKS_FILE)
    after = _read(imported / TEST_DIR / TRACKS_FILE)
    assert after.track_id.tolist() == [replica_id(TEST_TRACK, t) for t in before.track_id]
    assert after.frame.astype(int).tolist() == before.frame.tolist()
    for old, new in zip(before.path, after.path, strict=True):
        assert (imported / TEST_DIR / new).read_bytes() == (generated / TEST_DIR / old).read_bytes()
    assert sorted(p.name for p in (imported / TEST_DIR).iterdir()) == ["images", TRACKS_FILE]


def test_labels_and_subsets_come_back(generated: Path, imported: Path) -> None:
    before = pd.read_csv(generated / GT_DIR / TEST_LABELS_FILE)
    expected = {(replica_id(TEST_TRACK, t), replica_id(PERSON, p), s) for t, p, s in before.itertuples(index=False)}
    after = _read(imported / GT_DIR / TEST_LABELS_FILE)
    assert set(after.itertuples(index=False, name=None)) == expected
    assert after.track_id.tolist() == _read(imported / TEST_DIR / TRACKS_FILE).track_id.unique().tolist()


def _reference_rows(path: Path, mapped: bool) -> list[tuple[str, bytes]]:
    with np.load(path) as npz:
        persons, descriptors = npz[PERSON_ID_KEY], npz[DESCRIPTOR_KEY]
    names = [replica_id(PERSON, int(p)) if mapped else str(p) for p in persons]
    return sorted(zip(names, (row.tobytes() for row in descriptors), strict=True))


def test_references_come_back_bit_for_bit(generated: Path, imported: Path) -> None:
    assert _reference_rows(imported / GT_DIR / REFERENCES_FILE, mapped=False) == _reference_rows(
        generated / GT_DIR / REFERENCES_FILE, mapped=True
    )


def test_train_references_come_back_bit_for_bit_and_train_an_aggregator(generated: Path, imported: Path) -> None:
    assert _reference_rows(imported / TRAIN_DIR / REFERENCES_FILE, mapped=False) == _reference_rows(
        generated / TRAIN_DIR / REFERENCES_FILE, mapped=True
    )
    train = load_train(imported)
    assert train.frames.shape == (TINY.train_tracks, 10, 128)
    assert set(train.reference_person.tolist()) == set(train.person.tolist())
    assert train.reference_descriptor.shape == (len(train.reference_person), 128)
    validated = CliRunner().invoke(main, ["validate", "--data", str(imported), "--worst", "0"])
    assert validated.exit_code == 0, validated.output
    assert "(3 query tracks of 2 persons, 4 references: train/references.npz)" in validated.output


def test_without_train_references_the_import_goes_ahead_and_says_so(broken: Path, tmp_path: Path) -> None:
    (broken / TRAIN_REFERENCE_TABLE).unlink()
    (broken / TRAIN_REFERENCE_DESCRIPTORS).unlink()
    summary = import_mcs2019(broken, tmp_path / "data")
    assert summary.train_references is None
    assert not (tmp_path / "data" / TRAIN_DIR / REFERENCES_FILE).exists()
    assert check_dataset(tmp_path / "data").findings == []
    [warning] = summary.warnings
    assert warning.file == TRAIN_REFERENCE_TABLE
    assert "not given (nor train_gt_descriptors.npy), so the dataset has no train/references.npz" in warning.problem
    assert "`make train-aggregator` needs it" in warning.problem
    with pytest.raises(TrainDataError, match="references.npz must exist to train an aggregator"):
        load_train(tmp_path / "data")
    result = CliRunner().invoke(
        main, ["import-mcs2019", "--from", str(broken), "--out", str(tmp_path / "cli"), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert "warning: train_gt_df.csv: not given" in result.output
    assert "fix: copy both files from the organizers' MCS2019 data" in result.output
    assert "train references" not in result.output.split("warning:")[0]


def test_a_train_person_without_references_is_a_warning(broken: Path, tmp_path: Path) -> None:
    dropped = _drop_person_references(broken, TRAIN_REFERENCE_TABLE, TRAIN_REFERENCE_DESCRIPTORS)
    summary = import_mcs2019(broken, tmp_path / "data")
    [warning] = summary.warnings
    assert str(warning).startswith(
        f"{TRAIN_TABLE}: persons {dropped} (1 of 2 train persons) have no reference in train_gt_df.csv: "
        "`make train-aggregator` needs one for every train person"
    )
    assert warning.fix == "add their rows to train_gt_df.csv and train_gt_descriptors.npy"
    with np.load(tmp_path / "data" / TRAIN_DIR / REFERENCES_FILE) as npz:
        assert dropped not in npz[PERSON_ID_KEY].tolist() and npz[PERSON_ID_KEY].size == summary.train_references
    with pytest.raises(TrainDataError, match="must hold references of every train person"):
        load_train(tmp_path / "data")


def test_train_tracks_images_and_frame_descriptors_come_back(generated: Path, imported: Path) -> None:
    before = pd.read_csv(generated / TRAIN_DIR / TRACKS_FILE)
    after = _read(imported / TRAIN_DIR / TRACKS_FILE)
    with np.load(generated / TRAIN_DIR / TRAIN_DESCRIPTORS_FILE) as npz:
        old = {
            (replica_id(TRAIN_TRACK, int(t)), int(f)): d for t, f, d in zip(*(npz[k] for k in npz.files), strict=True)
        }
    with np.load(imported / TRAIN_DIR / TRAIN_DESCRIPTORS_FILE) as npz:
        assert npz[TRACK_ID_KEY].tolist() == after.track_id.tolist()
        assert npz["frame"].tolist() == after.frame.astype(int).tolist()
        new = {(str(t), int(f)): d for t, f, d in zip(*(npz[k] for k in npz.files), strict=True)}
    assert new.keys() == old.keys()
    assert all(np.array_equal(new[key], old[key]) for key in old)
    images = {
        (replica_id(TRAIN_TRACK, t), f, replica_id(PERSON, p)): generated / TRAIN_DIR / path
        for t, f, path, p in before.itertuples(index=False)
    }
    for t, f, path, p in after.itertuples(index=False):
        assert (imported / TRAIN_DIR / path).read_bytes() == images[(t, int(f), p)].read_bytes()


def test_ids_are_kept_as_unicode_strings_never_objects(imported: Path) -> None:
    for part in (GT_DIR, TRAIN_DIR):
        with np.load(imported / part / REFERENCES_FILE, allow_pickle=False) as npz:
            assert npz[PERSON_ID_KEY].dtype == np.dtype("<U32")
    with np.load(imported / TRAIN_DIR / TRAIN_DESCRIPTORS_FILE, allow_pickle=False) as npz:
        assert npz[TRACK_ID_KEY].dtype == np.dtype("<U32")
    labels = _read(imported / GT_DIR / TEST_LABELS_FILE)
    assert labels.track_id.str.match(HEX32).all() and labels.person_id.str.match(HEX32).all()


def test_public_is_not_val_swaps_the_subsets(replica: Path, imported: Path, tmp_path: Path) -> None:
    import_mcs2019(replica, tmp_path / "swapped", public_is_val=False)
    swapped = _read(tmp_path / "swapped" / GT_DIR / TEST_LABELS_FILE).set_index("track_id").subset
    original = _read(imported / GT_DIR / TEST_LABELS_FILE).set_index("track_id").subset
    assert (swapped == original.map({PUBLIC: PRIVATE, PRIVATE: PUBLIC})).all()


def test_an_existing_dataset_is_replaced_only_with_force(replica: Path, imported: Path, tmp_path: Path) -> None:
    target = Path(shutil.copytree(imported, tmp_path / "data"))
    with pytest.raises(DatasetExistsError, match="must not exist yet, got an existing folder; pass --force"):
        import_mcs2019(replica, target)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("keep me")
    with pytest.raises(DatasetExistsError, match="must be a dataset"):
        import_mcs2019(replica, tmp_path / "notes", force=True)
    import_mcs2019(replica, target, force=True)
    assert not list(tmp_path.glob(".*partial"))


def test_a_competition_yaml_can_be_given(replica: Path, tmp_path: Path) -> None:
    config = tmp_path / "competition.yaml"
    config.write_text("name: mcs2019-tiny\nmetric:\n  fpr: [0.1, 0.2]\n")
    import_mcs2019(replica, tmp_path / "data", competition=config)
    assert (tmp_path / "data" / COMPETITION_FILE).read_text() == config.read_text()


def test_the_cli_round_trip_prints_a_summary(tmp_path: Path) -> None:
    original, data = tmp_path / "original", tmp_path / "data"
    made = CliRunner().invoke(main, ["make-mcs2019-replica", "--preset", "tiny", "--out", str(original), "--quiet"])
    assert made.exit_code == 0, made.output
    assert "80 test frames, 30 train frames, 12 references, 4 train references" in made.output
    again = CliRunner().invoke(main, ["make-mcs2019-replica", "--out", str(original), "--quiet"])
    assert again.exit_code == 3 and "pass --force" in again.output
    result = CliRunner().invoke(main, ["import-mcs2019", "--from", str(original), "--out", str(data), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "public        5 tracks of     3 persons" in result.output
    assert "references 12 of dimension 128; 110 images copied" in result.output
    assert "train references 4" in result.output and "warning" not in result.output
    forced = CliRunner().invoke(main, ["make-mcs2019-replica", "--out", str(original), "--force", "--quiet"])
    assert forced.exit_code == 0, forced.output
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


# --- waiting for the string-id contract (wt-ids) ------------------------------------------------


def test_check_data_accepts_the_imported_dataset(imported: Path) -> None:
    assert check_dataset(imported).findings == []


def test_the_scorer_scores_the_imported_dataset(imported: Path, tmp_path: Path) -> None:
    truth = load_groundtruth(imported / GT_DIR)
    # Each track answered with its own person's first reference: every positive pair is a perfect match.
    first = {str(p): d for p, d in zip(truth.reference_person[::-1], truth.reference_descriptor[::-1], strict=True)}
    np.savez(
        tmp_path / "descriptors.npz",
        track_id=np.asarray(truth.track_id, dtype=str),
        descriptor=np.stack([first[str(p)] for p in truth.track_person]),
    )
    result = CliRunner().invoke(
        main,
        ["score", "--descriptors", str(tmp_path / "descriptors.npz"), "--gt", str(imported / GT_DIR)]
        + ["--out", str(tmp_path / "run"), "--config", str(imported / COMPETITION_FILE)],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "run" / "score.json").is_file()


# --- bad input: every problem, one line each with its file and fix ------------------------------


def _drop_person_references(root: Path, table_name: str = REFERENCE_TABLE, npy: str = REFERENCE_DESCRIPTORS) -> str:
    """Drop every reference row of the first person of `table_name` and `npy`; return that person."""
    table = _read(root / table_name)
    keep = (table.person_id != table.person_id[0]).to_numpy()
    table[keep].to_csv(root / table_name, index=False)
    _edit_npy(root / npy, lambda a: a[keep])
    return str(table.person_id[0])


def _add_orphan_reference(root: Path, table_name: str = REFERENCE_TABLE, npy: str = REFERENCE_DESCRIPTORS) -> None:
    _edit_csv(root / table_name, lambda t: pd.concat([t, t.iloc[:1].assign(person_id="f" * 32)]))
    _edit_npy(root / npy, lambda a: np.concatenate([a, a[:1]]))


def _split_a_person(root: Path) -> None:
    order = _read(root / TRACK_ORDER)
    counts = order.person_id.value_counts()
    track = order.track_id[order.person_id == counts.index[0]].iloc[0]
    _edit_csv(root / TEST_TABLE, lambda t: t.assign(is_val=t.is_val.where(t.track_id != track, "True")))
    _edit_csv(root / TEST_TABLE, lambda t: t.assign(is_val=t.is_val.where(t.track_id == track, "False")))


def _relabel_a_track(root: Path) -> None:
    order = _read(root / TRACK_ORDER)
    track, other = order.track_id[0], order.person_id[order.person_id != order.person_id[0]].iloc[0]
    _edit_csv(root / TEST_TABLE, lambda t: t.assign(person_id=t.person_id.where(t.track_id != track, other)))


def _repeat_a_frame_id(root: Path) -> None:
    def change(table: pd.DataFrame) -> pd.DataFrame:
        same_track = table.index[table.track_id == table.track_id[0]]
        table.loc[same_track[1], "frame_id"] = table.frame_id[0]
        return table

    _edit_csv(root / TEST_TABLE, change)


def _with_row(descriptors: np.ndarray, row: int, value: float) -> np.ndarray:
    """Return float32 `descriptors` with every value of `row` set to `value` (NaN, inf)."""
    return np.where(np.arange(len(descriptors))[:, None] == row, value, descriptors).astype(np.float32)


#: A change that breaks the replica folder it is given; what it returns is not used.
Breakage = Callable[[Path], object]


def _reference_breakages(kind: str, table: str, npy: str, rows: int) -> list[tuple[str, Breakage, str]]:
    """The ways to break a reference .npy `npy` of `rows` rows (aligned with `table`), each with its message."""
    return [
        (
            f"{kind}reference rows",
            lambda root: _edit_npy(root / npy, lambda a: a[1:]),
            rf"- {npy}: holds {rows - 1} rows, {table} has {rows}; row i of one must describe row i of the other; "
            rf"fix: use the {npy} that belongs to this {table}",
        ),
        (
            f"NaN {kind}reference",
            lambda root: _edit_npy(root / npy, lambda a: _with_row(a, 2, np.nan)),
            rf"- {npy}: rows 2 hold NaN or inf \(1 of {rows} rows\); fix: recompute",
        ),
        (
            f"float64 {kind}references",
            lambda root: _edit_npy(root / npy, lambda a: a.astype(np.float64)),
            rf"- {npy}: must be float32 \[rows, D\], got float64 \[{rows}, 128\]",
        ),
    ]


def _write_csv_text(path: Path, text: str) -> None:
    path.write_text(text)


BREAKAGES: list[tuple[str, Breakage, str]] = [
    *(
        (f"{name} missing", lambda root, name=name: (root / name).unlink(), rf"- {name}: is missing; fix: copy it from")
        for name in (TEST_TABLE, TRACK_ORDER, REFERENCE_TABLE, REFERENCE_DESCRIPTORS, TRAIN_TABLE, TRAIN_DESCRIPTORS)
    ),
    (
        "image folder missing",
        lambda root: (root / IMAGES_DIR).rename(root / "elsewhere"),
        r"- data/: the image folder .*/data does not exist; fix: pass --images",
    ),
    (
        "missing column",
        lambda root: _edit_csv(root / TEST_TABLE, lambda t: t.drop(columns="frame_id")),
        r"- test_df.csv: lacks the columns frame_id \(has crop_path, warp_path, .*\); fix: use the organizers' copy",
    ),
    (
        "header only",
        lambda root: _write_csv_text(root / TRACK_ORDER, "track_id,person_id\n"),
        "track_order_df.csv: has no rows",
    ),
    (
        "not a CSV",
        lambda root: _write_csv_text(root / REFERENCE_TABLE, 'person_id\n"unterminated\n'),
        r"test_gt_df.csv: cannot be read as CSV: .*; fix: copy it .* it must have a header row",
    ),
    (
        "track without 10 frames",
        lambda root: _edit_csv(root / TEST_TABLE, lambda t: t.iloc[1:]),
        r"- test_df.csv: 1 tracks do not have 10 frames: [0-9a-f]{32} \(9 frames\); fix: give every track exactly 10",
    ),
    (
        "train track without 10 frames",
        lambda root: _edit_csv(root / TRAIN_TABLE, lambda t: pd.concat([t, t.iloc[:1].assign(frame_id="99999")])),
        r"- train_df.csv: 1 tracks do not have 10 frames: [0-9a-f]{32} \(11 frames\)",
    ),
    (
        "repeated frame id",
        _repeat_a_frame_id,
        r"test_df.csv: tracks [0-9a-f]{32} list a frame_id more than once \(lines",
    ),
    (
        "frame id not a number",
        lambda root: _edit_csv(root / TEST_TABLE, lambda t: t.assign(frame_id=t.frame_id.where(t.index != 0, "x"))),
        r"test_df.csv: lines 2 \(1 rows\) have a frame_id that is not a number",
    ),
    (
        "empty person id",
        lambda root: _edit_csv(root / TRACK_ORDER, lambda t: t.assign(person_id=t.person_id.where(t.index != 0, ""))),
        r"track_order_df.csv: lines 2 \(1 rows\) have an empty person_id; fix: fill in person_id on every row",
    ),
    (
        "unsafe track id",
        lambda root: _edit_csv(root / TRACK_ORDER, lambda t: t.assign(track_id=t.track_id.where(t.index != 0, "../x"))),
        r"track_order_df.csv: lines 2 \(1 rows\) have a track_id other than letters, digits, - and _ \(e.g. \.\./x\)",
    ),
    (
        "is_val not a flag",
        lambda root: _edit_csv(root / TEST_TABLE, lambda t: t.assign(is_val=t.is_val.where(t.index != 0, "maybe"))),
        r"test_df.csv: lines 2 \(1 rows\) have an is_val other than True or False; fix: write is_val as True/False",
    ),
    (
        "is_val mixed in a track",
        lambda root: _edit_csv(
            root / TEST_TABLE,
            lambda t: t.assign(is_val=t.is_val.where(t.index != 0, "False" if t.is_val[0] == "True" else "True")),
        ),
        r"test_df.csv: tracks [0-9a-f]{32} have more than one is_val; fix: give all rows of a track one is_val",
    ),
    ("person in both subsets", _split_a_person, r"test_df.csv: persons [0-9a-f]{32} have tracks with is_val True and"),
    (
        "one subset empty",
        lambda root: _edit_csv(root / TEST_TABLE, lambda t: t.assign(is_val="True")),
        r"test_df.csv: the private subset \(is_val False\) has tracks of 0 person\(s\); it needs at least 2; "
        r"fix: check the is_val column, or pass --public-is-not-val",
    ),
    ("person disagrees", _relabel_a_track, r"test_df.csv: tracks [0-9a-f]{32} have a person_id other than track_order"),
    (
        "train track of two persons",
        lambda root: _edit_csv(root / TRAIN_TABLE, lambda t: t.assign(person_id=t.person_id.where(t.index != 0, "a"))),
        r"train_df.csv: tracks [0-9a-f]{32} have more than one person_id",
    ),
    (
        "track listed twice",
        lambda root: _edit_csv(root / TRACK_ORDER, lambda t: pd.concat([t, t.iloc[:1]])),
        r"track_order_df.csv: tracks [0-9a-f]{32} are listed more than once \(lines 10\)",
    ),
    (
        "track without frames",
        lambda root: _edit_csv(root / TRACK_ORDER, lambda t: pd.concat([t, t.iloc[:1].assign(track_id="e" * 32)])),
        r"track_order_df.csv: tracks e{32} have no frames in test_df.csv",
    ),
    (
        "track not in the order",
        lambda root: _edit_csv(root / TRACK_ORDER, lambda t: t.iloc[1:]),
        r"test_df.csv: tracks [0-9a-f]{32} are not in track_order_df.csv, so no submission row answers them",
    ),
    (
        "image missing",
        lambda root: _first_image(root).unlink(),
        r"- test_df.csv: 1 warp_path images do not exist \(line 2: warp/[0-9a-f]{32}/\d+\.jpg\); fix: put every frame",
    ),
    (
        "train image missing",
        lambda root: _first_image(root, TRAIN_TABLE).unlink(),
        r"- train_df.csv: 1 warp_path images do not exist \(line 2: warp/",
    ),
    (
        "image size",
        lambda root: Image.new("RGB", (100, 112)).save(_first_image(root), format="JPEG"),
        r"test_df.csv: 1 warp_path images must be 112x112, got 100x112",
    ),
    (
        "image format",
        lambda root: Image.new("RGB", (112, 112)).save(_first_image(root), format="PNG"),
        r"test_df.csv: 1 warp_path images must be JPEG, got PNG",
    ),
    (
        "grey image",
        lambda root: Image.new("L", (112, 112)).save(_first_image(root), format="JPEG"),
        r"test_df.csv: 1 warp_path images must be RGB, got L",
    ),
    (
        "unreadable image",
        lambda root: _first_image(root).write_bytes(b"not an image"),
        r"test_df.csv: 1 warp_path images cannot be read as images",
    ),
    (
        "image outside the folder",
        lambda root: _edit_csv(
            root / TEST_TABLE, lambda t: t.assign(warp_path=t.warp_path.where(t.index != 0, "../x.jpg"))
        ),
        r"test_df.csv: 1 warp_path images must be relative to .*/data and stay inside it \(line 2: \.\./x\.jpg\)",
    ),
    *_reference_breakages("", REFERENCE_TABLE, REFERENCE_DESCRIPTORS, 12),
    (
        "not an npy",
        lambda root: (root / TRAIN_DESCRIPTORS).write_text("hello"),
        r"train_df_descriptors.npy: cannot be read as a \.npy array without objects",
    ),
    (
        "NaN train descriptor",
        lambda root: _edit_npy(root / TRAIN_DESCRIPTORS, lambda a: _with_row(a, 0, np.inf)),
        r"train_df_descriptors.npy: rows 0 hold NaN or inf \(1 of 30 rows\)",
    ),
    (
        "train descriptor rows",
        lambda root: _edit_npy(root / TRAIN_DESCRIPTORS, lambda a: a[1:]),
        r"train_df_descriptors.npy: holds 29 rows, train_df.csv has 30",
    ),
    (
        "dimension mismatch",
        lambda root: _edit_npy(root / TRAIN_DESCRIPTORS, lambda a: np.ascontiguousarray(a[:, :64])),
        r"train_df_descriptors.npy: has dimension 64, gt_descriptors.npy 128; fix: use the descriptors of one encoder",
    ),
    (
        "person without references",
        _drop_person_references,
        r"- track_order_df.csv: persons [0-9a-f]{32} \(tracks [0-9a-f]{32}.*\) have no reference in test_gt_df.csv",
    ),
    (
        "references without tracks",
        _add_orphan_reference,
        r"- test_gt_df.csv: persons f{32} have references but no test track",
    ),
    *(
        (
            f"{name} without the other",
            lambda root, name=name: (root / name).unlink(),
            rf"- {name}: is missing; fix: copy it from the organizers' MCS2019 data into the --from folder, or "
            r"remove train_gt_df.csv and train_gt_descriptors.npy both to import without train references",
        )
        for name in (TRAIN_REFERENCE_TABLE, TRAIN_REFERENCE_DESCRIPTORS)
    ),
    *_reference_breakages("train ", TRAIN_REFERENCE_TABLE, TRAIN_REFERENCE_DESCRIPTORS, 4),
    (
        "train reference dimension",
        lambda root: _edit_npy(root / TRAIN_REFERENCE_DESCRIPTORS, lambda a: np.ascontiguousarray(a[:, :64])),
        r"- train_gt_descriptors.npy: has dimension 64, train_df_descriptors.npy 128; fix: use the descriptors of one",
    ),
    (
        "empty train reference person",
        lambda root: _edit_csv(
            root / TRAIN_REFERENCE_TABLE, lambda t: t.assign(person_id=t.person_id.where(t.index != 1, ""))
        ),
        r"- train_gt_df.csv: lines 3 \(1 rows\) have an empty person_id; fix: fill in person_id on every row",
    ),
    (
        "train references of a person without train tracks",
        lambda root: _add_orphan_reference(root, TRAIN_REFERENCE_TABLE, TRAIN_REFERENCE_DESCRIPTORS),
        r"- train_gt_df.csv: persons f{32} \(1 of 3\) have references but no track in train_df.csv; fix: use the "
        r"train_gt_df.csv and train_gt_descriptors.npy that belong to this train_df.csv, or drop those persons' rows",
    ),
]


@pytest.mark.parametrize(("breakage", "match"), [b[1:] for b in BREAKAGES], ids=[b[0] for b in BREAKAGES])
def test_each_bad_input_is_named_with_its_fix(broken: Path, tmp_path: Path, breakage: Breakage, match: str) -> None:
    breakage(broken)
    with pytest.raises(OriginalDataError, match=match):
        import_mcs2019(broken, tmp_path / "data")
    assert not (tmp_path / "data").exists()


def test_every_problem_is_reported_at_once(broken: Path, tmp_path: Path) -> None:
    _first_image(broken).unlink()
    _edit_npy(broken / REFERENCE_DESCRIPTORS, lambda a: a[1:])
    (broken / TRAIN_TABLE).unlink()
    _edit_csv(broken / TRACK_ORDER, lambda t: t.iloc[1:])
    with pytest.raises(OriginalDataError) as caught:
        import_mcs2019(broken, tmp_path / "data")
    files = [finding.file for finding in caught.value.findings]
    assert {TEST_TABLE, REFERENCE_DESCRIPTORS, TRAIN_TABLE} <= set(files)
    assert all(finding.fix for finding in caught.value.findings)
    assert str(caught.value).count("\n- ") == len(files)


def test_the_cli_exits_3_and_lists_each_problem(broken: Path, tmp_path: Path) -> None:
    _first_image(broken).unlink()
    (broken / TRAIN_DESCRIPTORS).unlink()
    result = CliRunner().invoke(
        main, ["import-mcs2019", "--from", str(broken), "--out", str(tmp_path / "d"), "--quiet"]
    )
    assert result.exit_code == 3
    assert "- train_df_descriptors.npy: is missing; fix: copy it from the organizers' MCS2019 data" in result.output
    assert "- test_df.csv: 1 warp_path images do not exist" in result.output
    assert "2 problem(s) found; nothing was written" in result.output
    assert not (tmp_path / "d").exists()
