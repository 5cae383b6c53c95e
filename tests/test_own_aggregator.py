"""Your own aggregator: both documented routes, the graph builder's several-output nodes, and make check-models.

Each route exports an aggregator that is not the mean; it must equal a numpy reference on
random tracks, pass `check_models` on the image's onnxruntime (the manifest then records
it), and run through solution.py under .venv-image to descriptors unlike the baseline's.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from checkout import ROOT, run_make
from face_tracks import write_test_folder
from onnx import TensorProto, helper

from contracts.names import DESCRIPTORS_FILE
from models.check_models import COMMAND, check_models
from models.examples.trimmed_mean_graph import DROP, build_trimmed_mean
from models.export_aggregator import INPUT_NAME, OUTPUT_NAME
from models.onnx_export import GraphBuilder, tensor_info

IMAGE_PYTHON = ROOT / ".venv-image" / "bin" / "python"
MODELS = ROOT / "models"
DIM = 128


@pytest.fixture(scope="module", autouse=True)
def image_venv() -> None:
    """.venv-image (the image's pins), made by make venv-image when missing."""
    done = run_make(ROOT, "venv-image", timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr


def _normalized(mean: np.ndarray) -> np.ndarray:
    return mean / np.linalg.norm(mean, axis=1, keepdims=True)


def trimmed_reference(frames: np.ndarray) -> np.ndarray:
    """Drop the DROP frames farthest from each track's mean (keep at least one), then mean and L2."""
    frames = frames.astype(np.float64)
    distance = ((frames - frames.mean(axis=1, keepdims=True)) ** 2).sum(axis=2)
    keep = max(frames.shape[1] - DROP, 1)
    closest = np.argsort(distance, axis=1)[:, :keep]
    return _normalized(np.take_along_axis(frames, closest[:, :, None], axis=1).mean(axis=1))


def weighted_reference(frames: np.ndarray, temperature: float) -> np.ndarray:
    """Frames weighted by softmax(-squared distance to the track's mean / temperature), then L2."""
    frames = frames.astype(np.float64)
    distance = ((frames - frames.mean(axis=1, keepdims=True)) ** 2).sum(axis=2)
    weights = np.exp(-(distance - distance.min(axis=1, keepdims=True)) / temperature)
    weights /= weights.sum(axis=1, keepdims=True)
    return _normalized((weights[:, :, None] * frames).sum(axis=1))


def _random_tracks(tracks: int, frames: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return _normalized_frames(rng.normal(size=(tracks, frames, DIM)).astype(np.float32))


def _normalized_frames(frames: np.ndarray) -> np.ndarray:
    return (frames / np.linalg.norm(frames, axis=2, keepdims=True)).astype(np.float32)


def test_a_node_with_two_outputs() -> None:
    builder = GraphBuilder()
    values, indices = builder.ops("TopK", ["x", builder.constant("k", np.array([2]))], "top", 2, axis=1)
    builder.op("Identity", [values], "values", output="values_out")
    builder.op("Identity", [indices], "indices", output="indices_out")
    model = builder.model(
        "topk",
        [tensor_info("x", TensorProto.FLOAT, ["N", 5])],
        [
            tensor_info("values_out", TensorProto.FLOAT, ["N", 2]),
            tensor_info("indices_out", TensorProto.INT64, ["N", 2]),
        ],
        producer="test",
    )
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got_values, got_indices = session.run(None, {"x": np.array([[1, 5, 2, 4, 3]], np.float32)})
    np.testing.assert_array_equal(got_values, [[5, 4]])
    np.testing.assert_array_equal(got_indices, [[1, 3]])
    assert (values, indices) == ("top", "top_1")
    with pytest.raises(ValueError, match="at least 1 output, got 0"):
        builder.ops("TopK", ["x"], "none", 0)


@pytest.mark.parametrize(("tracks", "frames"), [(1, 1), (3, 5), (5, 4), (7, 10), (2, 33)])
def test_the_graph_builder_route_equals_numpy(tracks: int, frames: int) -> None:
    session = ort.InferenceSession(build_trimmed_mean().SerializeToString(), providers=["CPUExecutionProvider"])
    batch = _random_tracks(tracks, frames, seed=tracks * 100 + frames)
    [got] = session.run([OUTPUT_NAME], {INPUT_NAME: batch})
    np.testing.assert_allclose(got, trimmed_reference(batch), atol=1e-6)


def test_the_torch_route_equals_numpy(tmp_path: Path) -> None:
    from models.examples.weighted_mean_torch import TEMPERATURE, WeightedMean, export

    export(WeightedMean(), tmp_path / "aggregator.onnx")
    model = onnx.load(str(tmp_path / "aggregator.onnx"))
    assert (model.ir_version, model.opset_import[0].version) == (8, 17)
    session = ort.InferenceSession(str(tmp_path / "aggregator.onnx"), providers=["CPUExecutionProvider"])
    for tracks, frames in [(1, 1), (4, 6), (3, 10)]:
        batch = _random_tracks(tracks, frames, seed=frames)
        [got] = session.run([OUTPUT_NAME], {INPUT_NAME: batch})
        np.testing.assert_allclose(got, weighted_reference(batch, TEMPERATURE), atol=1e-5)


def _models_copy(folder: Path) -> Path:
    shutil.copytree(MODELS, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__", "examples"))
    return folder


def _export_graph(out: Path) -> None:
    onnx.save(build_trimmed_mean(), str(out))


def _export_torch(out: Path) -> None:
    from models.examples.weighted_mean_torch import WeightedMean, export

    export(WeightedMean(), out)


def _solution(submission: Path, data: Path, out: Path) -> np.ndarray:
    """Run submission/solution.py under .venv-image; return its descriptors."""
    out.mkdir()
    done = subprocess.run(
        [str(IMAGE_PYTHON), str(submission / "solution.py"), "--data", str(data), "--output", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    with np.load(out / DESCRIPTORS_FILE) as written:
        return written["descriptor"]


@pytest.mark.slow
@pytest.mark.parametrize("export", [_export_graph, _export_torch], ids=["graph builder", "torch.onnx.export"])
def test_each_route_is_checked_recorded_and_runs_in_solution_py(tmp_path: Path, export: Callable[[Path], None]) -> None:
    submission = tmp_path / "team"
    submission.mkdir()
    shutil.copyfile(ROOT / "solution.py", submission / "solution.py")
    models = _models_copy(submission / "models")
    before = json.loads((models / "manifest.json").read_text())
    export(models / "aggregator.onnx")
    checked = check_models(models, IMAGE_PYTHON, dim=DIM)
    assert checked.problems == [] and checked.manifest_written
    manifest = json.loads((models / "manifest.json").read_text())
    assert manifest["encoder.onnx"] == before["encoder.onnx"]
    assert manifest["aggregator.onnx"]["command"] == COMMAND
    assert manifest["aggregator.onnx"]["sha256"] != before["aggregator.onnx"]["sha256"]
    data = tmp_path / "test"
    write_test_folder(data, n_tracks=3)
    own = _solution(submission, data, tmp_path / "own")
    shutil.copyfile(MODELS / "aggregator.onnx", models / "aggregator.onnx")
    baseline = _solution(submission, data, tmp_path / "baseline")
    assert own.shape == baseline.shape == (3, DIM)
    np.testing.assert_allclose(np.linalg.norm(own, axis=1), 1, atol=1e-5)
    assert np.abs(own - baseline).max() > 1e-4, "the aggregator must not be the mean"


def _model(ir_version: int, frames_axis: int | str = "F") -> onnx.ModelProto:
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", [INPUT_NAME], [OUTPUT_NAME], axes=[1], keepdims=0)],
        "agg",
        [tensor_info(INPUT_NAME, TensorProto.FLOAT, ["T", frames_axis, DIM])],
        [tensor_info(OUTPUT_NAME, TensorProto.FLOAT, ["T", DIM])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=ir_version)


def test_check_models_records_any_number_of_models(tmp_path: Path) -> None:
    models = _models_copy(tmp_path / "models")
    before = json.loads((models / "manifest.json").read_text())
    onnx.save(_model(9), str(models / "quality.onnx"))
    checked = check_models(models, IMAGE_PYTHON)
    assert checked.problems == [] and checked.models == ["aggregator.onnx", "encoder.onnx", "quality.onnx"]
    manifest = json.loads((models / "manifest.json").read_text())
    assert {name: manifest[name] for name in before} == before
    assert manifest["quality.onnx"]["command"] == COMMAND
    (models / "quality.onnx").unlink()
    assert check_models(models, IMAGE_PYTHON).problems == []
    assert json.loads((models / "manifest.json").read_text()) == before


@pytest.mark.parametrize(
    ("model", "problem"),
    [
        (_model(10), "models/aggregator.onnx has IR version 10, onnxruntime 1.16 reads at most 9"),
        (_model(9, frames_axis=10), "models/aggregator.onnx input frame_descriptors axis 1 (F) must be dynamic"),
    ],
    ids=["IR 10", "fixed frame count"],
)
def test_check_models_names_the_problem_and_keeps_the_manifest(
    tmp_path: Path, model: onnx.ModelProto, problem: str
) -> None:
    models = _models_copy(tmp_path / "models")
    before = (models / "manifest.json").read_bytes()
    onnx.save(model, str(models / "aggregator.onnx"))
    done = subprocess.run(
        [sys.executable, "-m", "models.check_models", "--models", str(models), "--python", str(IMAGE_PYTHON)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1
    assert problem in done.stderr
    assert "models/manifest.json left as it was" in done.stderr
    assert "make models" not in done.stderr
    assert (models / "manifest.json").read_bytes() == before
