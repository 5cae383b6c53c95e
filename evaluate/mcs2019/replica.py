"""A small replica of MCS2019's original files, written from a synthetic dataset of this project.

MCS2019's data cannot be shipped, so the importer is tested on this: every table and
column of the original layout (see `layout`), md5 hex ids, frame ids that are video frame
numbers rather than 0..9, table rows in no particular order with the .npy rows following
them, and the warp images under data/. The descriptors are the generator's: 128-D from
models/encoder.onnx, where MCS2019's were 512-D from its own network; the importer takes
any D, and 128 keeps an imported replica scorable by this project's baseline solution.

The train persons' references (train_gt_df.csv, train_gt_descriptors.npy) come from the
generated train/references.npz. Not replicated, because the importer never reads them: the
crop images (crop_path is listed, the files are not written), the reference images of
test_gt_df.csv and train_gt_df.csv, and train_df_track_order_df.csv.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from contracts.names import (
    DESCRIPTOR_KEY,
    GT_DIR,
    LABEL_COLUMNS,
    PERSON_ID_KEY,
    PUBLIC,
    REFERENCES_FILE,
    TEST_DIR,
    TEST_LABELS_FILE,
    TRACK_COLUMNS,
    TRACKS_FILE,
    TRAIN_DESCRIPTORS_FILE,
    TRAIN_DIR,
    TRAIN_TRACK_COLUMNS,
)
from evaluate.datagen.presets import Preset
from evaluate.datagen.writer import check_replaceable, generate
from evaluate.mcs2019.layout import (
    CROP_PATH,
    FRAME_COLUMNS,
    FRAME_ID,
    IMAGES_DIR,
    IS_VAL,
    ORDER_COLUMNS,
    PERSON_ID,
    REFERENCE_COLUMNS,
    REFERENCE_DESCRIPTORS,
    REFERENCE_TABLE,
    TEST_TABLE,
    TRACK_ID,
    TRACK_ORDER,
    TRAIN_DESCRIPTORS,
    TRAIN_REFERENCE_DESCRIPTORS,
    TRAIN_REFERENCE_TABLE,
    TRAIN_TABLE,
    VIDEO_ID,
    WARP_PATH,
)

#: Kinds of id `replica_id` makes; test and train track ids come from separate counters in
#: the generator, so the kind keeps them apart.
TEST_TRACK, TRAIN_TRACK, PERSON, VIDEO = "test-track", "train-track", "person", "video"
# About one train person in five is a validation person, as is_val marks in MCS2019's train_df.csv.
_VALIDATION_SHARE = 0.2
_TRACK, _FRAME, _PATH = TRACK_COLUMNS


@dataclass(frozen=True)
class ReplicaSummary:
    """What `write_replica` wrote: the folder, frame rows per table, test and train reference rows, bytes on disk."""

    out: Path
    test_rows: int
    train_rows: int
    reference_rows: int
    train_reference_rows: int
    bytes: int


def replica_id(kind: str, number: int) -> str:
    """Return the 32-hex md5 id that the replica gives the generator's id `number` of `kind`.

    `kind` is one of TEST_TRACK, TRAIN_TRACK, PERSON, VIDEO. Deterministic, so a test can
    map an imported dataset back to the one the replica was written from.
    """
    return hashlib.md5(f"mcs2019-replica/{kind}/{number}".encode()).hexdigest()


def make_replica(out: Path, preset: Preset, seed: int, force: bool = False, progress: bool = False) -> ReplicaSummary:
    """Generate the synthetic dataset of `preset` and `seed`, and write its replica to `out`; return a summary.

    The generated dataset lives in a temporary folder beside `out` and is deleted after.
    Raises DatasetExistsError when `out` exists, unless `force` is set and `out` is empty
    or a replica (holds test_df.csv); the generator's errors when assets/ or models/ are broken.
    """
    check_replaceable(out, force, marker=TEST_TABLE)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.") as work:
        generate(Path(work) / "dataset", preset, seed, progress=progress)
        summary = write_replica(Path(work) / "dataset", Path(work) / "replica", seed)
        if out.exists():
            shutil.rmtree(out)
        (Path(work) / "replica").rename(out)
    return replace(summary, out=out)


def write_replica(dataset: Path, out: Path, seed: int) -> ReplicaSummary:
    """Write the original-format replica of the generated `dataset` to the new folder `out`; return a summary.

    `seed` draws the frame numbers, boxes, landmarks, the validation persons of train and
    the row orders. Raises FileExistsError when `out` exists and OSError when `dataset` is
    not a complete generated dataset.
    """
    rng = np.random.default_rng([seed, 2019])
    out.mkdir(parents=True, exist_ok=False)
    labels = pd.read_csv(dataset / GT_DIR / TEST_LABELS_FILE)
    person_of = dict(zip(labels[LABEL_COLUMNS[0]], labels[LABEL_COLUMNS[1]], strict=True))
    public = dict(zip(labels[LABEL_COLUMNS[0]], labels[LABEL_COLUMNS[2]] == PUBLIC, strict=True))
    test = pd.read_csv(dataset / TEST_DIR / TRACKS_FILE)
    test_rows = _frame_rows(test, TEST_TRACK, person_of, public, rng)
    _copy_images(test, dataset / TEST_DIR, test_rows, out)
    test_order = rng.permutation(len(test_rows))
    test_rows.iloc[test_order].to_csv(out / TEST_TABLE, index=False)
    order = pd.DataFrame(
        {
            TRACK_ID: [replica_id(TEST_TRACK, t) for t in test[_TRACK].unique()],
            PERSON_ID: [replica_id(PERSON, person_of[t]) for t in test[_TRACK].unique()],
        }
    )
    order[list(ORDER_COLUMNS)].to_csv(out / TRACK_ORDER, index=False)

    reference_rows = _write_references(dataset / GT_DIR, out / REFERENCE_TABLE, out / REFERENCE_DESCRIPTORS, rng)

    train = pd.read_csv(dataset / TRAIN_DIR / TRACKS_FILE)
    train_person = dict(zip(train[_TRACK], train[TRAIN_TRACK_COLUMNS[3]], strict=True))
    train_persons = np.unique(train[TRAIN_TRACK_COLUMNS[3]])
    validation = set(train_persons[rng.random(train_persons.size) < _VALIDATION_SHARE].tolist())
    is_val = {track: person in validation for track, person in train_person.items()}
    train_rows = _frame_rows(train, TRAIN_TRACK, train_person, is_val, rng)
    _copy_images(train, dataset / TRAIN_DIR, train_rows, out)
    with np.load(dataset / TRAIN_DIR / TRAIN_DESCRIPTORS_FILE) as npz:
        # frame_descriptors.npz is in train/tracks.csv order, row for row.
        train_descriptor = npz[DESCRIPTOR_KEY]
    train_order = rng.permutation(len(train_rows))
    train_rows.iloc[train_order].to_csv(out / TRAIN_TABLE, index=False)
    np.save(out / TRAIN_DESCRIPTORS, train_descriptor[train_order])
    train_reference_rows = _write_references(
        dataset / TRAIN_DIR, out / TRAIN_REFERENCE_TABLE, out / TRAIN_REFERENCE_DESCRIPTORS, rng
    )
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return ReplicaSummary(out, len(test_rows), len(train_rows), reference_rows, train_reference_rows, size)


def _write_references(part: Path, table: Path, descriptors: Path, rng: np.random.Generator) -> int:
    """Write the references.npz of the generated `part` folder as the CSV `table` and the .npy `descriptors`,
    rows shuffled alike; return the number of rows."""
    with np.load(part / REFERENCES_FILE) as npz:
        reference_person, reference_descriptor = npz[PERSON_ID_KEY], npz[DESCRIPTOR_KEY]
    shuffled = rng.permutation(reference_person.size)
    persons = [replica_id(PERSON, int(p)) for p in reference_person[shuffled]]
    folder = part.name
    references = pd.DataFrame(
        {
            CROP_PATH: [f"{folder}/crop/{p}/{i}.jpg" for i, p in enumerate(persons)],
            WARP_PATH: [f"{folder}/warp/{p}/{i}.jpg" for i, p in enumerate(persons)],
            PERSON_ID: persons,
        }
    )
    references[list(REFERENCE_COLUMNS)].to_csv(table, index=False)
    np.save(descriptors, reference_descriptor[shuffled])
    return int(reference_person.size)


def _frame_rows(
    tracks: pd.DataFrame, kind: str, person_of: dict[int, int], is_val: dict[int, bool], rng: np.random.Generator
) -> pd.DataFrame:
    """Return one row of FRAME_COLUMNS per row of a generated tracks.csv, in the same order."""
    start = {t: int(rng.integers(0, 5000)) for t in tracks[_TRACK].unique()}
    step = {t: int(rng.integers(3, 13)) for t in tracks[_TRACK].unique()}
    track_hex = {t: replica_id(kind, t) for t in tracks[_TRACK].unique()}
    frame_id = [start[t] + f * step[t] for t, f in zip(tracks[_TRACK], tracks[_FRAME], strict=True)]
    n = len(tracks)
    # Face boxes in the source video and the five landmarks inside them: plausible numbers of
    # the original's columns, which the importer does not read.
    box = rng.integers(40, 400, size=(n, 2))
    side = rng.integers(60, 240, size=n)
    relative = np.array([[0.34, 0.46], [0.66, 0.46], [0.5, 0.64], [0.37, 0.82], [0.63, 0.82]])
    landmarks = box[:, None, :] + relative[None] * side[:, None, None] + rng.normal(0, 2, size=(n, 5, 2))
    rows = pd.DataFrame(
        {
            CROP_PATH: [f"crop/{track_hex[t]}/{f}.jpg" for t, f in zip(tracks[_TRACK], frame_id, strict=True)],
            WARP_PATH: [f"warp/{track_hex[t]}/{f}.jpg" for t, f in zip(tracks[_TRACK], frame_id, strict=True)],
            PERSON_ID: [replica_id(PERSON, person_of[t]) for t in tracks[_TRACK]],
            VIDEO_ID: [replica_id(f"{VIDEO}/{kind}", t) for t in tracks[_TRACK]],
            TRACK_ID: [track_hex[t] for t in tracks[_TRACK]],
            FRAME_ID: frame_id,
            "bbox_x": box[:, 0],
            "bbox_y": box[:, 1],
            "bbox_w": side,
            "bbox_h": side,
            **{f"x{i}": np.round(landmarks[:, i, 0], 2) for i in range(5)},
            **{f"y{i}": np.round(landmarks[:, i, 1], 2) for i in range(5)},
            IS_VAL: [is_val[t] for t in tracks[_TRACK]],
        }
    )
    return rows[list(FRAME_COLUMNS)]


def _copy_images(tracks: pd.DataFrame, part: Path, rows: pd.DataFrame, out: Path) -> None:
    for path, warp in zip(tracks[_PATH], rows[WARP_PATH], strict=True):
        target = out / IMAGES_DIR / warp
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(part / path, target)
