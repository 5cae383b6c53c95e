"""`python -m pipeline`: the public reports and the merge request note see the public score only."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from contracts.names import PRIVATE, PUBLIC, SCORE_FILE
from pipeline.cli import main

CI_NAMES = ("MR_NOTE_TOKEN", "CI_API_V4_URL", "CI_PROJECT_ID", "CI_MERGE_REQUEST_IID", "CI_PIPELINE_URL")
NO_CI_ENV: dict[str, str | None] = {name: None for name in CI_NAMES}


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


def _invoke(*args: str, env: dict[str, str | None] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env={**NO_CI_ENV, **(env or {})})


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


def test_note_without_a_token_prints_the_public_note_and_succeeds(tmp_path: Path) -> None:
    score = _write_score(tmp_path, with_private=False)
    done = _invoke("mr-note", "--score", str(score))
    assert done.exit_code == 0, done.output
    assert done.output.startswith("MR_NOTE_TOKEN is not set: no note is posted.")
    assert "**Public score: TPR@FPR=1e-05 = 0.5230**" in done.output
    assert "| 1e-04 | 0.6400 * |" in done.output


class _Notes(BaseHTTPRequestHandler):
    """A GitLab notes endpoint: records each request, answers with the status the test chose."""

    received: list[tuple[str, str | None, dict]] = []
    status = 201
    url = ""

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.received.append((self.path, self.headers["PRIVATE-TOKEN"], body))
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps({"id": 7}).encode())

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def gitlab() -> Iterator[type[_Notes]]:
    """A local HTTP server standing in for GitLab's API; yields the handler class with what it received."""

    class Notes(_Notes):
        received: list[tuple[str, str | None, dict]] = []

    server = HTTPServer(("127.0.0.1", 0), Notes)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Notes.url = f"http://127.0.0.1:{server.server_port}/api/v4"
    yield Notes
    server.shutdown()
    server.server_close()


def _ci_env(gitlab: type[_Notes]) -> dict[str, str | None]:
    return {
        "MR_NOTE_TOKEN": "glpat-test",
        "CI_API_V4_URL": gitlab.url,
        "CI_PROJECT_ID": "42",
        "CI_MERGE_REQUEST_IID": "3",
        # a machine's HTTP proxy must not swallow the requests to the local stand-in
        "no_proxy": "127.0.0.1",
    }


def test_note_with_a_token_is_posted_on_the_merge_request(tmp_path: Path, gitlab: type[_Notes]) -> None:
    score = _write_score(tmp_path, with_private=False)
    done = _invoke("mr-note", "--score", str(score), env=_ci_env(gitlab))
    assert done.exit_code == 0, done.output
    assert done.output.startswith("posted note 7 on merge request !3")
    [(path, token, body)] = gitlab.received
    assert (path, token) == ("/api/v4/projects/42/merge_requests/3/notes", "glpat-test")
    assert body["body"].startswith("**Public score: TPR@FPR=1e-05 = 0.5230**")


def test_refused_note_is_one_error_line_naming_the_token_rights(tmp_path: Path, gitlab: type[_Notes]) -> None:
    gitlab.status = 403
    score = _write_score(tmp_path, with_private=False)
    done = _invoke("mr-note", "--score", str(score), env=_ci_env(gitlab))
    assert done.exit_code == 3
    assert done.output.startswith("Error: GitLab must accept the note, got HTTP 403")
    assert "Reporter role" in done.output
    assert len(done.output.strip().splitlines()) == 1


def test_note_with_a_token_outside_a_merge_request_is_refused(tmp_path: Path) -> None:
    score = _write_score(tmp_path, with_private=False)
    done = _invoke("mr-note", "--score", str(score), env={"MR_NOTE_TOKEN": "glpat-test"})
    assert done.exit_code == 3
    assert "must set CI_API_V4_URL, CI_PROJECT_ID and CI_MERGE_REQUEST_IID" in done.output
