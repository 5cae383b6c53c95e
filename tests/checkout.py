"""A copy of this checkout as a team's branch would carry it, and `make` run in it as a user runs it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GIT = ["git", "-c", "user.name=pipeline-test", "-c", "user.email=pipeline-test@example.org"]
# What a parent make passes down: under it, a child make prints "Entering directory" lines
# and takes the parent's flags; the tests read make's output as a user's terminal shows it.
PARENT_MAKE = ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES")


def copy_checkout(destination: Path) -> None:
    """Copy the tracked and untracked, not ignored files (what a push would carry) into a fresh git repo.

    The copy borrows the project's .venv and .venv-image through links, and commits everything
    on a branch named feature.
    """
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        source = ROOT / os.fsdecode(name)
        if source.is_file():
            target = destination / os.fsdecode(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    subprocess.run([*GIT, "init", "--quiet", "--initial-branch", "feature"], cwd=destination, check=True)
    venvs = (".venv", ".venv-image")
    for venv in venvs:
        (destination / venv).symlink_to(ROOT / venv)
    # .gitignore's ".venv/" matches folders only, never these links
    with (destination / ".git" / "info" / "exclude").open("a") as exclude:
        exclude.writelines(f"/{venv}\n" for venv in venvs)
    commit(destination, "submission")


def commit(checkout: Path, message: str) -> None:
    """Commit every change of `checkout`."""
    subprocess.run([*GIT, "add", "--all"], cwd=checkout, check=True)
    subprocess.run([*GIT, "commit", "--quiet", "--allow-empty", "--message", message], cwd=checkout, check=True)


def run_make(checkout: Path, *arguments: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run `make -s --no-print-directory ARGUMENTS` in `checkout` as from a terminal, even under a parent make."""
    env = {key: value for key, value in os.environ.items() if key not in PARENT_MAKE}
    return subprocess.run(
        ["make", "-s", "--no-print-directory", *arguments],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
