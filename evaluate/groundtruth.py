"""Loading the ground truth (gt/references.npz and gt/test_labels.csv) and checking it is consistent.

The ground truth is the organizer's: every problem found here is a `GroundTruthError`
(a `RunnerError`), never the participant's fault.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from contracts.competition import NEGATIVES, Negatives
from contracts.errors import RunnerError
from contracts.ids import as_ids, few_ids, id_kind, id_text_problem, kind_mismatch, parse_ids
from contracts.names import (
    DESCRIPTOR_KEY,
    LABEL_COLUMNS,
    PERSON_ID_KEY,
    REFERENCES_FILE,
    SUBSETS,
    TEST_LABELS_FILE,
)

_TRACK, _PERSON, _SUBSET = LABEL_COLUMNS


class GroundTruthError(RunnerError):
    """gt/ is missing, malformed or inconsistent; the organizer must rebuild it."""


@dataclass(frozen=True)
class SubsetTruth:
    """What one subset is scored against: its tracks and the references they meet (see `GroundTruth.subset`)."""

    name: str
    track_id: np.ndarray
    track_person: np.ndarray
    reference_person: np.ndarray
    reference_descriptor: np.ndarray
    negatives: str = "subset"


@dataclass(frozen=True)
class GroundTruth:
    """The references (`person_id` [R], `descriptor` [R, D] float32) and the test labels.

    Ids are int64 or numpy unicode arrays (`contracts.ids`); `track_id` holds one kind,
    and `reference_person` and `track_person` another or the same one.
    """

    reference_person: np.ndarray
    reference_descriptor: np.ndarray
    track_id: np.ndarray
    track_person: np.ndarray
    track_subset: np.ndarray

    @property
    def dim(self) -> int:
        """The descriptor dimension D every submission must match."""
        return int(self.reference_descriptor.shape[1])

    def subset(self, name: str, negatives: str = "subset") -> SubsetTruth:
        """Return the tracks of subset `name` and the references they are compared with.

        With `negatives` ``"subset"`` those are the references of the persons seen in the
        subset's tracks; with ``"all"``, every reference (every person with test tracks,
        both subsets). The positives are the same either way: a person belongs to one subset.

        Raises ValueError when `name` is not one of the subsets or `negatives` not one of
        `contracts.competition.NEGATIVES`.
        """
        if name not in SUBSETS:
            raise ValueError(f"subset must be one of {', '.join(SUBSETS)}, got {name!r}")
        if negatives not in NEGATIVES:
            raise ValueError(f"negatives must be one of {', '.join(NEGATIVES)}, got {negatives!r}")
        in_subset = self.track_subset == name
        if negatives == Negatives.ALL:
            references = np.ones(self.reference_person.size, dtype=bool)
        else:
            references = np.isin(self.reference_person, np.unique(self.track_person[in_subset]))
        return SubsetTruth(
            name=name,
            track_id=self.track_id[in_subset],
            track_person=self.track_person[in_subset],
            reference_person=self.reference_person[references],
            reference_descriptor=self.reference_descriptor[references],
            negatives=negatives,
        )


def load_groundtruth(gt_dir: str | Path) -> GroundTruth:
    """Read and check ``gt_dir/references.npz`` and ``gt_dir/test_labels.csv``.

    Checks, before anything is scored: both files exist and parse; the arrays and columns
    are there with ids of one kind each (`contracts.ids`: the CSV's ids read as text, the
    npz's kind from its dtype), float32 [R, D] descriptors and finite values; the person ids
    of both files are of one kind; track ids are unique; subsets are public or private; a
    person belongs to one subset only; every reference belongs to a person with tracks and
    every labelled person has references; each subset has tracks of at least two persons
    (else it has no negative pairs).

    Raises `GroundTruthError` with one sentence naming the first problem found.
    """
    gt_dir = Path(gt_dir)
    if not gt_dir.is_dir():
        raise GroundTruthError(f"the ground truth folder {gt_dir} must exist; run `make data` or pass --gt")
    reference_person, reference_descriptor = _read_references(gt_dir / REFERENCES_FILE)
    track_id, track_person, track_subset = _read_labels(gt_dir / TEST_LABELS_FILE)
    if id_kind(reference_person.dtype) is not id_kind(track_person.dtype):
        raise GroundTruthError(
            kind_mismatch(
                f"{gt_dir / REFERENCES_FILE} {PERSON_ID_KEY}",
                id_kind(reference_person.dtype),
                f"the {_PERSON} column of {TEST_LABELS_FILE}",
                id_kind(track_person.dtype),
            )
        )
    _check_consistent(reference_person, track_person, track_subset)
    return GroundTruth(reference_person, reference_descriptor, track_id, track_person, track_subset)


def _read_references(path: Path) -> tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        raise GroundTruthError(f"{path} must be a file holding {PERSON_ID_KEY} and {DESCRIPTOR_KEY}; run `make data`")
    if not zipfile.is_zipfile(path):
        raise GroundTruthError(f"{path} must be an npz archive (numpy.savez), got another kind of file")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [key for key in (PERSON_ID_KEY, DESCRIPTOR_KEY) if key not in npz.files]
            if missing:
                raise GroundTruthError(f"{path} must hold {', '.join(missing)}, got only {', '.join(npz.files)}")
            person, descriptor = npz[PERSON_ID_KEY], npz[DESCRIPTOR_KEY]
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise GroundTruthError(f"{path} must be a readable npz archive without objects: {exc}") from None
    if person.ndim != 1 or person.dtype.kind not in "iuU":
        raise GroundTruthError(
            f"{path}: {PERSON_ID_KEY} must be 1-D integers or strings (numpy dtype <U), "
            f"got {person.dtype} {list(person.shape)}"
        )
    try:
        person = as_ids(person)
    except ValueError as exc:
        raise GroundTruthError(f"{path}: {PERSON_ID_KEY} {exc}") from None
    problem = id_text_problem(person)
    if problem:
        raise GroundTruthError(f"{path}: {PERSON_ID_KEY} {problem}")
    if descriptor.dtype != np.float32 or descriptor.ndim != 2:
        raise GroundTruthError(
            f"{path}: {DESCRIPTOR_KEY} must be float32 [R, D], got {descriptor.dtype} {list(descriptor.shape)}"
        )
    if descriptor.shape[0] != person.shape[0] or person.size == 0 or descriptor.shape[1] == 0:
        raise GroundTruthError(
            f"{path}: {DESCRIPTOR_KEY} must be a non-empty [R, D] with one row per {PERSON_ID_KEY}, "
            f"got {list(descriptor.shape)} for {person.size} ids"
        )
    bad = np.flatnonzero(~np.isfinite(descriptor).all(axis=1))
    if bad.size:
        raise GroundTruthError(f"{path}: {DESCRIPTOR_KEY} must be finite, got NaN or inf in rows {few_ids(bad)}")
    return person, descriptor


def _read_labels(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not path.is_file():
        raise GroundTruthError(f"{path} must be a file with columns {','.join(LABEL_COLUMNS)}; run `make data`")
    try:
        # Ids are text, never numbers: an md5 such as "1e10..." must not become a float.
        labels = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise GroundTruthError(f"{path} must be a CSV file with columns {','.join(LABEL_COLUMNS)}: {exc}") from None
    missing = [c for c in LABEL_COLUMNS if c not in labels.columns]
    if missing:
        raise GroundTruthError(f"{path} must have the columns {', '.join(missing)}, got {', '.join(labels.columns)}")
    if labels.empty:
        raise GroundTruthError(f"{path} must hold at least one track, got none")
    track_id, person = parse_ids(labels[_TRACK]), parse_ids(labels[_PERSON])
    for column, ids in ((_TRACK, track_id), (_PERSON, person)):
        problem = id_text_problem(ids)
        if problem:
            raise GroundTruthError(f"{path}: {column} {problem}")
    unique, counts = np.unique(track_id, return_counts=True)
    if (counts > 1).any():
        duplicated = unique[counts > 1]
        raise GroundTruthError(
            f"{path}: {_TRACK} must be unique, got {duplicated.size} repeated: {few_ids(duplicated)}"
        )
    subset = labels[_SUBSET].to_numpy(dtype=object)
    unknown = sorted({str(s) for s in subset} - set(SUBSETS))
    if unknown:
        raise GroundTruthError(f"{path}: {_SUBSET} must be one of {', '.join(SUBSETS)}, got {', '.join(unknown)}")
    return track_id, person, subset.astype(str)


def _check_consistent(reference_person: np.ndarray, track_person: np.ndarray, track_subset: np.ndarray) -> None:
    public, private = (np.unique(track_person[track_subset == name]) for name in SUBSETS)
    in_both = np.intersect1d(public, private)
    persons = np.union1d(public, private)
    if in_both.size:
        raise GroundTruthError(
            f"a person must belong to one subset only, got {in_both.size} in both: person ids {few_ids(in_both)}"
        )
    orphans = np.setdiff1d(reference_person, persons)
    if orphans.size:
        raise GroundTruthError(
            f"every reference must belong to a person with test tracks, got references of {orphans.size} "
            f"person(s) without tracks: person ids {few_ids(orphans)}"
        )
    unreferenced = np.setdiff1d(persons, reference_person)
    if unreferenced.size:
        raise GroundTruthError(
            f"every labelled person must have references, got {unreferenced.size} without: person ids "
            f"{few_ids(unreferenced)}"
        )
    for name in SUBSETS:
        n_persons = np.unique(track_person[track_subset == name]).size
        if n_persons < 2:
            raise GroundTruthError(
                f"subset {name} must have tracks of at least 2 persons (else it has no negative pairs), got {n_persons}"
            )
