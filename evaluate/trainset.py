"""The train part of a dataset for local validation: its tracks, their frame descriptors, and the split rule.

`read_train` gathers ``train/tracks.csv`` and ``train/frame_descriptors.npz`` into one
`TrainSet` (frames grouped by track, in tracks.csv order). `split_train_tracks` is the
public rule that turns train tracks into references and queries when ``train/`` holds no
references of its own: a training kit that holds persons out of training calls it on
those persons to validate exactly as ``python -m evaluate validate`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from contracts.errors import RunnerError
from contracts.ids import as_ids, id_kind, parse_ids
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

_TRACK, _FRAME, _PATH, _PERSON = TRAIN_TRACK_COLUMNS
_CHECK = "check the dataset with `python -m evaluate check-data`"


class TrainDataError(RunnerError):
    """The train part of the dataset cannot be used for validation; the message names the file and the fix."""


@dataclass(frozen=True)
class TrainSet:
    """The train tracks with their frames' descriptors, frames grouped by track.

    `track_id` and `person_id` [T] are in tracks.csv order; the frames of track i are the
    rows ``offsets[i]:offsets[i + 1]`` of `frame`, `path` (relative to ``train/``) and
    `descriptor` [M, D] float32, in frame order.
    """

    track_id: np.ndarray
    person_id: np.ndarray
    offsets: np.ndarray
    frame: np.ndarray
    path: np.ndarray
    descriptor: np.ndarray

    @property
    def frame_counts(self) -> np.ndarray:
        """The number of frames of each track, [T]."""
        return np.diff(self.offsets)

    def frames_of(self, rows: np.ndarray) -> np.ndarray:
        """Return the frame row indices of the tracks at `rows`, concatenated in that order."""
        if rows.size == 0:
            return np.empty(0, dtype=np.int64)
        return np.concatenate([np.arange(self.offsets[r], self.offsets[r + 1]) for r in rows])


@dataclass(frozen=True)
class TrainReferences:
    """References of train persons that the dataset ships itself (``train/references.npz``)."""

    person_id: np.ndarray
    descriptor: np.ndarray


def read_train(data_dir: str | Path) -> TrainSet:
    """Read ``DATA/train/tracks.csv`` and ``DATA/train/frame_descriptors.npz`` into a `TrainSet`.

    Raises `TrainDataError` when a file is missing or lacks a column or key, when the ids
    of the two files are of different kinds, or when a frame of tracks.csv has no
    descriptor row (or the reverse).
    """
    train = Path(data_dir) / TRAIN_DIR
    tracks_csv, npz = train / TRACKS_FILE, train / TRAIN_DESCRIPTORS_FILE
    if not tracks_csv.is_file():
        raise TrainDataError(f"{tracks_csv} does not exist: --data must be a dataset folder holding train/ (make data)")
    table = pd.read_csv(tracks_csv, dtype=str, keep_default_na=False)
    missing = [c for c in TRAIN_TRACK_COLUMNS if c not in table.columns]
    if missing or table.empty:
        raise TrainDataError(
            f"{tracks_csv} must hold rows with the columns {','.join(TRAIN_TRACK_COLUMNS)}, "
            f"missing {','.join(missing) or 'every row'}; {_CHECK}"
        )
    if not npz.is_file():
        raise TrainDataError(f"{npz} does not exist: the dataset must ship the train frames' descriptors; {_CHECK}")
    with np.load(npz, allow_pickle=False) as arrays:
        absent = [k for k in (TRACK_ID_KEY, _FRAME, DESCRIPTOR_KEY) if k not in arrays.files]
        if absent:
            raise TrainDataError(f"{npz} lacks {', '.join(absent)}; {_CHECK}")
        stored_track, stored_frame = arrays[TRACK_ID_KEY], arrays[_FRAME].astype(np.int64)
        stored_descriptor = arrays[DESCRIPTOR_KEY].astype(np.float32, copy=False)
    track = parse_ids(table[_TRACK])
    if id_kind(as_ids(stored_track).dtype) is not id_kind(track.dtype):
        raise TrainDataError(f"{npz} and {tracks_csv} hold track ids of different kinds; {_CHECK}")
    listed = pd.DataFrame({"key": track.astype(str), _FRAME: table[_FRAME].astype(np.int64), "row": range(len(table))})
    stored = pd.DataFrame(
        {"key": as_ids(stored_track).astype(str), _FRAME: stored_frame, "at": range(len(stored_frame))}
    )
    joined = listed.merge(stored, on=["key", _FRAME], how="outer", indicator=True)
    if not (joined["_merge"] == "both").all() or len(joined) != len(listed):
        unmatched = joined[joined["_merge"] != "both"].head(3)
        shown = ", ".join(f"track {k} frame {f}" for k, f in zip(unmatched["key"], unmatched[_FRAME], strict=True))
        raise TrainDataError(
            f"{npz} must hold one row per frame of {tracks_csv}, they differ ({shown or 'repeated frames'}); {_CHECK}"
        )
    # Frames grouped by track in tracks.csv order of first appearance, then by frame number.
    first = {key: i for i, key in reversed(list(enumerate(listed["key"])))}
    joined["order"] = joined["key"].map(first)
    joined = joined.sort_values(["order", _FRAME], kind="stable")
    order = joined["row"].to_numpy(dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, joined["key"].to_numpy()[1:] != joined["key"].to_numpy()[:-1]])
    return TrainSet(
        track_id=track[order][starts],
        person_id=parse_ids(table[_PERSON])[order][starts],
        offsets=np.r_[starts, len(order)].astype(np.int64),
        frame=joined[_FRAME].to_numpy(dtype=np.int64),
        path=table[_PATH].to_numpy(dtype=str)[order],
        descriptor=stored_descriptor[joined["at"].to_numpy(dtype=np.int64)],
    )


def read_train_references(data_dir: str | Path) -> TrainReferences | None:
    """Return ``DATA/train/references.npz`` (`person_id` [R], `descriptor` [R, D]) when shipped, else None.

    Raises `TrainDataError` when the file lacks a key or its arrays disagree in length.
    """
    path = Path(data_dir) / TRAIN_DIR / REFERENCES_FILE
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as arrays:
        if PERSON_ID_KEY not in arrays.files or DESCRIPTOR_KEY not in arrays.files:
            raise TrainDataError(f"{path} must hold {PERSON_ID_KEY} and {DESCRIPTOR_KEY}; {_CHECK}")
        person, descriptor = as_ids(arrays[PERSON_ID_KEY]), arrays[DESCRIPTOR_KEY].astype(np.float32)
    if descriptor.ndim != 2 or person.shape != (descriptor.shape[0],):
        raise TrainDataError(f"{path}: {PERSON_ID_KEY} [R] and {DESCRIPTOR_KEY} [R, D] must have one row each")
    return TrainReferences(person, descriptor)


def split_train_tracks(track_id: np.ndarray, person_id: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split train tracks into reference tracks and query tracks, the same way on every machine.

    Rule: each person with at least two tracks gives its track with the smallest id (ids
    compared as numbers when they are integers, else as text) as its reference track; the
    person's other tracks are queries. A person with one track can be neither and is left
    out. The rule needs no seed, so a training kit and ``python -m evaluate validate``
    split the same persons the same way.

    Parameters: `track_id` [T] (unique) and `person_id` [T], one kind each (`contracts.ids`).
    Returns ``(reference_rows, query_rows)``: sorted int64 indices into the inputs.
    Raises ValueError when the arrays differ in length or a track id repeats.

    >>> split_train_tracks(np.array([7, 3, 5, 9]), np.array([1, 1, 1, 2]))
    (array([1]), array([0, 2]))
    """
    if track_id.shape != person_id.shape or track_id.ndim != 1:
        raise ValueError(
            f"track_id and person_id must be 1-D of one length, got {track_id.shape} and {person_id.shape}"
        )
    if np.unique(track_id).size != track_id.size:
        raise ValueError("track_id must not repeat a track")
    order = np.lexsort((track_id, person_id))
    person_sorted = person_id[order]
    first = np.r_[True, person_sorted[1:] != person_sorted[:-1]]
    counts = np.diff(np.r_[np.flatnonzero(first), person_sorted.size])
    kept = np.repeat(counts >= 2, counts)
    references = np.sort(order[first & kept])
    queries = np.sort(order[~first & kept])
    return references.astype(np.int64), queries.astype(np.int64)
