"""The runner against misbehaving submissions, for real under bubblewrap, podman and docker.

Each fixture in tests/fixtures/submissions does one wrong thing; each test asserts the
status and message the participant sees, the run report, and what is left on the host.
The attacks on the runner itself are in test_security.py.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ENGINES, FIXTURES, engine_missing, processes_running, runner_command
from face_tracks import write_test_folder

from contracts.competition import Gpus
from contracts.errors import RunnerError
from contracts.names import DESCRIPTORS_FILE, LOG_FILE, OUTPUT_DIR, RUN_REPORT_FILE
from contracts.status import RUN_REPORT_FIELDS, Status
from submission.engines import make_engine
from submission.engines.container import ContainerState
from submission.isolation.cgroup import CgroupV1, CgroupV2, RunCgroup
from submission.isolation.leftovers import STATE_DIR_VARIABLE
from submission.isolation.output_volume import OutputVolume
from submission.isolation.rlimits import rlimit_setter
from submission.reporting.logs import CappedLog
from submission.reporting.run_report import RunReport
from submission.run import judge, run_submission
from submission.rundir import prepare_run_dir
from submission.settings import resolve_settings
from submission.supervise import ProcessResult

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("engine", ENGINES)
def test_good_submission_is_ok_with_a_full_report(runner, engine: str) -> None:
    run = runner(engine, "good")
    assert run.exit_code == 0, run.stderr
    assert run.report["status"] == "ok"
    assert set(RUN_REPORT_FIELDS) <= set(run.report)
    assert run.report["engine"] == engine and run.report["exit_code"] == 0
    assert (
        run.report["message"] == f"the submission wrote 5 descriptors of dimension 128 in {run.report['wall_s']:.1f}s"
    )
    assert run.report["peak_memory_bytes"] > 0
    assert "wrote 5 descriptors" in run.log
    with np.load(run.run_dir / OUTPUT_DIR / DESCRIPTORS_FILE) as written:
        assert written["descriptor"].shape == (5, 128)


@pytest.mark.parametrize("engine", ENGINES)
def test_the_submission_is_told_its_time_limit(runner, engine: str) -> None:
    run = runner(engine, "good", "--time-limit", "37")
    assert run.report["status"] == "ok", run.report["message"]
    assert "wrote 5 descriptors within a time limit of 37s" in run.log


@pytest.mark.parametrize("engine", ENGINES)
def test_never_ending_submission_that_ignores_sigterm_is_killed_at_the_limit(runner, engine: str) -> None:
    started = time.monotonic()
    run = runner(engine, "never_ends", "--time-limit", "2")
    assert run.exit_code == 1
    assert run.report["status"] == "timeout"
    assert run.report["message"].startswith("the submission did not finish within the time limit of 2s")
    assert run.report["exit_code"] is None
    # Killed at the limit plus the SIGTERM grace (5 s), not later.
    assert 2 <= run.report["wall_s"] < 2 + 5 + 2
    assert "SIGTERM ignored" in run.log and "SIGKILL" in run.log, run.log
    assert time.monotonic() - started < 60
    assert not processes_running("never_ends")


@pytest.mark.parametrize("engine", ENGINES)
def test_no_network_and_no_host_loopback(runner, engine: str) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    accepted = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        run = runner(engine, "network", args=(str(listener.getsockname()[1]),))
    finally:
        stop.set()
        thread.join()
        listener.close()
    assert "reachable: nothing" in run.log
    assert "no route out" in run.log
    assert accepted == []


@pytest.mark.parametrize("engine", ENGINES)
def test_ground_truth_and_host_files_are_not_readable(runner, engine: str, dataset: Path, tmp_path: Path) -> None:
    other_run = tmp_path / "other-run"
    other_run.mkdir()
    (other_run / "score.json").write_text("{}")
    run = runner(engine, "reads_host", args=(str(dataset / "gt" / "references.npz"), str(dataset), str(other_run)))
    assert "read: nothing" in run.log, run.log
    assert run.report["status"] == "invalid_output"


@pytest.mark.parametrize("engine", ENGINES)
def test_data_submission_and_system_folders_are_read_only(runner, engine: str, dataset: Path) -> None:
    before = (dataset / "test" / "tracks.csv").read_bytes()
    run = runner(engine, "writes_outside")
    assert "wrote: nothing" in run.log, run.log
    assert (dataset / "test" / "tracks.csv").read_bytes() == before
    assert not (dataset / "test" / "planted.txt").exists()
    assert not (FIXTURES / "writes_outside" / "planted.txt").exists()


@pytest.mark.parametrize("engine", ENGINES)
def test_fork_bomb_hits_the_pids_limit_and_the_machine_stays_usable(runner, engine: str) -> None:
    run = runner(engine, "fork_bomb", "--pids-limit", "64")
    assert run.report["status"] == "failed"
    assert run.report["exit_code"] == 4
    assert "forks failed" in run.log
    assert subprocess.run(["true"]).returncode == 0
    assert not processes_running("fork_bomb")


@pytest.mark.parametrize("engine", ENGINES)
def test_allocating_4_gb_under_512_mb_is_oom(runner, engine: str) -> None:
    run = runner(engine, "eats_memory", "--memory", "512m")
    assert run.exit_code == 1
    assert run.report["status"] == "oom"
    assert run.report["message"].startswith("the submission ran out of memory: the kernel killed")
    assert "at the 512.0 MiB limit" in run.report["message"]
    assert "allocated 4 GB" not in run.log


@pytest.mark.parametrize("engine", ENGINES)
def test_printing_200_mb_is_capped_with_head_and_tail(runner, engine: str) -> None:
    run = runner(engine, "prints_flood", "--log-limit", "1m")
    log_size = (run.run_dir / LOG_FILE).stat().st_size
    assert log_size <= 1024**2 + 8192
    assert run.report["log_truncated"] is True
    assert "bytes of log dropped here: the log is capped" in run.log
    assert "the last line" in run.log and "command: " in run.log
    assert run.report["status"] == "failed" and run.report["exit_code"] == 5
    cut = "; log.txt was cut: its middle is dropped to keep it under 1.0 MiB (--log-limit), print less"
    assert run.report["message"].endswith(cut) and cut in run.stderr


@pytest.mark.parametrize("engine", ENGINES)
def test_non_zero_exit_is_failed_with_the_stderr_tail(runner, engine: str) -> None:
    run = runner(engine, "exits_3")
    assert run.exit_code == 1
    assert run.report["status"] == "failed"
    assert run.report["exit_code"] == 3
    assert run.report["message"] == (
        "the submission exited with code 3; last stderr lines: RuntimeError: the model file is corrupt"
    )
    assert run.report["fault"] == "participant"


@pytest.mark.parametrize("engine", ENGINES)
def test_nan_descriptors_are_invalid_output(runner, engine: str) -> None:
    run = runner(engine, "writes_nan")
    assert run.report["status"] == "invalid_output"
    assert "descriptor has NaN or inf in 2 row(s) (track ids 1000, 1001)" in run.report["message"]


@pytest.mark.parametrize("engine", ENGINES)
def test_symlink_output_is_refused_without_reading_its_target(runner, engine: str, dataset: Path) -> None:
    run = runner(engine, "symlink_output", args=(str(dataset / "gt" / "references.npz"),))
    assert run.report["status"] == "invalid_output"
    assert "descriptors.npz is a symbolic link; write the file itself, not a link" in run.report["message"]
    assert "SECRET" not in run.log + json.dumps(run.report)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_daemon_left_behind_does_not_survive_the_run(runner, engine: str) -> None:
    run = runner(engine, "leaves_daemon")
    assert "daemon started" in run.log
    time.sleep(5)  # the daemon would write its marker 4 s after it started
    assert not (run.run_dir / OUTPUT_DIR / "daemon-was-here").exists()
    assert not processes_running("leaves_daemon")


def test_unreachable_docker_engine_is_an_engine_error_with_the_fix(dataset: Path, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "submission", "run", "--engine", "docker", "--image", "any:tag", "--quiet"]
    command += ["--data", str(dataset / "test"), "--out", str(tmp_path / "run")]
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env)
    report = json.loads((tmp_path / "run" / RUN_REPORT_FILE).read_text())
    assert done.returncode == 3
    assert report["status"] == "engine_error" and report["fault"] == "organizer"
    assert report["message"] in (
        "no docker engine is reachable (the docker CLI is only a client here); use --engine podman or bwrap",
        "docker is not installed; install it (`apt-get install docker`) or use --engine bwrap",
    )


@pytest.mark.parametrize("engine", ["podman", "docker"])
def test_absent_image_is_an_engine_error_naming_make_build(engine: str, dataset: Path, tmp_path: Path) -> None:
    missing = engine_missing(engine)
    if missing:
        pytest.skip(missing)
    command = [sys.executable, "-m", "submission", "run", "--engine", engine, "--image", "localhost/absent:none"]
    done = subprocess.run(
        [*command, "--data", str(dataset / "test"), "--out", str(tmp_path / "run")], capture_output=True, text=True
    )
    report = json.loads((tmp_path / "run" / RUN_REPORT_FILE).read_text())
    assert done.returncode == 3
    expected = f"image localhost/absent:none is not present in {engine}; build it first with `make build`"
    assert report["message"] == expected


@pytest.mark.parametrize("engine", ENGINES)
def test_exit_code_125_of_the_submission_is_the_participants_not_an_engine_error(runner, engine: str) -> None:
    """125 is docker's own code for its failures: a submission exiting with it stays a participant failure."""
    run = runner(engine, "exits_125")
    assert run.exit_code == 1
    assert run.report["status"] == "failed" and run.report["fault"] == "participant"
    assert run.report["exit_code"] == 125
    assert run.report["message"].startswith("the submission exited with code 125; last stderr lines: ")


def test_a_used_run_folder_is_refused_unless_forced(runner, dataset: Path, tmp_path: Path) -> None:
    runner("bwrap", "good")
    command = [sys.executable, "-m", "submission", "run", "--engine", "bwrap", "--data", str(dataset / "test")]
    command += ["--out", str(tmp_path / "run-bwrap-good"), "--submission", str(FIXTURES / "good")]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2
    assert "holds files of an earlier run; pass --force to empty it or choose another --out" in done.stderr
    forced = subprocess.run([*command, "--force", "--quiet"], capture_output=True, text=True, cwd=ROOT)
    assert forced.returncode == 0, forced.stderr


def test_limits_come_from_the_competition_file_beside_the_data(tmp_path: Path) -> None:
    root = tmp_path / "dataset"
    write_test_folder(root / "test", n_tracks=2)
    (root / "competition.yaml").write_text("time_limit_s: 1.5\nhardware:\n  memory: 300m\n  pids_limit: 77\n")
    command = [sys.executable, "-m", "submission", "run", "--engine", "bwrap", "--quiet", "--data", str(root / "test")]
    command += [
        "--out",
        str(tmp_path / "run"),
        "--submission",
        str(FIXTURES / "never_ends"),
        "--",
        "python",
        "solution.py",
    ]
    subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=60)
    report = json.loads((tmp_path / "run" / RUN_REPORT_FILE).read_text())
    assert report["status"] == "timeout"
    assert report["time_limit_s"] == 1.5
    assert report["limits"]["memory"] == "300.0 MiB" and report["limits"]["pids"] == 77


def test_a_required_dimension_is_checked_when_given(runner) -> None:
    run = runner("bwrap", "good", "--dim", "512")
    assert run.exit_code == 1
    assert run.report["status"] == "invalid_output"
    assert "descriptor has dimension 128, the references have 512; write [N, 512] descriptors" in run.report["message"]


def test_without_a_cgroup_rlimits_still_cap_memory() -> None:
    allocate = "bytearray(600 * 1024**2); print('allocated')"
    done = subprocess.run(
        [sys.executable, "-c", allocate],
        capture_output=True,
        text=True,
        preexec_fn=rlimit_setter(256 * 1024**2, 64),
    )
    assert done.returncode == 1
    assert "MemoryError" in done.stderr and "allocated" not in done.stdout


def test_local_engine_warns_that_nothing_is_isolated(runner) -> None:
    run = runner("local", "good")
    assert run.report["status"] == "ok"
    assert "runs the submission on the host with NO isolation" in run.stderr


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--time-limit", "0"], "--time-limit must be positive, got 0.0"),
        (["--memory", "lots"], "size must look like 512m, 16g or 4096"),
        (["--gpus", "some"], "--gpus must be all, none or a number, got some"),
    ],
)
def test_bad_options_are_one_usage_line(dataset: Path, tmp_path: Path, options: list[str], message: str) -> None:
    command = [sys.executable, "-m", "submission", "run", "--data", str(dataset / "test"), "--out", str(tmp_path / "r")]
    done = subprocess.run([*command, *options], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


def test_data_must_be_a_test_folder(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "submission", "run", "--data", str(tmp_path), "--out", str(tmp_path / "r")]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2
    assert f"--data must be a test folder holding tracks.csv, got {tmp_path}" in done.stderr
    assert os.path.exists(tmp_path)


def test_an_empty_tracks_csv_is_one_usage_line_before_anything_runs(tmp_path: Path) -> None:
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "tracks.csv").write_text("track_id,frame,path\n")
    command = [
        sys.executable,
        "-m",
        "submission",
        "run",
        "--data",
        str(tmp_path / "test"),
        "--out",
        str(tmp_path / "r"),
    ]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2
    assert "tracks.csv has no tracks: it must hold one row per frame" in done.stderr
    assert "Traceback" not in done.stderr


def test_docker_reports_oom_when_the_runner_has_no_cgroup(dataset: Path, tmp_path: Path, engine_image) -> None:
    """The README's CI topology: the runner in a container with the host's docker socket, no cgroup of its own.

    A private mount namespace with an empty, read-only /sys/fs/cgroup stands in for that container.
    """
    missing = engine_missing("docker")
    if missing:
        pytest.skip(missing)
    run_dir = tmp_path / "run"
    command = runner_command("docker", "eats_memory", dataset, run_dir, engine_image("docker"))
    command[command.index("--") : command.index("--")] = ["--memory", "512m"]
    hide_cgroups = 'mount -t tmpfs -o ro,size=1m tmpfs /sys/fs/cgroup && exec "$@"'
    done = subprocess.run(
        ["unshare", "--mount", "sh", "-c", hide_cgroups, "sh", *command], capture_output=True, text=True, cwd=ROOT
    )
    report = json.loads((run_dir / RUN_REPORT_FILE).read_text())
    log = (run_dir / LOG_FILE).read_text()
    assert done.returncode == 1, done.stderr
    assert report["status"] == "oom" and report["cgroup"] is None
    assert report["message"].startswith("the submission ran out of memory: the kernel killed 1 process(es)")
    assert "docker still applies the limits and reports OOM kills, but the peak memory is lost" in log
    assert "/output is not size-limited (the docker daemon runs in another mount namespace" in log
    assert "rlimits" not in log and "run as root" not in log


@pytest.mark.parametrize("engine", ["podman", "docker"])
def test_an_image_command_that_cannot_run_is_the_participants(engine: str, dataset: Path, tmp_path: Path, engine_image):
    """The engine answers 127 when the image has no such program: the image is the participant's."""
    missing = engine_missing(engine)
    if missing:
        pytest.skip(missing)
    command = runner_command(engine, "good", dataset, tmp_path / "run", engine_image(engine))
    command = [*command[: command.index("--")], "--", "no-such-program"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    report = json.loads((tmp_path / "run" / RUN_REPORT_FILE).read_text())
    assert done.returncode == 1, done.stderr
    assert report["status"] == "failed" and report["fault"] == "participant"
    assert report["message"].startswith("the image's command could not be run (exit code 127): ")
    assert "no-such-program" in report["message"]


@pytest.mark.parametrize(
    ("client_exit", "state", "status", "message"),
    [
        (
            125,
            ContainerState(started=False, exit_code=128, oom_killed=False, error='could not select device driver ""'),
            "engine_error",
            'docker could not start the container: could not select device driver ""; the submission never ran',
        ),
        (
            125,
            None,
            "engine_error",
            "docker could not start the container: docker: Error response from daemon: no space left on device; "
            "the submission never ran",
        ),
        (
            125,
            ContainerState(started=True, exit_code=125, oom_killed=False, error=""),
            "failed",
            "the submission exited with code 125; last stderr lines: "
            "docker: Error response from daemon: no space left on device",
        ),
        (
            137,
            ContainerState(started=True, exit_code=137, oom_killed=True, error=""),
            "oom",
            "the submission ran out of memory: the kernel killed 1 process(es) at the 16.0 GiB limit",
        ),
    ],
)
def test_the_engines_own_state_decides_whose_failure_it_is(
    client_exit: int, state: ContainerState | None, status: str, message: str, dataset: Path, tmp_path: Path
) -> None:
    """No GPU toolkit or a full disk here: the rule itself, on the states docker reports for them."""
    settings = resolve_settings(
        engine="docker", data_dir=dataset / "test", run_dir=tmp_path, submission_dir=FIXTURES / "good", image="x"
    )
    with (tmp_path / "log.txt").open("wb") as handle:
        log = CappedLog(handle)
        log.write("stderr", "docker: Error response from daemon: no space left on device")
        result = ProcessResult(client_exit, False, 1.0, "", "", 0, container=state)
        oom_kills = 1 if state and state.oom_killed else 0
        assert judge(settings, make_engine("docker"), result, oom_kills, None, {}, log) == (status, message)


def test_a_submission_folder_without_its_files_is_an_engine_error_naming_the_fix(dataset: Path, tmp_path: Path):
    (tmp_path / "empty").mkdir()
    command = runner_command("bwrap", "good", dataset, tmp_path / "run", None)
    command[command.index("--submission") + 1] = str(tmp_path / "empty")
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    report = json.loads((tmp_path / "run" / RUN_REPORT_FILE).read_text())
    assert done.returncode == 3
    assert report["message"] == (
        f"{tmp_path / 'empty'} holds none of the submission's files "
        "(solution.py, *.py, models/*.onnx, models/manifest.json, models/NOTICE); "
        "point --submission at the folder with solution.py"
    )


def _in_process_run(dataset: Path, run_dir: Path, engine: str, command: tuple[str, ...] = ()) -> RunReport:
    settings = resolve_settings(
        engine=engine, data_dir=dataset / "test", run_dir=run_dir, submission_dir=FIXTURES / "good", command=command
    )
    prepare_run_dir(settings.run_dir, force=False)
    return run_submission(settings, warn=lambda message: None)


def test_a_run_without_a_place_for_its_record_is_an_engine_error_with_the_settings_in_its_report(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run stops before any step: run.json still names the asked-for engine and the limits in force."""
    not_a_folder = tmp_path / "state"
    not_a_folder.write_text("a file where the records' folder should be")
    monkeypatch.setenv(STATE_DIR_VARIABLE, str(not_a_folder))
    report = _in_process_run(dataset, tmp_path / "run", "local")
    document = json.loads((tmp_path / "run" / RUN_REPORT_FILE).read_text())
    assert report.status is Status.ENGINE_ERROR and document["fault"] == "organizer"
    assert report.message.startswith(f"cannot keep the run's record in {not_a_folder} (")
    assert report.message.endswith(f"make that folder writable or point {STATE_DIR_VARIABLE} at one")
    assert document["engine"] == "local" and document["run_id"] is None and document["command"] == []
    assert document["limits"]["pids"] == report.limits["pids"] and "output_files" not in document["limits"]


def test_a_launch_that_fails_is_an_engine_error_that_says_the_engine_could_not_start(
    dataset: Path, tmp_path: Path
) -> None:
    report = _in_process_run(dataset, tmp_path / "run", "local", ("/no/such/program",))
    assert report.status is Status.ENGINE_ERROR and report.exit_code is None
    assert report.message.startswith("the local engine could not start: [Errno 2] No such file or directory")
    assert report.organizer_warnings == []


def test_a_teardown_that_fails_keeps_the_runs_own_status_and_warns_the_organizer(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Processes that survive SIGKILL after the run (injected: the kernel will not do it here) are
    the organizer's to look at; the submission ran, ended and wrote its output, so it stays ok."""
    if RunCgroup.supported():
        pytest.skip(f"no run cgroup here: {RunCgroup.supported()}")

    def survives(self: RunCgroup, attempts: int = 50) -> int:
        raise RunnerError("processes [4242] of the run survive SIGKILL; check the host")

    for kind in (CgroupV1, CgroupV2):
        monkeypatch.setattr(kind, "kill_all", survives)
    report = _in_process_run(dataset, tmp_path / "run", "bwrap")
    assert report.status is Status.OK, report.message
    assert report.exit_code == 0
    assert report.organizer_warnings == ["processes [4242] of the run survive SIGKILL; check the host"]
    document = json.loads((tmp_path / "run" / RUN_REPORT_FILE).read_text())
    assert document["status"] == "ok" and document["organizer_warnings"] == report.organizer_warnings
    log = (tmp_path / "run" / LOG_FILE).read_text()
    assert "cleanup after the run failed: processes [4242] of the run survive SIGKILL" in log


def test_every_bad_option_is_reported_at_once(dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError) as raised:
        resolve_settings(
            engine="bwrap",
            data_dir=dataset / "test",
            run_dir=tmp_path,
            submission_dir=tmp_path,
            time_limit_s=0,
            cpus=-1,
            gpus="some",
        )
    assert str(raised.value).splitlines() == [
        "--gpus must be all, none or a number, got some",
        "--time-limit must be positive, got 0",
        "--cpus must be positive, got -1",
    ]


@pytest.mark.parametrize(("text", "number"), [("all", None), ("none", 0), ("2", 2), (" ALL ", None), (3, 3)])
def test_gpus_are_parsed_once_into_a_number(text: object, number: int | None) -> None:
    assert Gpus(text).number == number
    assert Gpus(text) == str(text).strip().lower()


@pytest.mark.parametrize("text", ["some", "-1", "1.5", True, ""])
def test_gpus_refuse_anything_else(text: object) -> None:
    with pytest.raises(ValueError, match="must be all, none or a number of GPUs, got"):
        Gpus(text)


def test_a_timeout_says_how_far_the_run_got(runner) -> None:
    run = runner("bwrap", "slow_with_progress", "--time-limit", "2")
    assert run.report["status"] == "timeout"
    assert run.report["message"] == (
        "the submission did not finish within the time limit of 2s and was stopped; it had done 2 of 5 tracks "
        "(its progress.json); its output is not scored"
    )


def test_an_output_that_cannot_be_copied_out_is_the_organizers_not_the_participants(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A copy-out that fails (injected) loses the output: never the participant's invalid_output."""
    if OutputVolume.unavailable():
        pytest.skip(f"no output volume here: {OutputVolume.unavailable()}")

    def fails(self: OutputVolume) -> dict:
        self.discard()
        raise RunnerError("cannot unmount the output filesystem: target is busy")

    monkeypatch.setattr(OutputVolume, "collect", fails)
    report = _in_process_run(dataset, tmp_path / "run", "bwrap")
    assert report.status is Status.ENGINE_ERROR and report.exit_code == 0
    assert report.message.startswith(
        "the runner could not copy /output out of its volume (cannot unmount the output filesystem: target is busy)"
    )
