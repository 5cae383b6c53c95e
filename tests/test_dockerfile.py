"""The submission image in podman and in docker: `make build` on the local Debian base, its pins, the baseline scored.

The build takes 30 to 60 s per engine and is cached: it is skipped when the engine's image
carries the `mcs.context-hash` label that `make build` would give it now.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from checkout import copy_checkout, run_make
from face_tracks import write_test_folder
from podman_image import HASH_LABEL, NUMPY_PIN, content_hash, engine_command, ensure_image, image_label

from contracts.names import DESCRIPTORS_FILE, OUTPUT_DIR, PUBLIC, RUN_REPORT_FILE, SCORE_FILE, TRACK_ID_KEY
from contracts.status import Status
from contracts.submitted import submitted_files
from submission.engines.container import docker_engine_reachable
from submission.settings import host_has_gpu
from tests.challenge_data import write_challenge

ROOT = Path(__file__).resolve().parent.parent
# the venv running the tests (make test VENV=... included), not necessarily ROOT/.venv
PYTHON = sys.executable
HADOLINT = Path(sys.executable).parent / "hadolint"
IMAGE = "localhost/mcs-submission:test"
# the image the README's commands name; the test runs its own build instead
README_IMAGE = "localhost/mcs-submission:latest"
ENGINES = [pytest.param("podman", marks=pytest.mark.podman), pytest.param("docker", marks=pytest.mark.docker)]


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


@pytest.fixture(scope="module", params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """Each container engine in turn; skipped only where it is absent."""
    if shutil.which(request.param) is None:
        pytest.skip(f"{request.param} is not installed (.ci/run installs it)")
    if request.param == "docker" and not docker_engine_reachable():
        pytest.skip("no docker engine answers on its socket (.ci/run starts one)")
    return request.param


def _make_settings(engine: str) -> tuple[str, ...]:
    return ("BASE=local", f"CONTAINER={engine}", f"IMAGE={IMAGE}")


@pytest.fixture(scope="module")
def image(engine: str) -> str:
    """Build the image in `engine` on the local base with `make build` unless an up-to-date one exists."""
    settings = _make_settings(engine)
    wanted = run_make(ROOT, "_context-hash", *settings).stdout.strip()
    if image_label(IMAGE, "mcs.context-hash", engine) != wanted:
        done = subprocess.run(["make", "build", *settings], cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert image_label(IMAGE, "mcs.context-hash", engine) == wanted
    return IMAGE


def _run(engine: str, image: str, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*engine_command(engine), "run", "--rm", "--network", "none", image, *command],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_base_defaults_to_local_without_the_cuda_image(engine: str) -> None:
    cuda = re.search(r"^ARG BASE_IMAGE=(\S+)$", (ROOT / "Dockerfile").read_text(encoding="utf-8"), re.MULTILINE)
    assert cuda, "the Dockerfile names no default BASE_IMAGE"
    if image_label(cuda.group(1), "any", engine) is not None:
        pytest.skip(f"{engine} holds the CUDA base image, so BASE defaults to cuda here")
    done = run_make(ROOT, "_context-hash", f"CONTAINER={engine}")
    assert done.stdout.strip().endswith("-local")


@pytest.mark.slow
def test_runner_test_image_is_provided_in_each_engine(engine: str) -> None:
    image = ensure_image(engine)
    assert image_label(image, HASH_LABEL, engine) == content_hash()
    done = _run(engine, image, "python", "-c", "import numpy; print(numpy.__version__)")
    assert done.returncode == 0, done.stderr
    assert f"numpy=={done.stdout.strip()}" == NUMPY_PIN


@pytest.mark.slow
def test_image_holds_the_pins_and_runs_as_nobody(engine: str, image: str) -> None:
    done = _run(
        engine,
        image,
        "python",
        "-c",
        "import os, onnxruntime, numpy; print(onnxruntime.__version__, numpy.__version__, os.getuid())",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1.16.3", "1.24.4", "65534"]


@pytest.mark.slow
def test_image_holds_exactly_the_submitted_files(engine: str, image: str) -> None:
    """/submission holds contracts/submitted_files.txt's list, as bwrap's staging and make pack do."""
    done = _run(engine, image, "find", "/submission", "-type", "f")
    assert done.returncode == 0, done.stderr
    held = sorted(line.removeprefix("/submission/") for line in done.stdout.split())
    assert held == [path.as_posix() for path in submitted_files(ROOT)]


@pytest.mark.slow
def test_a_helper_module_is_in_the_image(engine: str, image: str, tmp_path: Path) -> None:
    """A team's mylib.py reaches /submission, where `import mylib` finds it (solution.py's folder)."""
    settings = _make_settings(engine)
    assert run_make(ROOT, "wheels", *settings).returncode == 0
    team = tmp_path / "team"
    copy_checkout(team)
    (team / "mylib.py").write_text("GREETING = 'mylib in the image'\n")
    (team / "wheels").symlink_to(ROOT / "wheels")
    tag = f"{image}-team"
    try:
        done = run_make(team, "build", *settings[:-1], f"IMAGE={tag}")
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        ran = _run(engine, tag, "python", "-c", "import mylib; print(mylib.GREETING)")
    finally:
        subprocess.run([*engine_command(engine), "rmi", "--force", tag], capture_output=True)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "mylib in the image"


@pytest.mark.slow
def test_entrypoint_logs_start_and_end_and_keeps_the_exit_code(engine: str, image: str) -> None:
    done = _run(engine, image, "python", "-c", "raise SystemExit(3)")
    assert done.returncode == 3
    lines = done.stderr.splitlines()
    assert lines[0].endswith("entrypoint: start: python -c raise SystemExit(3)")
    assert lines[-1].endswith("entrypoint: end: exit code 3")
    assert lines[0][:4].isdigit() and lines[0][19] == "Z"


@pytest.mark.slow
def test_baseline_image_runs_through_the_runner_and_scores(engine: str, image: str, tmp_path: Path) -> None:
    data = write_challenge(tmp_path / "data")
    run_dir = tmp_path / "run"
    run = subprocess.run(
        [PYTHON, "-m", "submission", "run", "--engine", engine, "--image", image, "--quiet",
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


def _readme_docker_commands() -> list[str]:
    """The shell lines of the README's "Participant's flow" block from `docker run` on, continuations joined."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    flow = readme.split("## Participant's flow", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", flow, re.DOTALL)
    assert block, "README's Participant's flow has no bash block"
    lines = [line.strip() for line in block.group(1).replace("\\\n", " ").splitlines()]
    return [line for line in lines if line.startswith(("docker run", "mkdir"))]


@pytest.mark.slow
@pytest.mark.docker
@pytest.mark.parametrize("engine", ["docker"], indirect=True)
def test_readme_docker_run_writes_the_descriptors(image: str, tmp_path: Path) -> None:
    commands = _readme_docker_commands()
    runs = [c for c in commands if c.startswith("docker run")]
    assert len(runs) == 2 and "--gpus all" in runs[0], commands
    # The CPU variant is the GPU one without --gpus: nothing else may drift between them.
    assert " ".join(runs[0].replace("--gpus all", "").split()) == " ".join(runs[1].split())
    # The README's own paths ($PWD/data/demo/test, $PWD/out/output) hold, relative to tmp_path.
    tracks = write_test_folder(tmp_path / "data" / "demo" / "test", n_tracks=3)
    # docker refuses --gpus where there is no GPU ("could not select device driver"): the CPU variant runs there
    chosen = runs[0] if host_has_gpu() else runs[1]
    script = "\n".join([c for c in commands if not c.startswith("docker run")] + [chosen]).replace(README_IMAGE, image)
    assert image in script
    done = subprocess.run(["bash", "-euc", script], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    with np.load(tmp_path / "out" / "output" / DESCRIPTORS_FILE) as written:
        assert sorted(written[TRACK_ID_KEY].tolist()) == sorted(set(tracks["track_id"].tolist()))
