"""The merge-request pipeline (.gitlab-ci.yml) run for real by gitlab-ci-local on copies of this checkout.

Shell executor, bwrap engine, CPU, a small dataset outside the checkout. The team's branch
has its own aggregator (the graph builder's trimmed mean, recorded by check_models): the
check stage passes it and the pipeline scores it. A second branch, with Python 3.10 syntax
in solution.py, stops at the check stage with the sentence that names the fix.
"""

from __future__ import annotations

import collections
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import onnx
import pytest
from checkout import commit, copy_checkout, run_make

from contracts.names import LOG_FILE, PARTICIPANT_LOG_FILE, PRIVATE, PUBLIC, RUN_REPORT_FILE, SCORE_FILE
from models.check_models import check_models
from models.examples.trimmed_mean_graph import build_trimmed_mean
from pipeline.organizer_settings import write_local_pipeline
from submission.reporting.participant_view import MESSAGE_LIMIT
from tests.challenge_data import write_challenge

ROOT = Path(__file__).resolve().parent.parent
GITLAB_CI_LOCAL = ROOT / "build" / "node" / "node_modules" / ".bin" / "gitlab-ci-local"
IMAGE_PYTHON = ROOT / ".venv-image" / "bin" / "python"
MR_JOBS = {"check", "admit", "build", "infer", "score:public", "score:private", "mr-note"}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.bwrap,
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap"),
]


@dataclass
class Pipeline:
    """One finished gitlab-ci-local run: its console output, checkout, state folder and score store."""

    returncode: int
    console: str
    checkout: Path
    scores: Path
    #: The folder the branch's committed `run` link points at.
    other_team: Path
    #: RUNS_DIR: every run's full folder, on the organizers' side.
    runs: Path
    #: Where the hostile ORGANIZER_TOOLS variable pointed (a python that leaves a mark if run).
    fake_tools: Path

    @property
    def state(self) -> Path:
        return self.checkout / ".gitlab-ci-local"

    def participant_readable(self) -> dict[Path, str]:
        """Every job log and artifact (what a team member can open in GitLab), and the console."""
        files = [p for d in ("output", "artifacts") for p in (self.state / d).rglob("*") if p.is_file()]
        texts = {p: p.read_bytes().decode("utf-8", "replace") for p in files}
        texts[Path("console")] = self.console
        return texts


def _prepare(checkout: Path, team: str) -> None:
    """Make sure gitlab-ci-local and .venv-image exist; give `checkout` the origin remote gitlab-ci-local needs."""
    if not GITLAB_CI_LOCAL.exists():
        assert run_make(ROOT, str(GITLAB_CI_LOCAL.relative_to(ROOT))).returncode == 0
    assert run_make(ROOT, "venv-image", timeout=900).returncode == 0
    subprocess.run(
        ["git", "remote", "add", "origin", f"https://gitlab.example.org/{team}/solution.git"], cwd=checkout, check=True
    )


def _gitlab_ci_local(
    base: Path, checkout: Path, data: Path, variables: dict[str, str], jobs: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """Run the pipeline (or `jobs`) in `checkout`, the organizers' settings in a file, as make ci-local does."""
    settings = {
        "ORGANIZER_TOOLS": str(ROOT),
        "SUBMISSION_ENGINE": "bwrap",
        "CHALLENGE_TEST": str(data / "test"),
        "CHALLENGE_CONFIG": str(data / "competition.yaml"),
        "RUNS_DIR": str(base / "runs"),
        "RUNS_KEEP": "3",
        "CHALLENGE_GT": str(data / "gt"),
        "SCORES_DIR": str(base / "scores"),
        "CHALLENGE_STORE": str(base / "store.sqlite"),
        "DESCRIPTOR_DIM": "128",
    }
    ci_file = write_local_pipeline(ROOT / ".gitlab-ci.yml", checkout / "build" / "ci-local", settings)
    variables = {"CI_PIPELINE_SOURCE": "merge_request_event", **variables}
    argv = [str(GITLAB_CI_LOCAL), "--file", str(ci_file.relative_to(checkout)), "--concurrency", "1", "--no-color"]
    argv += ["--ignore-predefined-vars", "CI_PIPELINE_SOURCE"]
    for key, value in variables.items():
        argv += ["--variable", f"{key}={value}"]
    return subprocess.run([*argv, *jobs], cwd=checkout, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    """Run the merge-request pipeline once for the whole module, on a branch with its own aggregator."""
    base = tmp_path_factory.mktemp("pipeline")
    data = write_challenge(base / "data")
    checkout = base / "team-a"
    copy_checkout(checkout)
    onnx.save(build_trimmed_mean(), str(checkout / "models" / "aggregator.onnx"))
    assert check_models(checkout / "models", IMAGE_PYTHON).manifest_written
    commit(checkout, "my own aggregator: drop the frames farthest from the mean")
    # A hostile branch commits `run` as a link to another team's folder, where runs once went.
    other_team = base / "team-b-run"
    (other_team / "output").mkdir(parents=True)
    (other_team / "output" / "descriptors.npz").write_bytes(b"team b's output")
    (checkout / "run").symlink_to(other_team)
    commit(checkout, "run -> team b")
    _prepare(checkout, "team-a")
    # What a participant allowed to pass pipeline variables would set: the branch's own "tools"
    # (a python that leaves a mark), no sandbox, another team's runs. The jobs must ignore all three.
    fake_tools = base / "fake-tools"
    (fake_tools / ".venv" / "bin").mkdir(parents=True)
    (fake_tools / ".venv" / "bin" / "python").write_text(f"#!/bin/sh\ntouch {fake_tools}/ran\n")
    (fake_tools / ".venv" / "bin" / "python").chmod(0o755)
    hostile = {"SUBMISSION_ENGINE": "local", "ORGANIZER_TOOLS": str(fake_tools), "RUNS_DIR": str(other_team)}
    done = _gitlab_ci_local(base, checkout, data, hostile)
    return Pipeline(
        done.returncode, done.stdout + done.stderr, checkout, base / "scores", other_team, base / "runs", fake_tools
    )


def _stored_score(pipeline: Pipeline) -> dict:
    [path] = list(pipeline.scores.rglob(SCORE_FILE))
    return json.loads(path.read_text(encoding="utf-8"))


def test_every_merge_request_job_passes(pipeline: Pipeline) -> None:
    assert pipeline.returncode == 0, pipeline.console[-3000:]
    for job in MR_JOBS:
        assert any(line.split() == ["PASS", job] for line in pipeline.console.splitlines()), f"{job} did not pass"
    assert "FAIL" not in pipeline.console


def test_a_committed_run_link_is_never_written_through(pipeline: Pipeline) -> None:
    assert sorted(p.name for p in pipeline.other_team.rglob("*")) == ["descriptors.npz", "output"]
    assert (pipeline.other_team / "output" / "descriptors.npz").read_bytes() == b"team b's output"


def test_leaderboard_job_runs_only_on_the_default_branch(pipeline: Pipeline) -> None:
    ran = {line.split()[1] for line in pipeline.console.splitlines() if line.startswith(" PASS ")}
    assert ran == MR_JOBS


def test_public_score_reaches_the_dotenv_junit_and_note(pipeline: Pipeline) -> None:
    public = _stored_score(pipeline)["primary"]["tpr"]
    [dotenv] = list((pipeline.state / "artifacts").glob("*/.gitlab-ci-reports/dotenv/**/score.env"))
    assert f"PUBLIC_SCORE={public:.6f}" in dotenv.read_text(encoding="utf-8").splitlines()
    [junit] = list((pipeline.state / "artifacts").rglob("junit.xml"))
    assert f"= {public:.4f}" in junit.read_text(encoding="utf-8")
    note_log = (pipeline.state / "output" / "mr-note.log").read_text(encoding="utf-8")
    assert "MR_NOTE_TOKEN is not set" in note_log
    assert f"Public score: TPR@FPR=1e-06 = {public:.4f}" in note_log


def test_private_score_is_kept_on_the_runner_host_only(pipeline: Pipeline) -> None:
    stored = _stored_score(pipeline)
    assert set(stored["subsets"]) == {PUBLIC, PRIVATE}
    public_texts = set()
    # The public numbers of every negatives rule are shown to participants; a private number equal to one is no leak.
    for rule in stored["subsets"][PUBLIC]["by_negatives"].values():
        for point in rule["points"]:
            public_texts |= {f"{point['tpr']:.4f}", f"{point['tpr']:.6f}"}
    secrets = set()
    private = stored["subsets"][PRIVATE]
    private_tprs = [p["tpr"] for rule in private["by_negatives"].values() for p in rule["points"]]
    for value in private_tprs + [private["mean_positive_distance"]]:
        secrets |= {f"{value:.4f}", f"{value:.6f}"}
    secrets -= public_texts
    assert secrets, "the test data must give the private subset numbers of its own"
    [table] = list(pipeline.scores.rglob("table.txt"))
    assert any(s in table.read_text(encoding="utf-8") for s in secrets), "the scorer's table must show them"
    for path, text in pipeline.participant_readable().items():
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"{path} shows the private score {leaked}"
        assert f'"{PRIVATE}"' not in text, f"{path} holds a private section"


def test_the_own_aggregator_is_scored_not_the_mean(pipeline: Pipeline) -> None:
    check_log = (pipeline.state / "output" / "check.log").read_text(encoding="utf-8")
    assert "the submission passes the check" in check_log
    manifest = json.loads((pipeline.checkout / "models" / "manifest.json").read_text())
    assert manifest["aggregator.onnx"]["command"].startswith("make check-models")
    assert _stored_score(pipeline)["primary"]["tpr"] >= 0


def test_a_branch_that_breaks_the_contract_stops_at_the_check(tmp_path: Path) -> None:
    data = write_challenge(tmp_path / "data")
    checkout = tmp_path / "team-c"
    copy_checkout(checkout)
    solution = checkout / "solution.py"
    solution.write_text(
        solution.read_text() + "\n\ndef kind(x):\n    match x:\n        case _:\n            return 1\n"
    )
    commit(checkout, "python 3.10 only")
    _prepare(checkout, "team-c")
    done = _gitlab_ci_local(tmp_path, checkout, data, {})
    console = done.stdout + done.stderr
    assert done.returncode != 0
    assert any(line.split() == ["FAIL", "check"] for line in console.splitlines()), console[-3000:]
    log = (checkout / ".gitlab-ci-local" / "output" / "check.log").read_text(encoding="utf-8")
    assert "solution.py needs a Python newer than 3.8 (line " in log
    assert "pattern matching needs Python 3.10); the image runs Python 3.8: rewrite those lines" in log
    assert not (checkout / ".gitlab-ci-local" / "output" / "infer.log").exists()


def test_ci_local_needs_an_origin_remote(tmp_path: Path) -> None:
    checkout = tmp_path / "no-remote"
    copy_checkout(checkout)
    done = run_make(checkout, "ci-local")
    assert done.returncode == 2
    assert "gitlab-ci-local needs a git remote named origin" in done.stderr


def test_pipeline_variables_cannot_choose_the_tools_the_engine_or_the_runs_folder(pipeline: Pipeline) -> None:
    assert pipeline.returncode == 0, pipeline.console[-3000:]
    assert not (pipeline.fake_tools / "ran").exists(), "a job ran the ORGANIZER_TOOLS of a pipeline variable"
    [report] = list(pipeline.runs.rglob(RUN_REPORT_FILE))
    assert json.loads(report.read_text(encoding="utf-8"))["engine"] == "bwrap"


def test_the_full_log_stays_in_runs_dir_and_the_participant_gets_its_view(pipeline: Pipeline) -> None:
    [run] = [path.parent for path in pipeline.runs.rglob(LOG_FILE)]
    assert (run / PARTICIPANT_LOG_FILE).is_file()
    artifacts = {path.name for path in (pipeline.state / "artifacts").rglob("*") if path.is_file()}
    assert PARTICIPANT_LOG_FILE in artifacts and LOG_FILE not in artifacts


@pytest.fixture(scope="module")
def hostile_infer(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    """The infer job alone, on a branch whose solution.py prints every test image in base64."""
    base = tmp_path_factory.mktemp("hostile")
    data = write_challenge(base / "data")
    checkout = base / "team-h"
    copy_checkout(checkout)
    shutil.copy(ROOT / "tests" / "fixtures" / "submissions" / "prints_images" / "solution.py", checkout / "solution.py")
    commit(checkout, "print the test set")
    _prepare(checkout, "team-h")
    done = _gitlab_ci_local(base, checkout, data, {}, jobs=("infer",))
    return Pipeline(done.returncode, done.stdout + done.stderr, checkout, base / "scores", base, base / "runs", base)


def test_a_solution_printing_the_test_set_gets_out_at_most_the_bound(hostile_infer: Pipeline) -> None:
    [full_log] = list(hostile_infer.runs.rglob(LOG_FILE))
    images = [
        line.split()[-1] for line in full_log.read_text(encoding="utf-8").splitlines() if " IMAGE images/" in line
    ]
    assert len(images) >= 50, "the organizers' full log keeps what the solution printed"
    budget = 16 * 1024 + MESSAGE_LIMIT
    readable = hostile_infer.participant_readable()
    # Pieces of 64 characters of every image's base64, but those several images share (JPEG headers).
    pieces = collections.Counter(image[i : i + 64] for image in images for i in range(0, len(image) - 63, 64))
    own = [piece for piece, count in pieces.items() if count == 1]
    for path, text in readable.items():
        shown = 64 * sum(1 for piece in own if piece in text)
        assert shown <= budget, f"{path} shows {shown} characters of the test images"
    [view] = [path for path in readable if path.name == PARTICIPANT_LOG_FILE]
    assert len(view.read_bytes()) <= 16 * 1024
    [report] = [path for path in readable if path.name == RUN_REPORT_FILE]
    message = json.loads(report.read_text(encoding="utf-8"))["message"]
    assert len(message) <= MESSAGE_LIMIT and message.startswith("the submission exited with code 1")
