"""The train part of a dataset as arrays: frame descriptors per track, labels, references, held-out persons.

Reading is `evaluate.trainset`'s (the same files, checks and messages as
``python -m evaluate validate``); this module only lays its frames out as [N, F, D] for
training. Only train/ is read (tracks.csv with person_id, frame_descriptors.npz,
references.npz): never test/ or gt/, so what a model learns cannot leak the test labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from contracts.names import REFERENCES_FILE, TRAIN_DESCRIPTORS_FILE, TRAIN_DIR
from evaluate.trainset import TrainDataError, read_train, read_train_references


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

    Raises TrainDataError as `evaluate.trainset.read_train` and `read_train_references` do,
    and when references.npz is missing, the tracks do not all have the same number of
    frames, or a person has no reference.
    """
    folder = data / TRAIN_DIR
    train = read_train(data)
    references = read_train_references(data)
    if references is None:
        raise TrainDataError(
            f"{folder / REFERENCES_FILE} must exist to train an aggregator; make it with `make data` (make-data "
            "writes train/references.npz since issue 18); for other data, lay out train/ as docs/design.md says, with "
            "person_id and descriptor of each train person's references"
        )
    counts = train.frame_counts
    if counts.min() != counts.max():
        raise TrainDataError(
            f"{folder / TRAIN_DESCRIPTORS_FILE} must hold the same number of frames for every track to train on, "
            f"got between {counts.min()} and {counts.max()}"
        )
    frames = train.descriptor.reshape(counts.size, int(counts[0]), -1)
    missing = np.setdiff1d(train.person_id, references.person_id)
    if missing.size:
        raise TrainDataError(
            f"{folder / REFERENCES_FILE} must hold references of every train person, got none for "
            f"{missing.size} of them (e.g. {missing[0]}); regenerate the dataset"
        )
    return TrainSet(frames, train.person_id, references.person_id, references.descriptor)


def split_persons(person: np.ndarray, held_out: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the indices of the fit tracks and of the validation tracks: a share `held_out` of persons.

    Whole persons are held out, as the test persons are unseen. Raises ValueError when
    `held_out` is not in (0, 1) or either side would get fewer than 2 persons.

    This is not `evaluate.trainset.split_train_tracks`: that rule splits the tracks of
    each person into one reference track and query tracks, to score an aggregator that
    is already trained on every train person; this one splits the persons into those the
    model learns from and those it never sees, and the references come from
    train/references.npz. A seed picks the held-out persons so that runs can differ.
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
