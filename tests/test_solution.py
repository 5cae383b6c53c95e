"""solution.py end to end on real face tracks, and each bad input it must refuse in one line."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
from face_tracks import write_test_folder
from PIL import Image

from contracts.descriptors import read_descriptors
from contracts.names import DESCRIPTORS_FILE, PROGRESS_FILE, SOLUTION_REPORT_FILE, TRACKS_FILE
from contracts.tracks import read_track_ids

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = ROOT / "solution.py"
MODELS = ROOT / "models"


def run_solution(data: Path, output: Path, *extra: str, python: str = sys.executable) -> subprocess.CompletedProcess:
    """Run solution.py as a participant's container would; return the finished process."""
    output.mkdir(parents=True, exist_ok=True)
    command = [python, str(SOLUTION), "--data", str(data), "--output", str(output), *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def test_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("data") / "test"
    write_test_folder(folder, n_tracks=5)
    return folder


def expected_descriptors(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """The baseline computed directly: encoder on every frame, mean, L2 normalization."""
    encoder = ort.InferenceSession(str(MODELS / "encoder.onnx"), providers=["CPUExecutionProvider"])
    tracks = pd.read_csv(folder / TRACKS_FILE).sort_values(["track_id", "frame"], kind="stable")
    ids, rows = [], []
    for track_id, frames in tracks.groupby("track_id", sort=False):
        images = np.stack([np.asarray(Image.open(folder / p).convert("RGB")) for p in frames["path"]])
        mean = encoder.run(None, {"images": images})[0].astype(np.float64).mean(axis=0)
        ids.append(track_id)
        rows.append(mean / np.linalg.norm(mean))
    return np.asarray(ids), np.asarray(rows)


def test_writes_the_baseline_descriptors_of_every_track(test_folder: Path, tmp_path: Path) -> None:
    done = run_solution(test_folder, tmp_path / "out", "--batch-size", "16")
    assert done.returncode == 0, done.stderr
    expected_ids, expected = expected_descriptors(test_folder)
    written = read_descriptors(tmp_path / "out" / DESCRIPTORS_FILE, read_track_ids(test_folder / TRACKS_FILE), 128)
    np.testing.assert_array_equal(written.track_id, read_track_ids(test_folder / TRACKS_FILE))
    order = np.argsort(written.track_id)
    np.testing.assert_allclose(written.descriptor[order], expected[np.argsort(expected_ids)], atol=2e-5)


def test_reports_what_ran_and_the_final_progress(test_folder: Path, tmp_path: Path) -> None:
    done = run_solution(test_folder, tmp_path / "out")
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "out" / SOLUTION_REPORT_FILE).read_text())
    assert report["execution_provider"] == "CPUExecutionProvider"
    assert report["tracks"] == 5 and report["images"] == 50
    assert report["images_per_s"] > 0 and report["timings_s"]["total_s"] > 0
    assert {"decode_s", "encode_s", "aggregate_s", "total_s"} <= report["timings_s"].keys()
    assert report["batch_size"] == 128 and report["intra_op_threads"] >= 1
    progress = json.loads((tmp_path / "out" / PROGRESS_FILE).read_text())
    assert progress["tracks_done"] == progress["tracks_total"] == 5
    assert progress["images_done"] == 50 and progress["images_per_s"] > 0 and progress["elapsed_s"] > 0
    assert "CUDAExecutionProvider is not usable here; running on CPUExecutionProvider" in done.stderr
    assert "tracks 5/5" in done.stderr


def test_logs_the_track_count_the_dimension_and_the_time_limit_it_was_given(
    test_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIME_LIMIT_S", "42")
    done = run_solution(test_folder, tmp_path / "out")
    assert done.returncode == 0, done.stderr
    assert "5 tracks, 50 images in" in done.stderr
    assert "(limit 42s)" in done.stderr and "(limit 900s)" not in done.stderr
    assert "wrote 5 descriptors of dimension 128 (one per track)" in done.stderr


@pytest.mark.parametrize("value", ["soon", "0", "-5", "inf"])
def test_a_bad_time_limit_falls_back_to_900_seconds_with_one_line(
    test_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("TIME_LIMIT_S", value)
    done = run_solution(test_folder, tmp_path / "out")
    assert done.returncode == 0, done.stderr
    assert f"$TIME_LIMIT_S must be a positive number of seconds, got '{value}': using 900" in done.stderr
    assert "(limit 900s)" in done.stderr


def test_track_order_follows_tracks_csv_not_the_ids(tmp_path: Path) -> None:
    folder = tmp_path / "test"
    table = write_test_folder(folder, n_tracks=3)
    table.iloc[::-1].to_csv(folder / TRACKS_FILE, index=False)
    done = run_solution(folder, tmp_path / "out")
    assert done.returncode == 0, done.stderr
    with np.load(tmp_path / "out" / DESCRIPTORS_FILE) as written:
        assert written["track_id"].tolist() == [1002, 1001, 1000]
        assert written["descriptor"].dtype == np.float32


def test_md5_ids_are_written_as_strings_exactly(tmp_path: Path) -> None:
    folder = tmp_path / "test"
    table = write_test_folder(folder, n_tracks=3)
    md5s = {1000: "1e100000000000000000000000000000", 1001: "00123", 1002: "5d41402abc4b2a76b9719d911017c592"}
    table.assign(track_id=table.track_id.map(md5s)).iloc[::-1].to_csv(folder / TRACKS_FILE, index=False)
    done = run_solution(folder, tmp_path / "out")
    assert done.returncode == 0, done.stderr
    with np.load(tmp_path / "out" / DESCRIPTORS_FILE, allow_pickle=False) as written:
        assert written["track_id"].dtype == np.dtype("<U32")
        assert written["track_id"].tolist() == [md5s[1002], md5s[1001], md5s[1000]]
    expected = read_track_ids(folder / TRACKS_FILE)
    assert read_descriptors(tmp_path / "out" / DESCRIPTORS_FILE, expected, 128).track_id.tolist() == expected.tolist()


def _break(folder: Path, how: str) -> None:
    tracks = folder / TRACKS_FILE
    first_image = folder / "images" / "1000_0.jpg"
    last_image = folder / "images" / "1004_9.jpg"
    if how == "no tracks.csv":
        tracks.unlink()
    elif how == "missing column":
        tracks.write_text(tracks.read_text().replace("frame", "frame_index", 1))
    elif how == "empty id":
        tracks.write_text(tracks.read_text().replace("\n1003,", "\n,", 1))
    elif how == "header only":
        tracks.write_text("track_id,frame,path\n")
    elif how == "empty path":
        tracks.write_text(tracks.read_text().replace("images/1002_4.jpg", "", 1))
    elif how == "repeated frame":
        tracks.write_text(tracks.read_text() + "1001,3,images/1001_3.jpg\n")
    elif how == "missing image":
        last_image.unlink()
    elif how == "not an image":
        last_image.write_bytes(b"this is not a jpeg")
    elif how == "wrong size":
        Image.new("RGB", (100, 112)).save(first_image)
    elif how == "wrong mode":
        Image.new("CMYK", (112, 112)).save(first_image)


BAD_INPUTS = [
    ("no tracks.csv", r"tracks\.csv does not exist: --data must be the test folder holding tracks\.csv"),
    ("missing column", r"must have the columns track_id,frame,path, missing frame"),
    ("empty id", r"line \d+: track_id must not be empty"),
    ("header only", r"has no tracks: it must hold one row per frame"),
    ("empty path", r"line \d+: path must not be empty"),
    ("repeated frame", r"track 1001 has frame 3 twice"),
    ("missing image", r"images/1004_9\.jpg does not exist: tracks\.csv names it"),
    ("not an image", r"images/1004_9\.jpg cannot be read as an image"),
    ("wrong size", r"images/1000_0\.jpg is 100x112: every image must be an aligned 112x112 crop"),
    ("wrong mode", r"images/1000_0\.jpg has mode CMYK: images must be RGB"),
]


@pytest.mark.parametrize(("how", "message"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_fails_fast_with_one_line_and_no_output(
    test_folder: Path, tmp_path: Path, how: str, message: str
) -> None:
    folder = tmp_path / "test"
    shutil.copytree(test_folder, folder)
    _break(folder, how)
    done = run_solution(folder, tmp_path / "out", "--batch-size", "8")
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "Traceback" not in done.stderr
    assert re.search(message, errors[0]), errors[0]
    # Nothing half-written: a failure in the last batch must not leave descriptors behind.
    assert not (tmp_path / "out" / DESCRIPTORS_FILE).exists()
    assert not list((tmp_path / "out").glob(".*.tmp"))


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("missing", r"model .*encoder\.onnx does not exist: models/ must ship encoder\.onnx"),
        ("not a model", r"model .*encoder\.onnx cannot be loaded"),
        ("wrong signature", r"model encoder\.onnx has inputs \[\('frame_descriptors', 'tensor\(float\)', 3\)\]"),
    ],
)
def test_bad_model_fails_with_one_line(test_folder: Path, tmp_path: Path, how: str, message: str) -> None:
    models = tmp_path / "models"
    shutil.copytree(MODELS, models)
    encoder = models / "encoder.onnx"
    if how == "missing":
        encoder.unlink()
    elif how == "not a model":
        encoder.write_bytes(b"\x00garbage")
    else:
        shutil.copy(models / "aggregator.onnx", encoder)
    done = run_solution(test_folder, tmp_path / "out", "--models", str(models))
    assert done.returncode == 2
    assert re.search(message, done.stderr), done.stderr
    assert "Traceback" not in done.stderr


def test_output_folder_must_exist(test_folder: Path, tmp_path: Path) -> None:
    command = [sys.executable, str(SOLUTION), "--data", str(test_folder), "--output", str(tmp_path / "absent")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "output folder" in done.stderr and "does not exist: create it or pass --output" in done.stderr
