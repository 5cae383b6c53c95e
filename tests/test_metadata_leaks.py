"""File metadata of test/ tells neither subset nor person (issue 16, item 1).

A hostile submission (fixtures/submissions/sorts_by_metadata) ranks the test files by
mtime, ctime, inode, name and listing order, and averages the descriptors of the tracks it
guesses to be one person. Run for real under bwrap, on data written by make-data and on an
MCS2019 replica brought in by import-mcs2019, none of its guesses scores above the honest
descriptors it started from; on data written the old way (one person at a time, public
first) the same guesses gain, and check-data refuses that data.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import FIXTURES, engine_missing

from contracts.competition import load_competition
from contracts.descriptors import read_descriptors
from contracts.names import (
    COMPETITION_FILE,
    DESCRIPTORS_FILE,
    GT_DIR,
    OUTPUT_DIR,
    PUBLIC,
    RUN_REPORT_FILE,
    TEST_DIR,
    TEST_LABELS_FILE,
    TRACKS_FILE,
)
from evaluate.checkdata import check_dataset
from evaluate.cli import main
from evaluate.datagen.presets import PRESETS
from evaluate.datagen.writer import generate
from evaluate.groundtruth import load_groundtruth
from evaluate.mcs2019.importer import import_mcs2019
from evaluate.mcs2019.replica import write_replica
from evaluate.metaleaks import LEAK_Z, leak_fix, measure_orders
from evaluate.scoring import score_submission
from evaluate.testfiles import FILE_TIME_NS

pytestmark = [pytest.mark.slow, pytest.mark.bwrap]

# Enough tracks and persons for the statistics, few enough images to write in a minute.
PRESET = dataclasses.replace(
    PRESETS["tiny"],
    name="leaks",
    public_persons=16,
    public_tracks=40,
    private_persons=16,
    private_tracks=24,
    fpr=(0.01, 0.05),
    primary_fpr=0.01,
)
# The honest descriptors: each track near its person's references, noisy enough that the
# primary TPR is far from 0 and 1, so a gain or a loss shows.
NOISE = 1.0
# What a guess may gain over the honest descriptors by chance.
TOLERANCE = 0.03


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("leaks") / "generated"
    generate(out, PRESET, seed=3, progress=False)
    return out


@pytest.fixture(scope="module")
def imported(generated: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("mcs2019")
    write_replica(generated, folder / "original", seed=3)
    import_mcs2019(folder / "original", folder / "imported", competition=generated / COMPETITION_FILE)
    return folder / "imported"


@pytest.fixture(scope="module")
def written_the_old_way(generated: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of `generated` whose test files were written as make-data did before: person by person, public first."""
    out = tmp_path_factory.mktemp("old") / "dataset"
    shutil.copytree(generated, out, ignore=shutil.ignore_patterns(TEST_DIR))
    labels = pd.read_csv(generated / GT_DIR / TEST_LABELS_FILE).sort_values(
        ["subset", "person_id"], ascending=[False, True]
    )
    tracks = pd.read_csv(generated / TEST_DIR / TRACKS_FILE)
    (out / TEST_DIR).mkdir()
    shutil.copyfile(generated / TEST_DIR / TRACKS_FILE, out / TEST_DIR / TRACKS_FILE)
    clock = 1_700_000_000 * 10**9
    for _, person_tracks in labels.groupby("person_id", sort=False):
        clock += 5 * 10**9  # the references of the next person are rendered and encoded in between
        for track in person_tracks["track_id"]:
            for path in tracks.loc[tracks["track_id"] == track, "path"]:
                target = out / TEST_DIR / path
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(generated / TEST_DIR / path, target)
                clock += 10**7
                os.utime(target, ns=(clock, clock))
    return out


def _honest_descriptors(dataset: Path, seed: int) -> np.ndarray:
    """One noisy unit descriptor per track, in the order tracks.csv first names the tracks."""
    truth = load_groundtruth(dataset / GT_DIR)
    order = pd.read_csv(dataset / TEST_DIR / TRACKS_FILE, dtype=str)["track_id"].drop_duplicates()
    ids = order.astype(truth.track_id.dtype).to_numpy()
    person = dict(zip(truth.track_id.tolist(), truth.track_person.tolist(), strict=True))
    rng = np.random.default_rng(seed)
    dim = truth.dim
    rows = []
    for track in ids.tolist():
        centre = truth.reference_descriptor[truth.reference_person == person[track]].astype(np.float64).mean(axis=0)
        rows.append(centre / np.linalg.norm(centre) + NOISE * rng.normal(size=dim) / np.sqrt(dim))
    return np.array(rows, dtype=np.float32)


def _constant_model(path: Path, values: np.ndarray) -> None:
    """Write an ONNX model without inputs whose one output is `values` (what onnxruntime 1.16 loads)."""
    tensor = onnx.numpy_helper.from_array(values, name="values")
    node = onnx.helper.make_node("Constant", [], ["descriptors"], value=tensor)
    output = onnx.helper.make_tensor_value_info("descriptors", onnx.TensorProto.FLOAT, list(values.shape))
    graph = onnx.helper.make_graph([node], "baseline", [], [output])
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)


def _attack(dataset: Path, tmp_path: Path) -> dict[str, float]:
    """Run the hostile fixture under bwrap on `dataset`; return the public primary TPR of each output it wrote."""
    missing = engine_missing("bwrap")
    if missing:
        pytest.skip(missing)
    submission = tmp_path / "submission"
    (submission / "models").mkdir(parents=True)
    shutil.copyfile(FIXTURES / "sorts_by_metadata" / "solution.py", submission / "solution.py")
    _constant_model(submission / "models" / "baseline.onnx", _honest_descriptors(dataset, seed=11))
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "submission", "run", "--engine", "bwrap", "--quiet", "--data"]
    command += [str(dataset / TEST_DIR), "--out", str(run_dir), "--submission", str(submission), "--"]
    done = subprocess.run([*command, "python", "solution.py"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr + (run_dir / RUN_REPORT_FILE).read_text()
    metric = load_competition(dataset / COMPETITION_FILE).metric
    truth = load_groundtruth(dataset / GT_DIR)
    tprs = {}
    for path in sorted((run_dir / OUTPUT_DIR).glob("*.npz")):
        submitted = read_descriptors(path, expected_track_ids=truth.track_id, dim=truth.dim)
        public = score_submission(submitted, truth.restricted([PUBLIC]), metric.fpr, [PUBLIC])[PUBLIC]
        tprs[path.stem] = next(p.tpr for p in public.points if p.fpr == metric.primary_fpr)
    assert len(tprs) == 11, sorted(tprs)
    return tprs


def _gains(tprs: dict[str, float]) -> dict[str, float]:
    honest = tprs.pop(Path(DESCRIPTORS_FILE).stem)
    assert 0.2 < honest < 0.8, f"the honest TPR {honest} must leave room to gain and to lose"
    return {name: round(tpr - honest, 4) for name, tpr in tprs.items()}


@pytest.mark.parametrize("source", ["make-data", "import-mcs2019"])
def test_metadata_tells_a_hostile_submission_nothing(
    source: str, generated: Path, imported: Path, tmp_path: Path
) -> None:
    dataset = generated if source == "make-data" else imported
    gains = _gains(_attack(dataset, tmp_path))
    assert max(gains.values()) <= TOLERANCE, gains
    images = [p for p in (dataset / TEST_DIR).rglob("*")]
    assert {p.stat().st_mtime_ns for p in images} == {FILE_TIME_NS}
    report = check_dataset(dataset)
    assert report.findings == []
    assert all(max(o.subset_z, o.person_z) < LEAK_Z for o in report.orders), report.orders


def test_data_written_the_old_way_leaks_and_check_data_refuses_it(written_the_old_way: Path, tmp_path: Path) -> None:
    gains = _gains(_attack(written_the_old_way, tmp_path))
    assert gains["mtime-gaps"] > 0.1 and gains["inode-neighbours"] > 0.1, gains
    result = CliRunner().invoke(main, ["check-data", str(written_the_old_way), "--quiet"])
    assert result.exit_code == 3  # the data is the organizers'
    for order in ("mtime", "inode"):
        assert f"- {TEST_DIR}: the {order} order of the test files sorts public from private" in result.output
    assert "groups tracks by person" in result.output
    assert "fix: rewrite the data with `python -m evaluate make-data`" in result.output


def _tracks_folder(folder: Path, track_ids: list[int], rows: list[int]) -> tuple[list[str], list[str]]:
    """Write one image per track, in a random order with one time; return tracks.csv's columns in `rows` order."""
    rng = np.random.default_rng(3)
    for index in rng.permutation(len(track_ids)):
        image = folder / "images" / str(track_ids[index]) / "0.jpg"
        image.parent.mkdir(parents=True)
        image.write_bytes(b"jpeg")
        os.utime(image, ns=(FILE_TIME_NS, FILE_TIME_NS))
    return [str(track_ids[i]) for i in rows], [f"images/{track_ids[i]}/0.jpg" for i in rows]


@pytest.mark.parametrize("leak", ["tracks.csv row", "track id"])
def test_the_order_of_tracks_csv_and_of_the_track_ids_are_measured_too(tmp_path: Path, leak: str) -> None:
    """Tracks written person by person, public first: by their rows in tracks.csv, or by their ids."""
    persons = np.repeat(np.arange(100), 2)  # 200 tracks, persons 0-49 public, 50-99 private
    labels_by_index = [(str(person), bool(person < 50)) for person in persons]
    rng = np.random.default_rng(4)
    in_person_order = list(range(persons.size))
    shuffled = [int(i) for i in rng.permutation(persons.size)]
    if leak == "tracks.csv row":
        track_ids, rows = [int(i) for i in rng.permutation(persons.size) + 1], in_person_order
    else:
        track_ids, rows = [i + 1 for i in in_person_order], shuffled
    frame_track, frame_path = _tracks_folder(tmp_path, track_ids, rows)
    labels = {str(track_ids[i]): labels_by_index[i] for i in range(persons.size)}
    orders = {order.order: order for order in measure_orders(tmp_path, frame_track, frame_path, labels)}
    assert orders[leak].leaks and orders[leak].subset_z > LEAK_Z and orders[leak].person_z > LEAK_Z, orders[leak]
    other = "track id" if leak == "tracks.csv row" else "tracks.csv row"
    assert not orders[other].leaks, orders[other]
    assert leak_fix(leak) != leak_fix("mtime")
