"""The leaderboard page built from the store by `python -m challenge leaderboard`, seen in a real headless Chromium."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from browser import chromium_missing, rendered, table_rows
from click.testing import CliRunner

from challenge.cli import main
from challenge.jobs import admit
from challenge.store import open_store
from contracts.competition import Competition

T0 = datetime(2019, 5, 20, 10, 0, tzinfo=UTC)
END = T0 + timedelta(days=2)
#: team, hours after T0, public TPR, private TPR: "late" ties "early" on public, and beats it on private
SUBMISSIONS = [
    ("team/early", 1, 0.6250, 0.1875),
    ("team/late", 2, 0.6250, 0.9375),
    ("organizers/baseline", 0, 0.3125, 0.4375),
]
PRIVATE_TEXTS = ("0.1875", "0.9375", "0.4375")


@pytest.fixture
def store_and_config(tmp_path: Path) -> tuple[Path, Path]:
    """A store holding SUBMISSIONS (scored) and a competition.yaml ending at END."""
    url = tmp_path / "store.sqlite"
    config = tmp_path / "competition.yaml"
    config.write_text(f"phases: {{start: {T0.isoformat()}, end: {END.isoformat()}}}\nsubmissions: {{final: 1}}\n")
    for pipeline, (team, hours, public, private) in enumerate(SUBMISSIONS):
        store = open_store(str(url), clock=lambda hours=hours: T0 + timedelta(hours=hours))
        record, _ = admit(store, Competition(), team, "1", f"{pipeline:040x}", str(pipeline))
        store.finish(record.pipeline, "ok", None, "done")
        document = {
            "primary": {"fpr": 1e-6},
            "subsets": {
                name: {"mean_positive_distance": 0.5, "points": [{"fpr": 1e-6, "tpr": tpr}]}
                for name, tpr in (("public", public), ("private", private))
            },
        }
        store.set_scores(record.id, document)
        store.close()
    return url, config


def _board(url: Path, config: Path, out: Path, now: datetime, form: str = "html") -> str:
    store = open_store(str(url))
    store.set_clock(now)
    store.close()
    args = ["leaderboard", "--store", str(url), "--config", str(config), "--out", str(out), "--format", form]
    done = CliRunner().invoke(main, [*args, "--baseline", "organizers/baseline"])
    assert done.exit_code == 0, done.output
    return done.output


@pytest.mark.slow
@pytest.mark.skipif(chromium_missing() is not None, reason=str(chromium_missing()))
def test_running_page_in_chromium_shows_public_scores_only_ties_to_the_earlier(
    store_and_config: tuple[Path, Path], tmp_path: Path
) -> None:
    url, config = store_and_config
    page = tmp_path / "public" / "index.html"
    assert "running (public)" in _board(url, config, page, T0 + timedelta(days=1))
    dom = rendered(page, tmp_path / "running.png")
    assert (tmp_path / "running.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = table_rows(dom)
    assert [row[1] for row in rows] == ["team/early", "team/late", "organizers/baseline (baseline)"]
    assert rows[0][2:] == ["0.6250", "1", "2019-05-20 11:00 UTC"]
    leaked = [text for text in PRIVATE_TEXTS if text in dom]
    assert not leaked, f"the running page's DOM holds the private scores {leaked}"


@pytest.mark.slow
@pytest.mark.skipif(chromium_missing() is not None, reason=str(chromium_missing()))
def test_after_the_end_the_page_ranks_by_private_with_public_beside(
    store_and_config: tuple[Path, Path], tmp_path: Path
) -> None:
    url, config = store_and_config
    page = tmp_path / "final.html"
    assert "final (private)" in _board(url, config, page, END)
    rows = table_rows(rendered(page, tmp_path / "final.png"))
    assert [row[:4] for row in rows] == [
        ["1", "team/late", "0.9375", "0.6250"],
        ["2", "organizers/baseline (baseline)", "0.4375", "0.3125"],
        ["3", "team/early", "0.1875", "0.6250"],
    ]


def test_organizers_get_csv_and_json(store_and_config: tuple[Path, Path], tmp_path: Path) -> None:
    url, config = store_and_config
    _board(url, config, tmp_path / "board.json", END, "json")
    document = json.loads((tmp_path / "board.json").read_text())
    assert [(r["team"], r["private"]) for r in document["rows"]][0] == ("team/late", 0.9375)
    _board(url, config, tmp_path / "board.csv", T0 + timedelta(hours=5), "csv")
    lines = (tmp_path / "board.csv").read_text().splitlines()
    assert lines[0] == "#,Team,Public TPR@FPR=1e-06,Submissions,Last submission"
    assert lines[1].startswith("1,team/early,0.6250,1,")
