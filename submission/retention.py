"""RUNS_DIR retention: every team's finished runs beyond the last N, or older than D days, are removed.

The pipeline keeps each run's full log and output on the runner host (RUNS_DIR/<team>/<pipeline>),
where nothing else would ever delete them. Only finished runs (a folder holding run.json,
which the runner writes last) are candidates, so a run in progress in a concurrent
pipeline is never touched; links are never followed.
"""

from __future__ import annotations

import os
import shutil
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from contracts.names import RUN_REPORT_FILE


@dataclass(frozen=True)
class Pruned:
    """What `prune_runs` did: the run folders removed and those kept."""

    removed: list[Path]
    kept: list[Path]


def prune_runs(team_dir: Path, keep: int, max_age_days: float | None = None, now: float | None = None) -> Pruned:
    """Remove the finished runs of `team_dir` beyond the `keep` newest, and those older than `max_age_days`.

    A run's age is its run.json's modification time. Folders without run.json (a run in
    progress), links and plain files are left alone. Raises ValueError when `keep` is
    below 1 or `max_age_days` is not positive, NotADirectoryError when `team_dir` is not a
    folder (a link to one included).
    """
    if keep < 1:
        raise ValueError(f"--keep must be at least 1 (the run just made), got {keep}")
    if max_age_days is not None and max_age_days <= 0:
        raise ValueError(f"--days must be positive, got {max_age_days}")
    if not stat.S_ISDIR(os.lstat(team_dir).st_mode):
        raise NotADirectoryError(f"{team_dir} is not a folder (a link is not followed)")
    now = time.time() if now is None else now
    finished = []
    for entry in os.scandir(team_dir):
        if not entry.is_dir(follow_symlinks=False):
            continue
        try:
            report = os.stat(Path(entry.path) / RUN_REPORT_FILE, follow_symlinks=False)
        except FileNotFoundError:
            continue
        if stat.S_ISREG(report.st_mode):
            finished.append((report.st_mtime, entry.name))
    finished.sort(reverse=True)
    removed, kept = [], []
    for rank, (mtime, name) in enumerate(finished):
        too_old = max_age_days is not None and now - mtime > max_age_days * 86400
        if rank >= keep or too_old:
            shutil.rmtree(team_dir / name)
            removed.append(team_dir / name)
        else:
            kept.append(team_dir / name)
    return Pruned(removed=removed, kept=kept)
