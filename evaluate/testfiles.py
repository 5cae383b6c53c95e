"""Writing test/ so that no file's metadata tells which subset or person a track belongs to.

A submission can read every file's name, size, times (atime, mtime, ctime), inode number
and the order a folder lists it in. Written one person at a time, public persons first,
each of these sorts the tracks by subset and groups them by person (issue 16). So the
writers copy test files in a random order (inode numbers, ctime and the listing order of
folders that list in creation order follow it) and give every file and folder one fixed
atime and mtime, itself set in a random order (setting a time updates the ctime).
`evaluate.metaleaks` measures what is left.
"""

from __future__ import annotations

import os
import random
import shutil
from collections.abc import Sequence
from pathlib import Path

# 2019-05-01 00:00:00 UTC, when MCS2019 ran: one time for every test file and folder.
FILE_TIME_NS = 1_556_668_800 * 10**9


def place_files(pairs: Sequence[tuple[Path, Path]]) -> None:
    """Copy each (source, destination) of `pairs`, in a random order, folders first (also in a random order).

    The order comes from the operating system's entropy, so it is not even the same for
    one seed: nothing of it can be recomputed. Raises OSError when a copy fails.
    """
    shuffle = random.SystemRandom().shuffle
    folders = sorted({destination.parent for _, destination in pairs})
    shuffle(folders)
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    order = list(pairs)
    shuffle(order)
    for source, destination in order:
        shutil.copyfile(source, destination)


def settle_times(folder: Path) -> None:
    """Set atime and mtime of `folder` and of every file and folder under it to `FILE_TIME_NS`, in a random order.

    Call it last: writing into a folder afterwards changes that folder's mtime again.
    Links are not followed. Raises OSError when a time cannot be set.
    """
    paths = [folder, *folder.rglob("*")]
    random.SystemRandom().shuffle(paths)
    for path in paths:
        os.utime(path, ns=(FILE_TIME_NS, FILE_TIME_NS), follow_symlinks=False)
