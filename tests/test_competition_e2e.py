"""A whole small competition through the real pipeline: gitlab-ci-local, bwrap, the store, Chromium.

Two teams, two simulated days (the store's clock, pinned between pipelines), a daily quota
of one: team A's second pipeline of day 1 is refused, its day-2 submission (a worse
solution) is picked as final through the manual job; after the end the private table
ranks team B first, which it would not without that pick (equal scores go to the earlier
submission, team A's first one).

gitlab-ci-local 4.73.0 runs no job after a failed one, not even `when: always` ones (GitLab
does): after each refused pipeline the test starts its `mr-note` job by name, as GitLab would.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from browser import chromium_missing, rendered, table_rows
from checkout import copy_checkout, run_make
from test_pipeline import GITLAB_CI_LOCAL, ROOT

from challenge.store import ADMITTED, REFUSED, open_store
from contracts.names import PRIVATE, PUBLIC
from pipeline.organizer_settings import write_local_pipeline
from tests.challenge_data import write_challenge

pytestmark = [
    pytest.mark.slow,
    pytest.mark.bwrap,
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap"),
    pytest.mark.skipif(chromium_missing() is not None, reason=str(chromium_missing())),
]

RULES = "phases: {start: 2019-05-20T00:00:00Z, end: 2019-05-22T00:00:00Z}\nsubmissions: {per_day: 1, final: 1}\n"
#: A worse solution: each track gets another track's descriptor.
WRITE_LINE = "write_descriptors(args.output / DESCRIPTORS_FILE, track_ids, track_descriptors)"
SHUFFLED = "write_descriptors(args.output / DESCRIPTORS_FILE, track_ids, track_descriptors[::-1].copy())"
GIT = ["git", "-c", "user.name=e2e", "-c", "user.email=e2e@example.org"]


@dataclass
class Run:
    """One gitlab-ci-local run: its exit code, console and the job logs it left."""

    returncode: int
    console: str
    logs: dict[str, str]

    def passed(self, job: str) -> bool:
        return any(line.split() == ["PASS", job] for line in self.console.splitlines())


@dataclass
class Competition:
    """The competition's folders and every run, by name."""

    base: Path
    store: Path
    config: Path
    runs: dict[str, Run]


#: The organizers' settings of each competition played, by its base folder (the teams' checkouts' parent).
SETTINGS: dict[Path, dict[str, str]] = {}


def _team(base: Path, name: str) -> Path:
    checkout = base / name
    copy_checkout(checkout)
    subprocess.run(["git", "remote", "add", "origin", f"https://gitlab.example.org/{name}/solution.git"], cwd=checkout)
    return checkout


def _run(checkout: Path, variables: dict[str, str], pipeline: int, *jobs: str) -> Run:
    ci_file = write_local_pipeline(ROOT / ".gitlab-ci.yml", checkout / "build" / "ci-local", SETTINGS[checkout.parent])
    argv = [str(GITLAB_CI_LOCAL), "--file", str(ci_file.relative_to(checkout)), "--concurrency", "1", "--no-color"]
    argv += ["--ignore-predefined-vars", "CI_PIPELINE_SOURCE,CI_PIPELINE_ID,CI_MERGE_REQUEST_IID"]
    for key, value in {**variables, "CI_PIPELINE_ID": str(pipeline)}.items():
        argv += ["--variable", f"{key}={value}"]
    done = subprocess.run([*argv, *jobs], cwd=checkout, capture_output=True, text=True, timeout=600)
    output = checkout / ".gitlab-ci-local" / "output"
    logs = {p.stem: p.read_text(encoding="utf-8", errors="replace") for p in output.glob("*.log")}
    shutil.rmtree(output, ignore_errors=True)
    return Run(done.returncode, done.stdout + done.stderr, logs)


@pytest.fixture(scope="module")
def competition(tmp_path_factory: pytest.TempPathFactory) -> Competition:
    """Play the competition once for the module."""
    if not GITLAB_CI_LOCAL.exists():
        assert run_make(ROOT, str(GITLAB_CI_LOCAL.relative_to(ROOT))).returncode == 0
    # the check stage runs the submission under the image's pins
    assert run_make(ROOT, "venv-image", timeout=900).returncode == 0
    base = tmp_path_factory.mktemp("competition")
    data = write_challenge(base / "data")
    config = data / "competition.yaml"
    config.write_text(config.read_text(encoding="utf-8") + RULES, encoding="utf-8")
    store = base / "store.sqlite"
    # The organizers' settings, in the file the organizer jobs read (pipeline/organizer_settings.py).
    SETTINGS[base] = {
        "ORGANIZER_TOOLS": str(ROOT),
        "SUBMISSION_ENGINE": "bwrap",
        "CHALLENGE_TEST": str(data / "test"),
        "CHALLENGE_CONFIG": str(config),
        "RUNS_DIR": str(base / "runs"),
        "RUNS_KEEP": "20",
        "CHALLENGE_GT": str(data / "gt"),
        "SCORES_DIR": str(base / "scores"),
        "CHALLENGE_STORE": str(store),
        "DESCRIPTOR_DIM": "128",
    }
    variables = {"CI_PIPELINE_SOURCE": "merge_request_event", "CI_MERGE_REQUEST_IID": "1"}
    team_a, team_b = _team(base, "team-a"), _team(base, "team-b")

    def at(instant: str) -> None:
        clock = open_store(str(store))
        clock.set_clock(datetime.fromisoformat(instant).replace(tzinfo=UTC))
        clock.close()

    runs = {}
    at("2019-05-20T10:00")
    runs["a1"] = _run(team_a, variables, 101)
    at("2019-05-20T11:00")
    runs["b1"] = _run(team_b, variables, 201)
    at("2019-05-20T12:00")
    runs["a2"] = _run(team_a, variables, 102)
    runs["a2-note"] = _run(team_a, variables, 102, "mr-note")
    solution = team_a / "solution.py"
    solution.write_text(solution.read_text(encoding="utf-8").replace(WRITE_LINE, SHUFFLED), encoding="utf-8")
    subprocess.run([*GIT, "commit", "--quiet", "--all", "--message", "shuffled"], cwd=team_a, check=True)
    at("2019-05-21T10:30")
    runs["a3"] = _run(team_a, variables, 103)
    at("2019-05-21T11:00")
    runs["pick"] = _run(team_a, variables, 103, "final-pick")
    at("2019-05-22T00:00")
    runs["late"] = _run(team_b, variables, 202)
    runs["late-note"] = _run(team_b, variables, 202, "mr-note")
    return Competition(base, store, config, runs)


def test_admitted_pipelines_pass_and_are_recorded(competition: Competition) -> None:
    for name in ("a1", "b1", "a3"):
        run = competition.runs[name]
        assert run.returncode == 0, run.console[-3000:]
        assert all(run.passed(job) for job in ("admit", "infer", "score:private", "mr-note"))
    records = {r.pipeline: r for r in open_store(str(competition.store)).records()}
    assert {p: r.status for p, r in records.items()} == {
        "101": "ok",
        "201": "ok",
        "102": REFUSED,
        "103": "ok",
        "202": REFUSED,
    }
    assert records["101"].team == "team-a/solution" and records["201"].team == "team-b/solution"
    assert records["101"].public_tpr is not None and records["103"].public_tpr is not None
    assert records["103"].public_tpr < records["101"].public_tpr
    assert ADMITTED not in {r.status for r in records.values()}


def test_the_pipeline_over_quota_is_refused_before_the_gpu_and_told_why(competition: Competition) -> None:
    run = competition.runs["a2"]
    assert run.returncode != 0
    reason = (
        "Daily quota spent: 1 of 1 scored submissions in the last 24 hours; the next slot opens at 2019-05-21 10:00"
    )
    assert reason in run.logs["admit"]
    assert "infer" not in run.logs, "a refused submission must never reach the runner"
    assert "**Submission refused**: " + reason in competition.runs["a2-note"].logs["mr-note"]


def test_the_note_shows_earlier_public_scores_and_the_quota_left(competition: Competition) -> None:
    note = competition.runs["a3"].logs["mr-note"]
    first = open_store(str(competition.store)).record("101")
    assert f"| 2019-05-20 10:00 UTC | {first.commit[:8]} | {first.public_tpr:.4f} |" in note
    assert (
        "Quota: 0 of 1 scored submissions left in the last 24 hours; the next slot opens at 2019-05-22 10:30 UTC"
        in note
    )


def test_after_the_end_pipelines_are_refused(competition: Competition) -> None:
    run = competition.runs["late"]
    assert run.returncode != 0
    assert "The competition ended at 2019-05-22 00:00 UTC" in run.logs["admit"]
    assert "The competition has ended" in competition.runs["late-note"].logs["mr-note"]


def test_the_pick_decides_the_private_table_seen_in_chromium(competition: Competition) -> None:
    pick = competition.runs["pick"]
    assert pick.returncode == 0, pick.console[-3000:]
    assert "final submissions (1 of 1): pipeline 103" in pick.logs["final-pick"]
    page = competition.base / "public" / "index.html"
    done = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-m", "challenge", "leaderboard", "--store", str(competition.store)]
        + ["--config", str(competition.config), "--out", str(page)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "final (private)" in done.stdout
    rows = table_rows(rendered(page, competition.base / "final.png"))
    assert [row[1] for row in rows] == ["team-b/solution", "team-a/solution"]
    records = {r.pipeline: r for r in open_store(str(competition.store)).records()}
    assert rows[1][2] == f"{records['103'].private_tpr:.4f}"
    assert rows[0][2] == f"{records['201'].private_tpr:.4f}"


def test_no_job_log_shows_a_private_number(competition: Competition) -> None:
    public, secrets = set(), set()
    # Every public number is shown to the teams (both negatives rules); a private number equal to one is no leak.
    for path in (competition.base / "scores").rglob("score.json"):
        subsets = json.loads(path.read_text(encoding="utf-8"))["subsets"]
        for name, found in ((PUBLIC, public), (PRIVATE, secrets)):
            values = [p["tpr"] for rule in subsets[name]["by_negatives"].values() for p in rule["points"]]
            found |= {f"{v:.4f}" for v in [*values, subsets[name]["mean_positive_distance"]]}
    secrets -= public
    assert secrets, "the competition must give private numbers of its own"
    for name, run in competition.runs.items():
        for job, text in [*run.logs.items(), ("console", run.console)]:
            leaked = [s for s in secrets if s in text]
            assert not leaked, f"run {name}, {job} shows the private numbers {leaked}"
