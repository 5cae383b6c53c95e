"""Running the participant's code for the check: the runner's own bwrap sandbox, on the image's Python packages.

The bwrap engine binds the runner's own Python environment into the sandbox, so the
runner is started from `.venv-image` (onnxruntime 1.16, numpy 1.24): the participant's
code then meets exactly the image's pins, never the host's, and never runs outside the
sandbox.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from contracts.errors import RunnerError
from contracts.names import LOG_FILE, RUN_REPORT_FILE
from contracts.status import Status

PROJECT_ROOT = Path(__file__).resolve().parents[2]
IMAGE_PYTHON = PROJECT_ROOT / ".venv-image" / "bin" / "python"
#: The runner's own limit on top of the sandbox's time limit: starting, staging, reporting.
RUNNER_MARGIN_S = 60
LOG_TAIL_LINES = 15


@dataclass(frozen=True)
class SandboxRun:
    """One finished run: its status and message (run.json), the tail of its log and its RUN_DIR."""

    status: Status
    message: str
    log_tail: str
    run_dir: Path


def run_sandboxed(
    submission_dir: Path,
    data_dir: Path,
    run_dir: Path,
    time_limit_s: float,
    dim: int | None = None,
    command: tuple[str, ...] = (),
    image_python: Path = IMAGE_PYTHON,
) -> SandboxRun:
    """Run `command` (default: python solution.py) on `data_dir` under bwrap with the image's packages.

    Raises RunnerError when .venv-image is missing or the runner itself fails to report
    (the organizer's problem); whatever the submission does is in the returned status.
    """
    if not image_python.exists():
        raise RunnerError(f"{image_python} does not exist: run make venv-image in the organizers' checkout")
    argv = [str(image_python), "-m", "submission", "run", "--engine", "bwrap", "--quiet", "--force"]
    argv += ["--submission", str(submission_dir), "--data", str(data_dir), "--out", str(run_dir)]
    argv += ["--time-limit", str(time_limit_s), "--gpus", "none"]
    argv += ["--dim", str(dim)] if dim is not None else []
    argv += ["--", *command] if command else []
    try:
        done = subprocess.run(
            argv, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=time_limit_s + RUNNER_MARGIN_S
        )
    except subprocess.TimeoutExpired:
        raise RunnerError(f"the runner did not return within {time_limit_s + RUNNER_MARGIN_S:g}s") from None
    report_path = run_dir / RUN_REPORT_FILE
    if not report_path.is_file():
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise RunnerError(f"the runner wrote no {RUN_REPORT_FILE} (exit {done.returncode}):\n{tail}")
    report = json.loads(report_path.read_text(encoding="utf-8"))
    log_lines = (run_dir / LOG_FILE).read_text(encoding="utf-8", errors="replace").splitlines()
    return SandboxRun(Status(report["status"]), report["message"], "\n".join(log_lines[-LOG_TAIL_LINES:]), run_dir)
