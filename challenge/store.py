"""The results store: one record per submission the pipeline sees, and each team's final picks.

One SQLite file by default (WAL, so scoring jobs running at once neither block readers nor
lose writes), PostgreSQL when given a ``postgresql://`` URL. The same SQL runs on both.
The store is organizer-only: its private columns are read by the leaderboard after the
end and by nothing a participant sees.

The clock is a parameter: `Store` asks `clock()` for "now" (the quota, phases and picks
follow it). `open_store` pins it to the time an organizer set with `set_clock`, for
rehearsals and tests, and to the wall clock otherwise.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from contracts.errors import RunnerError, SubmissionError

#: The schema this code reads and writes; `MIGRATIONS[v]` takes a store from version v to v + 1.
SCHEMA_VERSION = 1
POSTGRES_PREFIXES = ("postgresql://", "postgres://")
BUSY_TIMEOUT_S = 60.0

#: The run states a record passes through before and beside those of run.json (contracts.status.Status).
ADMITTED = "admitted"
REFUSED = "refused"
#: Admitted, but an earlier job (check, build) failed, so the runner never ran it.
NOT_RUN = "not_run"

Clock = Callable[[], datetime]


class StoreError(RunnerError):
    """The store cannot be opened, is of another schema version, or does not hold what was asked."""


class PickError(SubmissionError):
    """A team's final pick breaks the rules (picks closed, no score, too many): the team's to change."""


@dataclass(frozen=True)
class Record:
    """One submission: who, which commit and pipeline, when, how its run ended and its scores.

    `public` and `private` map each FPR target to its TPR (empty until scored);
    `*_mpd` are the mean positive distances. `reason` is one sentence for the team.
    """

    id: int
    team: str
    merge_request: str
    commit: str
    pipeline: str
    created_at: datetime
    status: str
    fault: str | None
    reason: str
    wall_s: float | None
    execution_provider: str | None
    primary_fpr: float | None
    public: Mapping[float, float]
    public_mpd: float | None
    private: Mapping[float, float]
    private_mpd: float | None
    descriptors: str | None

    @property
    def public_tpr(self) -> float | None:
        """The public TPR at the primary FPR, None before scoring."""
        return None if self.primary_fpr is None else self.public.get(self.primary_fpr)

    @property
    def private_tpr(self) -> float | None:
        """The private TPR at the primary FPR, None before scoring or without a private score."""
        return None if self.primary_fpr is None else self.private.get(self.primary_fpr)


_COLUMNS = (
    "id, team, merge_request, commit_sha, pipeline, created_at, status, fault, reason, wall_s, "
    "execution_provider, primary_fpr, public_points, public_mpd, private_points, private_mpd, descriptors"
)


def _migration_1(identity: str) -> list[str]:
    return [
        f"""CREATE TABLE submissions (
            id {identity},
            team TEXT NOT NULL,
            merge_request TEXT NOT NULL,
            commit_sha TEXT NOT NULL,
            pipeline TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL,
            status TEXT NOT NULL,
            fault TEXT,
            reason TEXT NOT NULL,
            wall_s DOUBLE PRECISION,
            execution_provider TEXT,
            primary_fpr DOUBLE PRECISION,
            public_points TEXT NOT NULL DEFAULT '{{}}',
            public_mpd DOUBLE PRECISION,
            private_points TEXT NOT NULL DEFAULT '{{}}',
            private_mpd DOUBLE PRECISION,
            descriptors TEXT
        )""",
        "CREATE INDEX submissions_team_time ON submissions (team, created_at)",
        """CREATE TABLE picks (
            team TEXT NOT NULL,
            submission_id BIGINT NOT NULL REFERENCES submissions (id),
            picked_at TEXT NOT NULL,
            PRIMARY KEY (team, submission_id)
        )""",
    ]


MIGRATIONS: tuple[Callable[[str], list[str]], ...] = (_migration_1,)


def wall_clock() -> datetime:
    """Return the current time in UTC."""
    return datetime.now(UTC)


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _points(text: str) -> dict[float, float]:
    return {float(fpr): float(tpr) for fpr, tpr in json.loads(text).items()}


class Store:
    """A connection to the results store at `url` (a file path or a postgresql:// URL), read with `clock`.

    Use `open_store`, which creates or checks the schema. Every method commits its own
    transaction; `admit` counts and inserts in one exclusive transaction, so concurrent
    pipelines of one team cannot both take the last slot.
    """

    def __init__(self, url: str, clock: Clock | None = None) -> None:
        self.url = url
        self.postgres = url.startswith(POSTGRES_PREFIXES)
        self._connection = self._connect()
        self.clock: Clock = clock or self._pinned_or_wall_clock

    def _connect(self) -> Any:
        if self.postgres:
            try:
                import psycopg
            except ImportError as exc:
                raise StoreError("a PostgreSQL store needs psycopg: pip install -r requirements/host.txt") from exc
            try:
                return psycopg.connect(self.url, autocommit=True)
            except psycopg.Error as exc:
                raise StoreError(f"the PostgreSQL store at {self.url} must accept a connection, got: {exc}") from exc
        path = Path(self.url)
        if not path.parent.is_dir():
            raise StoreError(f"the store's folder must exist, got {path.parent} (make it, or name another --store)")
        try:
            connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA foreign_keys=ON")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path} must be an SQLite results store, got: {exc}") from exc
        return connection

    def close(self) -> None:
        """Close the connection."""
        self._connection.close()

    def _sql(self, statement: str) -> str:
        return statement.replace("?", "%s") if self.postgres else statement

    def _rows(self, statement: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cursor = self._connection.execute(self._sql(statement), tuple(parameters))
        return list(cursor.fetchall()) if cursor.description else []

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """One transaction that no other writer interleaves with (SQLite: IMMEDIATE; PostgreSQL: a table lock)."""
        if self.postgres:
            with self._connection.transaction():
                self._connection.execute("LOCK TABLE submissions IN SHARE ROW EXCLUSIVE MODE")
                yield
            return
        self._connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._connection.execute("ROLLBACK")
            raise
        self._connection.execute("COMMIT")

    # schema

    def schema_version(self) -> int:
        """Return the store's schema version: 0 for an empty store."""
        if self.postgres:
            found = self._rows("SELECT to_regclass('meta') IS NOT NULL")[0][0]
        else:
            found = bool(self._rows("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"))
        if not found:
            return 0
        rows = self._rows("SELECT value FROM meta WHERE key = 'schema_version'")
        return int(rows[0][0]) if rows else 0

    def migrate(self) -> int:
        """Bring the store to `SCHEMA_VERSION`, one migration at a time; return the version it had.

        Raises StoreError when the store was made by a newer version of this code.
        """
        identity = "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY" if self.postgres else "INTEGER PRIMARY KEY"
        if self.postgres:
            with self._connection.transaction():
                self._connection.execute("SELECT pg_advisory_xact_lock(20190520)")
                return self._migrate_locked(identity)
        self._connection.execute("BEGIN IMMEDIATE")
        try:
            found = self._migrate_locked(identity)
        except BaseException:
            self._connection.execute("ROLLBACK")
            raise
        self._connection.execute("COMMIT")
        return found

    def _migrate_locked(self, identity: str) -> int:
        found = self.schema_version()
        if found > SCHEMA_VERSION:
            raise StoreError(
                f"the store {self.url} has schema version {found}, newer than this code's {SCHEMA_VERSION}: "
                "update the organizer tools (git pull in ORGANIZER_TOOLS) before using it"
            )
        if found == 0:
            self._rows("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            self._rows("INSERT INTO meta (key, value) VALUES ('schema_version', '0')")
        for version in range(found, SCHEMA_VERSION):
            for statement in MIGRATIONS[version](identity):
                self._rows(statement)
            self._rows("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(version + 1)])
        return found

    # the clock

    def set_clock(self, instant: datetime | None) -> None:
        """Pin the store's clock to `instant` (a rehearsal or a test), or back to the wall clock with None."""
        self._rows("DELETE FROM meta WHERE key = 'clock'")
        if instant is not None:
            self._rows("INSERT INTO meta (key, value) VALUES ('clock', ?)", [_iso(instant)])

    def _pinned_or_wall_clock(self) -> datetime:
        rows = self._rows("SELECT value FROM meta WHERE key = 'clock'")
        return _instant(rows[0][0]) if rows else wall_clock()

    # submissions

    def admit(
        self,
        team: str,
        merge_request: str,
        commit: str,
        pipeline: str,
        decide: Callable[[list[Record], datetime], str | None],
    ) -> tuple[Record, bool]:
        """Record a new submission of `team`, admitted or refused; return it and whether it was admitted.

        `decide(team's earlier records, now)` returns None to admit or the one-sentence reason
        to refuse; it runs inside the exclusive transaction, so two pipelines never both take
        the last slot. Raises StoreError when `pipeline` is already recorded.
        """
        with self._exclusive():
            if self._rows("SELECT 1 FROM submissions WHERE pipeline = ?", [pipeline]):
                raise StoreError(f"pipeline {pipeline} is already recorded: each pipeline is one submission")
            now = self.clock()
            reason = decide(self.records(team), now)
            status = ADMITTED if reason is None else REFUSED
            self._rows(
                "INSERT INTO submissions (team, merge_request, commit_sha, pipeline, created_at, status, reason) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [team, merge_request, commit, pipeline, _iso(now), status, reason or "admitted"],
            )
        return self.record(pipeline), reason is None

    def finish(
        self,
        pipeline: str,
        status: str,
        fault: str | None,
        reason: str,
        wall_s: float | None = None,
        execution_provider: str | None = None,
    ) -> Record:
        """Set how the run of `pipeline` ended; return the record. Raises StoreError when it is not recorded."""
        self.record(pipeline)
        self._rows(
            "UPDATE submissions SET status = ?, fault = ?, reason = ?, wall_s = ?, execution_provider = ? "
            "WHERE pipeline = ?",
            [status, fault, reason, wall_s, execution_provider, pipeline],
        )
        return self.record(pipeline)

    def set_scores(self, submission_id: int, document: Mapping[str, Any], descriptors: str | None = None) -> None:
        """Store a score.json `document` (both subsets) for submission `submission_id`, and where its descriptors
        lie (kept as it was when None).

        Raises StoreError when the document lacks the primary FPR or the public subset's points.
        """
        try:
            fpr = float(document["primary"]["fpr"])
            subsets = document["subsets"]
            if not subsets.get("public", {}).get("points"):
                raise KeyError("subsets.public.points")
            columns = []
            for name in ("public", "private"):
                subset = subsets.get(name)
                points = {str(float(p["fpr"])): float(p["tpr"]) for p in subset["points"]} if subset else {}
                columns += [json.dumps(points), float(subset["mean_positive_distance"]) if subset else None]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StoreError(
                f"a score.json written by `python -m evaluate score` must be stored, got: {exc!r}"
            ) from exc
        self._rows(
            "UPDATE submissions SET primary_fpr = ?, public_points = ?, public_mpd = ?, private_points = ?, "
            "private_mpd = ?, descriptors = COALESCE(?, descriptors) WHERE id = ?",
            [fpr, *columns, descriptors, submission_id],
        )

    def record(self, pipeline: str) -> Record:
        """Return the record of `pipeline`. Raises StoreError when there is none."""
        found = self.find(pipeline)
        if found is None:
            raise StoreError(f"pipeline {pipeline} has no record in the store: its admit job must run first")
        return found

    def find(self, pipeline: str) -> Record | None:
        """Return the record of `pipeline`, or None when it was never admitted nor refused."""
        rows = self._rows(f"SELECT {_COLUMNS} FROM submissions WHERE pipeline = ?", [pipeline])
        return _record(rows[0]) if rows else None

    def records(self, team: str | None = None) -> list[Record]:
        """Return every record (of `team` only, if given), oldest first."""
        where, parameters = ("WHERE team = ?", [team]) if team is not None else ("", [])
        rows = self._rows(f"SELECT {_COLUMNS} FROM submissions {where} ORDER BY created_at, id", parameters)
        return [_record(row) for row in rows]

    # final picks

    def set_pick(self, pipeline: str, limit: int, closes_at: datetime | None) -> list[Record]:
        """Pick the submission of `pipeline` as one of its team's finals; return the team's picks.

        Raises PickError when picks are closed (`closes_at` has passed), the submission has
        no score, or the team already has `limit` picks.
        """
        chosen = self.record(pipeline)
        with self._exclusive():
            now = self.clock()
            if closes_at is not None and now >= closes_at:
                raise PickError(f"final picks closed at {_iso(closes_at)}, the end of the competition")
            if chosen.public_tpr is None:
                raise PickError(f"pipeline {pipeline} has no score ({chosen.status}): only scored submissions count")
            picked = [r.id for r in self._picked(chosen.team)]
            if chosen.id not in picked:
                if len(picked) >= limit:
                    raise PickError(
                        f"team {chosen.team} already has {len(picked)} final picks, the most allowed: "
                        "unpick one first (python -m challenge pick --unpick)"
                    )
                self._rows(
                    "INSERT INTO picks (team, submission_id, picked_at) VALUES (?, ?, ?)",
                    [chosen.team, chosen.id, _iso(now)],
                )
        return self._picked(chosen.team)

    def unpick(self, pipeline: str, closes_at: datetime | None) -> list[Record]:
        """Withdraw the pick of `pipeline`; return its team's picks. Raises PickError once picks are closed."""
        chosen = self.record(pipeline)
        if closes_at is not None and self.clock() >= closes_at:
            raise PickError(f"final picks closed at {_iso(closes_at)}, the end of the competition")
        self._rows("DELETE FROM picks WHERE team = ? AND submission_id = ?", [chosen.team, chosen.id])
        return self._picked(chosen.team)

    def _picked(self, team: str) -> list[Record]:
        rows = self._rows(
            f"SELECT {', '.join('s.' + c.strip() for c in _COLUMNS.split(','))} FROM submissions s "
            "JOIN picks p ON p.submission_id = s.id WHERE p.team = ? ORDER BY s.created_at, s.id",
            [team],
        )
        return [_record(row) for row in rows]

    def picks(self) -> dict[str, list[Record]]:
        """Return every team's picked records, by team."""
        teams = [row[0] for row in self._rows("SELECT DISTINCT team FROM picks")]
        return {team: self._picked(team) for team in teams}


def _record(row: Sequence[Any]) -> Record:
    return Record(
        id=int(row[0]),
        team=row[1],
        merge_request=row[2],
        commit=row[3],
        pipeline=row[4],
        created_at=_instant(row[5]),
        status=row[6],
        fault=row[7],
        reason=row[8],
        wall_s=row[9],
        execution_provider=row[10],
        primary_fpr=row[11],
        public=_points(row[12]),
        public_mpd=row[13],
        private=_points(row[14]),
        private_mpd=row[15],
        descriptors=row[16],
    )


def open_store(url: str, clock: Clock | None = None) -> Store:
    """Open (and create or upgrade to `SCHEMA_VERSION`) the store at `url`; `clock` defaults to the store's own.

    Raises StoreError when the store cannot be reached or is newer than this code.
    """
    store = Store(url, clock)
    try:
        store.migrate()
    except sqlite3.DatabaseError as exc:
        store.close()
        raise StoreError(f"{url} must be an SQLite results store, got: {exc}") from exc
    except StoreError:
        store.close()
        raise
    return store
