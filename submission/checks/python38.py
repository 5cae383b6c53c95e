"""Whether the submitted Python files run on the image's Python 3.8, by static analysis (vermin).

vermin reads the files without running them, so it runs on the host.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from contracts.errors import RunnerError

TARGET = "3.8"
VERMIN = Path(sys.executable).parent / "vermin"
SHOWN_LINES = 8


def python38_problems(submission_dir: Path, files: list[Path]) -> list[str]:
    """Return one sentence per file of `files` (relative to `submission_dir`) that needs a Python newer than 3.8.

    Raises RunnerError when vermin is not installed beside this Python (requirements/dev.txt).
    """
    if not VERMIN.exists():
        raise RunnerError(
            f"{VERMIN} does not exist: install requirements/dev.txt (make venv) in the organizers' checkout"
        )
    problems = []
    for relative in files:
        done = subprocess.run(
            [str(VERMIN), f"-t={TARGET}-", "--no-tips", "--violations", "--no-parse-comments", "--format", "parsable"]
            + [relative.as_posix()],
            cwd=submission_dir,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode == 0:
            continue
        findings = _findings(done.stdout, (submission_dir / relative).resolve())
        shown = "; ".join(findings[:SHOWN_LINES]) or done.stderr.strip() or "vermin gave no detail"
        more = f" and {len(findings) - SHOWN_LINES} more" if len(findings) > SHOWN_LINES else ""
        problems.append(
            f"{relative.as_posix()} needs a Python newer than {TARGET} ({shown}{more}); the image runs Python "
            f"{TARGET}: rewrite those lines (`vermin -t={TARGET}- --violations {relative.as_posix()}` lists them)"
        )
    return problems


def _findings(parsable: str, path: Path) -> list[str]:
    """ "line N: FEATURE needs Python V" for each finding of vermin's parsable output about `path` that names a line."""
    findings = []
    prefix = f"{path}:"
    for line in parsable.splitlines():
        if not line.startswith(prefix):
            continue
        # after the path: line:column:python2:python3:feature
        number, _column, _python2, python3, feature = (line[len(prefix) :].split(":", 4) + [""] * 5)[:5]
        if number and feature:
            findings.append(f"line {number}: {feature} needs Python {python3}")
    return findings
