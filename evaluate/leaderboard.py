"""The static leaderboard page: every team's best public score, and the private one once the competition ends.

Reads a folder of score.json files laid out as SCORES/<team>/<submission>/score.json (the
private score job of the pipeline writes them there, on the runner host); the team is
the first folder under SCORES and the date the file's modification time (UTC).
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from contracts.errors import RunnerError
from contracts.names import PRIVATE, PUBLIC, SCORE_FILE
from evaluate.reports import fpr_label


class LeaderboardError(RunnerError):
    """A score.json in the scores folder cannot be read or lacks the public score."""


@dataclass(frozen=True)
class Entry:
    """One scored submission: its team, the primary TPR on each subset (private may be absent) and its date."""

    team: str
    fpr: float
    public: float
    private: float | None
    date: datetime


def _tpr_at(document: dict, subset: str, fpr: float) -> float | None:
    points = document["subsets"].get(subset, {}).get("points", [])
    return next((float(p["tpr"]) for p in points if float(p["fpr"]) == fpr), None)


def read_entry(path: Path, scores_dir: Path) -> Entry:
    """Read one score.json under `scores_dir` into an Entry; the team is its first folder below `scores_dir`.

    Raises LeaderboardError when the file is unreadable, lies directly in `scores_dir`, or has no
    public TPR at its primary FPR.
    """
    relative = path.relative_to(scores_dir)
    if len(relative.parts) < 2:
        raise LeaderboardError(f"{path} must lie in a team folder, SCORES/<team>/.../{SCORE_FILE}, got it at the top")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        fpr = float(document["primary"]["fpr"])
        public = _tpr_at(document, PUBLIC, fpr)
        private = _tpr_at(document, PRIVATE, fpr)
    except OSError as exc:
        raise LeaderboardError(f"{path} must be readable, got: {exc.strerror}") from exc
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise LeaderboardError(f"{path} must be a score.json written by `python -m evaluate score`: {exc!r}") from exc
    if public is None:
        raise LeaderboardError(f"{path} must hold the {PUBLIC} TPR at its primary FPR {fpr_label(fpr)}, got none")
    date = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
    return Entry(team=relative.parts[0], fpr=fpr, public=public, private=private, date=date)


def collect_entries(scores_dir: Path) -> list[Entry]:
    """Return an Entry for every score.json anywhere under `scores_dir`, sorted by path.

    Raises LeaderboardError when `scores_dir` is not a folder or a score.json is broken.
    """
    if not scores_dir.is_dir():
        raise LeaderboardError(f"the scores folder must exist, got {scores_dir}")
    return [read_entry(path, scores_dir) for path in sorted(scores_dir.rglob(SCORE_FILE))]


def running_rank_key(public: float, date: datetime, team: str) -> tuple[float, datetime, str]:
    """Return the sort key of a submission while the competition runs: best public TPR first.

    Ties on the public score go to the earlier submission, then to the team name. The key
    takes no private number, so nothing ordered by it can reveal one.
    """
    return (-public, date, team)


def best_per_team(entries: Sequence[Entry], by_private: bool = False) -> list[Entry]:
    """Return each team's best entry, best first: by public TPR, or by private TPR when `by_private`.

    Without `by_private` the order is `running_rank_key`'s and never reads a private score.
    With it, ties on the private TPR go to the better public one, then to the earlier
    submission and the team name; an entry without a private score ranks below every
    entry with one.
    """

    def key(entry: Entry) -> tuple[float, float, datetime, str]:
        private = entry.private if entry.private is not None else -1.0
        return (-private if by_private else 0.0, *running_rank_key(entry.public, entry.date, entry.team))

    best: dict[str, Entry] = {}
    for entry in sorted(entries, key=key):
        best.setdefault(entry.team, entry)
    return sorted(best.values(), key=key)


def render_html(entries: Sequence[Entry], show_private: bool, title: str, generated_at: datetime) -> str:
    """Return the leaderboard page: rank, team, public score, private score (only if `show_private`), date.

    `entries` are shown in the order given (see `best_per_team`). Without `show_private`
    the page holds no private number at all, not even hidden.
    """
    fpr = fpr_label(entries[0].fpr) if entries else ""
    header = ["#", "Team", f"Public TPR@FPR={fpr}"] + ([f"Private TPR@FPR={fpr}"] if show_private else []) + ["Date"]
    rows = []
    for rank, entry in enumerate(entries, start=1):
        cells = [str(rank), html.escape(entry.team), f"{entry.public:.4f}"]
        if show_private:
            cells.append("" if entry.private is None else f"{entry.private:.4f}")
        cells.append(entry.date.strftime("%Y-%m-%d %H:%M UTC"))
        rows.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    status = (
        "Final standings (private score)." if show_private else "Private scores are revealed when the competition ends."
    )
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f"<title>{html.escape(title)}</title>",
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:.3em .8em;text-align:left}</style>",
            "</head>",
            "<body>",
            f"<h1>{html.escape(title)}</h1>",
            f"<p>{status} Updated {generated_at.strftime('%Y-%m-%d %H:%M UTC')}.</p>",
            "<table>",
            "<tr>" + "".join(f"<th>{html.escape(cell)}</th>" for cell in header) + "</tr>",
            *rows,
            "</table>",
            "</body>",
            "</html>",
            "",
        ]
    )
