"""The leaderboard page: best public score per team, private column only once the competition ends."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from contracts.names import PRIVATE, PUBLIC, SCORE_FILE
from evaluate.cli import main
from evaluate.leaderboard import LeaderboardError, best_per_team, collect_entries

FPR = 1e-6
DAY = 86400.0


def _write_score(scores: Path, team: str, submission: str, public: float, private: float, day: int) -> Path:
    """Write SCORES/team/submission/score.json with the given primary TPRs, dated `day` days after the epoch."""
    path = scores / team / submission / SCORE_FILE
    path.parent.mkdir(parents=True)
    subsets = {
        name: {"points": [{"fpr": FPR, "tpr": tpr, "resolvable": True}, {"fpr": 1e-4, "tpr": 0.999}]}
        for name, tpr in ((PUBLIC, public), (PRIVATE, private))
    }
    document = {"primary": {"subset": PUBLIC, "fpr": FPR, "tpr": public, "resolvable": True}, "subsets": subsets}
    path.write_text(json.dumps(document), encoding="utf-8")
    os.utime(path, (day * DAY, day * DAY))
    return path


@pytest.fixture
def scores(tmp_path: Path) -> Path:
    folder = tmp_path / "scores"
    _write_score(folder, "alpha", "1", public=0.61, private=0.5912, day=10)
    _write_score(folder, "alpha", "2", public=0.72, private=0.5834, day=11)
    _write_score(folder, "beta", "7", public=0.70, private=0.6677, day=12)
    _write_score(folder, "<gamma>", "9", public=0.70, private=0.4011, day=13)
    return folder


def test_best_public_per_team_ties_to_the_earlier_submission(scores: Path) -> None:
    ranked = best_per_team(collect_entries(scores))
    assert [(e.team, e.public) for e in ranked] == [("alpha", 0.72), ("beta", 0.70), ("<gamma>", 0.70)]


def test_after_the_end_teams_rank_by_private(scores: Path) -> None:
    ranked = best_per_team(collect_entries(scores), by_private=True)
    assert [(e.team, e.private) for e in ranked] == [("beta", 0.6677), ("alpha", 0.5912), ("<gamma>", 0.4011)]


def _render(scores: Path, out: Path, *args: str, env: dict[str, str] | None = None) -> str:
    result = CliRunner().invoke(main, ["leaderboard", "--scores", str(scores), "--out", str(out), *args], env=env)
    assert result.exit_code == 0, result.output
    return out.read_text(encoding="utf-8")


def test_page_while_running_shows_public_scores_and_dates_but_no_private_number(scores: Path, tmp_path: Path) -> None:
    page = _render(scores, tmp_path / "public" / "index.html")
    assert "<td>alpha</td><td>0.7200</td><td>1970-01-12 00:00 UTC</td>" in page
    assert "&lt;gamma&gt;" in page and "<gamma>" not in page
    for private in ("0.5834", "0.6677", "0.4011", "0.5912", "Private TPR"):
        assert private not in page


@pytest.mark.parametrize(("args", "env"), [(["--competition-ended"], None), ([], {"COMPETITION_ENDED": "true"})])
def test_page_after_the_end_shows_the_private_column(
    scores: Path, tmp_path: Path, args: list[str], env: dict[str, str] | None
) -> None:
    page = _render(scores, tmp_path / "index.html", *args, env=env)
    assert "Private TPR@FPR=1e-06" in page
    assert "<td>1</td><td>beta</td><td>0.7000</td><td>0.6677</td>" in page


def test_score_file_outside_a_team_folder_is_refused(scores: Path) -> None:
    _write_score(scores, "x", "y", 0.1, 0.1, day=1).rename(scores / SCORE_FILE)
    with pytest.raises(LeaderboardError, match="must lie in a team folder"):
        collect_entries(scores)


def test_broken_score_file_is_one_error_line(scores: Path, tmp_path: Path) -> None:
    (scores / "beta" / "7" / SCORE_FILE).write_text("{not json", encoding="utf-8")
    result = CliRunner().invoke(main, ["leaderboard", "--scores", str(scores), "--out", str(tmp_path / "i.html")])
    assert result.exit_code == 3
    assert result.output.startswith("Error: ") and "must be a score.json written by" in result.output
    assert result.output.count("\n") == 1


def test_missing_scores_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LeaderboardError, match="the scores folder must exist"):
        collect_entries(tmp_path / "nowhere")
