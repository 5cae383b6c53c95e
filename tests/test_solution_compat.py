"""solution.py must run on the submission image's software: Python 3.8, numpy 1.24, onnxruntime 1.16."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from face_tracks import write_test_folder

from contracts.names import DESCRIPTORS_FILE, TRACKS_FILE

ROOT = Path(__file__).resolve().parent.parent


def test_solution_needs_nothing_newer_than_python_3_8() -> None:
    vermin = Path(sys.executable).parent / "vermin"
    done = subprocess.run(
        [str(vermin), "-t=3.8-", "--no-tips", "--violations", str(ROOT / "solution.py")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("md5_ids", [False, True], ids=["integer ids", "md5 ids"])
def test_solution_runs_on_the_image_pins_and_agrees_with_the_host(
    image_python: Path, tmp_path: Path, md5_ids: bool
) -> None:
    versions = subprocess.run(
        [str(image_python), "-c", "import numpy, onnxruntime, PIL; print(numpy.__version__, onnxruntime.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert versions == ["1.24.4", "1.16.3"]
    folder = tmp_path / "test"
    table = write_test_folder(folder, n_tracks=3)
    if md5_ids:
        md5s = table.track_id.map(lambda i: hashlib.md5(str(i).encode()).hexdigest())
        table.assign(track_id=md5s).to_csv(folder / TRACKS_FILE, index=False)
    outputs = {}
    for name, python in (("image", image_python), ("host", Path(sys.executable))):
        out = tmp_path / name
        out.mkdir()
        done = subprocess.run(
            [str(python), str(ROOT / "solution.py"), "--data", str(folder), "--output", str(out)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        with np.load(out / DESCRIPTORS_FILE, allow_pickle=False) as written:
            outputs[name] = (written["track_id"], written["descriptor"])
    assert outputs["image"][0].dtype == outputs["host"][0].dtype == (np.dtype("<U32") if md5_ids else np.int64)
    np.testing.assert_array_equal(outputs["image"][0], outputs["host"][0])
    np.testing.assert_allclose(outputs["image"][1], outputs["host"][1], atol=1e-5)
