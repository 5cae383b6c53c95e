"""A runner killed by SIGKILL (a CI job cancelled hard, the runner OOM-killed) leaves nothing for good.

Its run's watchdog ends the run at the time limit plus grace plus a margin; the next
runner start cleans whatever is still there and marks run.json. Other runs alive on the
host at the same time are never touched: only a run whose record lock is free is cleaned.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import CONTAINER_LISTS, assert_nothing_left, engine_missing, runner_command

from contracts.names import LOG_FILE, RUN_REPORT_FILE
from submission.isolation.cgroup import CgroupV1, CgroupV2, RunCgroup
from submission.isolation.leftovers import state_dir
from submission.reaper import KILLED_MESSAGE, WATCHDOG_MARGIN_S
from submission.settings import GRACE_S

ROOT = Path(__file__).resolve().parent.parent
TIME_LIMIT_S = 2.0


def _start(engine: str, dataset: Path, run_dir: Path, engine_image, time_limit_s: float) -> subprocess.Popen:
    image = engine_image(engine) if engine in CONTAINER_LISTS else None
    command = runner_command(engine, "never_ends", dataset, run_dir, image)
    split = command.index("--")
    command[split:split] = ["--time-limit", str(time_limit_s)]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _record_when_running(run_dir: Path, process: subprocess.Popen, container: bool) -> tuple[Path, dict]:
    """Wait until the submission runs; return its record's path and content (what the run has made)."""
    deadline = time.monotonic() + 120
    while True:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the submission never started"
        try:
            run_id = json.loads((run_dir / RUN_REPORT_FILE).read_text())["run_id"]
            path = state_dir() / f"{run_id}.json"
            record = json.loads(path.read_text())
            running = "sleeping forever" in (run_dir / LOG_FILE).read_text()
        except (OSError, ValueError, KeyError):
            running = False
        if running and "cgroup" in record and (record.get("container") or not container):
            return path, record
        time.sleep(0.1)


def _group(record: dict) -> RunCgroup:
    fields = record["cgroup"]
    kind: type[RunCgroup] = CgroupV2 if fields["version"] == 2 else CgroupV1
    return kind(fields["name"], Path(fields["root"]), fields["parent"])


def _assert_cleaned(run_dir: Path, record_path: Path, record: dict) -> None:
    assert not record_path.exists() and not record_path.with_suffix(".lock").exists()
    assert not _group(record).pids()
    assert not Path(record["scratch"]).exists()
    assert not any(str(run_dir) in line for line in Path("/proc/mounts").read_text().splitlines())
    assert not list(run_dir.glob(".*collect"))
    report = json.loads((run_dir / RUN_REPORT_FILE).read_text())
    assert report["status"] == "engine_error" and report["fault"] == "organizer"
    assert report["message"] == KILLED_MESSAGE
    assert report["run_id"] == record["run_id"]
    assert_nothing_left({"cgroup": _group(record).relative})


@pytest.mark.parametrize("engine", ["local", "bwrap", "podman", "docker"])
def test_nothing_of_a_run_outlives_its_deadline_when_the_runner_is_killed(
    engine: str, dataset: Path, tmp_path: Path, engine_image
) -> None:
    """No runner start in between: the watchdog alone ends the run, its container and its cgroup."""
    missing = engine_missing(engine) if engine != "local" else None
    if missing or RunCgroup.supported():
        pytest.skip(missing or f"no run cgroup here: {RunCgroup.supported()}")
    run_dir = tmp_path / "run"
    process = _start(engine, dataset, run_dir, engine_image, TIME_LIMIT_S)
    record_path, record = _record_when_running(run_dir, process, engine in CONTAINER_LISTS)
    killed_at = time.monotonic()
    process.send_signal(signal.SIGKILL)
    process.wait()
    if engine == "local":
        # Nothing of the runner's own is left to end it: the submission outlives its runner.
        assert _group(record).pids()
    deadline = killed_at + TIME_LIMIT_S + GRACE_S + WATCHDOG_MARGIN_S + 30
    while record_path.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    _assert_cleaned(run_dir, record_path, record)


def test_the_next_runner_start_cleans_a_killed_run_and_leaves_a_live_one_alone(
    dataset: Path, tmp_path: Path, engine_image
) -> None:
    """A run killed long before its deadline is cleaned by the next start; a concurrent live run goes on."""
    if RunCgroup.supported():
        pytest.skip(f"no run cgroup here: {RunCgroup.supported()}")
    live = _start("local", dataset, tmp_path / "live", engine_image, 300)
    killed = _start("local", dataset, tmp_path / "killed", engine_image, 300)
    try:
        live_path, live_record = _record_when_running(tmp_path / "live", live, container=False)
        killed_path, killed_record = _record_when_running(tmp_path / "killed", killed, container=False)
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        assert _group(killed_record).pids()
        command = runner_command("bwrap", "good", dataset, tmp_path / "next", None)
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert f"cleaned after a killed runner (run {killed_record['run_id']} in {tmp_path / 'killed'})" in done.stderr
        _assert_cleaned(tmp_path / "killed", killed_path, killed_record)
        assert live.poll() is None
        assert live_path.exists() and _group(live_record).pids()
        assert json.loads((tmp_path / "live" / RUN_REPORT_FILE).read_text())["message"] != KILLED_MESSAGE
    finally:
        for process in (live, killed):
            if process.poll() is None:
                process.terminate()
                process.communicate(timeout=60)
    report = json.loads((tmp_path / "live" / RUN_REPORT_FILE).read_text())
    assert report["message"].startswith("the run was interrupted: the runner received SIGTERM")
    assert_nothing_left(report)
