"""The aggregators section of `make bench`: every pooling and learned model scored per subset, and the goals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.aggregators import aggregators_section, bench_aggregators
from evaluate.datagen.presets import Preset
from evaluate.datagen.writer import generate

SMALL = Preset("small", 16, 20, 3, 4, 3, 3, 2, (0.1, 0.2), 0.1)


def _row(public: float, private: float, train_s: float = 0.0, parameters: int = 0) -> dict[str, Any]:
    def subset(tpr: float) -> dict[str, Any]:
        return {"tpr": {"1e-05": tpr, "1e-06": tpr / 2}, "resolvable": {"1e-05": True, "1e-06": False}}

    return {"public": subset(public), "private": subset(private), "train_s": train_s, "parameters": parameters}


def test_the_section_shows_every_method_and_whether_the_goals_are_met() -> None:
    measured = {
        "ran": True,
        "data": "data/train",
        "train_tracks": 2000,
        "epochs": 15,
        "methods": {
            "mean+L2": _row(0.40, 0.36),
            "median": _row(0.45, 0.40),
            "drop-3": _row(0.48, 0.45),
            "learned gated": _row(0.60, 0.48, 3.2, 4230),
        },
    }
    section = aggregators_section(measured)
    assert "| learned gated | 0.6 | 0.48 | 0.3* | 0.24* | 3.2 | 4,230 |" in section
    assert "| +0.15 over mean+L2 | public | 0.6 | 0.4 | yes |" in section
    assert "| +0.05 over the best pooling (drop-3) | private | 0.48 | 0.45 | **no**: +0.030 |" in section


def test_a_dataset_without_train_is_not_measured_and_says_how_to_make_one(tmp_path: Path) -> None:
    measured = bench_aggregators(tmp_path / "none", quick=True, log=lambda message: None)
    assert measured == {
        "ran": False,
        "reason": f"{tmp_path / 'none'} must be a dataset with train/ and gt/: make data PRESET=bench "
        f"DATA={tmp_path / 'none'}",
    }
    assert "Not measured: " in aggregators_section(measured)


@pytest.mark.slow
def test_every_aggregator_is_trained_and_scored_on_a_generated_dataset(tmp_path: Path) -> None:
    data = tmp_path / "data"
    generate(data, SMALL, seed=2, progress=False)
    measured = bench_aggregators(data, quick=True, log=lambda message: None)
    methods = measured["methods"]
    assert list(methods) == ["mean+L2", "median", "drop-3", "learned gated", "learned attention"]
    for row in methods.values():
        for subset in ("public", "private"):
            assert all(0.0 <= tpr <= 1.0 for tpr in row[subset]["tpr"].values())
    assert methods["learned gated"]["parameters"] > 0 and methods["mean+L2"]["parameters"] == 0
