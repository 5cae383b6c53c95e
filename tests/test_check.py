"""The organizers' submission check (`python -m submission check`), run for real: bwrap, .venv-image.

Each case is a submission folder holding the declared files of this checkout, changed in
one way; the check must pass a working submission whatever its aggregator, and name
each problem with its fix.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import onnx
import pytest
from checkout import ROOT, run_make

from contracts.errors import RunnerError
from contracts.submitted import submitted_files
from models.check_models import check_models
from models.examples.trimmed_mean_graph import build_trimmed_mean
from submission.checks.check import check_submission

pytestmark = [
    pytest.mark.slow,
    pytest.mark.bwrap,
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap"),
]
IMAGE_PYTHON = ROOT / ".venv-image" / "bin" / "python"
#: The check's budget in the pipeline is "well under a minute"; this machine is slow and shared.
BUDGET_S = 60


@pytest.fixture(scope="module", autouse=True)
def image_venv() -> None:
    """.venv-image (the image's pins), made by make venv-image when missing."""
    done = run_make(ROOT, "venv-image", timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr


def _submission(folder: Path) -> Path:
    """A folder holding exactly the declared files of this checkout."""
    for relative in submitted_files(ROOT):
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / relative, folder / relative)
    return folder


def _check(folder: Path, *options: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "submission", "check", "--submission", str(folder), *options]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_the_baseline_passes_in_well_under_a_minute(tmp_path: Path) -> None:
    started = time.monotonic()
    done = _check(_submission(tmp_path / "baseline"), "--dimension", "128")
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert "the submission passes the check" in done.stderr
    assert done.stderr.count("ok     ") == 5, done.stderr
    assert elapsed < BUDGET_S, f"the check took {elapsed:.0f}s"


def test_an_aggregator_that_is_not_the_mean_passes(tmp_path: Path) -> None:
    folder = _submission(tmp_path / "trimmed")
    onnx.save(build_trimmed_mean(), str(folder / "models" / "aggregator.onnx"))
    assert check_models(folder / "models", IMAGE_PYTHON, dim=128).manifest_written
    done = _check(folder, "--dimension", "128")
    assert done.returncode == 0, done.stderr


def _python_310(folder: Path) -> None:
    solution = folder / "solution.py"
    solution.write_text(
        solution.read_text() + "\n\ndef kind(x):\n    match x:\n        case _:\n            return 1\n"
    )


def _broken_model(folder: Path) -> None:
    model = folder / "models" / "aggregator.onnx"
    model.write_bytes(model.read_bytes()[:100])


def _crashes(folder: Path) -> None:
    solution = folder / "solution.py"
    solution.write_text(solution.read_text().replace("def main(", "raise SystemExit('no luck')\n\n\ndef main(", 1))


def _no_solution(folder: Path) -> None:
    (folder / "solution.py").unlink()


def _nothing(folder: Path) -> None:
    shutil.rmtree(folder)
    folder.mkdir()


@pytest.mark.parametrize(
    ("change", "options", "sentences"),
    [
        (
            _python_310,
            (),
            [
                "solution.py needs a Python newer than 3.8 (line ",
                ": pattern matching needs Python 3.10); the image runs Python 3.8: rewrite those lines",
            ],
        ),
        (
            _broken_model,
            (),
            [
                "models/aggregator.onnx does not load on onnxruntime 1.16.3 (the image's)",
                "models/aggregator.onnx changed since models/manifest.json recorded it: run make check-models",
                "skipped solution.py on tiny data: fix the problems above first",
            ],
        ),
        (_crashes, (), ["solution.py on 3 generated tracks of 10, 10, 6 frames ended failed", "no luck"]),
        (
            _no_solution,
            (),
            [
                "solution.py is missing: every submission has it",
                "skipped solution.py on tiny data: fix the problems above first",
            ],
        ),
        (_nothing, (), ["models/manifest.json is missing", "skipped the other steps: the folder holds none of"]),
        (
            lambda folder: None,
            ("--dimension", "64"),
            ["models/encoder.onnx makes descriptors of dimension 128, the references have 64"],
        ),
    ],
    ids=["python 3.10 syntax", "broken model", "crashes", "no solution.py", "empty folder", "other dimension"],
)
def test_a_problem_fails_the_check_with_its_fix(
    tmp_path: Path, change: Callable[[Path], None], options: tuple[str, ...], sentences: list[str]
) -> None:
    folder = _submission(tmp_path / "team")
    change(folder)
    done = _check(folder, *options)
    assert done.returncode == 1, done.stderr
    assert "problem(s) to fix before the submission is run" in done.stderr
    for sentence in sentences:
        assert sentence in done.stderr


def test_a_missing_image_venv_is_the_organizers_problem(tmp_path: Path) -> None:
    with pytest.raises(RunnerError, match="run make venv-image in the organizers' checkout"):
        check_submission(_submission(tmp_path / "team"), image_python=tmp_path / "no-venv" / "bin" / "python")


def test_a_missing_sandbox_exits_3(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "submission", "check", "--submission", str(_submission(tmp_path / "team"))]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, env={"PATH": "/nonexistent"})
    assert done.returncode == 3, done.stderr
    assert "the check could not run (the organizers' side)" in done.stderr
    assert "bubblewrap is not installed" in done.stderr
