"""`python -m evaluate validate`: an aggregator scored on train persons, exactly, with the worst tracks named."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper
from sklearn.metrics import roc_curve

from contracts.competition import Metric
from contracts.names import (
    DESCRIPTOR_KEY,
    PERSON_ID_KEY,
    REFERENCES_FILE,
    TRACK_ID_KEY,
    TRACKS_FILE,
    TRAIN_DESCRIPTORS_FILE,
    TRAIN_DIR,
)
from evaluate.cli import main
from evaluate.datagen.presets import Preset
from evaluate.datagen.writer import generate
from evaluate.trainset import TrainDataError, read_train, split_train_tracks
from evaluate.validation import validate

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "models" / "aggregator.onnx"
# the baseline aggregator's D is fixed at the encoder's 128
DIM, FRAMES = 128, 10
# The query track whose frames 2, 5 and 7 are replaced by noise far from every person.
SPOILED_TRACK, SPOILED_FRAMES = 1013, (2, 5, 7)


def write_train(root: Path, n_persons: int = 12, tracks_per_person: int = 3, seed: int = 0) -> Path:
    """Write root/train/tracks.csv and frame_descriptors.npz: persons as clusters, frames noisy around them."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_persons, DIM))
    rows, descriptors = [], []
    # Rows shuffled by track, frames in reverse order: the reader must regroup them.
    order = rng.permutation(n_persons * tracks_per_person)
    for index in order:
        track, person = 1000 + int(index), int(index) % n_persons
        for frame in reversed(range(FRAMES)):
            vector = centres[person] + 1.6 * rng.normal(size=DIM)
            if track == SPOILED_TRACK and frame in SPOILED_FRAMES:
                vector = 10.0 * rng.normal(size=DIM)
            rows.append((track, frame, f"images/{track}/{frame}.jpg", 500 + person))
            descriptors.append(vector)
    train = root / TRAIN_DIR
    train.mkdir(parents=True)
    table = pd.DataFrame(rows, columns=["track_id", "frame", "path", "person_id"])
    table.to_csv(train / TRACKS_FILE, index=False)
    np.savez(
        train / TRAIN_DESCRIPTORS_FILE,
        track_id=table["track_id"].to_numpy(np.int64)[::-1],
        frame=table["frame"].to_numpy(np.int64)[::-1],
        descriptor=np.asarray(descriptors, dtype=np.float32)[::-1],
    )
    return root


def first_frame_aggregator(path: Path) -> Path:
    """An aggregator that keeps each track's first frame: a different model than the baseline's mean."""
    node = helper.make_node("Gather", ["frame_descriptors", "zero"], ["track_descriptors"], axis=1)
    graph = helper.make_graph(
        [node],
        "first_frame",
        [helper.make_tensor_value_info("frame_descriptors", TensorProto.FLOAT, ["T", "F", "D"])],
        [helper.make_tensor_value_info("track_descriptors", TensorProto.FLOAT, ["T", "D"])],
        [helper.make_tensor("zero", TensorProto.INT64, [], [0])],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), path)
    return path


def brute_force_tpr(root: Path, aggregate, fpr: float) -> float:
    """The validation score from scratch: every pair, scikit-learn's ROC without dropped points.

    References are train/references.npz when `root` ships one, else the first track of each person.
    """
    table = pd.read_csv(root / TRAIN_DIR / TRACKS_FILE)
    with np.load(root / TRAIN_DIR / TRAIN_DESCRIPTORS_FILE) as arrays:
        stored = {
            (int(t), int(f)): d
            for t, f, d in zip(arrays["track_id"], arrays["frame"], arrays["descriptor"], strict=True)
        }
    tracks = {}
    for (track, person), frames in table.groupby(["track_id", "person_id"]):
        tracks[track] = (person, np.stack([stored[(track, f)] for f in sorted(frames["frame"])]).astype(np.float64))
    by_person: dict[int, list[int]] = {}
    for track, (person, _) in sorted(tracks.items()):
        by_person.setdefault(person, []).append(track)
    shipped = root / TRAIN_DIR / REFERENCES_FILE
    if shipped.is_file():
        # Shipped references: every track of a person with references is a query.
        with np.load(shipped) as arrays:
            references = list(zip(arrays[PERSON_ID_KEY], arrays[DESCRIPTOR_KEY].astype(np.float64), strict=True))
        queries = {person: ts for person, ts in by_person.items() if person in {p for p, _ in references}}
    else:
        # A person with one track has no query: it is left out, references and all.
        by_person = {person: ts for person, ts in by_person.items() if len(ts) >= 2}
        references = [
            (person, frame / np.linalg.norm(frame)) for person, ts in by_person.items() for frame in tracks[ts[0]][1]
        ]
        queries = {person: ts[1:] for person, ts in by_person.items()}
    labels, scores = [], []
    for person, ts in queries.items():
        for track in ts:
            descriptor = aggregate(tracks[track][1])
            for reference_person, reference in references:
                labels.append(reference_person == person)
                scores.append(-np.linalg.norm(descriptor - reference))
    false_rates, true_rates, _ = roc_curve(labels, scores, drop_intermediate=False)
    return float(true_rates[false_rates <= fpr].max())


def test_split_rule_by_hand() -> None:
    track = np.array([17, 4, 9, 30, 2, 8])
    person = np.array([1, 1, 2, 1, 3, 2])
    references, queries = split_train_tracks(track, person)
    # person 1: tracks 17, 4, 30 -> reference 4; person 2: 9, 8 -> reference 8; person 3 has one track: left out
    assert track[references].tolist() == [4, 8]
    assert sorted(track[queries].tolist()) == [9, 17, 30]


@pytest.mark.parametrize("seed", range(5))
def test_split_rule_ignores_row_order_and_works_on_string_ids(seed: int) -> None:
    rng = np.random.default_rng(seed)
    track = rng.permutation(200)[:60].astype(np.int64)
    person = rng.integers(0, 25, size=60)
    references, queries = split_train_tracks(track, person)
    assert np.intersect1d(references, queries).size == 0
    split = {int(t): "r" for t in track[references]} | {int(t): "q" for t in track[queries]}
    assert np.unique(person[references]).size == references.size
    shuffle = rng.permutation(60)
    again_refs, again_queries = split_train_tracks(track[shuffle], person[shuffle])
    assert {int(t): "r" for t in track[shuffle][again_refs]} | {
        int(t): "q" for t in track[shuffle][again_queries]
    } == split
    as_text = split_train_tracks(track.astype(str), person.astype(str))
    assert set(track[as_text[0]].astype(str)) == {min(track[person == p].astype(str)) for p in person[references]}


def test_read_train_groups_frames_by_track_in_frame_order(tmp_path: Path) -> None:
    train = read_train(write_train(tmp_path))
    assert train.track_id.size == 36 and (train.frame_counts == FRAMES).all()
    for row in range(train.track_id.size):
        frames = train.frame[train.offsets[row] : train.offsets[row + 1]]
        assert frames.tolist() == list(range(FRAMES))
        paths = train.path[train.offsets[row] : train.offsets[row + 1]]
        assert all(p.startswith(f"images/{train.track_id[row]}/") for p in paths)


@pytest.mark.parametrize("fpr", [1e-3, 1e-2, 0.1])
def test_score_equals_a_brute_force_reference(tmp_path: Path, fpr: float) -> None:
    root = write_train(tmp_path)
    result = validate(read_train(root), root, BASELINE, Metric(fpr=(fpr,), primary_fpr=fpr))

    def mean_l2(frames: np.ndarray) -> np.ndarray:
        mean = frames.mean(axis=0)
        return mean / np.linalg.norm(mean)

    assert result.score.points[0].tpr == pytest.approx(brute_force_tpr(root, mean_l2, fpr), abs=1e-12)
    assert (result.score.n_tracks, result.n_persons, result.score.n_references) == (24, 12, 120)
    other = validate(
        read_train(root), root, first_frame_aggregator(tmp_path / "first.onnx"), Metric(fpr=(fpr,), primary_fpr=fpr)
    )
    assert other.score.points[0].tpr == pytest.approx(brute_force_tpr(root, lambda f: f[0], fpr), abs=1e-12)


def test_cli_prints_the_score_and_names_the_worst_track_and_its_frames(tmp_path: Path) -> None:
    root = write_train(tmp_path)
    (root / "competition.yaml").write_text("metric: {fpr: [0.01, 0.1], primary_fpr: 0.01}\n")
    result = CliRunner().invoke(main, ["validate", "--data", str(root), "--aggregator", str(BASELINE), "--worst", "2"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("validation score: train TPR@FPR=1e-02 ")
    assert "(24 query tracks of 12 persons, 120 references: frames of one train track per person" in lines[0]
    assert lines[1].split() == ["subset", "n_tracks", "TPR@1e-02", "TPR@1e-01", "mean_pos_dist"]
    assert lines[3].startswith("worst 2 of 24 tracks at FPR=1e-02")
    assert lines[4].startswith(f"  track {SPOILED_TRACK} (person ")
    frames = lines[5 : 5 + FRAMES]
    assert [int(line.split()[1]) for line in frames] == list(range(FRAMES))
    weakest = [line for line in frames if line.endswith("<- weakest")]
    assert len(weakest) == 1 and int(weakest[0].split()[1]) in SPOILED_FRAMES


def test_generated_data_validates_through_the_cli_as_make_validate_runs_it(tmp_path: Path) -> None:
    small = Preset("small", 4, 9, 2, 2, 2, 2, 1, fpr=(0.05, 0.2), primary_fpr=0.05)
    root = tmp_path / "data"
    generate(root, small, seed=0, progress=False)
    command = ["validate", "--data", str(root), "--aggregator", str(BASELINE), "--fpr", "0.2", "--worst", "1"]
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()

    def mean_l2(frames: np.ndarray) -> np.ndarray:
        mean = frames.mean(axis=0)
        return mean / np.linalg.norm(mean)

    expected = brute_force_tpr(root, mean_l2, 0.2)
    table = pd.read_csv(root / TRAIN_DIR / TRACKS_FILE).drop_duplicates("track_id")
    # make-data ships train/references.npz of every train person: each of their tracks is a query
    assert (root / TRAIN_DIR / REFERENCES_FILE).is_file()
    queries, persons = len(table), table["person_id"].nunique()
    assert lines[0].startswith(
        f"validation score: train TPR@FPR=2e-01 {expected:.4f} ({queries} query tracks of {persons} persons, "
    )
    assert lines[1].split() == ["subset", "n_tracks", "TPR@2e-01", "mean_pos_dist"]
    assert lines[3].startswith(f"worst 1 of {queries} tracks at FPR=2e-01")
    assert sum(line.startswith("    frame ") for line in lines) == 10


def test_shipped_train_references_are_used_instead_of_the_split(tmp_path: Path) -> None:
    root = write_train(tmp_path)
    train = read_train(root)
    persons = np.unique(train.person_id)
    rng = np.random.default_rng(1)
    np.savez(
        root / TRAIN_DIR / REFERENCES_FILE,
        **{PERSON_ID_KEY: np.repeat(persons, 2), DESCRIPTOR_KEY: rng.normal(size=(persons.size * 2, DIM))},
    )
    result = validate(train, root, BASELINE, Metric(fpr=(0.1,), primary_fpr=0.1))
    assert result.references_from == "train/references.npz"
    assert (result.score.n_tracks, result.score.n_references) == (36, 24)
    np.savez(
        root / TRAIN_DIR / REFERENCES_FILE,
        **{PERSON_ID_KEY: persons, DESCRIPTOR_KEY: rng.normal(size=(persons.size, DIM + 1))},
    )
    with pytest.raises(TrainDataError, match=f"train/references.npz has dimension {DIM + 1}, the train frames {DIM}"):
        validate(train, root, BASELINE, Metric(fpr=(0.1,), primary_fpr=0.1))


@pytest.mark.parametrize(
    ("breaks", "message"),
    [
        ("no train", r"Error: .*train/tracks\.csv does not exist: --data must be a dataset folder holding train/"),
        ("missing aggregator", r"Error: the aggregator .*absent\.onnx does not exist: pass --aggregator"),
        ("encoder as aggregator", r"Error: the aggregator .*encoder\.onnx has inputs \['images'\] and outputs"),
        ("frame missing", r"Error: .*frame_descriptors\.npz must hold one row per frame of .*tracks\.csv"),
    ],
)
def test_bad_input_is_one_error_line_and_exit_code_2(tmp_path: Path, breaks: str, message: str) -> None:
    root = write_train(tmp_path / "data")
    aggregator = BASELINE
    if breaks == "no train":
        root = tmp_path
    elif breaks == "missing aggregator":
        aggregator = tmp_path / "absent.onnx"
    elif breaks == "encoder as aggregator":
        aggregator = ROOT / "models" / "encoder.onnx"
    else:
        path = root / TRAIN_DIR / TRAIN_DESCRIPTORS_FILE
        with np.load(path) as arrays:
            kept = {key: arrays[key][1:] for key in (TRACK_ID_KEY, "frame", DESCRIPTOR_KEY)}
        np.savez(path, **kept)
    result = CliRunner().invoke(main, ["validate", "--data", str(root), "--aggregator", str(aggregator)])
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1
    assert re.match(message, result.output), result.output
