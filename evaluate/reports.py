"""The scorer's reports: score.json, metrics.txt (GitLab metrics format), roc.png, the terminal table and its headline.

Every function takes the scores of the subsets to report and nothing else, so what a
report says about a subset is exactly what was passed in: the `--public-only` run
passes only the public subset. `scores` are those of the negatives rule in force
(`metric.negatives`), the official ones; `alternative`, when given, holds the same
subsets under the other rule, reported beside them and never as the primary score.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from contracts.competition import NEGATIVES, Metric
from contracts.names import METRICS_FILE, PUBLIC, ROC_FILE, SCORE_FILE
from evaluate.scoring import SubsetScore

METRIC_NAME = "tpr_at_fpr"
_UNRESOLVED_MARK = "*"


def fpr_label(fpr: float) -> str:
    """Return the short scientific form of an FPR target used in names, e.g. ``1e-06``, ``2.5e-05``."""
    return np.format_float_scientific(fpr, trim="-", exp_digits=2)


def primary_point(scores: Mapping[str, SubsetScore], metric: Metric) -> tuple[str, float]:
    """Return the (subset, fpr) of the primary score: the configured subset, else the first one scored."""
    subset = metric.primary_subset if metric.primary_subset in scores else next(iter(scores))
    return subset, metric.primary_fpr


def score_document(
    scores: Mapping[str, SubsetScore], metric: Metric, alternative: Mapping[str, SubsetScore] | None = None
) -> dict[str, Any]:
    """Return the content of score.json for `scores` (subset name -> score), computed under `metric`.

    ``metric.negatives`` names the rule of `scores`, hence of ``primary`` and of each
    subset's ``points``; each subset's ``by_negatives`` holds the references, negatives and
    points of that rule and, when `alternative` is given, of the other one.
    """
    subset, fpr = primary_point(scores, metric)
    primary = next(p for p in scores[subset].points if p.fpr == fpr)
    return {
        "metric": {
            "name": METRIC_NAME,
            "similarity": metric.similarity,
            "fpr": list(metric.fpr),
            "negatives": metric.negatives,
        },
        "primary": {"subset": subset, "fpr": fpr, "tpr": primary.tpr, "resolvable": primary.resolvable},
        "subsets": {
            name: {
                "n_tracks": score.n_tracks,
                "n_references": score.n_references,
                "n_pos": score.n_pos,
                "n_neg": score.n_neg,
                "mean_positive_distance": score.mean_positive_distance,
                "points": [asdict(p) for p in score.points],
                "by_negatives": {
                    s.negatives: {
                        "n_references": s.n_references,
                        "n_neg": s.n_neg,
                        "points": [asdict(p) for p in s.points],
                    }
                    for s in _both_rules(score, alternative)
                },
            }
            for name, score in scores.items()
        },
    }


def _both_rules(score: SubsetScore, alternative: Mapping[str, SubsetScore] | None) -> list[SubsetScore]:
    """The subset's score under each rule present, in the order of `NEGATIVES`."""
    present = [score] if alternative is None else [score, alternative[score.subset]]
    return sorted(present, key=lambda s: NEGATIVES.index(s.negatives))


def metrics_lines(scores: Mapping[str, SubsetScore], alternative: Mapping[str, SubsetScore] | None = None) -> list[str]:
    """Return the lines of metrics.txt: ``<subset>_tpr_at_fpr_<fpr> <tpr>`` per point.

    Each point also gets ``..._resolvable 1|0`` so an unresolvable target is never
    silent, and each subset its ``<subset>_mean_positive_distance``. The points of
    `alternative` follow as ``<subset>_tpr_at_fpr_<fpr>_negatives_<rule> <tpr>``.
    """
    lines = []
    for name, score in scores.items():
        for p in score.points:
            key = f"{name}_{METRIC_NAME}_{fpr_label(p.fpr)}"
            lines += [f"{key} {p.tpr:.6f}", f"{key}_resolvable {int(p.resolvable)}"]
        lines.append(f"{name}_mean_positive_distance {score.mean_positive_distance:.6f}")
    for name, score in (alternative or {}).items():
        lines += [
            f"{name}_{METRIC_NAME}_{fpr_label(p.fpr)}_negatives_{score.negatives} {p.tpr:.6f}" for p in score.points
        ]
    return lines


def headline(scores: Mapping[str, SubsetScore], metric: Metric) -> str:
    """Return the one line of the official score: the public TPR at the primary FPR under `metric.negatives`.

    e.g. ``official score: public TPR@FPR=1e-05 0.5620 (negatives: subset, similarity: euclidean)``;
    an unresolvable target is marked ``*`` as in the table. Raises KeyError when `scores`
    holds no public subset.
    """
    point = next(p for p in scores[PUBLIC].points if p.fpr == metric.primary_fpr)
    mark = "" if point.resolvable else _UNRESOLVED_MARK
    return (
        f"official score: {PUBLIC} TPR@FPR={fpr_label(point.fpr)} {point.tpr:.4f}{mark} "
        f"(negatives: {metric.negatives}, similarity: {metric.similarity})"
    )


def format_table(scores: Mapping[str, SubsetScore], alternative: Mapping[str, SubsetScore] | None = None) -> str:
    """Return the terminal table: subset, n_tracks, TPR at each target, mean positive distance.

    The rows of `alternative` follow, named ``<subset> (negatives: <rule>)``. A TPR whose
    target is unresolvable (fewer than 1/FPR negatives) is marked ``*`` and explained
    under the table.
    """
    fprs = [p.fpr for p in next(iter(scores.values())).points]
    header = ["subset", "n_tracks"] + [f"TPR@{fpr_label(f)}" for f in fprs] + ["mean_pos_dist"]
    labelled = [(name, score) for name, score in scores.items()] + [
        (f"{name} (negatives: {score.negatives})", score) for name, score in (alternative or {}).items()
    ]
    rows = [
        [label, str(score.n_tracks)]
        + [f"{p.tpr:.4f}{'' if p.resolvable else _UNRESOLVED_MARK}" for p in score.points]
        + [f"{score.mean_positive_distance:.4f}"]
        for label, score in labelled
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True)))
        for row in [header, *rows]
    ]
    if any(not p.resolvable for _, score in labelled for p in score.points):
        lines.append(
            f"{_UNRESOLVED_MARK} unresolvable: fewer than 1/FPR negative pairs, so no negative may be accepted "
            "(k = 0); the value is the TPR at FPR = 0"
        )
    return "\n".join(lines)


def write_reports(
    run_dir: Path,
    scores: Mapping[str, SubsetScore],
    metric: Metric,
    alternative: Mapping[str, SubsetScore] | None = None,
) -> dict[str, Path]:
    """Write score.json, metrics.txt and roc.png into `run_dir`; return their paths by file name.

    roc.png shows `scores` only (the rule in force). Raises OSError when `run_dir` cannot be written.
    """
    paths = {name: run_dir / name for name in (SCORE_FILE, METRICS_FILE, ROC_FILE)}
    document = score_document(scores, metric, alternative)
    paths[SCORE_FILE].write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    paths[METRICS_FILE].write_text("\n".join(metrics_lines(scores, alternative)) + "\n", encoding="utf-8")
    write_roc(paths[ROC_FILE], scores)
    return paths


def write_roc(path: Path, scores: Mapping[str, SubsetScore]) -> None:
    """Draw each subset's ROC on a log-FPR axis, the FPR targets marked, into the PNG `path`.

    The curves are `metrics.binned_roc` points: exact ROC points at the largest negatives
    and on a grid of thresholds, joined by straight lines; the marked operating points are
    the exact reported values. FPR = 0 cannot be drawn on a log axis, so each curve starts
    at its smallest non-zero FPR (1 / n_neg).
    """
    figure = Figure(figsize=(7, 5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for name, score in scores.items():
        shown = score.roc_fpr > 0
        (line,) = axes.plot(score.roc_fpr[shown], score.roc_tpr[shown], label=f"{name} ({score.n_tracks} tracks)")
        for p in score.points:
            axes.plot(p.fpr, p.tpr, "o" if p.resolvable else "x", color=line.get_color())
    for fpr in next(iter(scores.values())).points:
        axes.axvline(fpr.fpr, color="grey", linestyle="--", linewidth=0.8)
    axes.set_xscale("log")
    axes.set_xlim(min(1 / s.n_neg for s in scores.values()), 1.0)
    axes.set_ylim(0.0, 1.0)
    axes.set_xlabel("false positive rate (log)")
    axes.set_ylabel("true positive rate")
    axes.set_title("ROC; dashed lines: FPR targets, markers: reported TPR (x = unresolvable)")
    axes.grid(True, which="major", alpha=0.3)
    axes.legend(loc="lower right")
    figure.savefig(path, format="png")
