"""One run of a submission, end to end: prepare, pick the engine, supervise, judge, report.

Each step returns what it found (the engine, how the process ended, what /output holds),
and the status comes from one place: `verdict.judge_evidence` for a run that started,
an explicit verdict for every way a run can end before that. What the steps returned is
noted in `Facts`; `build_report` alone turns the facts and the verdict into run.json.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import tempfile
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from contracts.competition import Gpus
from contracts.errors import RunnerError
from contracts.names import LOG_FILE, PARTICIPANT_LOG_FILE, PROGRESS_FILE, SOLUTION_REPORT_FILE
from contracts.status import Status
from contracts.units import format_size
from submission.engines import choose_engine, make_engine
from submission.engines.base import STAGED_SUBMISSION, Engine
from submission.engines.container import ContainerEngine
from submission.interrupts import RunInterrupted
from submission.isolation.cgroup import Limits, RunCgroup
from submission.isolation.leftovers import STATE_DIR_VARIABLE, RunRecord, cgroup_fields, state_dir
from submission.isolation.output_volume import (
    MAX_DEPTH,
    MAX_PATH_BYTES,
    OutputUsage,
    OutputVolume,
    Skipped,
    inode_limit,
)
from submission.isolation.privileges import SANDBOX_UID
from submission.isolation.staging import stage_submission
from submission.reaper import WATCHDOG_MARGIN_S, Watchdog, clean_after_killed_runners
from submission.reporting.logs import CappedLog
from submission.reporting.participant_view import bounded_message, participant_view
from submission.reporting.progress import progress_line, read_untrusted_json, tracks_done, untrusted_string
from submission.reporting.run_report import RunReport, write_report
from submission.rundir import RunFiles
from submission.settings import EngineName, RunSettings, host_has_gpu
from submission.supervise import LaunchError, ProcessResult, supervise
from submission.verdict import Evidence, Verdict, judge_evidence


def run_submission(
    settings: RunSettings,
    progress: Callable[[str], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> RunReport:
    """Run the submission described by `settings`; write and return its run report.

    RUN_DIR must have been made by `rundir.prepare_run_dir`. `progress` receives the live
    line about once a second, `warn` the runner's warnings (e.g. that the local engine
    isolates nothing). Never raises for anything the submission does; an engine that
    cannot run, or a failure of the runner itself, gives status engine_error. A failure
    of the cleanup after a run that ended keeps the run's own status and is added to the
    report's `organizer_warnings`. Raises RunInterrupted, after the submission is stopped
    and run.json written, when the runner got SIGINT or SIGTERM (see interrupts.py).
    """
    warn = warn or (lambda message: print(message, file=sys.stderr))
    with RunFiles(settings.run_dir) as files:
        log = CappedLog(files.create(LOG_FILE), settings.log_limit_bytes)
        for dead in clean_after_killed_runners():
            message = f"cleaned after a killed runner (run {dead.run_id} in {dead.run_dir}): " + (
                "; ".join(dead.done) or "nothing of it was left"
            )
            warn(f"WARNING: {message}")
            log.write("runner", message)
        facts = Facts()
        try:
            record = RunRecord.open(state_dir(), uuid.uuid4().hex[:12], settings.run_dir)
        except OSError as exc:
            verdict: Verdict = (
                Status.ENGINE_ERROR,
                f"cannot keep the run's record in {state_dir()} ({exc.strerror}); make that folder writable "
                f"or point {STATE_DIR_VARIABLE} at one",
            )
            log.write("runner", verdict[1])
            return _finish(files, log, settings, facts, verdict)
        facts.run_id = record.run_id
        # Until the run ends, run.json says what it will say if the runner is killed.
        verdict = Status.ENGINE_ERROR, NOT_ENDED_MESSAGE
        write_report(files, build_report(settings, facts, verdict))
        try:
            verdict = _run(settings, facts, record, log, progress, warn)
        except RunInterrupted as exc:
            verdict = (
                Status.ENGINE_ERROR,
                f"the run was interrupted: {exc}; the submission was stopped and nothing is scored",
            )
            log.write("runner", verdict[1])
            raise
        except RunnerError as exc:
            # A setup the organizer can fix (a folder without solution.py, a volume that cannot be made).
            verdict = Status.ENGINE_ERROR, str(exc)
            log.write("runner", verdict[1])
        except Exception as exc:
            verdict = (
                Status.ENGINE_ERROR,
                f"the runner failed ({type(exc).__name__}: {exc}); the submission was stopped. "
                "This is the organizers' problem, not the submission's: report it with log.txt",
            )
            for line in traceback.format_exc().splitlines():
                log.write("runner", line)
        finally:
            report = _finish(files, log, settings, facts, verdict)
            record.close()
    return report


def _finish(files: RunFiles, log: CappedLog, settings: RunSettings, facts: Facts, verdict: Verdict) -> RunReport:
    """Close the log, write the participant's view of it and run.json; return the report."""
    log.close()
    view = participant_view(files.read(LOG_FILE), settings.participant_log_bytes)
    files.write_atomically(PARTICIPANT_LOG_FILE, view)
    report = build_report(settings, facts, verdict, log_truncated=log.truncated)
    write_report(files, report)
    return report


#: run.json's message while the run goes on: what it says if the runner is killed.
NOT_ENDED_MESSAGE = "the run has not ended; if this stays after the runner is gone, the runner was killed"


def build_report(settings: RunSettings, facts: Facts, verdict: Verdict, log_truncated: bool = False) -> RunReport:
    """Return run.json for a run with these `settings`, what its steps found (`facts`) and its `verdict`.

    The one place a report is made: the status and message are the verdict's (the message
    bounded, with a note when log.txt was cut); whose fault a non-ok status is follows from
    the status (RunReport.to_json). Fields no step reached keep their defaults.
    """
    status, message = verdict
    if log_truncated:
        message += (
            f"; log.txt was cut: its middle is dropped to keep it under "
            f"{format_size(settings.log_limit_bytes)} (--log-limit), print less"
        )
    limits: dict[str, object] = {
        "cpus": settings.cpus,
        "memory": format_size(settings.memory_bytes),
        "pids": settings.pids_limit,
        "gpus": "none (no GPU on this host)" if facts.no_gpu else str(settings.gpus),
        "output": format_size(settings.output_limit_bytes),
    }
    if facts.unbounded_output is not None:
        limits["output"] = f"not enforced ({facts.unbounded_output})"
    if facts.output_files_limit is not None:
        limits["output_files"] = facts.output_files_limit
    report = RunReport(
        status=status,
        message=bounded_message(message),
        engine=facts.engine or settings.engine,
        time_limit_s=settings.time_limit_s,
        image=settings.image,
        log_path=str(settings.run_dir / LOG_FILE),
        log_truncated=log_truncated,
        data_dir=str(settings.data_dir),
        output_dir=str(settings.output_dir),
        limits=limits,
        cgroup=facts.cgroup,
        command=list(facts.command),
        execution_provider=facts.execution_provider,
        run_id=facts.run_id,
    )
    if facts.ended is not None:
        result = facts.ended.result
        report.organizer_warnings = list(result.teardown_problems)
        report.exit_code = result.submission_exit_code
        report.wall_s, report.started_at, report.finished_at = result.wall_s, result.started_at, result.finished_at
        report.peak_memory_bytes = facts.ended.peak_memory_bytes
    if facts.usage:
        report.output_bytes, report.output_files = facts.usage.bytes_used, facts.usage.files
    return report


@dataclass(frozen=True)
class Ended:
    """How the submission's process ended, with what its cgroup saw."""

    result: ProcessResult
    oom_kills: int
    peak_memory_bytes: int | None


@dataclass
class Facts:
    """What the run's steps returned so far, for `build_report`; a step the run did not reach leaves its default."""

    run_id: str | None = None
    #: The engine that ran the submission (None: none was picked; the report names the asked-for one).
    engine: str | None = None
    #: --gpus asked for a GPU that this host lacks: the run went without.
    no_gpu: bool = False
    #: Why /output was not size-limited (None: it was, or no step got that far).
    unbounded_output: str | None = None
    #: The file limit of the bounded /output.
    output_files_limit: int | None = None
    cgroup: str | None = None
    command: list[str] = field(default_factory=list)
    ended: Ended | None = None
    usage: OutputUsage | None = None
    execution_provider: str = "unknown"


@dataclass
class Collected:
    """What /output held after the run: its usage (None without a volume), and what was left out of the copy."""

    usage: OutputUsage | None = None
    skipped: dict[str, Skipped] = field(default_factory=dict)
    #: Why the copy out of the volume failed: the output is lost, the run cannot be judged.
    lost: str | None = None


def _run(
    settings: RunSettings,
    facts: Facts,
    record: RunRecord,
    log: CappedLog,
    progress: Callable[[str], None] | None,
    warn: Callable[[str], None],
) -> Verdict:
    """Run the submission; return its status and message. Notes in `facts` what each step returned."""
    engine, reason = _pick_engine(settings, log)
    if engine is None:
        log.write("runner", f"engine error: {reason}")
        return Status.ENGINE_ERROR, reason
    facts.engine = engine.name
    if not engine.isolated:
        warn("WARNING: the local engine runs the submission on the host with NO isolation: files, network")
        warn("WARNING: and ground truth are all within its reach. Use it only for code you trust.")
    if settings.gpus.number != 0 and not host_has_gpu():
        log.write("runner", "no GPU on this host: running without one (--gpus none)")
        settings = dataclasses.replace(settings, gpus=Gpus("none"))
        facts.no_gpu = True
    image_problem = engine.image_problem(settings) if isinstance(engine, ContainerEngine) else None
    if image_problem:
        log.write("runner", image_problem)
        return Status.FAILED, image_problem

    collected = Collected()
    with tempfile.TemporaryDirectory(prefix="mcs-run-") as scratch_name:
        scratch = Path(scratch_name)
        record.note(scratch=scratch_name)
        if not isinstance(engine, ContainerEngine):
            staged = stage_submission(settings.submission_dir, scratch / STAGED_SUBMISSION)
            log.write("runner", "/submission holds " + ", ".join(path.as_posix() for path in staged))
        volume, unbounded = _make_output_volume(settings, engine, scratch)
        if volume:
            record.note(mount=str(settings.output_dir))
            facts.output_files_limit = inode_limit(settings.output_limit_bytes)
        else:
            message = f"/output is not size-limited ({unbounded}): a submission can fill the disk"
            warn(f"WARNING: {message}")
            log.write("runner", message)
            facts.unbounded_output = unbounded
        try:
            ended = _supervise(engine, settings, scratch, facts, record, log, progress, warn)
            collected.usage = volume.usage() if volume else None
        finally:
            if volume:
                _collect(volume, collected, log)
    if isinstance(ended, str):
        return Status.ENGINE_ERROR, ended
    result = ended.result
    facts.ended, facts.usage = ended, collected.usage
    if collected.lost:
        return Status.ENGINE_ERROR, collected.lost
    solution = read_untrusted_json(settings.output_dir / SOLUTION_REPORT_FILE) or {}
    facts.execution_provider = untrusted_string(solution.get("execution_provider"))
    tracks = tracks_done(read_untrusted_json(settings.output_dir / PROGRESS_FILE))
    verdict = judge(settings, engine, result, ended.oom_kills, collected.usage, collected.skipped, log, tracks)
    log.write("runner", f"status {verdict[0]}: {verdict[1]}")
    return verdict


def _collect(volume: OutputVolume, collected: Collected, log: CappedLog) -> None:
    """Copy /output out of its volume into `collected`; a failure is recorded as `collected.lost`, not raised."""
    try:
        collected.skipped = volume.collect()
    except (OSError, RunnerError) as exc:
        collected.lost = (
            f"the runner could not copy /output out of its volume ({exc}); the output is lost and nothing is "
            "scored. This is the organizers' problem, not the submission's: report it with log.txt"
        )
        log.write("runner", collected.lost)
    for path, kind in list(collected.skipped.items())[:5]:
        log.write(
            "runner",
            f"left out of the output: /output/{path} is {kind}; only regular files in folders at most "
            f"{MAX_DEPTH} deep and {MAX_PATH_BYTES} bytes of path are copied out: write descriptors.npz and "
            "small reports only",
        )


def _supervise(
    engine: Engine,
    settings: RunSettings,
    scratch: Path,
    facts: Facts,
    record: RunRecord,
    log: CappedLog,
    progress: Callable[[str], None] | None,
    warn: Callable[[str], None],
) -> Ended | str:
    """Run the submission in its cgroup, with a watchdog that ends it should the runner be killed;
    return how it ended, or why it could not start."""
    cgroup = _make_cgroup(settings, engine, log, warn)
    facts.cgroup = cgroup.relative if cgroup else None
    if cgroup:
        record.note(cgroup=cgroup_fields(cgroup))
    try:
        launch = engine.launch(settings, cgroup.relative if cgroup else None, _run_name(cgroup), scratch)
        facts.command = launch.argv
        if isinstance(engine, ContainerEngine) and launch.container:
            record.note(container={"base": list(engine.base), "name": launch.container})

        def tick(elapsed: float) -> None:
            if progress:
                progress_file = read_untrusted_json(settings.output_dir / PROGRESS_FILE)
                progress(progress_line(elapsed, settings.time_limit_s, progress_file))

        try:
            # conmon (podman) leaves files such as "oom" in its working folder: give it the scratch one.
            launch = dataclasses.replace(launch, cwd=launch.cwd or scratch)
            watchdog = Watchdog(
                record.run_id, settings.time_limit_s + settings.grace_s + WATCHDOG_MARGIN_S, record.folder
            )
            try:
                result = supervise(engine, launch, settings, cgroup, log, tick)
            finally:
                watchdog.stop()
        except LaunchError as exc:
            log.write("runner", str(exc))
            return str(exc)
        oom_kills = cgroup.oom_kills() if cgroup else 0
        peak = cgroup.peak_memory() if cgroup else None
    finally:
        if cgroup:
            _remove_cgroup(cgroup, log)
    if result.container and result.container.oom_killed:
        oom_kills = max(oom_kills, 1)
    return Ended(result, oom_kills, peak)


def _remove_cgroup(cgroup: RunCgroup, log: CappedLog) -> None:
    """Remove the run's cgroup; one that stays is logged for the organizer, and the run's result stands."""
    try:
        cgroup.remove()
    except OSError as exc:
        log.write("runner", f"cleanup after the run failed: the cgroup {cgroup.relative} stays ({exc})")


def _pick_engine(settings: RunSettings, log: CappedLog) -> tuple[Engine | None, str]:
    """Return the engine to use, or None and why the asked-for one cannot run here."""
    if settings.engine is EngineName.AUTO:
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


def _make_output_volume(settings: RunSettings, engine: Engine, scratch: Path) -> tuple[OutputVolume | None, str]:
    """Mount the run's bounded /output; or return None and why it stays an unbounded folder,
    after giving that folder to the sandbox user."""
    reason = OutputVolume.unavailable()
    if not reason and isinstance(engine, ContainerEngine) and not engine.sees_runner_mounts():
        reason = f"the {engine.name} daemon runs in another mount namespace and would not see it"
    if not reason:
        try:
            return OutputVolume.create(settings.output_dir, settings.output_limit_bytes, scratch, SANDBOX_UID), ""
        except RunnerError as exc:
            reason = str(exc)
    if os.geteuid() == 0:
        os.chown(settings.output_dir, SANDBOX_UID, SANDBOX_UID)
        settings.output_dir.chmod(0o700)
    elif isinstance(engine, ContainerEngine):
        # A runner that is not root cannot give the folder to the container's user: open it.
        settings.output_dir.chmod(0o777)
    return None, reason


def _run_name(cgroup: RunCgroup | None) -> str:
    return f"mcs-{cgroup.name if cgroup else uuid.uuid4().hex[:12]}"


def judge(
    settings: RunSettings,
    engine: Engine,
    result: ProcessResult,
    oom_kills: int,
    usage: OutputUsage | None,
    skipped: dict[str, Skipped],
    log: CappedLog,
    tracks: tuple[int, int] | None = None,
) -> Verdict:
    """Return the status of a finished run and its one-sentence message (the rules: verdict.RULES).

    `skipped` is what the output volume left out (OutputVolume.collect), by path; the
    stderr tail comes from `log`; `tracks` is (done, total) from the last progress.json.
    """
    tail = " | ".join(line.strip() for line in log.stderr_tail() if line.strip())
    return judge_evidence(Evidence(settings, engine, result, oom_kills, usage, skipped, tail, tracks))
