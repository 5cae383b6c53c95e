"""Shared pytest fixtures: the project root, and real runs of the fixture submissions under every engine.

`runner(engine, name, *options, args=())` runs tests/fixtures/submissions/NAME through
`python -m submission run` under ENGINE for real (bwrap, podman or docker) and returns a
`Run`; after each test, no cgroup and no container of those runs may be left.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from face_tracks import write_test_folder
from image_venv import image_python  # noqa: F401  # a fixture for every test module

from contracts.names import LOG_FILE, RUN_REPORT_FILE
from submission.engines.container import PODMAN_BASE, docker_engine_reachable
from submission.isolation.cgroup import CGROUP_ROOT

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "submissions"
ENGINES = ["bwrap", "podman", "docker"]
CONTAINER_LISTS = {"podman": [*PODMAN_BASE, "ps", "-a"], "docker": ["docker", "ps", "-a"]}


@pytest.fixture(scope="session")
def project_root() -> Path:
    """The repository root."""
    return ROOT


@dataclass
class Run:
    """A finished `python -m submission run`: its exit code, terminal output, report and folder."""

    exit_code: int
    stderr: str
    report: dict
    run_dir: Path

    @property
    def log(self) -> str:
        return (self.run_dir / LOG_FILE).read_text(errors="replace")


def engine_missing(engine: str) -> str | None:
    """Return why ENGINE cannot run here (the test is then skipped), or None."""
    if engine == "docker" and not docker_engine_reachable():
        return "no docker engine answers (.ci/run starts one)"
    if engine in ("podman", "bwrap") and shutil.which(engine) is None:
        return f"{engine} is not installed (.ci/run installs it)"
    return None


@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dataset root with test/ (5 face tracks) and a secret gt/ beside it."""
    root = tmp_path_factory.mktemp("dataset")
    write_test_folder(root / "test", n_tracks=5)
    (root / "gt").mkdir()
    (root / "gt" / "references.npz").write_text("SECRET GROUND TRUTH")
    return root


@pytest.fixture(scope="session")
def engine_image() -> Callable[[str], str]:
    """Return a function giving the runner-test image of a container engine, built once per session."""
    from podman_image import ensure_image

    images: dict[str, str] = {}

    def image(engine: str) -> str:
        if engine not in images:
            images[engine] = ensure_image(engine)
        return images[engine]

    return image


def runner_command(engine: str, name: str, dataset: Path, run_dir: Path, image: str | None) -> list[str]:
    """Return the `python -m submission run` command of fixture NAME under ENGINE, up to its arguments."""
    command = [sys.executable, "-m", "submission", "run", "--engine", engine, "--quiet"]
    command += ["--data", str(dataset / "test"), "--out", str(run_dir)]
    if image:
        return [*command, "--image", image, "--", "python", f"/fixtures/{name}/solution.py"]
    return [*command, "--submission", str(FIXTURES / name), "--", "python", "solution.py"]


@pytest.fixture
def runner(dataset: Path, tmp_path: Path, engine_image: Callable[[str], str]) -> Iterator[Callable[..., Run]]:
    """Return a function that runs fixture NAME under ENGINE and returns a `Run`."""
    reports: list[dict] = []

    def run(
        engine: str, name: str, *options: str, args: tuple[str, ...] = (), quiet: bool = True, timeout: float = 180
    ) -> Run:
        missing = engine_missing(engine)
        if missing:
            pytest.skip(missing)
        run_dir = tmp_path / f"run-{engine}-{name}"
        image = engine_image(engine) if engine in CONTAINER_LISTS else None
        command = runner_command(engine, name, dataset, run_dir, image)
        split = command.index("--")
        command[split:split] = list(options)
        if not quiet:
            command.remove("--quiet")
        done = subprocess.run([*command, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)
        report = json.loads((run_dir / RUN_REPORT_FILE).read_text())
        reports.append(report)
        return Run(done.returncode, done.stderr, report, run_dir)

    yield run
    for report in reports:
        assert_nothing_left(report)


def assert_nothing_left(report: dict) -> None:
    """Assert that the run of `report` left no cgroup and no container (other runs may be going on)."""
    if not report.get("cgroup"):
        return
    name = report["cgroup"].rsplit("/", 1)[-1]
    relative = report["cgroup"].lstrip("/")
    left = [path for path in [CGROUP_ROOT / relative, *CGROUP_ROOT.glob(f"*/{relative}")] if path.exists()]
    assert not left, f"cgroup {report['cgroup']} left in {left}"
    for engine, command in CONTAINER_LISTS.items():
        if engine_missing(engine) is None:
            listed = subprocess.run([*command, "--format", "{{.Names}}"], capture_output=True, text=True).stdout
            assert f"mcs-{name}" not in listed.split(), f"{engine} container mcs-{name} left"


def processes_running(marker: str) -> list[str]:
    """Return the command lines of running processes that mention `marker` (pytest's own excepted)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in text and "pytest" not in text:
            found.append(text)
    return found
