"""The submission check, step by step; each step says what is wrong and how to fix it.

Steps: the declared files (contracts/submitted_files.txt) are there; the manifest records
the models as they are; every submitted .py is Python 3.8 (vermin); every models/*.onnx
loads and runs on the image's onnxruntime with the contract's signature (probed inside the
sandbox); solution.py turns a few tiny tracks into output that passes the output
contract, with the references' dimension. Later steps that depend on a failed one are
skipped, with the reason.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from contracts.errors import RunnerError
from contracts.model_contract import probe_problems
from contracts.names import CONTAINER_OUTPUT, CONTAINER_SUBMISSION, OUTPUT_DIR
from contracts.status import Status
from contracts.submitted import required_files, submitted_files
from submission.checks.manifest import manifest_problems
from submission.checks.python38 import python38_problems
from submission.checks.sandboxed import IMAGE_PYTHON, SandboxRun, run_sandboxed
from submission.checks.tiny_data import FRAME_COUNTS, write_tiny_test
from submission.reporting.progress import read_untrusted_json

PROBE_SOURCE = Path(__file__).resolve().parents[2] / "contracts" / "model_probe.py"
PROBE_REPORT = "models.json"
PROBE_TIME_LIMIT_S = 60.0
SOLUTION_TIME_LIMIT_S = 120.0
TINY_DATA = f"{len(FRAME_COUNTS)} generated tracks of {', '.join(map(str, FRAME_COUNTS))} frames"


@dataclass
class CheckResult:
    """What the check found: the participant's problems, each with its fix (empty: the submission passed)."""

    problems: list[str] = field(default_factory=list)


def check_submission(
    submission_dir: Path,
    dim: int | None = None,
    image_python: Path = IMAGE_PYTHON,
    step: Callable[[str], None] | None = None,
) -> CheckResult:
    """Check the submission in `submission_dir`; `dim` is the references' descriptor dimension, when known.

    `step` receives a line as each step ends. Raises RunnerError when the check itself
    cannot run (no bwrap, no .venv-image, no vermin): the organizer's problem.
    """
    result = CheckResult()
    say = step or (lambda line: None)

    def done(name: str, problems: list[str]) -> bool:
        result.problems += problems
        say(f"{'ok    ' if not problems else 'FAILED'} {name}")
        return not problems

    files = submitted_files(submission_dir)
    missing = [name for name in required_files() if Path(name) not in files]
    done(
        "the submitted files are there",
        [f"{name} is missing: every submission has it (contracts/submitted_files.txt)" for name in missing],
    )
    if not files:
        say("skipped the other steps: the folder holds none of the submitted files")
        return result
    models = [path for path in files if path.suffix == ".onnx"]
    done("models/manifest.json records the models as they are", manifest_problems(submission_dir, models))
    python_files = [path for path in files if path.suffix == ".py"]
    done("the Python files run on Python 3.8", python38_problems(submission_dir, python_files))
    with tempfile.TemporaryDirectory(prefix="submission-check-") as scratch_name:
        scratch = Path(scratch_name)
        write_tiny_test(scratch / "test")
        probe, probe_run = _probe_models(submission_dir, scratch, image_python)
        models_ok = done(
            "the models load and run on the image's onnxruntime with the contract's signature",
            probe_problems(probe, dim) if probe is not None else [_probe_failed(probe_run)],
        )
        if not models_ok or "solution.py" in missing:
            say("skipped solution.py on tiny data: fix the problems above first")
            return result
        run = run_sandboxed(
            submission_dir,
            scratch / "test",
            scratch / "solution",
            SOLUTION_TIME_LIMIT_S,
            dim,
            image_python=image_python,
        )
        done(f"solution.py on {TINY_DATA} passes the output contract", _solution_problems(run))
    return result


def _probe_models(submission_dir: Path, scratch: Path, image_python: Path) -> tuple[object | None, SandboxRun]:
    """Run contracts/model_probe.py inside the sandbox on /submission/models; its report (None if none) and run."""
    source = PROBE_SOURCE.read_text(encoding="utf-8")
    command = ("python", "-c", source, f"{CONTAINER_SUBMISSION}/models", f"{CONTAINER_OUTPUT}/{PROBE_REPORT}")
    run = run_sandboxed(
        submission_dir,
        scratch / "test",
        scratch / "probe",
        PROBE_TIME_LIMIT_S,
        command=command,
        image_python=image_python,
    )
    # The probe writes no descriptors, so the run ends invalid_output; its report is what counts.
    if run.status is Status.ENGINE_ERROR:
        raise RunnerError(f"the sandbox could not run: {run.message}")
    return read_untrusted_json(run.run_dir / OUTPUT_DIR / PROBE_REPORT), run


def _probe_failed(run: SandboxRun) -> str:
    return (
        f"loading the models in the sandbox ended {run.status} before it could report ({run.message}): "
        f"run make check-models locally to see why. The log's last lines:\n{run.log_tail}"
    )


def _solution_problems(run: SandboxRun) -> list[str]:
    """One sentence for a solution run that did not end ok, with its log's tail; raises RunnerError for engine_error."""
    if run.status is Status.OK:
        return []
    if run.status is Status.ENGINE_ERROR:
        raise RunnerError(f"the sandbox could not run solution.py: {run.message}")
    if run.status is Status.INVALID_OUTPUT:
        fix = "write descriptors.npz as the output contract says (README, Your own submission)"
    elif run.status is Status.TIMEOUT:
        fix = f"it must finish {TINY_DATA} well within {SOLUTION_TIME_LIMIT_S:g}s"
    else:
        fix = "reproduce it with make eval"
    return [
        f"solution.py on {TINY_DATA} ended {run.status}: {run.message}; {fix}. The log's last lines:\n{run.log_tail}"
    ]
