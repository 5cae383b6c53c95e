"""Datasets made with the same seed share their faces: find such siblings of a new dataset.

Person slot i of every preset is the same face for one seed (faces are drawn in slot
order from (seed, identity stream, slot)), and train slots come first: with seed 0,
demo's test persons are the train persons of the `train` preset. A model trained on one
and scored on the other has seen its test persons.
"""

from __future__ import annotations

import re
from pathlib import Path

from contracts.names import COMPETITION_FILE

_HEADER = re.compile(r"make-data --preset (\S+) --seed (\d+)")


def made_with(dataset: Path) -> tuple[str, int] | None:
    """Return the (preset, seed) that the competition.yaml of `dataset` says made it, or None if it does not say."""
    path = dataset / COMPETITION_FILE
    if not path.is_file():
        return None
    found = _HEADER.search(path.read_text(errors="replace").split("\n", 1)[0])
    return (found.group(1), int(found.group(2))) if found else None


def same_seed_siblings(out: Path, preset: str, seed: int) -> list[tuple[Path, str]]:
    """Return the datasets beside `out` made with `seed` and another preset than `preset`, with their preset.

    These share persons with `out`: the same faces, in another part of the dataset.
    """
    if not out.parent.is_dir():
        return []
    siblings = []
    for folder in sorted(out.parent.iterdir()):
        origin = made_with(folder) if folder.is_dir() and folder.resolve() != out.resolve() else None
        if origin is not None and origin[1] == seed and origin[0] != preset:
            siblings.append((folder, origin[0]))
    return siblings
