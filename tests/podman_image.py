"""The podman image of the runner's tests, built once from the local Debian base and cached.

The image carries the misbehaving submissions of tests/fixtures/submissions; its label
holds a hash of them and of the Containerfile, so it is rebuilt only when they change.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from submission.engines import PODMAN_BASE as PODMAN

ROOT = Path(__file__).resolve().parent.parent
CONTAINERFILE = ROOT / "images" / "runner-test" / "Containerfile"
FIXTURES = ROOT / "tests" / "fixtures" / "submissions"
IMAGE = "localhost/mcs-runner-test:latest"
NUMPY_PIN = "numpy==2.4.6"


def _content_hash() -> str:
    digest = hashlib.sha256(CONTAINERFILE.read_bytes())
    for path in sorted(FIXTURES.rglob("*.py")):
        digest.update(path.relative_to(FIXTURES).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def image_label(image: str, key: str) -> str | None:
    """Return the label `key` of a local podman image, or None when the image is absent."""
    done = subprocess.run(
        [*PODMAN, "image", "inspect", "--format", f'{{{{ index .Labels "{key}" }}}}', image],
        capture_output=True,
        text=True,
    )
    return done.stdout.strip() if done.returncode == 0 else None


def ensure_image() -> str:
    """Build the test image unless an up-to-date one exists; return its name.

    Raises subprocess.CalledProcessError when the base image, the wheel download or the
    build fails.
    """
    wanted = _content_hash()
    if image_label(IMAGE, "fixtures-hash") == wanted:
        return IMAGE
    subprocess.run([str(ROOT / "images" / "make-base-image.sh")], check=True, capture_output=True)
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
                *PODMAN,
                "build",
                "--network",
                "none",
                "--label",
                f"fixtures-hash={wanted}",
                "-t",
                IMAGE,
                str(context_dir),
            ],
            check=True,
            capture_output=True,
        )
    return IMAGE
