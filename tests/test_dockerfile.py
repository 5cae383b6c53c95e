"""The submission image: hadolint, the podman build on the local Debian base, the baseline run and scored in it.

The build is slow (about a minute) and cached: it is skipped when the image's
`mcs.context-hash` label matches what `make build` would label it with now.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from podman_image import image_label

from contracts.names import DESCRIPTORS_FILE, OUTPUT_DIR, PUBLIC, RUN_REPORT_FILE, SCORE_FILE
from contracts.status import Status
from submission.engines import PODMAN_BASE as PODMAN
from tests.challenge_data import write_challenge

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
HADOLINT = ROOT / ".venv" / "bin" / "hadolint"
IMAGE = "localhost/mcs-submission:test"
LOCAL = ("BASE=local", "CONTAINER=podman", f"IMAGE={IMAGE}")


def test_dockerfile_passes_hadolint_at_warning_level() -> None:
    done = subprocess.run(
        [str(HADOLINT), "--failure-threshold", "warning", "Dockerfile"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_pack_writes_the_upload_and_never_overwrites_it(tmp_path: Path) -> None:
    archive = tmp_path / "submission.tar.gz"
    done = subprocess.run(["make", "pack", f"PACK={archive}"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    with tarfile.open(archive) as packed:
        names = set(packed.getnames())
    assert {"solution.py", "models/encoder.onnx", "models/aggregator.onnx", "Dockerfile"} <= names
    assert not any(name.startswith(("data/", "out/", ".venv")) for name in names)
    before = archive.read_bytes()
    again = subprocess.run(["make", "pack", f"PACK={archive}"], cwd=ROOT, capture_output=True, text=True)
    assert again.returncode == 2
    assert f"{archive} already exists" in again.stderr
    assert archive.read_bytes() == before


@pytest.fixture(scope="module")
def image() -> str:
    """Build the image on the local base with `make build` unless an up-to-date one exists."""
    if shutil.which("podman") is None:
        pytest.skip("needs podman")
    wanted = subprocess.run(
        ["make", "-s", "_context-hash", *LOCAL], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    if image_label(IMAGE, "mcs.context-hash") != wanted:
        done = subprocess.run(["make", "build", *LOCAL], cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert image_label(IMAGE, "mcs.context-hash") == wanted
    return IMAGE


def _podman_run(image: str, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PODMAN, "run", "--rm", "--network", "none", image, *command], capture_output=True, text=True, timeout=120
    )


@pytest.mark.slow
@pytest.mark.podman
def test_image_holds_the_pins_and_runs_as_nobody(image: str) -> None:
    done = _podman_run(
        image,
        "python",
        "-c",
        "import os, onnxruntime, numpy; print(onnxruntime.__version__, numpy.__version__, os.getuid())",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1.16.3", "1.24.4", "65534"]


@pytest.mark.slow
@pytest.mark.podman
def test_entrypoint_logs_start_and_end_and_keeps_the_exit_code(image: str) -> None:
    done = _podman_run(image, "python", "-c", "raise SystemExit(3)")
    assert done.returncode == 3
    lines = done.stderr.splitlines()
    assert lines[0].endswith("entrypoint: start: python -c raise SystemExit(3)")
    assert lines[-1].endswith("entrypoint: end: exit code 3")
    assert lines[0][:4].isdigit() and lines[0][19] == "Z"


@pytest.mark.slow
@pytest.mark.podman
def test_baseline_image_runs_through_the_runner_and_scores(image: str, tmp_path: Path) -> None:
    data = write_challenge(tmp_path / "data")
    run_dir = tmp_path / "run"
    run = subprocess.run(
        [PYTHON, "-m", "submission", "run", "--engine", "podman", "--image", image, "--quiet",
         "--data", str(data / "test"), "--out", str(run_dir)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    report = json.loads((run_dir / RUN_REPORT_FILE).read_text(encoding="utf-8"))
    assert run.returncode == 0, report["message"]
    assert report["status"] == Status.OK
    assert report["execution_provider"] == "CPUExecutionProvider"
    assert "entrypoint: end: exit code 0" in (run_dir / "log.txt").read_text(encoding="utf-8")
    score = subprocess.run(
        [PYTHON, "-m", "evaluate", "score", "--descriptors", str(run_dir / OUTPUT_DIR / DESCRIPTORS_FILE),
         "--gt", str(data / "gt"), "--config", str(data / "competition.yaml"), "--out", str(run_dir)],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert score.returncode == 0, score.stderr
    document = json.loads((run_dir / SCORE_FILE).read_text(encoding="utf-8"))
    # 8 public tracks of 4 real faces: the pretrained encoder must match most of them to their person
    assert document["primary"]["subset"] == PUBLIC
    assert document["primary"]["tpr"] >= 0.5
