"""The two rules of `metric.negatives` side by side, on the baseline's output for the bench dataset.

Which references are a subset's negatives changes the numbers a lot (MCS2019's files:
public TPR@1e-5 0.562 with the subset's own references, 0.409 with every test reference),
so the bench shows both: TPR at each target and the scoring time, per subset and rule.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.measure import best_time
from bench.pipeline import run_solution
from contracts.competition import DEVBATTLE, NEGATIVES
from contracts.descriptors import read_descriptors
from contracts.names import DESCRIPTORS_FILE, GT_DIR, SUBSETS, TRACKS_FILE
from evaluate.groundtruth import load_groundtruth
from evaluate.scoring import SubsetScore, score_submission

REPEATS = 3


def bench_negatives(work: Path, data: Path | None, log: Callable[[str], None]) -> dict[str, Any]:
    """Run the baseline on all of `data` (a test folder beside its gt/) and score it under each rule.

    Returns {"ran": False, "reason": ...} when `data` has no ground truth beside it (the
    quick run's stand-in data). Raises PipelineError when solution.py fails.
    """
    if data is None:
        return {"ran": False, "reason": "the quick run has no dataset with ground truth"}
    gt_dir = data.parent / GT_DIR
    if not (data / TRACKS_FILE).is_file() or not gt_dir.is_dir():
        return {"ran": False, "reason": f"{data} is not a test folder with {GT_DIR}/ beside it (run `make data`)"}
    output = work / "negatives-output"
    run_solution(data, output, gpu=False)
    truth = load_groundtruth(gt_dir)
    submitted = read_descriptors(output / DESCRIPTORS_FILE, expected_track_ids=truth.track_id, dim=truth.dim)
    metric = DEVBATTLE.metric
    rules: dict[str, Any] = {}
    for rule in NEGATIVES:

        def score(rule: str = rule) -> dict[str, SubsetScore]:
            return score_submission(submitted, truth, metric.fpr, SUBSETS, similarity=metric.similarity, negatives=rule)

        seconds, scores = best_time(score, REPEATS)
        rules[rule] = {
            "score_s": round(seconds, 4),
            "subsets": {
                name: {
                    "negatives": subset.n_neg,
                    "tpr": {f"{point.fpr:g}": round(point.tpr, 4) for point in subset.points},
                    "resolvable": {f"{point.fpr:g}": point.resolvable for point in subset.points},
                }
                for name, subset in scores.items()
            },
        }
        log(f"negatives: {rule}: scored in {seconds:.3f} s")
    return {"ran": True, "data": str(data), "tracks": int(truth.track_id.size), "rules": rules}
