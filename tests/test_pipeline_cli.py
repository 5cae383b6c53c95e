"""`python -m pipeline reports`: the public reports see the public score only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from contracts.names import PRIVATE, PUBLIC, SCORE_FILE
from pipeline.cli import main


def _subset(tprs: tuple[float, float], resolvable_last: bool = True) -> dict:
    return {
        "n_tracks": 200,
        "mean_positive_distance": 0.4838,
        "points": [
            {"fpr": 1e-05, "tpr": tprs[0], "resolvable": True},
            {"fpr": 1e-04, "tpr": tprs[1], "resolvable": resolvable_last},
        ],
    }


def _write_score(folder: Path, with_private: bool) -> Path:
    document: dict[str, Any] = {
        "primary": {"subset": PUBLIC, "fpr": 1e-05, "tpr": 0.523, "resolvable": True},
        "subsets": {PUBLIC: _subset((0.523, 0.64), resolvable_last=False)},
    }
    if with_private:
        document["subsets"][PRIVATE] = _subset((0.6171, 0.6969))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / SCORE_FILE
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def test_reports_write_the_public_score_as_dotenv_and_junit(tmp_path: Path) -> None:
    score = _write_score(tmp_path / "public", with_private=False)
    dotenv, junit = tmp_path / "score.env", tmp_path / "junit.xml"
    done = _invoke("reports", "--score", str(score), "--dotenv", str(dotenv), "--junit", str(junit))
    assert done.exit_code == 0, done.output
    lines = dotenv.read_text(encoding="utf-8").splitlines()
    assert lines[:2] == ["PUBLIC_SCORE=0.523000", "PUBLIC_SCORE_FPR=1e-05"]
    assert "PUBLIC_TPR_AT_FPR_1E_04=0.640000" in lines
    report = junit.read_text(encoding="utf-8")
    assert 'name="public TPR@FPR=1e-05 = 0.5230"' in report
    assert "1e-04 = 0.6400 (unresolvable" in report


def test_reports_refuse_a_score_with_a_private_section(tmp_path: Path) -> None:
    score = _write_score(tmp_path / "full", with_private=True)
    dotenv, junit = tmp_path / "score.env", tmp_path / "junit.xml"
    done = _invoke("reports", "--score", str(score), "--dotenv", str(dotenv), "--junit", str(junit))
    assert done.exit_code == 3
    assert done.output.startswith(f"Error: {score} must hold the {PUBLIC} subset only, got ['{PRIVATE}', '{PUBLIC}']")
    assert "--public-only" in done.output
    assert "0.6171" not in done.output
    assert not dotenv.exists() and not junit.exists()
