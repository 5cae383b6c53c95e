"""The results store, on SQLite and on a real throwaway PostgreSQL server: records, quota under concurrency,
picks, schema versions, and its clock as a parameter."""

from __future__ import annotations

import itertools
import multiprocessing
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from store_servers import postgres_missing, postgres_server

from challenge.jobs import admit
from challenge.store import ADMITTED, REFUSED, SCHEMA_VERSION, PickError, StoreError, open_store
from contracts.competition import Competition, Submissions

T0 = datetime(2019, 5, 20, 10, 0, tzinfo=UTC)
_databases = itertools.count()


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """The URL of a PostgreSQL server started for this session."""
    missing = postgres_missing()
    if missing:
        pytest.skip(missing)
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty store: an SQLite file, or a new database on the session's PostgreSQL server."""
    if request.param == "sqlite":
        return str(tmp_path / "store.sqlite")
    import psycopg

    server = request.getfixturevalue("postgres")
    name = f"store_{next(_databases)}"
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    return server.replace("/postgres?", f"/{name}?")


def _document(public: float, private: float, mpd: float = 0.5) -> dict:
    return {
        "primary": {"subset": "public", "fpr": 1e-6, "tpr": public},
        "subsets": {
            "public": {"mean_positive_distance": mpd, "points": [{"fpr": 1e-6, "tpr": public}]},
            "private": {"mean_positive_distance": mpd, "points": [{"fpr": 1e-6, "tpr": private}]},
        },
    }


def _admit_many(url: str, team: str, pipelines: list[str], per_day: int | None) -> int:
    competition = Competition(submissions=Submissions(per_day=per_day))
    store = open_store(url, clock=lambda: T0)
    admitted = sum(admit(store, competition, team, "1", "c0ffee", p)[1] for p in pipelines)
    store.close()
    return admitted


def test_a_record_keeps_what_the_pipeline_saw(store_url: str) -> None:
    store = open_store(store_url, clock=lambda: T0)
    record, admitted = admit(store, Competition(), "team/a", "7", "abc123", "41")
    assert admitted and record.status == ADMITTED and record.created_at == T0
    store.finish("41", "ok", None, "done", 12.5, "CPUExecutionProvider")
    store.set_scores(record.id, _document(0.75, 0.5, 0.42), "/kept/41.npz")
    [again] = open_store(store_url).records("team/a")
    assert (again.team, again.merge_request, again.commit, again.pipeline) == ("team/a", "7", "abc123", "41")
    assert (again.status, again.wall_s, again.execution_provider) == ("ok", 12.5, "CPUExecutionProvider")
    assert (again.public_tpr, again.private_tpr, again.private_mpd) == (0.75, 0.5, 0.42)
    assert again.descriptors == "/kept/41.npz"


def test_eight_concurrent_writers_lose_nothing(store_url: str) -> None:
    open_store(store_url).close()
    jobs = [(store_url, f"team/{w}", [f"{w}-{i}" for i in range(10)], None) for w in range(8)]
    with multiprocessing.get_context("fork").Pool(8) as pool:
        admitted = pool.starmap(_admit_many, jobs)
    assert admitted == [10] * 8
    records = open_store(store_url).records()
    assert len(records) == 80
    assert len({r.pipeline for r in records}) == 80


def test_concurrent_pipelines_of_one_team_never_overrun_the_quota(store_url: str) -> None:
    open_store(store_url).close()
    jobs = [(store_url, "team/a", [f"p{w}-{i}" for i in range(2)], 3) for w in range(8)]
    with multiprocessing.get_context("fork").Pool(8) as pool:
        admitted = pool.starmap(_admit_many, jobs)
    assert sum(admitted) == 3
    statuses = [r.status for r in open_store(store_url).records("team/a")]
    assert statuses.count(ADMITTED) == 3 and statuses.count(REFUSED) == 13


def test_a_pipeline_is_recorded_once(store_url: str) -> None:
    store = open_store(store_url, clock=lambda: T0)
    admit(store, Competition(), "team/a", "1", "c", "9")
    with pytest.raises(StoreError, match="pipeline 9 is already recorded"):
        admit(store, Competition(), "team/a", "1", "c", "9")


def test_the_pinned_clock_is_the_stores_own(store_url: str) -> None:
    store = open_store(store_url)
    store.set_clock(T0)
    assert open_store(store_url).clock() == T0
    store.set_clock(None)
    assert abs(open_store(store_url).clock() - datetime.now(UTC)) < timedelta(minutes=1)


def test_picks_are_capped_and_close_at_the_end(store_url: str) -> None:
    now = [T0]
    store = open_store(store_url, clock=lambda: now[0])
    for pipeline in ("1", "2", "3"):
        record, _ = admit(store, Competition(), "team/a", "1", "c", pipeline)
        store.set_scores(record.id, _document(0.5, 0.5))
    end = T0 + timedelta(days=1)
    assert [r.pipeline for r in store.set_pick("1", 2, end)] == ["1"]
    assert [r.pipeline for r in store.set_pick("2", 2, end)] == ["1", "2"]
    with pytest.raises(PickError, match="already has 2 final picks"):
        store.set_pick("3", 2, end)
    assert [r.pipeline for r in store.unpick("1", end)] == ["2"]
    now[0] = end
    with pytest.raises(PickError, match="final picks closed at"):
        store.set_pick("3", 2, end)


def test_an_unscored_submission_cannot_be_picked(store_url: str) -> None:
    store = open_store(store_url, clock=lambda: T0)
    admit(store, Competition(), "team/a", "1", "c", "5")
    store.finish("5", "timeout", "participant", "too slow")
    with pytest.raises(PickError, match="pipeline 5 has no score \\(timeout\\)"):
        store.set_pick("5", 2, None)


def test_a_store_from_a_newer_version_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    open_store(str(path)).close()
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION + 1)])
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1}, newer than .*update the organizer"):
        open_store(str(path))


def test_a_new_store_gets_the_current_schema_version(store_url: str) -> None:
    store = open_store(store_url)
    assert store.schema_version() == SCHEMA_VERSION
    assert store.migrate() == SCHEMA_VERSION


def test_a_file_that_is_no_store_is_named(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a database at all, just some words that fill the header page" * 20)
    with pytest.raises(StoreError, match="must be an SQLite results store"):
        open_store(str(path))


def test_a_missing_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="the store's folder must exist"):
        open_store(str(tmp_path / "absent" / "store.sqlite"))


def test_a_score_without_the_public_subset_is_refused(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "store.sqlite"), clock=lambda: T0)
    record, _ = admit(store, Competition(), "team/a", "1", "c", "1")
    document = _document(0.5, 0.5)
    del document["subsets"]["public"]
    with pytest.raises(StoreError, match="must be stored, got: KeyError\\('subsets.public.points'\\)"):
        store.set_scores(record.id, document)
    store.set_scores(record.id, _document(0.5, 0.25), "/kept/1.npz")
    store.set_scores(record.id, _document(0.5, 0.75))
    assert (store.record("1").private_tpr, store.record("1").descriptors) == (0.75, "/kept/1.npz")
