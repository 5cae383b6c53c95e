"""The image of the runner's tests, built once from the local Debian base and cached, in podman or docker.

The image carries the misbehaving submissions of tests/fixtures/submissions; its label
holds a hash of them and of the Containerfile, so it is rebuilt only when they change.
An engine that lacks it gets it from the other engine when that one holds an up-to-date
copy: `podman save | docker load` took 4 s here, a docker build 6 s plus the docker base
image (4 s copied from podman, 36 s debootstrapped); a build remains for a lone engine.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from submission.engines.container import DOCKER_BASE, PODMAN_BASE

ROOT = Path(__file__).resolve().parent.parent
CONTAINERFILE = ROOT / "images" / "runner-test" / "Containerfile"
FIXTURES = ROOT / "tests" / "fixtures" / "submissions"
IMAGE = "localhost/mcs-runner-test:latest"
NUMPY_PIN = "numpy==2.4.6"
HASH_LABEL = "fixtures-hash"
ENGINE_COMMANDS = {"podman": PODMAN_BASE, "docker": DOCKER_BASE}


def content_hash() -> str:
    """Return the hash the test image is labelled with: its Containerfile and the fixtures."""
    digest = hashlib.sha256(CONTAINERFILE.read_bytes())
    for path in sorted(FIXTURES.rglob("*.py")):
        digest.update(path.relative_to(FIXTURES).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def engine_command(engine: str) -> tuple[str, ...]:
    """Return the command that starts `engine` ("podman" or "docker") the way the runner does."""
    if engine not in ENGINE_COMMANDS:
        raise ValueError(f"engine must be one of {sorted(ENGINE_COMMANDS)}, got {engine!r}")
    return ENGINE_COMMANDS[engine]


def image_label(image: str, key: str, engine: str = "podman") -> str | None:
    """Return the label `key` of a local image in `engine`, or None when the image (or the engine) is absent."""
    command = engine_command(engine)
    if shutil.which(command[0]) is None:
        return None
    done = subprocess.run(
        [*command, "image", "inspect", "--format", f'{{{{ index .Config.Labels "{key}" }}}}', image],
        capture_output=True,
        text=True,
    )
    return done.stdout.strip() if done.returncode == 0 else None


def ensure_image(engine: str = "podman") -> str:
    """Provide the test image in `engine` unless an up-to-date one is there; return its name.

    Raises subprocess.CalledProcessError when the base image, the wheel download, the build
    or the copy between engines fails.
    """
    wanted = content_hash()
    if image_label(IMAGE, HASH_LABEL, engine) == wanted:
        return IMAGE
    other = "docker" if engine == "podman" else "podman"
    if image_label(IMAGE, HASH_LABEL, other) == wanted:
        _copy_image(other, engine)
    else:
        _build_image(engine, wanted)
    return IMAGE


def _copy_image(source: str, target: str) -> None:
    save = subprocess.Popen([*engine_command(source), "save", IMAGE], stdout=subprocess.PIPE)
    assert save.stdout is not None
    load = subprocess.run([*engine_command(target), "load"], stdin=save.stdout, capture_output=True)
    save.stdout.close()
    if save.wait() != 0:
        raise subprocess.CalledProcessError(save.returncode, save.args)
    load.check_returncode()


def _build_image(engine: str, wanted: str) -> None:
    subprocess.run(
        [str(ROOT / "images" / "make-base-image.sh"), "localhost/mcs-base:bookworm", engine],
        check=True,
        capture_output=True,
    )
    with tempfile.TemporaryDirectory() as context:
        context_dir = Path(context)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--only-binary=:all:",
                "--no-deps",
                "-d",
                str(context_dir / "wheels"),
                NUMPY_PIN,
            ],
            check=True,
            capture_output=True,
        )
        shutil.copytree(FIXTURES, context_dir / "fixtures", ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy(CONTAINERFILE, context_dir / "Containerfile")
        subprocess.run(
            [
                *engine_command(engine),
                "build",
                "--network",
                "none",
                "--label",
                f"{HASH_LABEL}={wanted}",
                "--file",
                str(context_dir / "Containerfile"),
                "--tag",
                IMAGE,
                str(context_dir),
            ],
            check=True,
            capture_output=True,
        )
