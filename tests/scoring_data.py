"""Seeded synthetic ground truth and descriptors for the scorer's tests (and its benchmark)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from contracts.names import (
    DESCRIPTOR_KEY,
    LABEL_COLUMNS,
    PERSON_ID_KEY,
    PRIVATE,
    PUBLIC,
    REFERENCES_FILE,
    TEST_LABELS_FILE,
    TRACK_ID_KEY,
)


@dataclass
class Case:
    """A scoring case: references, labelled tracks and the descriptors a submission wrote for them."""

    reference_person: np.ndarray
    reference_descriptor: np.ndarray
    track_id: np.ndarray
    track_person: np.ndarray
    track_subset: np.ndarray
    descriptor: np.ndarray

    def write_gt(self, gt_dir: Path) -> Path:
        """Write gt_dir/references.npz and gt_dir/test_labels.csv; return gt_dir."""
        gt_dir.mkdir(parents=True, exist_ok=True)
        np.savez(
            gt_dir / REFERENCES_FILE,
            **{PERSON_ID_KEY: self.reference_person, DESCRIPTOR_KEY: self.reference_descriptor},
        )
        labels = pd.DataFrame(
            dict(zip(LABEL_COLUMNS, (self.track_id, self.track_person, self.track_subset), strict=True))
        )
        labels.to_csv(gt_dir / TEST_LABELS_FILE, index=False)
        return gt_dir

    def write_descriptors(self, path: Path, order: np.ndarray | None = None) -> Path:
        """Write the descriptors npz (rows in `order`, default label order); return its path."""
        rows = np.arange(self.track_id.size) if order is None else order
        np.savez(path, **{TRACK_ID_KEY: self.track_id[rows], DESCRIPTOR_KEY: self.descriptor[rows]})
        return path


def make_case(
    seed: int,
    n_persons: int = 40,
    references_per_person: int = 3,
    tracks_per_person: int = 2,
    dim: int = 16,
    noise: float = 0.8,
    integer_valued: bool = False,
    string_ids: bool = False,
) -> Case:
    """Return a case where each person's references and tracks scatter around a random centre.

    Persons alternate between public and private. With `integer_valued`, every value is a
    small integer so that every distance is exact in float64 and ties are many. With
    `string_ids`, track and person ids are 32-hex md5 strings, as in MCS2019's data.
    """
    rng = np.random.default_rng(seed)
    if integer_valued:
        centres = rng.integers(-2, 3, size=(n_persons, dim)).astype(np.float32)
        references = centres[:, None, :] + rng.integers(-1, 2, size=(n_persons, references_per_person, dim))
        tracks = centres[:, None, :] + rng.integers(-1, 2, size=(n_persons, tracks_per_person, dim))
    else:
        centres = rng.normal(size=(n_persons, dim))
        references = centres[:, None, :] + noise * rng.normal(size=(n_persons, references_per_person, dim))
        tracks = centres[:, None, :] + noise * rng.normal(size=(n_persons, tracks_per_person, dim))
    person_ids = rng.permutation(np.arange(1000, 1000 + 7 * n_persons, 7))
    track_ids = rng.permutation(n_persons * tracks_per_person) * 3 + 5
    if string_ids:
        person_ids, track_ids = md5s("person", person_ids), md5s("track", track_ids)
    else:
        person_ids, track_ids = person_ids.astype(np.int64), track_ids.astype(np.int64)
    return Case(
        reference_person=np.repeat(person_ids, references_per_person),
        reference_descriptor=references.reshape(-1, dim).astype(np.float32),
        track_id=track_ids,
        track_person=np.repeat(person_ids, tracks_per_person),
        track_subset=np.repeat(np.where(np.arange(n_persons) % 2 == 0, PUBLIC, PRIVATE), tracks_per_person),
        descriptor=tracks.reshape(-1, dim).astype(np.float32),
    )


def md5s(prefix: str, numbers: np.ndarray) -> np.ndarray:
    """Return the md5 hex digest of ``prefix`` and each number, as a numpy unicode array of 32-character ids."""
    return np.array([hashlib.md5(f"{prefix}{n}".encode()).hexdigest() for n in numbers.tolist()])
