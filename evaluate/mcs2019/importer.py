"""`import_mcs2019`: MCS2019's original files in, this project's dataset out, or every problem at once."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from contracts.errors import RunnerError
from contracts.names import PRIVATE, PUBLIC, SUBSETS
from evaluate.datagen.writer import check_replaceable
from evaluate.mcs2019.check import SUBSET, plan_import
from evaluate.mcs2019.layout import PERSON_ID, TRACK_ID
from evaluate.mcs2019.read import read_original
from evaluate.mcs2019.write import write_dataset
from evaluate.problems import Finding, Problems


class OriginalDataError(RunnerError):
    """The original files cannot be imported; `findings` lists every problem, one line each with its fix."""

    def __init__(self, source: Path, findings: list[Finding]) -> None:
        self.source = source
        self.findings = list(findings)
        lines = "\n".join(f"- {finding}" for finding in self.findings)
        super().__init__(f"{source}: {len(self.findings)} problem(s) in the original files\n{lines}")


@dataclass(frozen=True)
class ImportSummary:
    """What `import_mcs2019` wrote: the folder, tracks and persons per part, references, dimension, time.

    `train_references` is the number of train reference rows, None when none were given;
    `warnings` what the organizer should know about the import (each with its fix).
    """

    out: Path
    tracks: dict[str, int]
    persons: dict[str, int]
    references: int
    train_references: int | None
    dim: int
    images: int
    seconds: float
    warnings: tuple[Finding, ...]


def import_mcs2019(
    source: Path,
    out: Path,
    images: Path | None = None,
    public_is_val: bool = True,
    competition: Path | None = None,
    force: bool = False,
    progress: bool = False,
) -> ImportSummary:
    """Import MCS2019's original files in `source` into the dataset folder `out`; return a summary.

    `images` is the folder `warp_path` is relative to (default ``source/data``);
    `public_is_val` whether is_val True marks the public subset; `competition` a
    competition.yaml to use instead of the MCS2019 defaults; `force` replaces an existing
    dataset at `out`; `progress` shows bars on stderr for the image checks and copies.

    Raises DatasetExistsError when `out` may not be replaced, OriginalDataError listing
    every problem of the original files (nothing is written then), ConfigError for a bad
    `competition`.
    """
    started = time.monotonic()
    check_replaceable(out, force)
    problems = Problems()
    original = read_original(source, images, problems)
    plan = plan_import(original, public_is_val, problems, progress)
    if plan is None:
        raise OriginalDataError(source, problems.findings)
    write_dataset(plan, out, competition, progress)
    labels = plan.labels
    parts = {subset: labels[labels[SUBSET] == subset] for subset in SUBSETS}
    return ImportSummary(
        out=out,
        tracks={
            "train": int(plan.train[TRACK_ID].nunique()),
            PUBLIC: len(parts[PUBLIC]),
            PRIVATE: len(parts[PRIVATE]),
        },
        persons={
            "train": int(plan.train[PERSON_ID].nunique()),
            PUBLIC: int(parts[PUBLIC][PERSON_ID].nunique()),
            PRIVATE: int(parts[PRIVATE][PERSON_ID].nunique()),
        },
        references=int(plan.reference_person.size),
        train_references=None if plan.train_reference_person is None else int(plan.train_reference_person.size),
        dim=int(plan.reference_descriptor.shape[1]),
        images=len(plan.test) + len(plan.train),
        seconds=time.monotonic() - started,
        warnings=plan.warnings,
    )
