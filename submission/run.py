"""One run of a submission, end to end: prepare, pick the engine, supervise, judge, report."""

from __future__ import annotations

import dataclasses
import os
import sys
import tempfile
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path

from contracts.descriptors import not_a_regular_file, read_descriptors
from contracts.errors import InvalidOutputError, RunnerError
from contracts.names import (
    DESCRIPTORS_FILE,
    LOG_FILE,
    PARTICIPANT_LOG_FILE,
    PROGRESS_FILE,
    SOLUTION_REPORT_FILE,
    TRACKS_FILE,
)
from contracts.status import Status
from contracts.tracks import read_track_ids
from contracts.units import format_size
from submission.engines import STAGED_SUBMISSION, ContainerEngine, Engine, choose_engine, make_engine
from submission.interrupts import RunInterrupted
from submission.isolation.cgroup import Limits, RunCgroup
from submission.isolation.output_volume import LINK, NOT_REGULAR, OutputUsage, OutputVolume, inode_limit
from submission.isolation.privileges import SANDBOX_UID
from submission.isolation.staging import stage_submission
from submission.reporting.logs import CappedLog
from submission.reporting.participant_view import bounded_message, participant_view
from submission.reporting.progress import progress_line, read_untrusted_json, untrusted_string
from submission.reporting.run_report import RunReport, write_report
from submission.rundir import RunFiles
from submission.settings import RunSettings, host_has_gpu
from submission.supervise import ProcessResult, supervise

# docker and podman exit with 126 (not executable) or 127 (not found) when the image's
# command cannot be run: the image is the participant's. 125 is the engine's own failure.
IMAGE_COMMAND_FAILED = (126, 127)


def run_submission(
    settings: RunSettings,
    progress: Callable[[str], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> RunReport:
    """Run the submission described by `settings`; write and return its run report.

    RUN_DIR must have been made by `rundir.prepare_run_dir`. `progress` receives the live
    line about once a second, `warn` the runner's warnings (e.g. that the local engine
    isolates nothing). Never raises for anything the submission does; an engine that
    cannot run, or a failure of the runner itself, gives status engine_error. Raises
    RunInterrupted, after the submission is stopped and run.json written, when the
    runner got SIGINT or SIGTERM (see interrupts.py).
    """
    warn = warn or (lambda message: print(message, file=sys.stderr))
    with RunFiles(settings.run_dir) as files:
        log = CappedLog(files.create(LOG_FILE), settings.log_limit_bytes)
        report = RunReport(
            status=Status.ENGINE_ERROR,
            message="",
            time_limit_s=settings.time_limit_s,
            image=settings.image,
            log_path=str(settings.run_dir / LOG_FILE),
            data_dir=str(settings.data_dir),
            output_dir=str(settings.output_dir),
            limits={
                "cpus": settings.cpus,
                "memory": format_size(settings.memory_bytes),
                "pids": settings.pids_limit,
                "gpus": settings.gpus,
                "output": format_size(settings.output_limit_bytes),
            },
        )
        try:
            _run(settings, report, log, progress, warn)
        except RunInterrupted as exc:
            report.status = Status.ENGINE_ERROR
            report.message = f"the run was interrupted: {exc}; the submission was stopped and nothing is scored"
            log.write("runner", report.message)
            raise
        except RunnerError as exc:
            # A setup the organizer can fix (a folder without solution.py, a volume that cannot be made).
            report.status = Status.ENGINE_ERROR
            report.message = str(exc)
            log.write("runner", report.message)
        except Exception as exc:
            report.status = Status.ENGINE_ERROR
            report.message = (
                f"the runner failed ({type(exc).__name__}: {exc}); the submission was stopped. "
                "This is the organizers' problem, not the submission's: report it with log.txt"
            )
            for line in traceback.format_exc().splitlines():
                log.write("runner", line)
        finally:
            log.close()
            report.log_truncated = log.truncated
            view = participant_view(files.read(LOG_FILE), settings.participant_log_bytes)
            files.write_atomically(PARTICIPANT_LOG_FILE, view)
            report.message = bounded_message(report.message)
            write_report(files, report)
    return report


def _run(
    settings: RunSettings,
    report: RunReport,
    log: CappedLog,
    progress: Callable[[str], None] | None,
    warn: Callable[[str], None],
) -> None:
    engine, reason = _pick_engine(settings, log)
    report.engine = settings.engine if engine is None else engine.name
    if engine is None:
        report.message = reason
        log.write("runner", f"engine error: {reason}")
        return
    if not engine.isolated:
        warn("WARNING: the local engine runs the submission on the host with NO isolation: files, network")
        warn("WARNING: and ground truth are all within its reach. Use it only for code you trust.")
    if settings.gpus != "none" and not host_has_gpu():
        log.write("runner", "no GPU on this host: running without one (--gpus none)")
        settings = dataclasses.replace(settings, gpus="none")
        report.limits["gpus"] = "none (no GPU on this host)"

    with tempfile.TemporaryDirectory(prefix="mcs-run-") as scratch_name:
        scratch = Path(scratch_name)
        if not isinstance(engine, ContainerEngine):
            staged = stage_submission(settings.submission_dir, scratch / STAGED_SUBMISSION)
            log.write("runner", "/submission holds " + ", ".join(path.as_posix() for path in staged))
        volume = _make_output_volume(settings, engine, scratch, log, warn, report)
        skipped: dict[str, str] = {}
        try:
            outcome = _supervise(engine, settings, scratch, report, log, progress, warn)
            usage = volume.usage() if volume else None
        finally:
            if volume:
                skipped = volume.collect()
                for path, kind in list(skipped.items())[:5]:
                    log.write("runner", f"left out of the output: /output/{path} is {kind}")
    if outcome is None:
        return
    result, oom_kills = outcome
    _record(report, result, usage)
    solution = read_untrusted_json(settings.output_dir / SOLUTION_REPORT_FILE) or {}
    report.execution_provider = untrusted_string(solution.get("execution_provider"))
    report.status, report.message = judge(settings, engine, result, oom_kills, usage, skipped, log)
    log.write("runner", f"status {report.status}: {report.message}")


def _supervise(
    engine: Engine,
    settings: RunSettings,
    scratch: Path,
    report: RunReport,
    log: CappedLog,
    progress: Callable[[str], None] | None,
    warn: Callable[[str], None],
) -> tuple[ProcessResult, int] | None:
    """Run the submission in its cgroup; return how it ended and the OOM kills, or None when it could not start."""
    cgroup = _make_cgroup(settings, engine, log, warn)
    report.cgroup = cgroup.relative if cgroup else None
    try:
        launch = engine.launch(settings, cgroup.relative if cgroup else None, _run_name(cgroup), scratch)
        report.command = launch.argv

        def tick(elapsed: float) -> None:
            if progress:
                progress_file = read_untrusted_json(settings.output_dir / PROGRESS_FILE)
                progress(progress_line(elapsed, settings.time_limit_s, progress_file))

        try:
            # conmon (podman) leaves files such as "oom" in its working folder: give it the scratch one.
            launch = dataclasses.replace(launch, cwd=launch.cwd or scratch)
            result = supervise(engine, launch, settings, cgroup, log, tick)
        except (OSError, RunnerError) as exc:
            report.message = f"the {engine.name} engine could not start: {exc}"
            log.write("runner", report.message)
            return None
        oom_kills = cgroup.oom_kills() if cgroup else 0
        report.peak_memory_bytes = cgroup.peak_memory() if cgroup else None
    finally:
        if cgroup:
            cgroup.remove()
    if result.container and result.container.oom_killed:
        oom_kills = max(oom_kills, 1)
    return result, oom_kills


def _pick_engine(settings: RunSettings, log: CappedLog) -> tuple[Engine | None, str]:
    if settings.engine == "auto":
        engine, passed = choose_engine(settings)
        for line in passed:
            log.write("runner", f"engine passed over: {line}")
        return engine, ""
    engine = make_engine(settings.engine)
    reason = engine.unavailable(settings)
    return (None, reason) if reason else (engine, "")


def _make_cgroup(
    settings: RunSettings, engine: Engine, log: CappedLog, warn: Callable[[str], None]
) -> RunCgroup | None:
    reason = RunCgroup.supported()
    if not reason:
        try:
            return RunCgroup.create(
                Limits(memory_bytes=settings.memory_bytes, pids=settings.pids_limit, cpus=settings.cpus)
            )
        except RunnerError as exc:
            reason = str(exc)
    if engine.enters_cgroup:
        lost = (
            "memory and process limits fall back to rlimits, the CPU limit, the OOM count and the peak "
            "memory are lost, and processes left behind may survive"
        )
    else:
        lost = f"{engine.name} still applies the limits and reports OOM kills, but the peak memory is lost"
    message = f"no cgroup for this run ({reason}): {lost}"
    warn(f"WARNING: {message}")
    log.write("runner", message)
    return None


def _make_output_volume(
    settings: RunSettings,
    engine: Engine,
    scratch: Path,
    log: CappedLog,
    warn: Callable[[str], None],
    report: RunReport,
) -> OutputVolume | None:
    """Mount the run's bounded /output, or say why it stays an unbounded folder."""
    reason = OutputVolume.unavailable()
    if not reason and isinstance(engine, ContainerEngine) and not engine.sees_runner_mounts():
        reason = f"the {engine.name} daemon runs in another mount namespace and would not see it"
    if not reason:
        try:
            volume = OutputVolume.create(settings.output_dir, settings.output_limit_bytes, scratch, SANDBOX_UID)
        except RunnerError as exc:
            reason = str(exc)
        else:
            report.limits["output_files"] = inode_limit(settings.output_limit_bytes)
            return volume
    message = f"/output is not size-limited ({reason}): a submission can fill the disk"
    warn(f"WARNING: {message}")
    log.write("runner", message)
    report.limits["output"] = f"not enforced ({reason})"
    if os.geteuid() == 0:
        os.chown(settings.output_dir, SANDBOX_UID, SANDBOX_UID)
        settings.output_dir.chmod(0o700)
    elif isinstance(engine, ContainerEngine):
        # A runner that is not root cannot give the folder to the container's user: open it.
        settings.output_dir.chmod(0o777)
    return None


def _run_name(cgroup: RunCgroup | None) -> str:
    return f"mcs-{cgroup.name if cgroup else uuid.uuid4().hex[:12]}"


def _record(report: RunReport, result: ProcessResult, usage: OutputUsage | None) -> None:
    report.exit_code = result.submission_exit_code
    report.wall_s = result.wall_s
    report.started_at = result.started_at
    report.finished_at = result.finished_at
    if usage:
        report.output_bytes, report.output_files = usage.bytes_used, usage.files


def judge(
    settings: RunSettings,
    engine: Engine,
    result: ProcessResult,
    oom_kills: int,
    usage: OutputUsage | None,
    skipped: dict[str, str],
    log: CappedLog,
) -> tuple[Status, str]:
    """Return the status of a finished run and its one-sentence message.

    Order matters: a container the engine never started is the engine's failure (unless
    the image's own command cannot be run: docker's and podman's 126 and 127); a run
    killed at the limit is a timeout even if memory ran out on the way; an OOM kill and
    a full /output explain a non-zero exit; only a clean exit has its output checked.
    `skipped` is what the output volume left out (OutputVolume.collect), by path.
    """
    tail = " | ".join(line.strip() for line in log.stderr_tail() if line.strip())
    if isinstance(engine, ContainerEngine) and (result.container is None or not result.container.started):
        reason = (result.container.error if result.container else "") or tail or "it gave no reason"
        if result.exit_code in IMAGE_COMMAND_FAILED:
            return Status.FAILED, f"the image's command could not be run (exit code {result.exit_code}): {reason}"
        return Status.ENGINE_ERROR, f"{engine.name} could not start the container: {reason}; the submission never ran"
    if result.timed_out:
        return Status.TIMEOUT, (
            f"the submission did not finish within the time limit of {settings.time_limit_s:g}s and was stopped; "
            "its output is not scored"
        )
    if oom_kills:
        return Status.OOM, (
            f"the submission ran out of memory: the kernel killed {oom_kills} process(es) at the "
            f"{format_size(settings.memory_bytes)} limit"
        )
    if usage and usage.full:
        return Status.INVALID_OUTPUT, (
            f"the output is invalid: /output reached its limit of {format_size(settings.output_limit_bytes)} "
            f"or {inode_limit(settings.output_limit_bytes)} files (--output-limit); write descriptors.npz "
            "and small reports only"
        )
    exit_code = result.submission_exit_code
    if exit_code != 0:
        return Status.FAILED, f"the submission exited with code {exit_code}" + (
            f"; last stderr lines: {tail}" if tail else "; it wrote nothing on stderr"
        )
    kind = skipped.get(DESCRIPTORS_FILE)
    if kind in (LINK, NOT_REGULAR):
        return Status.INVALID_OUTPUT, f"the output is invalid: {not_a_regular_file(DESCRIPTORS_FILE, kind == LINK)}"
    if kind:
        return Status.INVALID_OUTPUT, f"the output is invalid: {DESCRIPTORS_FILE} is {kind}; write a plain .npz file"
    try:
        expected = read_track_ids(settings.data_dir / TRACKS_FILE)
        descriptors = read_descriptors(settings.output_dir / DESCRIPTORS_FILE, expected, settings.dim)
    except InvalidOutputError as exc:
        return Status.INVALID_OUTPUT, f"the output is invalid: {exc}"
    return Status.OK, (
        f"the submission wrote {descriptors.track_id.size} descriptors of dimension "
        f"{descriptors.descriptor.shape[1]} in {result.wall_s:.1f}s"
    )
