"""One run of a submission, end to end: prepare, pick the engine, supervise, judge, report."""

from __future__ import annotations

import dataclasses
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

from contracts.descriptors import read_descriptors
from contracts.errors import ChallengeError, InvalidOutputError, RunnerError
from contracts.names import DESCRIPTORS_FILE, LOG_FILE, PROGRESS_FILE, SOLUTION_REPORT_FILE, TRACKS_FILE
from contracts.status import Status
from contracts.tracks import read_track_ids
from contracts.units import format_size
from submission.cgroup import Limits, RunCgroup
from submission.engines import Engine, choose_engine, make_engine
from submission.logs import CappedLog
from submission.progress import progress_line, read_untrusted_json
from submission.report import RunReport, write_report
from submission.settings import RunSettings, host_has_gpu
from submission.supervise import ProcessResult, supervise


class RunDirNotEmpty(ChallengeError):
    """RUN_DIR/output holds files of an earlier run; the user must pass --force or another --out."""


def prepare_run_dir(settings: RunSettings, force: bool) -> None:
    """Make RUN_DIR and an empty RUN_DIR/output. Raises RunDirNotEmpty unless `force` empties it.

    Only RUN_DIR/output and the runner's own files in RUN_DIR are ever removed.
    """
    output = settings.output_dir
    if output.is_symlink():
        raise RunDirNotEmpty(f"{output} is a symbolic link; choose another --out")
    if output.exists() and any(output.iterdir()):
        if not force:
            raise RunDirNotEmpty(
                f"{output} holds files of an earlier run; pass --force to empty it or choose another --out"
            )
        shutil.rmtree(output)
    output.mkdir(parents=True, exist_ok=True)
    # The sandbox user of docker/podman is not root: let it write its output.
    output.chmod(0o777)


def run_submission(
    settings: RunSettings,
    progress: Callable[[str], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> RunReport:
    """Run the submission described by `settings`; write and return its run report.

    `progress` receives the live line about once a second, `warn` the runner's warnings
    (e.g. that the local engine isolates nothing). Never raises for anything the
    submission does; an engine that cannot run gives status engine_error.
    """
    warn = warn or (lambda message: print(message, file=sys.stderr))
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    log = CappedLog(settings.run_dir / LOG_FILE, settings.log_limit_bytes)
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
        },
    )
    try:
        _run(settings, report, log, progress, warn)
    finally:
        log.close()
        report.log_truncated = log.truncated
        write_report(settings.run_dir, report)
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

    cgroup = _make_cgroup(settings, engine, log, warn)
    report.cgroup = cgroup.relative if cgroup else None
    try:
        launch = engine.launch(settings, cgroup.relative if cgroup else None, _run_name(cgroup))
        report.command = launch.argv

        def tick(elapsed: float) -> None:
            if progress:
                progress(
                    progress_line(
                        elapsed, settings.time_limit_s, read_untrusted_json(settings.output_dir / PROGRESS_FILE)
                    )
                )

        try:
            # conmon (podman) leaves files such as "oom" in its working folder: give it a scratch one.
            with tempfile.TemporaryDirectory(prefix="mcs-engine-") as scratch:
                workdir = launch.cwd or Path(scratch)
                result = supervise(engine, dataclasses.replace(launch, cwd=workdir), settings, cgroup, log, tick)
        except OSError as exc:
            report.message = f"the {engine.name} engine could not start: {exc}"
            log.write("runner", report.message)
            return
        except RunnerError as exc:
            report.message = str(exc)
            log.write("runner", report.message)
            return
        oom_kills = cgroup.oom_kills() if cgroup else 0
        report.peak_memory_bytes = cgroup.peak_memory() if cgroup else None
    finally:
        if cgroup:
            cgroup.remove()
    _record(report, result)
    solution = read_untrusted_json(settings.output_dir / SOLUTION_REPORT_FILE) or {}
    provider = solution.get("execution_provider")
    report.execution_provider = provider if isinstance(provider, str) else "unknown"
    report.status, report.message = judge(settings, result, oom_kills, log)
    log.write("runner", f"status {report.status}: {report.message}")


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
        lost = f"{engine.name} still applies the limits, but the OOM count and the peak memory are lost"
    message = f"no cgroup for this run ({reason}): {lost}"
    warn(f"WARNING: {message}")
    log.write("runner", message)
    return None


def _run_name(cgroup: RunCgroup | None) -> str:
    return f"mcs-{cgroup.name if cgroup else uuid.uuid4().hex[:12]}"


def _record(report: RunReport, result: ProcessResult) -> None:
    report.exit_code = result.exit_code
    report.wall_s = result.wall_s
    report.started_at = result.started_at
    report.finished_at = result.finished_at


def judge(settings: RunSettings, result: ProcessResult, oom_kills: int, log: CappedLog) -> tuple[Status, str]:
    """Return the status of a finished run and its one-sentence message.

    Order matters: a run killed at the limit is a timeout even if memory ran out on the
    way; an OOM kill explains a non-zero exit; only a clean exit has its output checked.
    """
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
    if result.exit_code != 0:
        tail = " | ".join(line.strip() for line in log.stderr_tail() if line.strip())
        return Status.FAILED, f"the submission exited with code {result.exit_code}" + (
            f"; last stderr lines: {tail}" if tail else "; it wrote nothing on stderr"
        )
    try:
        expected = read_track_ids(settings.data_dir / TRACKS_FILE)
        descriptors = read_descriptors(settings.output_dir / DESCRIPTORS_FILE, expected, settings.dim)
    except InvalidOutputError as exc:
        return Status.INVALID_OUTPUT, f"the output is invalid: {exc}"
    return Status.OK, (
        f"the submission wrote {descriptors.track_id.size} descriptors of dimension "
        f"{descriptors.descriptor.shape[1]} in {result.wall_s:.1f}s"
    )
