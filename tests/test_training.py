"""The training kit: train/ read alone, persons held out, a learned aggregator exported to ONNX as trained.

Everything runs on a small synthetic train/ folder (clustered descriptors, a few switched
tracks), in seconds. The exported model is run by the image's onnxruntime 1.16 too.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

import models.onnx_export
from contracts.names import REFERENCES_FILE, TRACKS_FILE, TRAIN_DESCRIPTORS_FILE, TRAIN_DIR
from evaluate.trainset import TrainDataError
from models.export_aggregator import INPUT_NAME, OUTPUT_NAME
from training.cli import main
from training.data import inject_switches, load_train, split_persons
from training.export import to_onnx
from training.fit import FitConfig, aggregate, fit
from training.model import build
from training.pooling import drop_k, mean_l2
from training.validate import validation_fpr

ROOT = Path(__file__).resolve().parent.parent
DIM = 128
FRAMES = 10


def write_train(folder: Path, persons: int = 16, tracks: int = 4, seed: int = 0) -> None:
    """Write train/ of a dataset: persons around random centres, noisy and bad frames, some switched tracks."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(persons, DIM))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    person_of = np.repeat(np.arange(persons), tracks)
    frames = 1.4 * centres[person_of][:, None, :] + rng.normal(0.0, 0.07, size=(person_of.size, FRAMES, DIM))
    bad = rng.random(frames.shape[:2]) < 0.15
    frames[bad] = 0.6 * frames[bad] + rng.normal(0.0, 0.12, size=(int(bad.sum()), DIM))
    frames = inject_switches(frames.astype(np.float32), 0.3, 3, rng)
    track_ids = rng.permutation(person_of.size) + 1
    person_ids = 100 + person_of
    (folder / TRAIN_DIR).mkdir(parents=True)
    rows = [(t, f, f"images/{t}/{f}.jpg", p) for t, p in zip(track_ids, person_ids, strict=True) for f in range(FRAMES)]
    pd.DataFrame(rows, columns=["track_id", "frame", "path", "person_id"]).to_csv(
        folder / TRAIN_DIR / TRACKS_FILE, index=False
    )
    np.savez(
        folder / TRAIN_DIR / TRAIN_DESCRIPTORS_FILE,
        track_id=np.repeat(track_ids, FRAMES),
        frame=np.tile(np.arange(FRAMES), track_ids.size),
        descriptor=frames.reshape(-1, DIM),
    )
    references = centres[np.repeat(np.arange(persons), 2)] + rng.normal(0.0, 0.03, size=(2 * persons, DIM))
    np.savez(
        folder / TRAIN_DIR / REFERENCES_FILE,
        person_id=np.repeat(100 + np.arange(persons), 2),
        descriptor=(references / np.linalg.norm(references, axis=1, keepdims=True)).astype(np.float32),
    )


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("train") / "data"
    write_train(folder)
    return folder


@pytest.fixture(scope="module")
def trained(dataset: Path) -> tuple[torch.nn.Module, ort.InferenceSession]:
    train = load_train(dataset)
    fit_rows, validation_rows = split_persons(train.person, 0.5, 0)
    validation = train.select(validation_rows)
    model, _ = fit(train.select(fit_rows), validation, validation_fpr(validation), FitConfig(epochs=3), progress=False)
    session = ort.InferenceSession(to_onnx(model, DIM).SerializeToString(), providers=["CPUExecutionProvider"])
    return model, session


def run(session: ort.InferenceSession, frames: np.ndarray) -> np.ndarray:
    return session.run([OUTPUT_NAME], {INPUT_NAME: frames.astype(np.float32)})[0]


def test_train_set_is_read_in_track_order_with_frames_in_order(dataset: Path) -> None:
    train = load_train(dataset)
    table = pd.read_csv(dataset / TRAIN_DIR / TRACKS_FILE)
    first_track = int(table.track_id.iloc[0])
    with np.load(dataset / TRAIN_DIR / TRAIN_DESCRIPTORS_FILE) as arrays:
        own = arrays["descriptor"][arrays["track_id"] == first_track]
    assert train.frames.shape == (64, FRAMES, DIM)
    np.testing.assert_array_equal(train.frames[0], own)
    assert train.person[0] == table.person_id.iloc[0]


def test_a_train_folder_without_references_is_refused_with_the_fix(tmp_path: Path) -> None:
    write_train(tmp_path)
    (tmp_path / TRAIN_DIR / REFERENCES_FILE).unlink()
    with pytest.raises(TrainDataError, match=r"references.npz must exist to train an aggregator; make it with"):
        load_train(tmp_path)


def test_held_out_persons_have_no_track_in_training(dataset: Path) -> None:
    person = load_train(dataset).person
    fit_rows, validation_rows = split_persons(person, 0.25, 0)
    assert np.intersect1d(person[fit_rows], person[validation_rows]).size == 0
    assert np.unique(person[validation_rows]).size == 4
    assert fit_rows.size + validation_rows.size == person.size


@pytest.mark.parametrize(("share", "message"), [(1.5, r"held_out must be in \(0, 1\)"), (0.01, "at least 2 on each")])
def test_a_bad_held_out_share_is_refused(share: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        split_persons(np.arange(20), share, 0)


def test_switches_replace_a_run_and_keep_an_own_frame() -> None:
    frames = np.repeat(np.arange(50, dtype=np.float32)[:, None, None], FRAMES, axis=1) * np.ones(DIM, np.float32)
    switched = inject_switches(frames, 0.5, 3, np.random.default_rng(1))
    foreign = (switched != frames).any(axis=2)
    assert 10 < foreign.any(axis=1).sum() < 40
    assert foreign.sum(axis=1).max() <= 3
    for track in np.flatnonzero(foreign.any(axis=1)):
        run = np.flatnonzero(foreign[track])
        assert np.array_equal(run, np.arange(run[0], run[-1] + 1))


def test_mean_l2_pooling_is_the_shipped_baseline() -> None:
    frames = np.random.default_rng(3).normal(0.1, 0.2, size=(6, FRAMES, DIM)).astype(np.float32)
    baseline = ort.InferenceSession(str(ROOT / "models" / "aggregator.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(mean_l2(frames), run(baseline, frames), atol=1e-6)


def test_drop_k_discards_a_foreign_frame_that_the_mean_keeps() -> None:
    rng = np.random.default_rng(4)
    own, other = rng.normal(size=DIM), rng.normal(size=DIM)
    frames = (own + rng.normal(0.0, 0.02, size=(1, FRAMES, DIM))).astype(np.float32)
    frames[0, 4:6] = other
    unit_own = own / np.linalg.norm(own)
    assert drop_k(frames, 2)[0] @ unit_own > 0.999
    assert mean_l2(frames)[0] @ unit_own < 0.98
    np.testing.assert_allclose(
        drop_k(frames, 0), mean_l2(frames / np.linalg.norm(frames, axis=2, keepdims=True)), atol=1e-7
    )


def test_the_validation_fpr_allows_enough_false_accepts_that_a_few_wrong_labels_cannot_decide_it(
    dataset: Path,
) -> None:
    train = load_train(dataset)
    # 64 tracks x 30 references of other persons = 1,920 negatives: 1e-3 allows 1 false accept,
    # 1e-2 allows 19, 0.1 allows 192: the first that allows MIN_FALSE_ACCEPTS (25).
    assert validation_fpr(train) == 0.1
    # 5 persons' 20 tracks x 8 references of the other 4 = 160 negatives: no FPR allows 25, so the
    # smallest that allows one (1e-2).
    few = train.select(np.flatnonzero(np.isin(train.person, np.unique(train.person)[:5])))
    assert few.person.size == 20 and validation_fpr(few) == 1e-2


@pytest.mark.parametrize("arch", ["gated", "attention"])
def test_the_exported_graph_is_the_same_bytes_for_the_same_weights(arch: str) -> None:
    frames = np.random.default_rng(0).normal(size=(4, 10, DIM)).astype(np.float32)
    torch.manual_seed(0)
    first = to_onnx(build(arch, frames), DIM).SerializeToString()
    torch.manual_seed(0)
    again = build(arch, frames)
    assert to_onnx(again, DIM).SerializeToString() == first
    assert to_onnx(again, DIM).SerializeToString() == first
    with torch.no_grad():
        next(again.parameters()).add_(1e-3)
    assert to_onnx(again, DIM).SerializeToString() != first


def test_signature_and_version_are_the_aggregator_contract(
    trained: tuple[torch.nn.Module, ort.InferenceSession],
) -> None:
    model, session = trained
    [frames], [tracks] = session.get_inputs(), session.get_outputs()
    assert (frames.name, frames.type, frames.shape) == (INPUT_NAME, "tensor(float)", ["T", "F", DIM])
    assert (tracks.name, tracks.type, tracks.shape) == (OUTPUT_NAME, "tensor(float)", ["T", DIM])
    proto = to_onnx(model, DIM)
    assert proto.ir_version <= 9 and [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [17]


@pytest.mark.parametrize(("tracks", "frames"), [(1, 1), (3, 2), (5, FRAMES), (2, 33)])
def test_any_frame_count_gives_unit_descriptors_equal_to_torch(
    trained: tuple[torch.nn.Module, ort.InferenceSession], tracks: int, frames: int
) -> None:
    model, session = trained
    descriptors = np.random.default_rng(frames).normal(0.0, 0.2, size=(tracks, frames, DIM)).astype(np.float32)
    result = run(session, descriptors)
    assert result.shape == (tracks, DIM) and result.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(result, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(result, aggregate(model, descriptors), atol=1e-5)


def test_frame_order_does_not_matter(trained: tuple[torch.nn.Module, ort.InferenceSession]) -> None:
    _, session = trained
    descriptors = np.random.default_rng(5).normal(size=(4, FRAMES, DIM)).astype(np.float32)
    shuffled = descriptors[:, np.random.default_rng(6).permutation(FRAMES)]
    np.testing.assert_allclose(run(session, shuffled), run(session, descriptors), atol=1e-5)


def test_output_is_finite_on_zero_and_huge_frames(trained: tuple[torch.nn.Module, ort.InferenceSession]) -> None:
    _, session = trained
    descriptors = np.zeros((3, 4, DIM), dtype=np.float32)
    descriptors[1] = 1e15
    descriptors[2, 0] = 1.0
    result = run(session, descriptors)
    assert np.isfinite(result).all()
    np.testing.assert_array_equal(result[0], 0.0)


def test_an_injected_foreign_frame_moves_the_learned_descriptor_less_than_the_mean(
    dataset: Path, trained: tuple[torch.nn.Module, ort.InferenceSession]
) -> None:
    _, session = trained
    train = load_train(dataset)
    clean = train.frames.copy()
    donors = np.roll(np.arange(clean.shape[0]), 7)
    switched = clean.copy()
    switched[:, 3:5] = clean[donors, 3:5]
    learned_shift = np.linalg.norm(run(session, switched) - run(session, clean), axis=1).mean()
    mean_shift = np.linalg.norm(mean_l2(switched) - mean_l2(clean), axis=1).mean()
    assert learned_shift < 0.5 * mean_shift, (learned_shift, mean_shift)


def test_make_train_aggregator_writes_the_model_and_its_manifest_entry(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(models.onnx_export, "MANIFEST_PATH", tmp_path / "manifest.json")
    out = tmp_path / "learned.onnx"
    args = ["--data", str(dataset), "--epochs", "2", "--held-out", "0.5", "--out", str(out), "--quiet"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "train: 32 tracks of 8 persons; validation: 32 tracks of 8 held-out persons, TPR@0.1"
    assert [line.split()[0] for line in lines[1:4]] == ["mean+L2", "median", "drop-3"]
    assert lines[4].startswith("epoch   1/2  loss ") and "validation TPR@0.1 " in lines[4]
    entry = json.loads((tmp_path / "manifest.json").read_text())["learned.onnx"]
    assert entry["command"] == (
        f"python -m training --data {dataset} --arch gated --epochs 2 --held-out 0.5 --seed 0 --out {out} "
        "(make train-aggregator)"
    )
    assert entry["opset"] == 17 and entry["bytes"] == out.stat().st_size
    assert entry["inputs"] == [{"name": INPUT_NAME, "dtype": "float32", "shape": ["T", "F", DIM]}]


def test_train_aggregator_without_a_train_folder_says_how_to_make_one(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--data", str(tmp_path), "--quiet"])
    assert result.exit_code == 1
    assert "train/tracks.csv does not exist: --data must be a dataset folder holding train/ (make data)" in (
        result.output
    )


def test_the_image_onnxruntime_gives_what_torch_gives(
    image_python: Path, trained: tuple[torch.nn.Module, ort.InferenceSession], tmp_path: Path
) -> None:
    model, _ = trained
    (tmp_path / "model.onnx").write_bytes(to_onnx(model, DIM).SerializeToString())
    frames = np.random.default_rng(7).normal(0.0, 0.15, size=(32, FRAMES, DIM)).astype(np.float32)
    np.save(tmp_path / "frames.npy", frames)
    script = (
        "import sys, numpy as np, onnxruntime as ort; d = sys.argv[1]; "
        "s = ort.InferenceSession(d + '/model.onnx', providers=['CPUExecutionProvider']); "
        f"np.save(d + '/out.npy', s.run(['{OUTPUT_NAME}'], {{'{INPUT_NAME}': np.load(d + '/frames.npy')}})[0]); "
        "print(ort.__version__)"
    )
    done = subprocess.run([str(image_python), "-c", script, str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1.16.3"
    difference = float(np.abs(np.load(tmp_path / "out.npy") - aggregate(model, frames)).max())
    print(f"max abs difference, onnxruntime 1.16.3 vs torch: {difference:.2e}")
    assert difference < 1e-5
