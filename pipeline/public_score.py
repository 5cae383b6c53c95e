"""The public score of a merge request as GitLab shows it: dotenv variables, a JUnit report, a note body.

Pure functions over a public-only score.json document; `load_public_score` refuses a
document that holds any subset besides the public one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from contracts.errors import RunnerError
from contracts.names import PUBLIC
from evaluate.reports import fpr_label


class NotPublicOnlyError(RunnerError):
    """A score.json meant for participants holds more than the public subset, or is unreadable."""


@dataclass(frozen=True)
class Point:
    """TPR at one FPR target; `resolvable` is False when the subset has fewer than 1/FPR negatives."""

    fpr: float
    tpr: float
    resolvable: bool


@dataclass(frozen=True)
class PublicScore:
    """The public subset's operating points and the primary one (the leaderboard's number)."""

    primary: Point
    points: tuple[Point, ...]
    n_tracks: int
    mean_positive_distance: float


def load_public_score(path: Path) -> PublicScore:
    """Read a public-only score.json (written with --public-only) into a PublicScore.

    Raises NotPublicOnlyError when the file cannot be read, is not a score document or
    holds any subset besides the public one.
    """
    try:
        document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        subsets = sorted(document["subsets"])
        if subsets != [PUBLIC]:
            raise NotPublicOnlyError(
                f"{path} must hold the {PUBLIC} subset only, got {subsets}; "
                "score it with `python -m evaluate score --public-only`"
            )
        public = document["subsets"][PUBLIC]
        primary = document["primary"]
        return PublicScore(
            primary=Point(float(primary["fpr"]), float(primary["tpr"]), bool(primary["resolvable"])),
            points=tuple(Point(float(p["fpr"]), float(p["tpr"]), bool(p["resolvable"])) for p in public["points"]),
            n_tracks=int(public["n_tracks"]),
            mean_positive_distance=float(public["mean_positive_distance"]),
        )
    except OSError as exc:
        raise NotPublicOnlyError(f"{path} must be a readable score.json, got: {exc.strerror}") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise NotPublicOnlyError(f"{path} must be a score.json written by `python -m evaluate score`: {exc!r}") from exc


def _variable(fpr: float) -> str:
    """The dotenv name of a point, e.g. PUBLIC_TPR_AT_FPR_1E_06 (GitLab allows letters, digits and _ only)."""
    return "PUBLIC_TPR_AT_FPR_" + fpr_label(fpr).upper().replace("-", "_").replace(".", "_")


def dotenv_text(score: PublicScore) -> str:
    """Return the dotenv report: PUBLIC_SCORE (the primary TPR), PUBLIC_SCORE_FPR and one variable per target."""
    lines = [f"PUBLIC_SCORE={score.primary.tpr:.6f}", f"PUBLIC_SCORE_FPR={fpr_label(score.primary.fpr)}"]
    lines += [f"{_variable(p.fpr)}={p.tpr:.6f}" for p in score.points]
    return "\n".join(lines) + "\n"


def junit_text(score: PublicScore) -> str:
    """Return a JUnit XML report with one passing test case per FPR target, the TPR in its name.

    GitLab shows JUnit test names in the merge request widget, so the public score is
    visible there without opening a job log.
    """
    cases = []
    for p in score.points:
        mark = "" if p.resolvable else " (unresolvable: fewer than 1/FPR negatives)"
        name = quoteattr(f"public TPR@FPR={fpr_label(p.fpr)} = {p.tpr:.4f}{mark}")
        cases.append(f'    <testcase classname="public_score" name={name} time="0"/>')
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<testsuites>\n  <testsuite name="public score" tests="{len(cases)}" failures="0">\n'
        + "\n".join(cases)
        + "\n  </testsuite>\n</testsuites>\n"
    )


def note_body(score: PublicScore, pipeline_url: str | None = None) -> str:
    """Return the Markdown of the merge request note: the primary public score and a table of every target."""
    lines = [
        f"**Public score: TPR@FPR={fpr_label(score.primary.fpr)} = {score.primary.tpr:.4f}**"
        + ("" if score.primary.resolvable else " (unresolvable: fewer than 1/FPR negative pairs)"),
        "",
        "| FPR target | TPR |",
        "|---|---|",
        *(f"| {fpr_label(p.fpr)} | {p.tpr:.4f}{'' if p.resolvable else ' *'} |" for p in score.points),
        "",
        f"{score.n_tracks} public tracks, mean positive distance {score.mean_positive_distance:.4f}. "
        "The private score is kept by the organizers until the competition ends.",
    ]
    if pipeline_url:
        lines.append(f"Pipeline: {pipeline_url}")
    return "\n".join(lines) + "\n"
