"""Writing a checked import plan as this project's dataset (the data contract of docs/design.md).

Ids are written as the original strings: text cells in the CSV files, numpy unicode
arrays (never object arrays) in the npz files. Images are copied byte for byte, the test
images in a random order and with one timestamp (`evaluate.testfiles`). The
dataset is built in a sibling folder and moved into place at the end, so the output never
holds half an import.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from contracts.competition import DEVBATTLE, load_competition, write_competition
from contracts.names import (
    COMPETITION_FILE,
    DESCRIPTOR_KEY,
    GT_DIR,
    PERSON_ID_KEY,
    REFERENCES_FILE,
    TEST_DIR,
    TEST_LABELS_FILE,
    TRACK_COLUMNS,
    TRACK_ID_KEY,
    TRACKS_FILE,
    TRAIN_DESCRIPTORS_FILE,
    TRAIN_DIR,
    TRAIN_TRACK_COLUMNS,
)
from evaluate.datagen.writer import save_arrays
from evaluate.mcs2019.check import FRAME, SOURCE, Plan
from evaluate.testfiles import place_files, settle_times

IMAGES_DIR = "images"
_TRACK, _FRAME, _PATH = TRACK_COLUMNS


def write_dataset(plan: Plan, out: Path, competition: Path | None = None, progress: bool = False) -> None:
    """Write `plan` to the dataset folder `out`, replacing whatever is there.

    `competition` is a competition.yaml to copy (checked first); without it the MCS2019
    DevBattle defaults are written. The caller decides whether `out` may be replaced.
    Copying the images is the long step; `progress` shows a bar for it on stderr. Raises
    `ConfigError` for a bad `competition` and OSError when a file cannot be written.
    """
    if competition is not None:
        load_competition(competition)
    staging = out.parent / f".{out.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        total = len(plan.test) + len(plan.train)
        bar = tqdm(total=total, desc="import-mcs2019", unit="img", file=sys.stderr, disable=not progress, mininterval=1)
        with bar:
            test = _copy_frames(plan.test, staging / TEST_DIR, bar)
            train = _copy_frames(plan.train, staging / TRAIN_DIR, bar)
        test[list(TRACK_COLUMNS)].to_csv(staging / TEST_DIR / TRACKS_FILE, index=False)
        settle_times(staging / TEST_DIR)
        train[list(TRAIN_TRACK_COLUMNS)].to_csv(staging / TRAIN_DIR / TRACKS_FILE, index=False)
        save_arrays(
            staging / TRAIN_DIR / TRAIN_DESCRIPTORS_FILE,
            {
                TRACK_ID_KEY: _text(train[_TRACK]),
                _FRAME: train[_FRAME].to_numpy(dtype=np.int64),
                DESCRIPTOR_KEY: plan.train_descriptor,
            },
        )
        (staging / GT_DIR).mkdir()
        plan.labels.to_csv(staging / GT_DIR / TEST_LABELS_FILE, index=False)
        _save_references(staging / GT_DIR / REFERENCES_FILE, plan.reference_person, plan.reference_descriptor)
        if plan.train_reference_person is not None and plan.train_reference_descriptor is not None:
            _save_references(
                staging / TRAIN_DIR / REFERENCES_FILE, plan.train_reference_person, plan.train_reference_descriptor
            )
        if competition is None:
            write_competition(
                staging / COMPETITION_FILE,
                DEVBATTLE,
                "MCS2019's original data: python -m evaluate import-mcs2019 (DevBattle limits, TPR at FPR=1e-6)",
            )
        else:
            shutil.copyfile(competition, staging / COMPETITION_FILE)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)


def _copy_frames(frames: pd.DataFrame, part: Path, bar: tqdm) -> pd.DataFrame:
    """Copy each frame's image to part/images/<track_id>/<frame>.jpg in a random order (`testfiles.place_files`);
    return the rows with their new path."""
    paths = [f"{IMAGES_DIR}/{track}/{frame}.jpg" for track, frame in zip(frames[_TRACK], frames[FRAME], strict=True)]
    place_files([(Path(source), part / path) for source, path in zip(frames[SOURCE], paths, strict=True)])
    bar.update(len(paths))
    return frames.assign(**{_PATH: paths})


def _save_references(path: Path, person: np.ndarray, descriptor: np.ndarray) -> None:
    """Write references.npz as make-data does: `person_id` as text, `descriptor` float32 as given."""
    save_arrays(path, {PERSON_ID_KEY: _text(person), DESCRIPTOR_KEY: descriptor})


def _text(values: pd.Series | np.ndarray) -> np.ndarray:
    """Return `values` as a numpy unicode array ('<U32' for md5 ids): npz files hold no object arrays."""
    return np.asarray(values, dtype=str)
