"""The pipeline's build job runs the organizers' build command on the branch's files, never the branch's Makefile."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _hostile_branch(folder: Path, secret: Path) -> Path:
    (folder / "images").mkdir(parents=True)
    (folder / "requirements").mkdir()
    (folder / "models").mkdir()
    (folder / "Makefile").write_text(f"build _context:\n\ttouch {folder}/branch-makefile-ran\n")
    (folder / "Dockerfile").write_text("FROM scratch\n")
    (folder / "images" / "entrypoint.sh").write_text("#!/bin/sh\n")
    (folder / "requirements" / "image.txt").write_text("numpy\n")
    (folder / "solution.py").write_text("print('the branch')\n")
    (folder / "models" / "encoder.onnx").write_bytes(b"onnx bytes")
    (folder / "models" / "stolen.onnx").symlink_to(secret)
    return folder


def test_the_context_is_made_from_the_branch_by_the_organizers_makefile(tmp_path: Path) -> None:
    secret = tmp_path / "runner-secret"
    secret.write_text("the build runner's registry password")
    branch = _hostile_branch(tmp_path / "branch", secret)
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "numpy-1.24.4-cp38-none-any.whl").write_bytes(b"wheel")
    (wheels / ".complete").touch()
    context = tmp_path / "context"
    settings = [f"SOURCE={branch}", f"WHEELHOUSE={wheels}", f"CONTEXT_DIR={context}", "BASE=local", "CONTAINER=podman"]
    done = subprocess.run(["make", "-C", str(ROOT), "_context", *settings], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert not (branch / "branch-makefile-ran").exists()
    submitted = context / "submitted"
    assert (submitted / "solution.py").read_text() == "print('the branch')\n"
    assert (submitted / "models" / "encoder.onnx").read_bytes() == b"onnx bytes"
    assert not os.path.lexists(submitted / "models" / "stolen.onnx"), "a link is never submitted, nor followed"
    assert secret.read_text() not in {p.read_text() for p in context.rglob("*") if p.is_file() and p.suffix != ".whl"}
    dry = subprocess.run(["make", "-C", str(ROOT), "-n", "build", *settings], capture_output=True, text=True)
    assert f"--file {branch}/Dockerfile {context}" in dry.stdout


def test_the_build_job_runs_the_organizers_makefile() -> None:
    job = yaml.safe_load((ROOT / ".gitlab-ci.yml").read_text(encoding="utf-8"))["build"]
    [build] = [line for line in job["script"] if " build " in line and "make" in line]
    assert build.startswith('make -C "$ORGANIZER_TOOLS" build ') and 'SOURCE="$CI_PROJECT_DIR"' in build
