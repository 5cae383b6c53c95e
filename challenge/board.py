"""The leaderboard from the store: the running (public) table and the final (private) one.

While the competition runs: each team's best public score (ties to the earlier
submission, then the team name; a private number never takes part), its number of
counted submissions and the date of its last one. After the end: each team's final picks
(without picks, its `submissions.final` best public ones, as on Kaggle) ranked by private
score, ties broken by the lower private mean positive distance, then the earlier
submission, with the public score beside it, like MCS2019's published table.
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from challenge.rules import counts_towards_quota, has_ended, stamp
from challenge.store import Record
from contracts.competition import Competition
from evaluate.reports import fpr_label


@dataclass(frozen=True)
class Row:
    """One line of the table. `private` and `private_mpd` are None on the running table."""

    rank: int
    team: str
    public: float
    private: float | None
    private_mpd: float | None
    submissions: int
    last: datetime
    baseline: bool


def _scored(records: Sequence[Record]) -> list[Record]:
    return [r for r in records if r.public_tpr is not None]


def _public_key(record: Record) -> tuple[float, datetime, int]:
    assert record.public_tpr is not None
    return (-record.public_tpr, record.created_at, record.id)


def _by_team(records: Sequence[Record]) -> dict[str, list[Record]]:
    teams: dict[str, list[Record]] = {}
    for record in records:
        teams.setdefault(record.team, []).append(record)
    return teams


def running_rows(records: Sequence[Record], baseline: str | None = None) -> list[Row]:
    """Return the running table of `records`: each team's best public score, best first.

    Reads only the public columns. A team without a scored submission has no row.
    `baseline` names the organizers' team, whose row is marked.
    """
    best = []
    for own in _by_team(records).values():
        scored = _scored(own)
        if scored:
            top = min(scored, key=_public_key)
            counted = [r for r in own if counts_towards_quota(r)]
            best.append((top, len(counted), max(r.created_at for r in counted)))
    best.sort(key=lambda item: (*_public_key(item[0]), item[0].team))
    return [
        Row(rank, top.team, top.public_tpr or 0.0, None, None, count, last, top.team == baseline)
        for rank, (top, count, last) in enumerate(best, start=1)
    ]


def finalists(records: Sequence[Record], picks: Mapping[str, Sequence[Record]], final: int) -> dict[str, list[Record]]:
    """Return the submissions that stand for each team on the private table: its picks, else its `final` best public."""
    chosen = {}
    for team, own in _by_team(records).items():
        scored = sorted(_scored(own), key=_public_key)
        if scored:
            chosen[team] = list(picks.get(team) or scored[:final])
    return chosen


def _private_key(record: Record) -> tuple[float, float, datetime, int]:
    private = record.private_tpr if record.private_tpr is not None else -1.0
    mpd = record.private_mpd if record.private_mpd is not None else float("inf")
    return (-private, mpd, record.created_at, record.id)


def final_rows(
    records: Sequence[Record], picks: Mapping[str, Sequence[Record]], final: int, baseline: str | None = None
) -> list[Row]:
    """Return the final table: each team's best private score among its finalists, best first.

    Ties: the lower private mean positive distance, then the earlier submission, then the team.
    """
    best = []
    for team, chosen in finalists(records, picks, final).items():
        own = [r for r in records if r.team == team and counts_towards_quota(r)]
        best.append((min(chosen, key=_private_key), len(own), max(r.created_at for r in own)))
    best.sort(key=lambda item: (*_private_key(item[0]), item[0].team))
    return [
        Row(rank, top.team, top.public_tpr or 0.0, top.private_tpr, top.private_mpd, count, last, top.team == baseline)
        for rank, (top, count, last) in enumerate(best, start=1)
    ]


def table(
    records: Sequence[Record],
    picks: Mapping[str, Sequence[Record]],
    competition: Competition,
    now: datetime,
    baseline: str | None = None,
) -> tuple[list[Row], bool]:
    """Return the table of the moment `now` and whether it is the final one (from phases.end on)."""
    if has_ended(competition, now):
        return final_rows(records, picks, competition.submissions.final, baseline), True
    return running_rows(records, baseline), False


def _cells(row: Row, final: bool) -> list[str]:
    team = f"{row.team} (baseline)" if row.baseline else row.team
    cells = [str(row.rank), team]
    if final:
        cells.append("" if row.private is None else f"{row.private:.4f}")
    cells += [f"{row.public:.4f}", str(row.submissions), stamp(row.last)]
    return cells


def _header(fpr: float, final: bool) -> list[str]:
    label = fpr_label(fpr)
    scores = ([f"Private TPR@FPR={label}"] if final else []) + [f"Public TPR@FPR={label}"]
    return ["#", "Team", *scores, "Submissions", "Last submission"]


def render_html(rows: Sequence[Row], fpr: float, final: bool, title: str, updated: datetime) -> str:
    """Return the leaderboard page. Without `final`, no private number is on it, not even hidden."""
    status = (
        "Final standings: each team's final submissions ranked by the private score."
        if final
        else "Public scores; the private ones are revealed when the competition ends."
    )
    body = ["<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in _cells(row, final)) + "</tr>" for row in rows]
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
            f'<p id="status">{status} Updated {stamp(updated)}.</p>',
            '<table id="leaderboard">',
            "<tr>" + "".join(f"<th>{html.escape(cell)}</th>" for cell in _header(fpr, final)) + "</tr>",
            *body,
            "</table>",
            "</body>",
            "</html>",
            "",
        ]
    )


def render_csv(rows: Sequence[Row], fpr: float, final: bool) -> str:
    """Return the table as CSV, with the page's columns."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_header(fpr, final))
    writer.writerows(_cells(row, final) for row in rows)
    return out.getvalue()


def render_json(rows: Sequence[Row], fpr: float, final: bool) -> str:
    """Return the table as JSON: the FPR, whether it is final, and one object per row (full precision)."""
    document = {
        "fpr": fpr,
        "final": final,
        "rows": [
            {
                "rank": row.rank,
                "team": row.team,
                "baseline": row.baseline,
                "public": row.public,
                **({"private": row.private, "private_mean_positive_distance": row.private_mpd} if final else {}),
                "submissions": row.submissions,
                "last": row.last.isoformat(),
            }
            for row in rows
        ],
    }
    return json.dumps(document, indent=2) + "\n"
