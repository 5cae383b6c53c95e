"""The goals of issues 7 and 18, checked against the measured figures: met or missed, and by how much."""

from __future__ import annotations

from typing import Any

SCORER_MIN_SPEEDUP = 10.0
SCORER_MAX_MEMORY_RATIO = 1 / 20
SCORER_MAX_OVER_FLOOR = 3.0
PIPELINE_MIN_RATIO = 0.9
BWRAP_MAX_OVERHEAD_S = 1.0
# Issue 18: generation at mcs2019's size at least this many times faster than the generator before it.
DATAGEN_MIN_SPEEDUP = 3.0


def check_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Return one row per goal: name, goal, the measured value (the worst of the scorer's cases), met.

    A goal whose figure was not measured (bwrap not installed) has value and met None. A
    missed goal carries `missed_by`: the factor between figure and goal, or for seconds
    the difference.
    """
    datagen = results.get("datagen")
    cases = results["scorer"]["cases"]
    identical = all(c["identical"] for c in cases)
    bwrap = results["sandbox"]["engines"]["bwrap"]
    return [
        _ratio("scorer speed", "naive / ours", min(c["speedup"] for c in cases), SCORER_MIN_SPEEDUP, at_least=True),
        _ratio("scorer memory", "ours / naive peak", max(c["memory_ratio"] for c in cases), SCORER_MAX_MEMORY_RATIO),
        {
            "name": "scorer values",
            "goal": "every TPR@FPR identical to the naive way",
            "value": identical,
            "met": identical,
        },
        _ratio("scorer vs floor", "ours / matrix product", max(c["over_floor"] for c in cases), SCORER_MAX_OVER_FLOOR),
        _ratio("pipeline", "solution / bare encoder", results["pipeline"]["ratio"], PIPELINE_MIN_RATIO, at_least=True),
        _seconds("bwrap overhead", bwrap["overhead_s"] if bwrap["ran"] else None, BWRAP_MAX_OVERHEAD_S),
        _ratio("data generation", "baseline / ours", datagen["ratio"], DATAGEN_MIN_SPEEDUP, at_least=True)
        if datagen is not None
        else {
            "name": "data generation",
            "goal": f"baseline / ours >= {DATAGEN_MIN_SPEEDUP:g}",
            "value": None,
            "met": None,
        },
    ]


def _ratio(name: str, what: str, value: float, limit: float, at_least: bool = False) -> dict[str, Any]:
    met = value >= limit if at_least else value <= limit
    row: dict[str, Any] = {"name": name, "goal": f"{what} {'>=' if at_least else '<='} {limit:.4g}", "value": value}
    row["met"] = met
    if not met:
        row["missed_by"] = f"{max(value, limit) / min(value, limit):.2f}x"
    return row


def _seconds(name: str, value: float | None, limit: float) -> dict[str, Any]:
    row: dict[str, Any] = {"name": name, "goal": f"< {limit:g} s over the bare process", "value": value}
    row["met"] = None if value is None else value < limit
    if value is not None and value >= limit:
        row["missed_by"] = f"{value - limit:.3f} s"
    return row
