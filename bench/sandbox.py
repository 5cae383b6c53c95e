"""What the runner and its sandboxes add to a no-op submission, beside the bare process.

The no-op is `python -c pass`: it starts an interpreter and writes nothing, so every run
ends `invalid_output` (no descriptors.npz), which is expected and recorded. The figure
that matters is the wall time of the whole `python -m submission run` command (runner
start, cgroup, sandbox, output check, report) minus the bare interpreter's.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from contracts.exits import EXIT_ORGANIZER
from contracts.names import RUN_REPORT_FILE, TRACK_COLUMNS, TRACKS_FILE

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_IMAGE = "localhost/mcs-base:bookworm"
ENGINES = ("local", "bwrap", "podman")


def no_op(engine: str) -> list[str]:
    """The no-op command for `engine`: the runner's own interpreter on the host, the sandbox's python3 elsewhere.

    Under bwrap the host's interpreter path does not exist (the sandbox mounts the image's
    venv at /venv, first on its PATH), so the host path would measure a failed exec.
    """
    return [sys.executable if engine == "local" else "python3", "-c", "pass"]


def timed(command: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Run `command` to its end; return its wall seconds and its completed process."""
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    return time.perf_counter() - started, done


def run_engine(engine: str, test_dir: Path, run_dir: Path, image: str) -> tuple[float, dict[str, Any] | str]:
    """Run the no-op under `engine` through `python -m submission run`; return its wall seconds and run.json.

    In place of run.json, returns the reason when the engine could not run (the runner's
    engine_error message, or its last stderr line when it wrote no report).
    """
    command = [sys.executable, "-m", "submission", "run", "--engine", engine, "--data", str(test_dir)]
    command += ["--out", str(run_dir), "--force", "--quiet"]
    if engine == "podman":
        command += ["--image", image]
    wall, done = timed([*command, "--", *no_op(engine)])
    report_path = run_dir / RUN_REPORT_FILE
    if not report_path.is_file():
        lines = done.stderr.strip().splitlines()
        return wall, lines[-1] if lines else f"exit {done.returncode} without {RUN_REPORT_FILE}"
    report: dict[str, Any] = json.loads(report_path.read_text())
    if done.returncode == EXIT_ORGANIZER:
        return wall, str(report.get("message"))
    return wall, report


def bench_sandbox(work: Path, quick: bool, image: str, log: Callable[[str], None]) -> dict[str, Any]:
    """Run the sandbox section in the folder `work`; return its results.

    Each engine and the bare process run `repeats` times in turn and the median counts.
    An engine that cannot run here (not installed, image absent) is recorded with the
    reason instead of figures.
    """
    repeats = 1 if quick else 5
    test_dir = work / "sandbox-test"
    test_dir.mkdir(parents=True, exist_ok=True)
    # The runner reads the track ids to check the output; one track is enough for a no-op.
    (test_dir / TRACKS_FILE).write_text(",".join(TRACK_COLUMNS) + "\n1,0,images/1_0.jpg\n")
    walls: dict[str, list[float]] = {name: [] for name in ("bare", *ENGINES)}
    reports: dict[str, dict[str, Any] | str] = {}
    for _ in range(repeats):
        walls["bare"].append(timed(no_op("local"))[0])
        for engine in ENGINES:
            if isinstance(reports.get(engine), str):
                continue
            run_dir = work / f"sandbox-run-{engine}"
            shutil.rmtree(run_dir, ignore_errors=True)
            wall, reports[engine] = run_engine(engine, test_dir, run_dir, image)
            walls[engine].append(wall)
    log(f"sandbox: {repeats} no-op run(s) per engine")
    bare = statistics.median(walls["bare"])
    local = statistics.median(walls["local"]) if not isinstance(reports["local"], str) else None
    engines: dict[str, Any] = {}
    for engine in ENGINES:
        report = reports[engine]
        if isinstance(report, str):
            engines[engine] = {"ran": False, "reason": report}
            continue
        wall = statistics.median(walls[engine])
        engines[engine] = {
            "ran": True,
            "wall_s": round(wall, 3),
            "overhead_s": round(wall - bare, 3),
            "over_local_s": None if local is None else round(wall - local, 3),
            "clock_s": report.get("wall_s"),
            "status": report.get("status"),
        }
    return {
        "no_op": "python -c pass",
        "repeats": repeats,
        "image": image,
        "bare_s": round(bare, 3),
        "engines": engines,
    }
