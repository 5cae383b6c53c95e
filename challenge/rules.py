"""The competition's rules over the store's records: phases, the daily quota, which submissions count.

Pure functions of records and an instant; the store supplies both. The quota is a rolling
window: a team may have `submissions.per_day` counted submissions in any 24 hours, and
the next slot opens 24 hours after the oldest one in the window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from challenge.store import NOT_RUN, REFUSED, Record
from contracts.competition import Competition
from contracts.status import Fault

WINDOW = timedelta(hours=24)


def stamp(instant: datetime) -> str:
    """Return `instant` as the pages and notes show it: ``2019-05-20 13:05 UTC``."""
    return instant.strftime("%Y-%m-%d %H:%M UTC")


def counts_towards_quota(record: Record) -> bool:
    """Whether a record uses one of its team's daily slots: every run that reached the runner, except the
    organizer's faults. Refused submissions and those stopped before the runner (not_run) do not count.
    """
    return record.status not in (REFUSED, NOT_RUN) and record.fault != Fault.ORGANIZER


@dataclass(frozen=True)
class Quota:
    """A team's quota at an instant: slots used in the last 24 hours, slots left, and when the next one opens.

    `per_day` None means no cap (`left` is None then); `next_slot` is None while a slot is free.
    """

    per_day: int | None
    used: int
    left: int | None
    next_slot: datetime | None


def quota(records: Sequence[Record], now: datetime, per_day: int | None) -> Quota:
    """Return the quota of the team whose `records` are given, at `now`, under `per_day` slots per 24 hours."""
    window = sorted(r.created_at for r in records if counts_towards_quota(r) and now - WINDOW < r.created_at <= now)
    if per_day is None:
        return Quota(per_day=None, used=len(window), left=None, next_slot=None)
    left = max(per_day - len(window), 0)
    next_slot = None if left else window[len(window) - per_day] + WINDOW
    return Quota(per_day=per_day, used=len(window), left=left, next_slot=next_slot)


def has_ended(competition: Competition, now: datetime) -> bool:
    """Whether the competition's end (phases.end) has passed at `now`; never without an end."""
    end = competition.phases.end
    return end is not None and now >= end


def refusal(competition: Competition, records: Sequence[Record], now: datetime) -> str | None:
    """Return why a new submission at `now` is refused (one sentence), or None when it is admitted.

    Refused before phases.start, from phases.end on, and when the team's quota is spent.
    """
    start, end = competition.phases.start, competition.phases.end
    if start is not None and now < start:
        return f"The competition opens at {stamp(start)}: submissions are scored from then on."
    if end is not None and now >= end:
        return f"The competition ended at {stamp(end)}: no submission is scored after the end."
    state = quota(records, now, competition.submissions.per_day)
    if state.next_slot is not None:
        return (
            f"Daily quota spent: {state.used} of {state.per_day} scored submissions in the last 24 hours; "
            f"the next slot opens at {stamp(state.next_slot)}."
        )
    return None
