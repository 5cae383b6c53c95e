"""The `image_python` fixture: the Python of .venv-image, which holds the submission image's pins."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IMAGE_PYTHON = ROOT / ".venv-image" / "bin" / "python"
# What pip prints when the index cannot be reached; any other install failure is a real one.
NETWORK_FAILURES = (
    "NewConnectionError",
    "Temporary failure in name resolution",
    "ConnectTimeoutError",
    "Network is unreachable",
)


@pytest.fixture(scope="module")
def image_python() -> Path:
    """The Python of .venv-image (the image's pins), made by `make venv-image` when missing."""
    done = subprocess.run(["make", "-s", "venv-image"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    if done.returncode != 0 and any(sign in done.stderr for sign in NETWORK_FAILURES):
        pytest.skip("make venv-image could not reach PyPI: " + done.stderr.strip().splitlines()[-1])
    assert done.returncode == 0, done.stdout + done.stderr
    return IMAGE_PYTHON
