"""The pipeline jobs' commands on the store (`python -m challenge`): admit, record, note, pick, rescore.

Real scoring (evaluate's scorer on seeded synthetic ground truth), a real SQLite store.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result
from scoring_data import make_case

from challenge.cli import main
from challenge.store import NOT_RUN, open_store
from contracts.competition import load_competition
from contracts.descriptors import read_descriptors
from contracts.names import PRIVATE, PUBLIC, TEST_LABELS_FILE
from evaluate.groundtruth import load_groundtruth
from evaluate.reports import score_document
from evaluate.scoring import score_submission

T0 = datetime(2019, 5, 20, 10, 0, tzinfo=UTC)
CI_NAMES = ("MR_NOTE_TOKEN", "CI_API_V4_URL", "CI_PROJECT_ID", "CI_MERGE_REQUEST_IID", "CI_PIPELINE_URL")
NO_CI_ENV: dict[str, str | None] = {name: None for name in CI_NAMES}
RULES = "phases: {start: 2019-05-20T00:00:00Z, end: 2019-05-22T00:00:00Z}\nsubmissions: {per_day: 2, final: 1}\n"


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Path]:
    """A store with its clock at T0, competition.yaml, a gt/ folder and one ok run folder with its full score."""
    case = make_case(seed=3, n_persons=12)
    gt = case.write_gt(tmp_path / "gt")
    config = tmp_path / "competition.yaml"
    config.write_text(RULES + "metric: {fpr: [0.01, 0.1], primary_fpr: 0.01}\n")
    run = tmp_path / "run"
    (run / "output").mkdir(parents=True)
    case.write_descriptors(run / "output" / "descriptors.npz")
    (run / "run.json").write_text(
        json.dumps({"status": "ok", "wall_s": 3.5, "execution_provider": "CPU", "message": ""})
    )
    score = tmp_path / "score.json"
    score.write_text(json.dumps(_score(run / "output" / "descriptors.npz", gt, config)))
    store = tmp_path / "store.sqlite"
    _invoke("clock", "--store", str(store), "--set", T0.isoformat())
    return {"store": store, "config": config, "gt": gt, "run": run, "score": score, "base": tmp_path}


def _score(descriptors: Path, gt: Path, config: Path) -> dict:
    metric = load_competition(config).metric
    truth = load_groundtruth(gt)
    submitted = read_descriptors(descriptors, expected_track_ids=truth.track_id, dim=truth.dim)
    return score_document(score_submission(submitted, truth, metric.fpr, (PUBLIC, PRIVATE)), metric)


def _invoke(*args: str, env: dict[str, str | None] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env={**NO_CI_ENV, **(env or {})})


def _admit(world: dict[str, Path], pipeline: str, team: str = "team/a") -> Result:
    return _invoke(
        "admit", "--store", str(world["store"]), "--config", str(world["config"]), "--pipeline", pipeline,
        "--team", team, "--merge-request", "4", "--commit", f"{int(pipeline):040x}",
    )  # fmt: skip


def _record(world: dict[str, Path], pipeline: str) -> Result:
    args = ["record", "--store", str(world["store"]), "--pipeline", pipeline, "--run", str(world["run"])]
    return _invoke(*args, "--keep", str(world["base"] / "kept" / pipeline), "--score", str(world["score"]))


def _note(world: dict[str, Path], pipeline: str, *more: str, env: dict[str, str | None] | None = None) -> Result:
    return _invoke(
        "note", "--store", str(world["store"]), "--config", str(world["config"]), "--pipeline", pipeline,
        "--team", "team/a", *more, env=env,
    )  # fmt: skip


def _private_texts(world: dict[str, Path]) -> set[str]:
    document = json.loads(world["score"].read_text())
    private = document["subsets"][PRIVATE]
    public = {f"{p['tpr']:.4f}" for p in document["subsets"][PUBLIC]["points"]}
    values = [p["tpr"] for p in private["points"]] + [private["mean_positive_distance"]]
    return {f"{v:.4f}" for v in values} - public


def _set_clock(world: dict[str, Path], instant: datetime) -> None:
    assert _invoke("clock", "--store", str(world["store"]), "--set", instant.isoformat()).exit_code == 0


def test_an_ok_run_is_recorded_with_both_scores_and_its_descriptors_kept(world: dict[str, Path]) -> None:
    assert _admit(world, "1").output == "submission admitted (1 of 2 left in the last 24 hours)\n"
    recorded = _record(world, "1")
    assert recorded.exit_code == 0 and recorded.output == "recorded pipeline 1: ok\n"
    record = open_store(str(world["store"])).record("1")
    document = json.loads(world["score"].read_text())
    assert record.public_tpr == document["subsets"][PUBLIC]["points"][0]["tpr"]
    assert record.private_tpr == document["subsets"][PRIVATE]["points"][0]["tpr"]
    assert record.wall_s == 3.5
    assert Path(str(record.descriptors)).read_bytes() == (world["run"] / "output" / "descriptors.npz").read_bytes()


def test_what_a_team_sees_holds_no_private_number(world: dict[str, Path]) -> None:
    secrets = _private_texts(world)
    assert secrets, "the case must give private numbers of its own"
    shown = [_admit(world, "1").output, _record(world, "1").output, _note(world, "1").output]
    _set_clock(world, T0 + timedelta(hours=1))
    shown += [_admit(world, "2").output, _record(world, "2").output, _note(world, "2").output]
    leaked = [s for s in secrets if any(s in text for text in shown)]
    assert not leaked, f"participant-visible output shows the private numbers {leaked}"


def test_the_note_lists_earlier_public_scores_and_the_quota(world: dict[str, Path]) -> None:
    _admit(world, "1")
    _record(world, "1")
    _set_clock(world, T0 + timedelta(hours=2))
    _admit(world, "2")
    (world["run"] / "run.json").write_text(
        json.dumps({"status": "timeout", "fault": "participant", "message": "The run took more than 900 s."})
    )
    note = _note(world, "2", "--run", str(world["run"])).output
    first = open_store(str(world["store"])).record("1")
    assert "**Submission timeout**: The run took more than 900 s." in note
    assert f"| 2019-05-20 10:00 UTC | {first.commit[:8]} | {first.public_tpr:.4f} |" in note
    assert (
        "Quota: 0 of 2 scored submissions left in the last 24 hours; the next slot opens at 2019-05-21 10:00 UTC"
        in note
    )


def test_over_quota_the_admission_fails_with_the_next_slot(world: dict[str, Path]) -> None:
    for pipeline in ("1", "2"):
        assert _admit(world, pipeline).exit_code == 0
    refused = _admit(world, "3")
    assert refused.exit_code == 1
    assert refused.output == (
        "Error: submission refused: Daily quota spent: 2 of 2 scored submissions in the last 24 hours; "
        "the next slot opens at 2019-05-21 10:00 UTC.\n"
    )
    assert _record(world, "3").output == "recorded pipeline 3: refused\n"
    assert "**Submission refused**: Daily quota spent" in _note(world, "3").output
    assert _admit(world, "4", team="team/b").exit_code == 0


def test_a_run_that_never_reached_the_runner_does_not_count(world: dict[str, Path]) -> None:
    _admit(world, "1")
    (world["run"] / "run.json").unlink()
    note = _note(world, "1", "--run", str(world["run"])).output
    assert f"**Submission {NOT_RUN}**: An earlier job (check or build) failed" in note
    assert "Quota: 2 of 2" in note
    assert _record(world, "1").output == f"recorded pipeline 1: {NOT_RUN}\n"
    assert _record(world, "9").output == "pipeline 9 was never admitted (an earlier job failed): nothing to record\n"
    assert "**Submission not run**" in _note(world, "9").output


def test_picks_close_at_the_end(world: dict[str, Path]) -> None:
    _admit(world, "1")
    _record(world, "1")
    args = ["pick", "--store", str(world["store"]), "--config", str(world["config"]), "--pipeline", "1"]
    other = _invoke(*args, "--team", "team/b")
    assert (other.exit_code, other.output) == (
        1,
        "Error: pipeline 1 is a submission of team/a, not of team/b: pick your own\n",
    )
    args += ["--team", "team/a"]
    assert _invoke(*args).output == "final submissions (1 of 1): pipeline 1 (00000000)\n"
    _set_clock(world, datetime(2019, 5, 22, tzinfo=UTC))
    closed = _invoke(*args, "--unpick")
    assert closed.exit_code == 1
    assert "final picks closed at 2019-05-22T00:00:00" in closed.output


def test_rescore_follows_a_fixed_label(world: dict[str, Path]) -> None:
    _admit(world, "1")
    _record(world, "1")
    labels_path = world["gt"] / TEST_LABELS_FILE
    labels = pd.read_csv(labels_path)
    public = labels.index[labels["subset"] == PUBLIC]
    swapped = labels["person_id"].to_numpy().copy()
    swapped[public[:4]] = np.roll(swapped[public[:4]], 1)
    labels.assign(person_id=swapped).to_csv(labels_path, index=False)
    expected = _score(world["run"] / "output" / "descriptors.npz", world["gt"], world["config"])
    before = open_store(str(world["store"])).record("1").public_tpr
    done = _invoke(
        "rescore", "--store", str(world["store"]), "--config", str(world["config"]), "--gt", str(world["gt"])
    )
    assert done.output == "rescored 1 submissions\n"
    after = open_store(str(world["store"])).record("1")
    assert after.public_tpr == expected["subsets"][PUBLIC]["points"][0]["tpr"] != before
    assert after.private_tpr == expected["subsets"][PRIVATE]["points"][0]["tpr"]


def _scored_with_public_score(world: dict[str, Path]) -> tuple[Path, dict]:
    """Admit and record pipeline 1 (ok); return its public-only score.json, as the score:public job writes it."""
    _admit(world, "1")
    _record(world, "1")
    document = json.loads(world["score"].read_text())
    del document["subsets"][PRIVATE]
    public = world["base"] / "public-score.json"
    public.write_text(json.dumps(document))
    return public, document


def test_note_without_a_token_prints_the_public_note_and_succeeds(world: dict[str, Path]) -> None:
    public, document = _scored_with_public_score(world)
    done = _note(world, "1", "--score", str(public))
    assert done.exit_code == 0, done.output
    assert done.output.startswith("MR_NOTE_TOKEN is not set: no note is posted.")
    assert f"**Public score: TPR@FPR=1e-02 = {document['primary']['tpr']:.4f}**" in done.output
    assert f"| 1e-01 | {document['subsets'][PUBLIC]['points'][1]['tpr']:.4f}" in done.output


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


def test_note_with_a_token_is_posted_on_the_merge_request(world: dict[str, Path], gitlab: type[_Notes]) -> None:
    public, document = _scored_with_public_score(world)
    done = _note(world, "1", "--score", str(public), env=_ci_env(gitlab))
    assert done.exit_code == 0, done.output
    assert done.output.startswith("posted note 7 on merge request !3")
    [(path, token, body)] = gitlab.received
    assert (path, token) == ("/api/v4/projects/42/merge_requests/3/notes", "glpat-test")
    assert body["body"].startswith(f"**Public score: TPR@FPR=1e-02 = {document['primary']['tpr']:.4f}**")
    assert "Quota: 1 of 2 scored submissions left" in body["body"]


def test_refused_note_is_one_error_line_naming_the_token_rights(world: dict[str, Path], gitlab: type[_Notes]) -> None:
    gitlab.status = 403
    public, _ = _scored_with_public_score(world)
    done = _note(world, "1", "--score", str(public), env=_ci_env(gitlab))
    assert done.exit_code == 3
    assert done.output.startswith("Error: GitLab must accept the note, got HTTP 403")
    assert "Reporter role" in done.output
    assert len(done.output.strip().splitlines()) == 1


def test_note_with_a_token_outside_a_merge_request_is_refused(world: dict[str, Path]) -> None:
    public, _ = _scored_with_public_score(world)
    done = _note(world, "1", "--score", str(public), env={"MR_NOTE_TOKEN": "glpat-test"})
    assert done.exit_code == 3
    assert "must set CI_API_V4_URL, CI_PROJECT_ID and CI_MERGE_REQUEST_IID" in done.output
