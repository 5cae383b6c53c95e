"""One declaration of what is submitted (contracts/submitted_files.txt): staging, image and archive agree.

A team's branch with a helper module (mylib.py, imported by solution.py) and a third
model (models/quality.onnx) beside files that are not submitted: bwrap's staging, the
image's build context (the Dockerfile copies it whole) and `make pack` hold exactly the
declared files, and solution.py finds mylib.py inside the sandbox.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from checkout import ROOT, commit, copy_checkout, run_make
from face_tracks import write_test_folder

from contracts.names import LOG_FILE, RUN_REPORT_FILE
from contracts.submitted import required_files, submitted_files, submitted_patterns
from submission.isolation.staging import stage_submission

#: What make pack adds to the submitted files: what builds the image from them.
IMAGE_BUILD_FILES = {"Dockerfile", ".dockerignore", "images/entrypoint.sh", "requirements/image.txt"}
MYLIB = '''"""A participant's helper module."""
import sys

print("mylib imported from " + __file__, file=sys.stderr)
'''


def test_the_kit_submits_its_solution_and_models() -> None:
    assert [path.as_posix() for path in submitted_files(ROOT)] == [
        "models/NOTICE",
        "models/aggregator.onnx",
        "models/encoder.onnx",
        "models/manifest.json",
        "solution.py",
    ]
    assert set(required_files()) == {"solution.py", "models/manifest.json", "models/NOTICE"}
    assert "*.py" in submitted_patterns()


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A team's checkout: mylib.py imported by solution.py, models/quality.onnx, and files that are not submitted."""
    checkout = tmp_path_factory.mktemp("team") / "solution"
    copy_checkout(checkout)
    (checkout / "mylib.py").write_text(MYLIB)
    solution = checkout / "solution.py"
    solution.write_text(
        solution.read_text().replace(
            "from PIL import Image\n", "from PIL import Image\n\nimport mylib  # noqa: F401\n", 1
        )
    )
    shutil.copyfile(checkout / "models" / "aggregator.onnx", checkout / "models" / "quality.onnx")
    (checkout / "scratch").mkdir()
    (checkout / "scratch" / "tool.py").write_text("print('not submitted')\n")
    (checkout / "notes.txt").write_text("not submitted\n")
    (checkout / "models" / "link.onnx").symlink_to(checkout / "models" / "encoder.onnx")
    commit(checkout, "mylib and a quality model")
    return checkout


def _declared(team: Path) -> list[str]:
    return [path.as_posix() for path in submitted_files(team)]


def test_the_declaration_takes_helper_modules_and_any_model(team: Path) -> None:
    declared = _declared(team)
    assert {"mylib.py", "solution.py", "models/quality.onnx", "models/aggregator.onnx"} <= set(declared)
    assert not {"scratch/tool.py", "notes.txt", "models/link.onnx", "Makefile"} & set(declared)


def test_staging_holds_the_declared_files(team: Path, tmp_path: Path) -> None:
    staged = stage_submission(team, tmp_path / "staged")
    assert [path.as_posix() for path in staged] == _declared(team)
    assert sorted(
        p.relative_to(tmp_path / "staged").as_posix() for p in (tmp_path / "staged").rglob("*") if p.is_file()
    ) == _declared(team)


def test_pack_holds_the_declared_files_and_the_image_build(team: Path, tmp_path: Path) -> None:
    archive = tmp_path / "submission.tar.gz"
    done = run_make(team, "pack", f"PACK={archive}")
    assert done.returncode == 0, done.stderr
    with tarfile.open(archive) as packed:
        names = {member.name for member in packed.getmembers() if member.isfile()}
    assert sorted(names - IMAGE_BUILD_FILES) == _declared(team)
    assert names >= IMAGE_BUILD_FILES


def test_the_image_copies_the_declared_files(team: Path) -> None:
    """`make build`'s context holds the declared files under submitted/; the Dockerfile copies it whole."""
    done = run_make(team, "-n", "_context", "CONTAINER=podman", "BASE=local")
    assert done.returncode == 0, done.stderr
    [copy] = [
        line.split("&&")[-1].split()
        for line in done.stdout.splitlines()
        if "cp " in line and line.endswith("/submitted")
    ]
    # copied, not linked: the build job's SOURCE (the branch's checkout) may lie on another filesystem
    assert copy[:3] == ["cp", "--no-dereference", "--parents"]
    assert sorted(copy[3:-1]) == _declared(team)
    dockerfile = (team / "Dockerfile").read_text().splitlines()
    copies = [line.split()[1:] for line in dockerfile if line.startswith("COPY ")]
    assert ["submitted/", "./"] in copies
    assert dockerfile.index("COPY submitted/ ./") > dockerfile.index("WORKDIR /submission")
    assert not [c for c in copies if c[0] in {"solution.py", "models/*.onnx"}], "one list only: submitted/"


@pytest.mark.bwrap
@pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap")
def test_a_helper_module_is_importable_in_the_sandbox(team: Path, tmp_path: Path) -> None:
    write_test_folder(tmp_path / "test", n_tracks=2)
    command = [sys.executable, "-m", "submission", "run", "--engine", "bwrap", "--quiet", "--submission", str(team)]
    command += ["--data", str(tmp_path / "test"), "--out", str(tmp_path / "run")]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    report = json.loads((tmp_path / "run" / RUN_REPORT_FILE).read_text())
    assert report["status"] == "ok", done.stderr
    assert "mylib imported from /submission/mylib.py" in (tmp_path / "run" / LOG_FILE).read_text()
