"""Aggregators side by side on a dataset with identity switches: training-free poolings and learned models.

The test frames are encoded once (models/encoder.onnx, as solution.py would), every
aggregator turns them into track descriptors, and the scorer scores them per subset.
Learned models are trained on the dataset's train/ part only (held-out train persons
pick the epoch) and run as exported, through onnxruntime.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pandas as pd
from PIL import Image

from contracts.descriptors import Descriptors
from contracts.ids import parse_ids
from contracts.names import GT_DIR, SUBSETS, TEST_DIR, TRACK_COLUMNS, TRACKS_FILE, TRAIN_DIR
from evaluate.datagen.encoder import Encoder
from evaluate.groundtruth import load_groundtruth
from evaluate.scoring import score_submission
from models.export_aggregator import INPUT_NAME, OUTPUT_NAME
from training.data import load_train, split_persons
from training.export import to_onnx
from training.fit import FitConfig, fit
from training.model import ARCHITECTURES
from training.pooling import POOLINGS
from training.validate import validation_fpr

FPRS = (1e-5, 1e-6)
HELD_OUT = 0.2
EPOCHS = 40
QUICK_EPOCHS = 2


def bench_aggregators(data: Path, quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    """Score every pooling of training/pooling.py and every learned architecture on `data` (a dataset folder).

    Returns {"ran": False, "reason": ...} when `data` lacks train/ or gt/; otherwise the
    dataset, and per method: public and private TPR at FPRS (with whether each target is
    resolvable), train seconds and parameters (0 and 0 for the poolings).
    """
    if not (data / TRAIN_DIR / TRACKS_FILE).is_file() or not (data / GT_DIR).is_dir():
        return {
            "ran": False,
            "reason": f"{data} must be a dataset with train/ and gt/: make data PRESET=bench DATA={data}",
        }
    truth = load_groundtruth(data / GT_DIR)
    track_ids, frames = encode_test(data / TEST_DIR, log)
    methods: dict[str, Any] = {}
    for name, pool in POOLINGS.items():
        methods[name] = _scored(track_ids, pool(frames), truth) | {"train_s": 0.0, "parameters": 0}
    train = load_train(data)
    fit_rows, validation_rows = split_persons(train.person, HELD_OUT, 0)
    validation = train.select(validation_rows)
    for arch in ARCHITECTURES:
        started = time.monotonic()
        config = FitConfig(arch=arch, epochs=QUICK_EPOCHS if quick else EPOCHS)
        model, _ = fit(train.select(fit_rows), validation, validation_fpr(validation), config, progress=False)
        seconds = time.monotonic() - started
        session = ort.InferenceSession(
            to_onnx(model, frames.shape[2]).SerializeToString(), providers=["CPUExecutionProvider"]
        )
        descriptors = session.run([OUTPUT_NAME], {INPUT_NAME: frames})[0]
        parameters = sum(p.numel() for p in model.parameters())
        methods[f"learned {arch}"] = _scored(track_ids, descriptors, truth) | {
            "train_s": round(seconds, 1),
            "parameters": parameters,
        }
        log(f"aggregators: {arch} trained in {seconds:.1f} s")
    return {
        "ran": True,
        "data": str(data),
        "train_tracks": int(train.person.size),
        "epochs": QUICK_EPOCHS if quick else EPOCHS,
        "methods": methods,
    }


def encode_test(test: Path, log: Callable[[str], None]) -> tuple[np.ndarray, np.ndarray]:
    """Return the track ids [N] of `test`/tracks.csv and their frame descriptors float32 [N, F, D], frames in order."""
    table = pd.read_csv(test / TRACKS_FILE, dtype=str, keep_default_na=False)
    track_col, frame_col, path_col = TRACK_COLUMNS
    table["order"] = table[frame_col].astype(int)
    table = table.sort_values([track_col, "order"], kind="stable")
    started = time.monotonic()
    images = np.stack([np.asarray(Image.open(test / path).convert("RGB")) for path in table[path_col]])
    descriptors = Encoder()(images)
    tracks = parse_ids(table[track_col].drop_duplicates())
    log(f"aggregators: encoded {len(images)} test frames in {time.monotonic() - started:.0f} s")
    return tracks, descriptors.reshape(tracks.size, -1, descriptors.shape[1])


def _scored(track_ids: np.ndarray, descriptors: np.ndarray, truth: Any) -> dict[str, Any]:
    order = np.argsort(track_ids, kind="stable")
    submitted = Descriptors(track_id=track_ids[order], descriptor=descriptors[order].astype(np.float32))
    scores = score_submission(submitted, truth, FPRS, SUBSETS)
    return {
        name: {
            "tpr": {f"{point.fpr:g}": round(point.tpr, 4) for point in score.points},
            "resolvable": {f"{point.fpr:g}": point.resolvable for point in score.points},
        }
        for name, score in scores.items()
    }


GOAL_OVER_MEAN = 0.15
GOAL_OVER_POOLING = 0.05
PRIMARY = "1e-05"


def aggregators_section(aggregators: dict[str, Any] | None) -> str:
    """Return the RESULTS.md section of `bench_aggregators`' results: the table and the goals, or why not run."""
    lines = ["## Aggregators on a dataset with identity switches", ""]
    if aggregators is None or not aggregators["ran"]:
        reason = "this run had no such section" if aggregators is None else aggregators["reason"]
        return "\n".join([*lines, f"Not measured: {reason}.", ""])
    methods = aggregators["methods"]
    lines += [
        f"Every aggregator on the test frames of `{aggregators['data']}` (encoded once by models/encoder.onnx), "
        "scored by the scorer per subset. The learned ones are trained on its train/ part only "
        f"({aggregators['train_tracks']} tracks, a fifth of the persons held out to pick the best of "
        f"{aggregators['epochs']} epochs) and run as exported ONNX through onnxruntime. * marks a target the "
        "negatives cannot resolve (the value is the TPR at FPR = 0).",
        "",
        "| aggregator | public TPR@1e-5 | private TPR@1e-5 | public TPR@1e-6 | private TPR@1e-6 | train s "
        "| parameters |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in methods.items():
        cells = [
            f"{row[subset]['tpr'][fpr]}{'' if row[subset]['resolvable'][fpr] else '*'}"
            for fpr in ("1e-05", "1e-06")
            for subset in ("public", "private")
        ]
        lines.append(f"| {name} | {' | '.join(cells)} | {row['train_s']} | {row['parameters']:,} |")
    lines += ["", *_goals(methods), ""]
    return "\n".join(lines)


def _goals(methods: dict[str, Any]) -> list[str]:
    """The issue's goals for the learned gated aggregator at TPR@1e-5, per subset: met or missed by how much."""
    learned = methods.get("learned gated")
    if learned is None:
        return []
    lines = ["| goal (TPR@1e-5) | subset | learned gated | reference | met |", "|---|---|---|---|---|"]
    for subset in ("public", "private"):
        mine = learned[subset]["tpr"][PRIMARY]
        mean = methods["mean+L2"][subset]["tpr"][PRIMARY]
        best_name = max(
            (n for n in methods if not n.startswith("learned")), key=lambda n: methods[n][subset]["tpr"][PRIMARY]
        )
        best = methods[best_name][subset]["tpr"][PRIMARY]
        for goal, reference, margin in (
            (f"+{GOAL_OVER_MEAN} over mean+L2", mean, GOAL_OVER_MEAN),
            (f"+{GOAL_OVER_POOLING} over the best pooling ({best_name})", best, GOAL_OVER_POOLING),
        ):
            gap = mine - reference
            met = "yes" if gap >= margin else f"**no**: +{gap:.3f}" if gap >= 0 else f"**no**: {gap:.3f}"
            lines.append(f"| {goal} | {subset} | {mine} | {reference} | {met} |")
    return lines
