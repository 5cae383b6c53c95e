"""Starting the submission, keeping its clock, and ending it and everything it started.

The clock starts when the engine's process starts (a container engine's image must
already be present, so no build or pull is counted). At the limit: SIGTERM to every
process of the run, SIGKILL after a grace period; after the main process ends, every
process left in the run's cgroup (daemons, double forks) is killed too. Whatever ends
the supervision early (an exception of the runner's own, SIGINT or SIGTERM to the
runner) stops the submission and removes its container before it propagates.

Two kinds of the runner's own failures are kept apart: a launch that fails (the engine's
program cannot be started) raises LaunchError and nothing ran; a teardown that fails
(processes that survive SIGKILL, a container that cannot be removed) does not replace
how the run ended: it is returned as a warning in `ProcessResult.teardown_problems`.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from contracts.errors import RunnerError
from submission.engines.base import Engine, Launch
from submission.engines.container import ContainerEngine, ContainerState
from submission.isolation.cgroup import RunCgroup
from submission.isolation.rlimits import rlimit_setter
from submission.reporting.logs import CappedLog
from submission.settings import RunSettings

POLL_S = 0.1


class LaunchError(RunnerError):
    """The engine's program could not be started: the submission never ran."""


@dataclass(frozen=True)
class ProcessResult:
    """How the submission's process ended."""

    exit_code: int | None
    timed_out: bool
    wall_s: float
    started_at: str
    finished_at: str
    leftover_killed: int
    #: What docker or podman says of the ended container; None for bwrap and local.
    container: ContainerState | None = None
    #: What the cleanup after the run could not do (the organizer's to look at; the result stands).
    teardown_problems: tuple[str, ...] = ()

    @property
    def submission_exit_code(self) -> int | None:
        """The submission's own exit code: the engine's word for a container (the client's code also
        carries the engine's failures, 125), else the process's; None after a timeout."""
        if self.container and self.container.exit_code is not None and not self.timed_out:
            return self.container.exit_code
        return self.exit_code


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def supervise(
    engine: Engine,
    launch: Launch,
    settings: RunSettings,
    cgroup: RunCgroup | None,
    log: CappedLog,
    on_tick: Callable[[float], None] | None = None,
) -> ProcessResult:
    """Run `launch` to its end or to the time limit; return how it ended.

    `on_tick(elapsed_s)` is called about once a second (the live progress line).
    Raises LaunchError when the engine's program cannot be started at all. A failure of
    the cleanup after the run is in the result's `teardown_problems`, never raised; one
    during an exception already on its way is logged and that exception goes on.
    """
    log.write("runner", "command: " + shlex.join(launch.argv))
    started_at = _now()
    try:
        process = subprocess.Popen(
            launch.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=launch.env,
            cwd=launch.cwd,
            start_new_session=True,
            preexec_fn=_in_child(engine, launch, settings, cgroup),
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise LaunchError(f"the {engine.name} engine could not start: {exc}") from exc
    started = time.monotonic()
    assert process.stdout is not None and process.stderr is not None
    pumps = [
        threading.Thread(target=log.pump, args=("stdout", process.stdout), daemon=True),
        threading.Thread(target=log.pump, args=("stderr", process.stderr), daemon=True),
    ]
    for pump in pumps:
        pump.start()

    timed_out = False
    state = None
    try:
        last_tick = started
        while process.poll() is None:
            elapsed = time.monotonic() - started
            if elapsed >= settings.time_limit_s:
                timed_out = True
                log.write("runner", f"time limit of {settings.time_limit_s:g}s reached: SIGTERM to every process")
                _terminate(engine, launch, process, cgroup, settings.grace_s, log)
                break
            if on_tick and time.monotonic() - last_tick >= 1.0:
                last_tick = time.monotonic()
                on_tick(elapsed)
            time.sleep(POLL_S)
        wall_s = time.monotonic() - started
        exit_code = process.wait()
        finished_at = _now()
        if isinstance(engine, ContainerEngine) and launch.container:
            state = engine.state(launch.container)
    except BaseException as exc:
        log.write("runner", f"the run ends early ({type(exc).__name__}): stopping the submission")
        _terminate(engine, launch, process, cgroup, settings.grace_s, log)
        raise
    finally:
        leftover, problems = _end_leftovers(engine, launch, process, cgroup, log)
        for pump in pumps:
            pump.join(timeout=10)
    return ProcessResult(
        exit_code=None if timed_out else exit_code,
        timed_out=timed_out,
        wall_s=round(wall_s, 3),
        started_at=started_at,
        finished_at=finished_at,
        leftover_killed=leftover,
        container=state,
        teardown_problems=problems,
    )


def _in_child(
    engine: Engine, launch: Launch, settings: RunSettings, cgroup: RunCgroup | None
) -> Callable[[], None] | None:
    """What the child runs before exec: its limits first (as root), then the engine's own setup."""
    steps = [step for step in (_limits_in_child(engine, settings, cgroup), launch.setup) if step]
    if not steps:
        return None

    def run_steps() -> None:
        for step in steps:
            step()

    return run_steps


def _limits_in_child(engine: Engine, settings: RunSettings, cgroup: RunCgroup | None) -> Callable[[], None] | None:
    """What the child runs before exec: enter the run's cgroup, or set rlimits when there is none.

    Container engines get their limits as flags and their cgroup as --cgroup-parent.
    """
    if not engine.enters_cgroup:
        return None
    if cgroup:
        return cgroup.enter
    return rlimit_setter(settings.memory_bytes, settings.pids_limit)


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


def _terminate(
    engine: Engine,
    launch: Launch,
    process: subprocess.Popen[bytes],
    cgroup: RunCgroup | None,
    grace_s: float,
    log: CappedLog,
) -> None:
    if launch.container:
        engine.stop(launch.container, "TERM")
    if cgroup:
        # The engine's own process (bwrap) is spared: the submission gets the grace period,
        # not a sandbox torn down under it.
        cgroup.signal_all(signal.SIGTERM, spare=process.pid)
    else:
        _signal_group(process, signal.SIGTERM)
    try:
        process.wait(timeout=grace_s)
        return
    except subprocess.TimeoutExpired:
        pass
    log.write("runner", f"still running {grace_s:g}s after SIGTERM: SIGKILL")
    if launch.container:
        engine.stop(launch.container, "KILL")
    if cgroup:
        # What survives is found again, and reported, by _end_leftovers: the timeout stands.
        with contextlib.suppress(RunnerError):
            cgroup.kill_all()
    _signal_group(process, signal.SIGKILL)
    process.wait()


def _end_leftovers(
    engine: Engine,
    launch: Launch,
    process: subprocess.Popen[bytes],
    cgroup: RunCgroup | None,
    log: CappedLog,
) -> tuple[int, tuple[str, ...]]:
    """Kill whatever the submission left running; return how many processes that was, and what failed.

    Each failure is logged and returned as one sentence; none is raised.
    """
    problems: list[str] = []
    _signal_group(process, signal.SIGKILL)
    if isinstance(engine, ContainerEngine) and launch.container:
        try:
            engine.remove(launch.container)
        except (OSError, subprocess.SubprocessError) as exc:
            problems.append(f"the container {launch.container} could not be removed ({exc}); remove it by hand")
    killed = 0
    if cgroup:
        try:
            killed = cgroup.kill_all()
        except RunnerError as exc:
            problems.append(str(exc))
    if killed:
        log.write("runner", f"killed {killed} process(es) the submission left running after it ended")
    for problem in problems:
        log.write("runner", f"cleanup after the run failed: {problem}")
    return killed, tuple(problems)
