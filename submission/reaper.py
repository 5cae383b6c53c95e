"""The deadline that outlives the runner, and the cleanup after a runner that was killed.

While the submission runs, a watchdog waits beside the runner in a session of its own:
if the runner is still alive when the run ends, it stops the watchdog; if the runner was
killed (SIGKILL: no handler of its own can run), the watchdog wakes at the time limit
plus the grace period plus a margin and cleans the run (isolation/leftovers.py): the
processes in its cgroup, its container, its /output mount and scratch folder. Every
runner start also cleans what dead runners left, and marks each such run's run.json
`engine_error` "the runner was killed". `python -m submission.reaper RUN_ID` is the
watchdog's own command.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from contracts.names import RUN_REPORT_FILE
from contracts.status import Status
from submission.isolation.leftovers import DeadRun, clean_dead_runs, state_dir
from submission.reporting.run_report import RunReport, write_report
from submission.rundir import RunDirError, RunFiles

#: Seconds the watchdog waits past the time limit and the grace period (the engine's start, the runner's own end).
WATCHDOG_MARGIN_S = 10.0
KILLED_MESSAGE = (
    "the runner was killed before the run ended (SIGKILL, or the machine went down); nothing of the "
    "run is scored. This is the organizers' problem, not the submission's: run it again"
)
_PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Watchdog:
    """A process that cleans run `run_id` after `after_s` seconds unless `stop` is called first."""

    def __init__(self, run_id: str, after_s: float, folder: Path) -> None:
        command = f'sleep {after_s:.1f} && exec "$@"'
        reaper = [sys.executable, "-m", "submission.reaper", run_id]
        env = {**os.environ, "PYTHONPATH": str(_PROJECT_ROOT), "MCS_RUNNER_STATE": str(folder)}
        # A session of its own: a signal to the runner's process group does not reach it.
        self._process = subprocess.Popen(
            ["sh", "-c", command, "watchdog", *reaper],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd="/",
            start_new_session=True,
        )

    def stop(self) -> None:
        """End the watchdog (the runner is alive and cleans up itself)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait()


def mark_killed(dead: DeadRun) -> bool:
    """Rewrite the run.json of a dead run as engine_error "the runner was killed", when that run.json
    is still the one the dead run wrote (a later run in the same RUN_DIR keeps its own). Returns
    True when it was rewritten."""
    if dead.run_dir is None:
        return False
    try:
        written = json.loads((dead.run_dir / RUN_REPORT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(written, dict) or written.get("run_id") != dead.run_id:
        return False
    report = RunReport(status=Status.ENGINE_ERROR, message=KILLED_MESSAGE, run_id=dead.run_id)
    report.organizer_warnings = [f"after the runner was killed: {sentence}" for sentence in dead.done]
    for key in ("engine", "image", "time_limit_s", "log_path", "data_dir", "output_dir", "started_at"):
        if key in written:
            setattr(report, key, written[key])
    try:
        with RunFiles(dead.run_dir) as files:
            write_report(files, report)
    except (OSError, RunDirError):
        return False
    return True


def clean_after_killed_runners(only: str | None = None) -> list[DeadRun]:
    """Clean every run whose runner is dead (or only run `only`) and mark its run.json; return them."""
    dead_runs = clean_dead_runs(state_dir(), only)
    for dead in dead_runs:
        mark_killed(dead)
    return dead_runs


def main() -> None:
    """The watchdog's command: clean run argv[1] if its runner is dead by now."""
    clean_after_killed_runners(sys.argv[1])


if __name__ == "__main__":
    main()
