"""RUNS_DIR retention (python -m submission prune-runs): finished runs beyond the last N or older than D days go."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from contracts.names import RUN_REPORT_FILE
from submission.retention import prune_runs

ROOT = Path(__file__).resolve().parent.parent
DAY = 86400.0


def _run(team: Path, name: str, age_days: float, finished: bool = True) -> Path:
    folder = team / name
    (folder / "output").mkdir(parents=True)
    (folder / "log.txt").write_text("log")
    if finished:
        report = folder / RUN_REPORT_FILE
        report.write_text("{}")
        stamp = time.time() - age_days * DAY
        os.utime(report, (stamp, stamp))
    return folder


def test_the_newest_runs_stay_and_the_rest_go(tmp_path: Path) -> None:
    team = tmp_path / "team-a"
    ages = {"101": 5.0, "102": 4.0, "103": 3.0, "104": 2.0, "105": 1.0}
    for name, age in ages.items():
        _run(team, name, age)
    in_progress = _run(team, "106", 0, finished=False)
    pruned = prune_runs(team, keep=2)
    assert sorted(p.name for p in pruned.kept) == ["104", "105"]
    assert sorted(p.name for p in pruned.removed) == ["101", "102", "103"]
    assert sorted(p.name for p in team.iterdir()) == ["104", "105", "106"]
    assert in_progress.is_dir()


def test_runs_older_than_the_days_go_even_among_the_newest(tmp_path: Path) -> None:
    team = tmp_path / "team-a"
    for name, age in {"1": 30.0, "2": 10.0, "3": 1.0}.items():
        _run(team, name, age)
    pruned = prune_runs(team, keep=5, max_age_days=7)
    assert sorted(p.name for p in pruned.removed) == ["1", "2"]
    assert sorted(p.name for p in team.iterdir()) == ["3"]


def test_links_are_never_followed(tmp_path: Path) -> None:
    other_team = _run(tmp_path / "team-b", "7", 100.0)
    team = tmp_path / "team-a"
    _run(team, "1", 1.0)
    (team / "2").symlink_to(other_team)
    prune_runs(team, keep=1, max_age_days=2)
    assert (other_team / RUN_REPORT_FILE).is_file()
    (tmp_path / "team-b-link").symlink_to(tmp_path / "team-b")
    with pytest.raises(NotADirectoryError, match="is not a folder"):
        prune_runs(tmp_path / "team-b-link", keep=1)


def test_the_command_says_what_it_did_and_refuses_a_keep_of_zero(tmp_path: Path) -> None:
    team = tmp_path / "team-a"
    for name in ("1", "2", "3"):
        _run(team, name, float(name))
    command = [sys.executable, "-m", "submission", "prune-runs", "--runs", str(team)]
    done = subprocess.run([*command, "--keep", "1"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0 and done.stdout == f"{team}: 2 run(s) removed, 1 kept\n"
    refused = subprocess.run([*command, "--keep", "0"], capture_output=True, text=True, cwd=ROOT)
    assert refused.returncode == 2 and "--keep must be at least 1 (the run just made), got 0" in refused.stderr
