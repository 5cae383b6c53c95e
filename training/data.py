"""The train part of a dataset as arrays: frame descriptors per track, labels, references, held-out persons.

Only train/ is read (tracks.csv with person_id, frame_descriptors.npz, references.npz):
never test/ or gt/, so what a model learns cannot leak the test labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from contracts.ids import parse_ids
from contracts.names import (
    DESCRIPTOR_KEY,
    PERSON_ID_KEY,
    REFERENCES_FILE,
    TRACK_ID_KEY,
    TRACKS_FILE,
    TRAIN_DESCRIPTORS_FILE,
    TRAIN_DIR,
    TRAIN_TRACK_COLUMNS,
)

FRAME_KEY = "frame"


class TrainDataError(ValueError):
    """train/ is missing a file or its files disagree; the message names the file and the fix."""


@dataclass(frozen=True)
class TrainSet:
    """Tracks of train/: `frames` float32 [N, F, D], `person` [N] (labels), and the train references.

    `person` and `reference_person` hold the same id kind; `reference_descriptor` is float32 [R, D].
    """

    frames: np.ndarray
    person: np.ndarray
    reference_person: np.ndarray
    reference_descriptor: np.ndarray

    def select(self, tracks: np.ndarray) -> TrainSet:
        """Return the tracks at the indices `tracks`, with the references of their persons only."""
        person = self.person[tracks]
        keep = np.isin(self.reference_person, person)
        return TrainSet(self.frames[tracks], person, self.reference_person[keep], self.reference_descriptor[keep])


def load_train(data: Path) -> TrainSet:
    """Read `data`/train into a TrainSet, tracks in train/tracks.csv order, frames in frame order.

    Raises TrainDataError when a file is missing, the descriptors do not cover every
    track with the same number of frames, or a person has no reference.
    """
    folder = data / TRAIN_DIR
    for name in (TRACKS_FILE, TRAIN_DESCRIPTORS_FILE, REFERENCES_FILE):
        if not (folder / name).is_file():
            fix = (
                "make it with `make data` (make-data writes train/references.npz since issue 18); for other data, "
                "lay out train/ as DESIGN.md says, with person_id and descriptor of each train person's references"
            )
            raise TrainDataError(f"{folder / name} must exist to train an aggregator; {fix}")
    table = pd.read_csv(folder / TRACKS_FILE, dtype=str, keep_default_na=False)
    track_col, person_col = TRAIN_TRACK_COLUMNS[0], TRAIN_TRACK_COLUMNS[3]
    if person_col not in table.columns:
        raise TrainDataError(f"{folder / TRACKS_FILE} must have a {person_col} column, got {list(table.columns)}")
    tracks = table.drop_duplicates(track_col)
    track_ids = parse_ids(tracks[track_col])
    persons = parse_ids(tracks[person_col])
    with np.load(folder / TRAIN_DESCRIPTORS_FILE) as arrays:
        frame_track, frame_index, descriptor = arrays[TRACK_ID_KEY], arrays[FRAME_KEY], arrays[DESCRIPTOR_KEY]
    with np.load(folder / REFERENCES_FILE) as arrays:
        reference_person, reference_descriptor = arrays[PERSON_ID_KEY], arrays[DESCRIPTOR_KEY]
    frames = _frames_per_track(track_ids, frame_track, frame_index, descriptor, folder)
    missing = np.setdiff1d(persons, reference_person)
    if missing.size:
        raise TrainDataError(
            f"{folder / REFERENCES_FILE} must hold references of every train person, got none for "
            f"{missing.size} of them (e.g. {missing[0]}); regenerate the dataset"
        )
    return TrainSet(frames, persons, reference_person, reference_descriptor.astype(np.float32))


def _frames_per_track(
    track_ids: np.ndarray, frame_track: np.ndarray, frame_index: np.ndarray, descriptor: np.ndarray, folder: Path
) -> np.ndarray:
    """Return float32 [N, F, D]: the descriptors of each of `track_ids`, frames in order."""
    order = np.lexsort((frame_index, frame_track))
    frame_track, descriptor = frame_track[order], descriptor[order]
    starts = np.searchsorted(frame_track, track_ids, side="left")
    ends = np.searchsorted(frame_track, track_ids, side="right")
    counts = ends - starts
    if counts.min() != counts.max() or counts.min() == 0:
        raise TrainDataError(
            f"{folder / TRAIN_DESCRIPTORS_FILE} must hold the same number (> 0) of frames for every track of "
            f"{TRACKS_FILE}, got between {counts.min()} and {counts.max()}"
        )
    rows = starts[:, None] + np.arange(counts[0])[None, :]
    return descriptor[rows].astype(np.float32)


def split_persons(person: np.ndarray, held_out: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the indices of the fit tracks and of the validation tracks: a share `held_out` of persons.

    Whole persons are held out, as the test persons are unseen. Raises ValueError when
    `held_out` is not in (0, 1) or either side would get fewer than 2 persons.
    """
    if not 0.0 < held_out < 1.0:
        raise ValueError(f"held_out must be in (0, 1), got {held_out}")
    persons = np.unique(person)
    n_val = int(round(held_out * persons.size))
    if n_val < 2 or persons.size - n_val < 2:
        raise ValueError(
            f"held_out={held_out} of {persons.size} train persons must leave at least 2 on each side, "
            f"got {n_val} held out; use a larger train set or another share"
        )
    validation = np.random.default_rng(seed).permutation(persons)[:n_val]
    is_val = np.isin(person, validation)
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def inject_switches(frames: np.ndarray, rate: float, longest: int, rng: np.random.Generator) -> np.ndarray:
    """Return a copy of `frames` [N, F, D] where a share `rate` of tracks got 1..`longest` frames of another track.

    The foreign frames replace a consecutive run of the track's own frames, as a tracker
    jumping to a neighbour does; the donor is another track drawn at random (another
    person on any set of more than a few persons). At least one own frame is always kept.
    """
    out = frames.copy()
    n, f = frames.shape[:2]
    if n < 2 or f < 2:
        return out
    for track in np.flatnonzero(rng.random(n) < rate):
        length = int(rng.integers(1, min(longest, f - 1) + 1))
        start = int(rng.integers(0, f - length + 1))
        donor = (track + int(rng.integers(1, n))) % n
        out[track, start : start + length] = frames[donor, rng.choice(f, size=length, replace=False)]
    return out
