"""Attacks on the runner by a hostile submission or a hostile checkout, each run for real.

A submission is a stranger's code run by root. Every attack below got through once; each
test shows it contained, under bwrap, podman and docker where it involves the sandbox.
The README's threat model lists the same attacks and points here.

| attack                                               | test                                                |
|------------------------------------------------------|-----------------------------------------------------|
| host root through bwrap: sysctls, setuid in /output  | test_the_sandbox_is_not_host_root_and_output_is_inert |
| root runner follows links planted in RUN_DIR         | test_links_planted_in_the_run_folder_are_refused    |
| a file or folder where the runner writes its own     | test_a_folder_where_log_txt_goes_is_refused         |
| absurd progress.json crashes the runner              | test_absurd_progress_reports_never_crash_the_runner |
| the runner's own failure leaves the run going        | test_a_failure_of_the_runner_stops_the_submission   |
| Ctrl-C or SIGTERM to the runner leaves it running    | test_sigint_and_sigterm_stop_the_run_and_report_it  |
| npz header bomb, 20 M ids, D = 0, duplicate members  | test_hostile_npz_is_refused_before_it_is_loaded     |
| /output fills the disk (bytes, files)                | test_output_is_bounded_in_bytes / _in_files         |
| terminal injection through stderr and solution.json  | test_control_characters_never_reach_the_terminal    |
| the sandbox reads the organizer's other files        | test_the_sandbox_sees_only_the_submission           |
| every GPU bound whatever --gpus says                 | test_only_the_requested_gpus_are_bound              |
| found beyond the issue:                              |                                                     |
| a sparse 1 TiB file in /output, copied out in full   | test_a_sparse_file_never_reaches_the_host_disk      |
| 3,000 nested folders crash a recursive copy-out      | test_deep_folders_in_output_are_cut_not_a_crash     |
| an image VOLUME is writable under --read-only        | test_image_volumes_are_memory_not_the_host_disk     |
| /output deeper than PATH_MAX broke the copy-out      | test_folders_past_path_max_in_output_are_cut_*      |
| an image's VOLUME /output: engine_error under docker | test_an_image_with_a_volume_at_output_is_*          |
| kill -9 of the runner leaves the run going           | test_killed_runner.py                               |
| issue 16: user namespaces, keyctl, io_uring, mount   | test_kernel_calls_past_the_sandbox_are_refused      |
| issue 16: the host's /etc, cmdline and paths inside  | test_bwrap_shows_no_host_details                    |
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ENGINES, FIXTURES, assert_nothing_left, engine_missing, processes_running, runner_command
from face_tracks import write_test_folder

from contracts.competition import Gpus
from contracts.names import LOG_FILE, OUTPUT_DIR, RUN_REPORT_FILE
from submission.engines.bwrap import SANDBOX_VENV, gpu_devices
from submission.engines.container import DOCKER_BASE, PODMAN_BASE
from submission.isolation.privileges import SANDBOX_UID
from submission.isolation.sandbox_etc import sandbox_etc_files
from submission.isolation.seccomp import NAMESPACE_FLAGS, RULES

ROOT = Path(__file__).resolve().parent.parent
SYSCTLS = ("/proc/sys/vm/swappiness", "/proc/sys/kernel/core_pattern")


@contextlib.contextmanager
def _started(
    engine: str, name: str, dataset: Path, run_dir: Path, engine_image, *extra: str
) -> Iterator[subprocess.Popen]:
    """Start the runner on fixture NAME in the background; SIGTERM it if the test fails before it ends."""
    missing = engine_missing(engine)
    if missing:
        pytest.skip(missing)
    image = engine_image(engine) if engine != "bwrap" else None
    command = runner_command(engine, name, dataset, run_dir, image)
    process = subprocess.Popen([*command, *extra], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            process.communicate(timeout=60)


def _wait_for(path: Path, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.1)


@pytest.mark.parametrize("engine", ENGINES)
def test_the_sandbox_is_not_host_root_and_output_is_inert(engine: str, dataset: Path, tmp_path: Path, engine_image):
    before = {path: Path(path).read_text() for path in SYSCTLS}
    run_dir = tmp_path / "run"
    with _started(engine, "plants_setuid", dataset, run_dir, engine_image, "4") as process:
        planted = run_dir / OUTPUT_DIR / "suid-python"
        _wait_for(planted, process)
        time.sleep(0.5)  # the chmod follows the copy
        # Seen from the host while the run goes on: the sandbox user's file on a nosuid, nodev, noexec volume.
        during = planted.stat()
        flags = os.statvfs(run_dir / OUTPUT_DIR).f_flag
        output_dir = (run_dir / OUTPUT_DIR).stat()
        process.communicate(timeout=120)
    report = json.loads((run_dir / RUN_REPORT_FILE).read_text())
    log = (run_dir / LOG_FILE).read_text()

    assert during.st_uid == SANDBOX_UID and during.st_gid == SANDBOX_UID
    assert flags & os.ST_NOSUID and flags & os.ST_NODEV and flags & os.ST_NOEXEC
    assert output_dir.st_uid == SANDBOX_UID and stat.S_IMODE(output_dir.st_mode) == 0o700
    assert "got through: nothing" in log, log
    assert f"uid {SANDBOX_UID}" in log
    assert {path: Path(path).read_text() for path in SYSCTLS} == before
    after = planted.stat()
    assert not after.st_mode & (stat.S_ISUID | stat.S_ISGID), oct(after.st_mode)
    assert report["status"] == "invalid_output"
    assert_nothing_left(report)


@pytest.mark.parametrize(
    ("plant", "refusal"),
    [
        ("log.txt", "log.txt is a symbolic link: the runner writes only regular files of its own there"),
        (".run.json.tmp", ".run.json.tmp is a symbolic link: the runner writes only regular files of its own there"),
        ("output", "output is not a folder (a link or a file); remove it or choose another --out"),
        ("", "--out must not be or pass through a symbolic link, and"),
    ],
)
def test_links_planted_in_the_run_folder_are_refused(plant: str, refusal: str, dataset: Path, tmp_path: Path):
    """A checkout can commit links where the runner writes: `run/log.txt -> a victim`, or `run -> another team`."""
    victim_dir = tmp_path / "other-team"
    (victim_dir / OUTPUT_DIR).mkdir(parents=True)
    (victim_dir / OUTPUT_DIR / "descriptors.npz").write_bytes(b"their output")
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    run_dir = tmp_path / "checkout" / "run"
    if plant:
        run_dir.mkdir(parents=True)
        (run_dir / plant).symlink_to(victim_dir / OUTPUT_DIR if plant == OUTPUT_DIR else victim)
    else:
        run_dir.parent.mkdir()
        run_dir.symlink_to(victim_dir)
    command = runner_command("bwrap", "good", dataset, run_dir, None)
    done = subprocess.run([*command[:-3], "--force"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2, done.stderr
    assert refusal in " ".join(done.stderr.split()), done.stderr
    assert victim.read_text() == "precious"
    assert (victim_dir / OUTPUT_DIR / "descriptors.npz").read_bytes() == b"their output"
    assert not (victim_dir / RUN_REPORT_FILE).exists() and not (victim_dir / LOG_FILE).exists()


def test_a_folder_where_log_txt_goes_is_refused(dataset: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    (run_dir / LOG_FILE).mkdir(parents=True)
    done = subprocess.run(runner_command("bwrap", "good", dataset, run_dir, None), capture_output=True, text=True)
    assert done.returncode == 2
    assert "log.txt is not a regular file: the runner writes only regular files of its own there" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("engine", ENGINES)
def test_absurd_progress_reports_never_crash_the_runner(runner, engine: str) -> None:
    """tracks_done = 10**400 once raised OverflowError in the progress line and left the container running."""
    run = runner(engine, "progress_garbage", quiet=False)
    assert run.report["status"] == "ok", run.report["message"]
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize("engine", ENGINES)
def test_a_failure_of_the_runner_stops_the_submission(engine: str, dataset: Path, tmp_path: Path, engine_image):
    """An exception on the organizer's side (here in the progress callback) ends the run cleanly: engine_error."""
    missing = engine_missing(engine)
    if missing:
        pytest.skip(missing)
    image = engine_image(engine) if engine != "bwrap" else None
    script = f"""
import sys
from pathlib import Path
from submission.rundir import prepare_run_dir
from submission.run import run_submission
from submission.settings import resolve_settings
settings = resolve_settings(engine={engine!r}, data_dir=Path({str(dataset / "test")!r}),
    run_dir=Path({str(tmp_path / "run")!r}), submission_dir=Path({str(FIXTURES / "never_ends")!r}),
    image={image!r}, command=("python", {"solution.py" if image is None else "/fixtures/never_ends/solution.py"!r}),
    time_limit_s=60)
prepare_run_dir(settings.run_dir, force=False)
def progress(line):
    raise ValueError("a bug in the organizer's progress display")
report = run_submission(settings, progress=progress, warn=lambda message: None)
print(report.status)
"""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    report = json.loads((tmp_path / "run" / RUN_REPORT_FILE).read_text())
    assert done.stdout.strip() == "engine_error", done.stderr
    assert report["fault"] == "organizer"
    assert report["message"].startswith(
        "the runner failed (ValueError: a bug in the organizer's progress display); the submission was stopped"
    )
    assert time.monotonic() - started < 60
    assert not processes_running("never_ends")
    assert_nothing_left(report)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("engine", ENGINES)
def test_sigint_and_sigterm_stop_the_run_and_report_it(
    engine: str, signum: int, dataset: Path, tmp_path: Path, engine_image
) -> None:
    """Ctrl-C and a cancelled CI job: the container and its processes go, run.json says why, the exit is 128+N."""
    run_dir = tmp_path / "run"
    with _started(engine, "never_ends", dataset, run_dir, engine_image) as process:
        _wait_for(run_dir / LOG_FILE, process)
        deadline = time.monotonic() + 60
        while "sleeping forever" not in (run_dir / LOG_FILE).read_text():
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.1)
        if engine == "docker":
            # Every limit is applied by docker itself, and docker keeps no log of its own.
            name = subprocess.run(["docker", "ps", "--format", "{{.Names}}"], capture_output=True, text=True).stdout
            container = next(line for line in name.split() if line.startswith("mcs-run-"))
            host = json.loads(
                subprocess.run(
                    ["docker", "inspect", "--format", "{{json .HostConfig}}", container], capture_output=True, text=True
                ).stdout
            )
            assert host["LogConfig"]["Type"] == "none"
            assert (host["CpuPeriod"], host["CpuQuota"], host["NanoCpus"]) == (100_000, 600_000, 0)
            assert host["Memory"] == host["MemorySwap"] == 16 * 1024**3 and host["PidsLimit"] == 1024
            assert host["ReadonlyRootfs"] and host["NetworkMode"] == "none" and host["CapDrop"] == ["ALL"]
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=60)
    report = json.loads((run_dir / RUN_REPORT_FILE).read_text())
    assert process.returncode == 128 + signum, stderr
    assert report["status"] == "engine_error"
    name = signal.Signals(signum).name
    assert report["message"] == (
        f"the run was interrupted: the runner received {name}; the submission was stopped and nothing is scored"
    )
    assert f"interrupted: the runner received {name}" in stderr
    assert not processes_running("never_ends")
    assert_nothing_left(report)


NPZ_ATTACKS = {
    "npz_header_bomb": "descriptor must hold the 4000000000000000000 bytes its .npy header declares",
    "npz_many_ids": "descriptors.npz is too large: ",
    "zero_dim": "descriptor must have a dimension D between 1 and 4096, got 0",
    "duplicate_members": "descriptors.npz must hold each array once, got track_id.npy more than once",
}


@pytest.mark.parametrize("fixture", sorted(NPZ_ATTACKS))
@pytest.mark.parametrize("engine", ENGINES)
def test_hostile_npz_is_refused_before_it_is_loaded(runner, engine: str, fixture: str) -> None:
    """A header declaring 10**18 values (MemoryError, a traceback) or 20 M ids (12 GB, 6 minutes of the root runner).

    The reader's own memory bound is measured in test_descriptors_contract.py (tracemalloc).
    """
    started = time.monotonic()
    run = runner(engine, fixture)
    assert run.report["status"] == "invalid_output"
    assert NPZ_ATTACKS[fixture] in run.report["message"]
    assert time.monotonic() - started < 60


@pytest.mark.parametrize("engine", ENGINES)
def test_output_is_bounded_in_bytes(runner, engine: str) -> None:
    free_before = shutil.disk_usage("/tmp").free
    run = runner(engine, "fills_output", "--output-limit", "32m")
    assert run.report["status"] == "invalid_output"
    assert run.report["message"] == (
        "the output is invalid: /output reached its limit of 32.0 MiB or 1024 files (--output-limit); "
        "write descriptors.npz and small reports only"
    )
    assert 28 * 1024**2 < run.report["output_bytes"] <= 32 * 1024**2
    assert "No space left on device" in run.log
    assert shutil.disk_usage("/tmp").free > free_before - 200 * 1024**2


@pytest.mark.parametrize("engine", ENGINES)
def test_output_is_bounded_in_files(runner, engine: str) -> None:
    run = runner(engine, "many_files", "--output-limit", "32m")
    assert run.report["status"] == "invalid_output"
    assert "reached its limit of 32.0 MiB or 1024 files" in run.report["message"]
    assert 1000 <= run.report["output_files"] <= 1024
    assert len(list((run.run_dir / OUTPUT_DIR).iterdir())) == run.report["output_files"]


@pytest.mark.parametrize("engine", ENGINES)
def test_control_characters_never_reach_the_terminal(runner, engine: str) -> None:
    """A failed run once printed as a green ok (\\r ESC[2K ESC[32m), and OSC 52 wrote the viewer's clipboard."""
    run = runner(engine, "fakes_ok", quiet=False)
    assert run.report["status"] == "failed"
    for text in (run.stderr, run.log, run.report["message"], run.report["execution_provider"]):
        assert not {"\x1b", "\r", "\x07", "\u202e"} & set(text), repr(text)
    assert "\\x0d\\x1b[2K\\x1b[32mok: the submission wrote" in run.report["message"]
    assert run.report["execution_provider"].endswith("\\x07\\u202e")


@pytest.mark.parametrize("default_submission", [True, False])
def test_the_sandbox_sees_only_the_submission(default_submission: bool, tmp_path: Path) -> None:
    """With the project root as --submission, older runs, datasets and private scores were readable."""
    project = tmp_path / "project"
    shutil.copytree(FIXTURES / "reads_host", project)
    (project / "models").mkdir()
    (project / "models" / "encoder.onnx").write_bytes(b"onnx")
    secrets = {
        "data/demo/gt/references.npz": "SECRET GROUND TRUTH",
        "out/score.json": '{"private": 0.9}',
        "build/ci-local/scores/team/1/score.json": '{"private": 0.8}',
        "notes.txt": "organizer notes",
    }
    for relative, text in secrets.items():
        (project / relative).parent.mkdir(parents=True, exist_ok=True)
        (project / relative).write_text(text)
    (project / "models" / "link.onnx").symlink_to(project / "out" / "score.json")
    write_test_folder(project / "data" / "demo" / "test", n_tracks=2)
    command = [sys.executable, "-m", "submission", "run", "--engine", "bwrap", "--quiet"]
    command += ["--data", str(project / "data" / "demo" / "test"), "--out", str(project / "out" / "run")]
    if not default_submission:
        command += ["--submission", str(project)]
    command += ["--", "python", "solution.py", "/submission"]
    # The default --submission is the project root: run from a copy of the runner whose root is `project`.
    cwd = ROOT
    if default_submission:
        for package in ("submission", "contracts"):
            shutil.copytree(ROOT / package, project / package, ignore=shutil.ignore_patterns("__pycache__"))
        cwd = project
    done = subprocess.run(command, capture_output=True, text=True, cwd=cwd)
    log = (project / "out" / "run" / LOG_FILE).read_text()
    read = next(line for line in log.splitlines() if " stdout read: " in line).split(" stdout read: ")[1]
    assert sorted(read.split(", ")) == ["/submission/models/encoder.onnx", "/submission/solution.py"], done.stderr + log
    assert "/submission holds models/encoder.onnx, solution.py" in log


@pytest.mark.parametrize(
    ("gpus", "bound"),
    [
        ("none", []),
        ("1", ["nvidia0", "nvidia-uvm", "nvidiactl"]),
        ("2", ["nvidia0", "nvidia1", "nvidia-uvm", "nvidiactl"]),
        ("all", ["nvidia0", "nvidia1", "nvidia2", "nvidia10", "nvidia-uvm", "nvidiactl"]),
    ],
)
def test_only_the_requested_gpus_are_bound(gpus: str, bound: list[str], tmp_path: Path) -> None:
    """No GPU here: the device folder is a stand-in holding files of the NVIDIA nodes' names."""
    for name in ("nvidia0", "nvidia1", "nvidia2", "nvidia10", "nvidiactl", "nvidia-uvm", "nvme0"):
        (tmp_path / name).touch()
    assert gpu_devices(Gpus(gpus), dev=tmp_path) == [str(tmp_path / name) for name in bound]
    assert gpu_devices(Gpus("3"), dev=tmp_path / "empty") == []


@pytest.mark.parametrize("engine", ENGINES)
def test_a_sparse_file_never_reaches_the_host_disk(runner, engine: str) -> None:
    free_before = shutil.disk_usage("/tmp").free
    run = runner(engine, "sparse_output")
    assert run.report["status"] == "ok"
    assert not (run.run_dir / OUTPUT_DIR / "sparse.bin").exists()
    assert "left out of the output: /output/sparse.bin is larger than the output limit (a sparse file)" in run.log
    assert shutil.disk_usage("/tmp").free > free_before - 200 * 1024**2


@pytest.mark.parametrize("engine", ENGINES)
def test_deep_folders_in_output_are_cut_not_a_crash(runner, engine: str) -> None:
    run = runner(engine, "deep_folders")
    assert run.report["status"] == "ok", run.report["message"]
    assert "is nested too deep" in run.log
    depth = max(len(path.relative_to(run.run_dir / OUTPUT_DIR).parts) for path in (run.run_dir / OUTPUT_DIR).rglob("*"))
    assert depth == 32
    assert not any(line for line in Path("/proc/mounts").read_text().splitlines() if str(run.run_dir) in line)


@pytest.mark.parametrize("engine", ENGINES)
def test_folders_past_path_max_in_output_are_cut_and_the_valid_output_kept(runner, engine: str) -> None:
    """/output nested deeper than PATH_MAX is the participant's mess: cut from the copy with the fix
    named, the same under every engine, and their valid descriptors.npz still scored."""
    run = runner(engine, "long_paths")
    assert run.report["status"] == "ok", run.report["message"]
    assert run.report["organizer_warnings"] == []
    assert "is nested too deep; only regular files in folders at most 32 deep and 3072 bytes of path" in run.log
    assert "write descriptors.npz and small reports only" in run.log
    output = run.run_dir / OUTPUT_DIR
    assert (output / "descriptors.npz").is_file()
    assert not list(run.run_dir.glob(".*collect"))
    deepest = max(len(os.fsencode(path)) for path in output.rglob("*"))
    assert deepest < 4096
    assert not any(line for line in Path("/proc/mounts").read_text().splitlines() if str(run.run_dir) in line)


@pytest.mark.parametrize("engine", ["podman", "docker"])
def test_an_image_with_a_volume_at_output_is_the_participants_fault_under_every_engine(
    engine: str, dataset: Path, tmp_path: Path, engine_image
) -> None:
    """docker refused it as "Duplicate mount point" (engine_error), podman hid /output behind it."""
    missing = engine_missing(engine)
    if missing:
        pytest.skip(missing)
    image = f"localhost/mcs-runner-test-volume-output:{os.getpid()}"
    (tmp_path / "context").mkdir()
    (tmp_path / "context" / "Containerfile").write_text(f"FROM {engine_image(engine)}\nVOLUME /output\n")
    base = [*(PODMAN_BASE if engine == "podman" else DOCKER_BASE)]
    build = [*base, "build", "--network", "none", "-q", "-t", image, "-f", str(tmp_path / "context" / "Containerfile")]
    subprocess.run([*build, str(tmp_path / "context")], check=True, capture_output=True)
    try:
        command = runner_command(engine, "good", dataset, tmp_path / "run", image)
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    finally:
        subprocess.run([*base, "image", "rm", "--force", image], capture_output=True)
    report = json.loads((tmp_path / "run" / RUN_REPORT_FILE).read_text())
    assert done.returncode == 1, done.stderr
    assert report["status"] == "failed" and report["fault"] == "participant"
    assert report["message"] == (
        "the image declares VOLUME /output, where the runner mounts /output and /data: "
        "remove that VOLUME line from the Dockerfile and rebuild the image"
    )
    assert_nothing_left(report)


@pytest.mark.parametrize("engine", ["podman", "docker"])
def test_image_volumes_are_memory_not_the_host_disk(runner, engine: str) -> None:
    """--read-only leaves an image's VOLUME writable: on the host's disk, unbounded, and left behind by `rm`."""
    missing = engine_missing(engine)
    if missing:
        pytest.skip(missing)
    volumes = [engine, "volume", "ls", "--quiet"] if engine == "docker" else ["podman", "volume", "ls", "--quiet"]
    before = subprocess.run(volumes, capture_output=True, text=True).stdout.split()
    run = runner(engine, "writes_image_volume", "--memory", "512m")
    assert "/scratch is tmpfs" in run.log
    assert run.report["status"] == "failed" and run.report["exit_code"] == 6
    assert subprocess.run(volumes, capture_output=True, text=True).stdout.split() == before


def _probe_lines(run, prefix: str) -> list[str]:
    """The kernel_calls probe's stdout lines that start with PREFIX, without the log's timestamp."""
    marker = f" stdout {prefix}"
    return [line.split(" stdout ", 1)[1] for line in run.log.splitlines() if marker in line]


@pytest.mark.parametrize("engine", ENGINES)
def test_kernel_calls_past_the_sandbox_are_refused(runner, engine: str) -> None:
    """Inside bwrap a nested user namespace gave CAP_NET_ADMIN (a veth pair, an nf_tables table), keyctl and
    userfaultfd worked; docker's own profile allowed io_uring. Now each call of seccomp.RULES fails with the
    rule's errno, no user namespace can be made, and threads and processes still start."""
    run = runner(engine, "kernel_calls")
    refused = {rule.syscall: rule.errno for rule in RULES}
    calls = _probe_lines(run, "call ")
    assert len(calls) == len(RULES) - 1 + 2 * len(NAMESPACE_FLAGS), run.log
    for line in calls:
        name, outcome = line[len("call ") :].split(": ", 1)
        expected = refused[name.split()[0]]
        assert outcome == f"errno {expected} ({os.strerror(expected)})", line
    refusal = "unshare --user: exit 1 unshare: unshare failed: Operation not permitted"
    assert _probe_lines(run, "unshare --user: ") == [refusal]
    assert _probe_lines(run, "threads: ") == ["threads: started 4; subprocess said child"]
    # The probe ran to its end and wrote no descriptors.
    assert run.report["status"] == "invalid_output", run.report["message"]


def test_bwrap_makes_no_user_namespace_even_without_the_filter(tmp_path: Path) -> None:
    """--disable-userns holds on its own: the second lock behind the seccomp rules on unshare and clone."""
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed")
    command = ["bwrap", "--unshare-user", "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev"]
    allowed = subprocess.run([*command, "unshare", "--user", "true"], capture_output=True, text=True)
    disabled = subprocess.run(
        [*command[:2], "--disable-userns", *command[2:], "unshare", "--user", "true"], capture_output=True, text=True
    )
    assert allowed.returncode == 0, allowed.stderr
    assert disabled.returncode == 1
    assert "unshare failed: No space left on device" in disabled.stderr


def test_bwrap_shows_no_host_details(runner) -> None:
    """The host's passwd, hosts and kernel command line were readable, and mount points named the checkout."""
    run = runner("bwrap", "kernel_calls")
    files = dict(line[len("file ") :].split(": ", 1) for line in _probe_lines(run, "file "))
    generated = sandbox_etc_files()
    for name in ("passwd", "group", "hosts", "resolv.conf"):
        assert files[f"/etc/{name}"] == repr(generated[name])
    assert files["/proc/cmdline"] == repr("")
    (points,) = _probe_lines(run, "mount points: ")
    points = points[len("mount points: ") :].split()
    assert {"/data", "/output", "/submission", SANDBOX_VENV, "/etc/passwd"} <= set(points)
    assert not [point for point in points if str(ROOT) in point or "pytest" in point or point.startswith("/work")]


def test_the_baseline_still_runs_under_the_filter(dataset: Path, tmp_path: Path) -> None:
    """onnxruntime's threads start through clone3's ENOSYS and the C library's fallback to clone."""
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed")
    command = [sys.executable, "-m", "submission", "run", "--engine", "bwrap", "--quiet"]
    command += ["--data", str(dataset / "test"), "--out", str(tmp_path / "run"), "--", "python", "solution.py"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300)
    report = json.loads((tmp_path / "run" / RUN_REPORT_FILE).read_text())
    assert report["status"] == "ok", report["message"]
    assert done.returncode == 0
    assert "--disable-userns --seccomp" in (tmp_path / "run" / LOG_FILE).read_text()
