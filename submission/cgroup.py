"""A cgroup (v1) per run: the memory, process-count and CPU limits, the OOM count, and the kill switch.

Every process of a run lives in its cgroup, whatever the engine: bwrap and local put the
sandbox there before it starts; docker and podman get it as `--cgroup-parent`. So the
runner can list every process the submission started (double forks and daemons
included), kill them all, read the peak memory, and tell an OOM kill from any other
SIGKILL by the kernel's own count or record, never by guessing from an exit code.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from contracts.errors import RunnerError
from submission import kmsg

CGROUP_ROOT = Path("/sys/fs/cgroup")
CONTROLLERS = ("memory", "pids", "cpu", "freezer")
PARENT = "mcs-runner"
CPU_PERIOD_US = 100_000


@dataclass(frozen=True)
class Limits:
    """What a run may use: bytes of memory (swap included), processes, CPUs."""

    memory_bytes: int
    pids: int
    cpus: float


class RunCgroup:
    """The cgroup of one run, in every v1 controller the limits need.

    Create it with `RunCgroup.create(limits)`; `enter` (from the child, before exec) moves a
    process in; `kill_all` ends every process still inside; `remove` deletes it.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.relative = f"/{PARENT}/{name}"
        self.dirs = {c: CGROUP_ROOT / c / PARENT / name for c in CONTROLLERS}
        self._kmsg_start = kmsg.position()

    @staticmethod
    def supported() -> str | None:
        """Return None when per-run cgroups can be made here, else the reason they cannot."""
        if os.geteuid() != 0:
            return "the runner is not root, so it cannot create cgroups"
        missing = [c for c in CONTROLLERS if not (CGROUP_ROOT / c / "cgroup.procs").is_file()]
        if missing:
            return f"the cgroup v1 controllers {', '.join(missing)} are not mounted under {CGROUP_ROOT}"
        return None

    @classmethod
    def create(cls, limits: Limits) -> RunCgroup:
        """Make the run's cgroups with `limits` applied. Raises RunnerError when that fails."""
        group = cls(f"run-{uuid.uuid4().hex[:12]}")
        try:
            for directory in group.dirs.values():
                directory.mkdir(parents=True)
            memory = group.dirs["memory"]
            _write(memory / "memory.limit_in_bytes", limits.memory_bytes)
            if (memory / "memory.memsw.limit_in_bytes").exists():
                _write(memory / "memory.memsw.limit_in_bytes", limits.memory_bytes)
            _write(group.dirs["pids"] / "pids.max", limits.pids)
            _write(group.dirs["cpu"] / "cpu.cfs_period_us", CPU_PERIOD_US)
            _write(group.dirs["cpu"] / "cpu.cfs_quota_us", max(1000, int(limits.cpus * CPU_PERIOD_US)))
        except OSError as exc:
            group.remove()
            raise RunnerError(f"cannot create the run's cgroup: {exc}; run the runner as root") from exc
        return group

    def enter(self) -> None:
        """Move the calling process into every controller of this cgroup (call it in the child)."""
        for directory in self.dirs.values():
            (directory / "cgroup.procs").write_text("0")

    def pids(self) -> list[int]:
        """Return every process id still in the run's cgroup (the pids controller sees them all)."""
        procs = self.dirs["pids"] / "cgroup.procs"
        found: set[int] = set()
        for tasks in [procs, *self.dirs["pids"].glob("**/cgroup.procs")]:
            try:
                found.update(int(line) for line in tasks.read_text().split())
            except (OSError, ValueError):
                continue
        return sorted(found)

    def kill_all(self, attempts: int = 50) -> int:
        """SIGKILL every process in the cgroup until none is left; return how many were killed.

        The freezer stops the processes first, so a fork bomb cannot outrun the kill.
        Raises RunnerError when processes survive every attempt.
        """
        freezer = self.dirs["freezer"] / "freezer.state"
        killed = 0
        for _ in range(attempts):
            pids = self.pids()
            if not pids:
                return killed
            _write_quietly(freezer, "FROZEN")
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
                except ProcessLookupError:
                    pass
            _write_quietly(freezer, "THAWED")
            time.sleep(0.05)
        raise RunnerError(f"processes {self.pids()} of the run survive SIGKILL; check the host")

    def signal_all(self, signum: int, spare: int | None = None) -> None:
        """Send `signum` to every process in the cgroup but `spare` (the engine's own process)."""
        for pid in self.pids():
            if pid == spare:
                continue
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def oom_kills(self) -> int:
        """Return how many processes of the run the kernel killed for memory.

        Processes directly in the cgroup are counted by memory.oom_control; container
        engines make a child cgroup whose count vanishes with the container, so the
        kernel's own OOM records (/dev/kmsg) that name a cgroup under this one count too.
        """
        count = 0
        try:
            text = (self.dirs["memory"] / "memory.oom_control").read_text()
            match = re.search(r"^oom_kill (\d+)$", text, re.MULTILINE)
            count = int(match.group(1)) if match else 0
        except OSError:
            pass
        return max(count, kmsg.oom_records(self.relative, self._kmsg_start))

    def peak_memory(self) -> int | None:
        """Return the run's peak memory use in bytes (children included), when the kernel says."""
        try:
            return int((self.dirs["memory"] / "memory.max_usage_in_bytes").read_text())
        except (OSError, ValueError):
            return None

    def remove(self) -> None:
        """Delete the run's cgroups (children first) in every hierarchy, including those a container
        engine made for it under `--cgroup-parent`. Processes must be gone already."""
        for directory in {*self.dirs.values(), *CGROUP_ROOT.glob(f"*/{PARENT}/{self.name}")}:
            if not directory.exists():
                continue
            for child in sorted(directory.glob("**/"), key=lambda p: len(p.parts), reverse=True):
                with contextlib.suppress(OSError):
                    child.rmdir()


def _write(path: Path, value: int | str) -> None:
    path.write_text(str(value))


def _write_quietly(path: Path, value: str) -> None:
    with contextlib.suppress(OSError):
        path.write_text(value)
