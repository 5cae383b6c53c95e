"""Measuring what test/'s file metadata tells about subsets and persons (issue 16).

A submission sees, for every test image, its times, inode number, name and the order its
folder lists it in; and, for every track, its id and where tracks.csv puts it. The access
time moves when the organizer reads a file (the sandbox mounts test/ read-only, so a
submission's reads do not move it): it is measured too. For each of these orders the
tracks are ranked (a track by its first frame in that order) and two things are measured:

- subset: Spearman's rank correlation between the order and the subset (public 1,
  private 0), with its z = |rho| * sqrt(n - 1), about standard normal when the order is
  random;
- person: how many neighbouring tracks in that order share a person, against how many a
  random order gives (expected = (n - 1) * sum n_p (n_p - 1) / (n (n - 1))), with
  z = (same - expected) / sqrt(expected) (a Poisson approximation).

An order in which every track ties (one timestamp for all) tells nothing and is skipped.
A z above `LEAK_Z` is a leak: by chance that happens about once in 10^5 datasets or fewer.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

LEAK_Z = 6.0
LEAK_FIX = (
    "rewrite the data with `python -m evaluate make-data` or `import-mcs2019`, which copy test/ in a random "
    "order and give every file one time; for data made otherwise, copy test/ file by file in a shuffled order "
    "into a new folder, then `touch -d 2019-05-01` every file and folder of it, also in a shuffled order"
)
#: The orders that are not the files' own metadata, and the fix of each.
TRACK_ORDER_FIXES = {
    "tracks.csv row": "write tracks.csv with its tracks in a random order (make-data and import-mcs2019 do)",
    "track id": (
        "give the test tracks ids drawn at random, unrelated to person and subset (make-data does; "
        "MCS2019's md5 ids are)"
    ),
}


def leak_fix(order: str) -> str:
    """Return how to remove a leak of `order` (one of OrderLeak's orders)."""
    return TRACK_ORDER_FIXES.get(order, LEAK_FIX)


@dataclass(frozen=True)
class OrderLeak:
    """What one order of the test tracks tells.

    `order`: mtime, atime, ctime, inode, name, listing (the files'), tracks.csv row, track id.

    `subset_rho` / `subset_z`: Spearman's rho between the order and the subset, and its z.
    `same_person` / `expected_same_person` / `person_z`: neighbouring tracks of one person,
    counted and expected by chance, and the z (0 when no person has two tracks).
    """

    order: str
    subset_rho: float
    subset_z: float
    same_person: int
    expected_same_person: float
    person_z: float

    @property
    def leaks(self) -> bool:
        """True when either z is above `LEAK_Z`."""
        return max(self.subset_z, self.person_z) > LEAK_Z


_STAT_ORDERS = {"mtime": "st_mtime_ns", "atime": "st_atime_ns", "ctime": "st_ctime_ns", "inode": "st_ino"}


def measure_orders(
    test_dir: Path, frame_track: Sequence[str], frame_path: Sequence[str], labels: Mapping[str, tuple[str, bool]]
) -> list[OrderLeak]:
    """Measure each order of the files of `test_dir` against the labels; return one OrderLeak per order that varies.

    `frame_track` and `frame_path` are the rows of tracks.csv (track id as text, path
    relative to `test_dir`); `labels` maps a track id (text) to (person id, is public).
    Frames of unlabelled tracks are left out. Raises OSError when a file cannot be stat'ed
    or a folder listed.
    """
    rows = [(track, path) for track, path in zip(frame_track, frame_path, strict=True) if track in labels]
    stats = [os.lstat(test_dir / path) for _, path in rows]
    listings: dict[Path, dict[str, int]] = {}

    def listed(path: str) -> tuple[int, ...]:
        """The position of each folder on the way to `path`, and of the file, in its folder's listing."""
        positions, folder = [], test_dir
        for part in Path(path).parts:
            if folder not in listings:
                listings[folder] = {name: i for i, name in enumerate(os.listdir(folder))}
            positions.append(listings[folder][part])
            folder = folder / part
        return tuple(positions)

    orders: dict[str, list[Any]] = {name: [getattr(s, field) for s in stats] for name, field in _STAT_ORDERS.items()}
    orders["name"] = [path for _, path in rows]
    orders["listing"] = [listed(path) for _, path in rows]
    orders["tracks.csv row"] = list(range(len(rows)))
    numeric = all(track.isdecimal() for track, _ in rows)
    orders["track id"] = [int(track) if numeric else track for track, _ in rows]
    tracks = sorted({track for track, _ in rows})
    person = np.array([labels[track][0] for track in tracks])
    public = np.array([labels[track][1] for track in tracks], dtype=np.float64)
    result = []
    for name, values in orders.items():
        first: dict[str, Any] = {}
        for (track, _), value in zip(rows, values, strict=True):
            first[track] = min(first.get(track, value), value)
        # A dense code keeps the order of any comparable key (numbers, names, listing positions).
        code = {key: i for i, key in enumerate(sorted(set(first.values())))}
        if len(code) > 1:
            rank = _average_ranks(np.array([code[first[track]] for track in tracks]))
            result.append(_measure(name, rank, public, person))
    return result


def _measure(order: str, rank: np.ndarray, public: np.ndarray, person: np.ndarray) -> OrderLeak:
    """The subset correlation and the neighbouring-person count of one ranking of the tracks."""
    n = rank.size
    rho = float(np.corrcoef(rank, public)[0, 1]) if 0 < public.sum() < n else 0.0
    ordered = person[np.lexsort((np.arange(n), rank))]
    same = int((ordered[1:] == ordered[:-1]).sum())
    per_person = np.unique(person, return_counts=True)[1].astype(np.float64)
    expected = float((n - 1) * (per_person * (per_person - 1)).sum() / (n * (n - 1))) if n > 1 else 0.0
    return OrderLeak(
        order=order,
        subset_rho=rho,
        subset_z=abs(rho) * float(np.sqrt(max(n - 1, 0))),
        same_person=same,
        expected_same_person=expected,
        person_z=(same - expected) / float(np.sqrt(expected)) if expected > 0 else 0.0,
    )


def _average_ranks(codes: np.ndarray) -> np.ndarray:
    """Ranks 1..n of the dense codes `codes`, ties sharing the mean of their ranks (Spearman's convention)."""
    counts = np.bincount(codes)
    last = np.cumsum(counts)
    return (last - (counts - 1) / 2.0)[codes]
