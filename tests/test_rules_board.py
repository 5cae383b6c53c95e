"""The rules over the store's records (phases, the rolling 24-hour quota) and the tables built from them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from challenge.board import final_rows, finalists, render_csv, render_html, render_json, running_rows
from challenge.rules import quota, refusal
from challenge.store import ADMITTED, REFUSED, Record
from contracts.competition import Competition, Phases, Submissions

T0 = datetime(2019, 5, 20, 10, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _record(
    id: int,
    team: str,
    at: datetime,
    public: float | None = None,
    private: float | None = None,
    mpd: float = 0.5,
    status: str = "ok",
    fault: str | None = None,
) -> Record:
    return Record(
        id=id,
        team=team,
        merge_request="1",
        commit=f"{id:040x}",
        pipeline=str(id),
        created_at=at,
        status=status,
        fault=fault,
        reason="",
        wall_s=None,
        execution_provider=None,
        primary_fpr=1e-6 if public is not None else None,
        public={1e-6: public} if public is not None else {},
        public_mpd=mpd,
        private={1e-6: private} if private is not None else {},
        private_mpd=mpd,
        descriptors=None,
    )


def test_the_quota_is_a_rolling_24_hours_and_names_the_next_slot() -> None:
    records = [_record(i, "a", T0 + i * HOUR, 0.5) for i in range(3)]
    state = quota(records, T0 + 3 * HOUR, per_day=3)
    assert (state.used, state.left, state.next_slot) == (3, 0, T0 + 24 * HOUR)
    assert quota(records, T0 + 24 * HOUR, per_day=3).left == 1
    assert quota(records, T0 + 3 * HOUR, per_day=None).left is None


def test_refused_runs_and_the_organizers_faults_do_not_count() -> None:
    records = [
        _record(1, "a", T0, status=REFUSED),
        _record(2, "a", T0, status="engine_error", fault="organizer"),
        _record(3, "a", T0, status="failed", fault="participant"),
        _record(4, "a", T0, status=ADMITTED),
    ]
    assert quota(records, T0 + HOUR, per_day=5).used == 2


def test_refusal_before_the_start_after_the_end_and_over_quota() -> None:
    competition = Competition(phases=Phases(start=T0, end=T0 + 48 * HOUR), submissions=Submissions(per_day=1, final=1))
    assert refusal(competition, [], T0 - HOUR) == (
        "The competition opens at 2019-05-20 10:00 UTC: submissions are scored from then on."
    )
    assert refusal(competition, [], T0 + 48 * HOUR) == (
        "The competition ended at 2019-05-22 10:00 UTC: no submission is scored after the end."
    )
    assert refusal(competition, [], T0) is None
    spent = refusal(competition, [_record(1, "a", T0, 0.5)], T0 + HOUR)
    assert spent == (
        "Daily quota spent: 1 of 1 scored submissions in the last 24 hours; "
        "the next slot opens at 2019-05-21 10:00 UTC."
    )


def test_running_table_ties_on_public_go_to_the_earlier_submission_never_by_private() -> None:
    records = [
        _record(1, "late", T0 + HOUR, public=0.8, private=0.99),
        _record(2, "early", T0, public=0.8, private=0.01),
        _record(3, "low", T0, public=0.2, private=1.0),
        _record(4, "early", T0 + 2 * HOUR, public=0.1, private=1.0),
    ]
    rows = running_rows(records)
    assert [(r.team, r.public, r.submissions) for r in rows] == [("early", 0.8, 2), ("late", 0.8, 1), ("low", 0.2, 1)]
    assert all(r.private is None for r in rows)
    assert rows[0].last == T0 + 2 * HOUR


def test_final_table_uses_picks_else_the_best_public_and_breaks_ties_by_distance_then_time() -> None:
    records = [
        _record(1, "a", T0, public=0.9, private=0.3),
        _record(2, "a", T0 + HOUR, public=0.5, private=0.9),
        _record(3, "b", T0, public=0.4, private=0.6, mpd=0.7),
        _record(4, "c", T0, public=0.4, private=0.6, mpd=0.6),
        _record(5, "d", T0 + HOUR, public=0.4, private=0.6, mpd=0.6),
    ]
    assert {t: [r.id for r in c] for t, c in finalists(records, {}, 1).items()} == {
        "a": [1],
        "b": [3],
        "c": [4],
        "d": [5],
    }
    picked = {"a": [records[1]]}
    rows = final_rows(records, picked, final=1, baseline="d")
    assert [(r.team, r.private) for r in rows] == [("a", 0.9), ("c", 0.6), ("d", 0.6), ("b", 0.6)]
    assert rows[2].baseline
    assert [r.team for r in final_rows(records, {}, final=1)] == ["c", "d", "b", "a"]


@pytest.mark.parametrize("final", [False, True], ids=["running", "final"])
def test_the_formats_show_the_same_table(final: bool) -> None:
    records = [_record(1, "a", T0, public=0.25, private=0.75), _record(2, "b<i>", T0, public=0.5, private=0.125)]
    rows = final_rows(records, {}, 1) if final else running_rows(records)
    page = render_html(rows, 1e-6, final, "Board", T0)
    assert "b&lt;i&gt;" in page
    csv_lines = render_csv(rows, 1e-6, final).splitlines()
    document = json.loads(render_json(rows, 1e-6, final))
    assert len(csv_lines) == 3 and len(document["rows"]) == 2
    if final:
        assert csv_lines[0].startswith("#,Team,Private TPR@FPR=1e-06,Public")
        assert [r["team"] for r in document["rows"]] == ["a", "b<i>"]
        assert "0.7500" in page
    else:
        assert all(text not in page + "".join(csv_lines) for text in ("0.7500", "0.1250", "Private"))
        assert "private" not in json.dumps(document)
