"""A cgroup per run: the memory, process-count and CPU limits, the OOM count, and the kill switch.

Every process of a run lives in its cgroup, whatever the engine: bwrap and local put the
sandbox there before it starts; docker and podman get it as `--cgroup-parent`. So the
runner can list every process the submission started (double forks and daemons
included), kill them all, read the peak memory, and tell an OOM kill from any other
SIGKILL by the kernel's own count or record, never by guessing from an exit code.

The kernel offers two interfaces, and `find_hierarchy` picks one by what is mounted:

- pure cgroup v2: /sys/fs/cgroup is itself a cgroup2 mount -> `CgroupV2` there;
- cgroup v1, or hybrid (v1 controllers plus a cgroup2 mount at /sys/fs/cgroup/unified),
  with every v1 controller the limits need -> `CgroupV1`. A controller serves one
  hierarchy only, so on a hybrid host the controllers are in v1 and the unified
  hierarchy has nothing to limit with;
- hybrid whose v1 mounts lack a controller -> `CgroupV2` at /sys/fs/cgroup/unified, if
  the controllers are offered there.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import signal
import threading
import time
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from contracts.errors import RunnerError
from submission.isolation import kmsg

CGROUP_ROOT = Path("/sys/fs/cgroup")
#: The cgroup v1 controllers a run needs, each its own hierarchy under CGROUP_ROOT.
CONTROLLERS = ("memory", "pids", "cpu", "freezer")
#: The cgroup v2 controllers a run needs (v2 freezes and kills with core files, no controller).
V2_CONTROLLERS = ("memory", "pids", "cpu")
PARENT = "mcs-runner"
CPU_PERIOD_US = 100_000
#: How often the v2 fallback samples memory.current on kernels without memory.peak.
PEAK_SAMPLE_S = 0.05


@dataclass(frozen=True)
class Limits:
    """What a run may use: bytes of memory (swap included), processes, CPUs."""

    memory_bytes: int
    pids: int
    cpus: float


class RunCgroup(ABC):
    """The cgroup of one run, in whichever cgroup version this host has.

    Create it with `RunCgroup.create(limits)`; `enter` (from the child, before exec) moves a
    process in; `kill_all` ends every process still inside; `remove` deletes it.
    `relative` is its path inside the hierarchy, what a container engine takes as
    `--cgroup-parent`.
    """

    version: ClassVar[int]

    def __init__(self, name: str, root: Path = CGROUP_ROOT, parent: str = PARENT) -> None:
        """Name the run's group `parent/name` under the hierarchy at `root`; nothing is created yet."""
        self.name = name
        self.root = root
        self.parent = parent
        self.relative = f"/{parent}/{name}"
        self._kmsg_start = kmsg.position()

    @staticmethod
    def supported(root: Path = CGROUP_ROOT) -> str | None:
        """Return None when per-run cgroups can be made under `root`, else the reason and its fix."""
        return find_hierarchy(root).reason

    @staticmethod
    def create(limits: Limits, root: Path = CGROUP_ROOT) -> RunCgroup:
        """Make a run's group, of the version `find_hierarchy(root)` picks, with `limits` applied.

        Raises RunnerError, naming what is missing or failed, when that cannot be done;
        nothing is left behind then.
        """
        hierarchy = find_hierarchy(root)
        if hierarchy.kind is None:
            raise RunnerError(hierarchy.reason or f"no usable cgroup hierarchy under {root}")
        group = hierarchy.kind(f"run-{uuid.uuid4().hex[:12]}", hierarchy.root)
        try:
            group.make()
            group.limit(limits)
        except RunnerError:
            group.remove()
            raise
        return group

    @classmethod
    @abstractmethod
    def unusable(cls, root: Path, euid: int, parent: str = PARENT) -> str | None:
        """Return why run groups of this version cannot be made under `root` by user `euid`, or None."""

    @abstractmethod
    def make(self) -> None:
        """Create the run's group (and its parent), without limits. Raises RunnerError when that fails."""

    @abstractmethod
    def limit(self, limits: Limits) -> None:
        """Apply `limits` to the group made by `make`. Raises RunnerError naming what cannot be applied."""

    @abstractmethod
    def enter(self) -> None:
        """Move the calling process into the run's group (call it in the child, before exec)."""

    @abstractmethod
    def pids(self) -> list[int]:
        """Return every process id still in the run's group, its child groups included."""

    @abstractmethod
    def kill_all(self, attempts: int = 50) -> int:
        """SIGKILL every process in the group until none is left; return how many were killed.

        Raises RunnerError when processes survive every attempt.
        """

    @abstractmethod
    def oom_kills(self) -> int:
        """Return how many processes of the run the kernel killed for memory."""

    @abstractmethod
    def peak_memory(self) -> int | None:
        """Return the run's peak memory use in bytes (children included), or None when unknown."""

    @abstractmethod
    def remove(self) -> None:
        """Delete the run's group, children first. Processes must be gone already; never raises."""

    def signal_all(self, signum: int, spare: int | None = None) -> None:
        """Send `signum` to every process in the group but `spare` (the engine's own process)."""
        for pid in self.pids():
            if pid == spare:
                continue
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)


class CgroupV1(RunCgroup):
    """The run's group in every cgroup v1 controller the limits need (memory, pids, cpu, freezer)."""

    version = 1

    def __init__(self, name: str, root: Path = CGROUP_ROOT, parent: str = PARENT) -> None:
        """Name the run's group in each v1 hierarchy mounted at `root/<controller>`."""
        super().__init__(name, root, parent)
        self.dirs = {c: root / c / parent / name for c in CONTROLLERS}

    @classmethod
    def unusable(cls, root: Path, euid: int, parent: str = PARENT) -> str | None:
        """Return why v1 groups cannot be made under `root` by `euid` (a controller missing, not root,
        read-only), or None."""
        missing = [c for c in CONTROLLERS if not (root / c / "cgroup.procs").is_file()]
        if missing:
            return f"the cgroup v1 controllers {', '.join(missing)} are not mounted under {root}"
        return _access_problem([root / c for c in CONTROLLERS], euid, "cgroup v1", root)

    def make(self) -> None:
        """Create the run's directory in each v1 controller. Raises RunnerError when one cannot be made."""
        for directory in self.dirs.values():
            try:
                directory.mkdir(parents=True)
            except OSError as exc:
                raise RunnerError(f"cannot create the run's cgroup {directory}: {exc.strerror}") from exc

    def limit(self, limits: Limits) -> None:
        """Write the memory (with swap, where accounted), process and CPU limits.

        Raises RunnerError naming the file that refused its value.
        """
        memory = self.dirs["memory"]
        cpu = self.dirs["cpu"]
        settings: list[tuple[Path, int | str]] = [(memory / "memory.limit_in_bytes", limits.memory_bytes)]
        if (memory / "memory.memsw.limit_in_bytes").exists():
            settings.append((memory / "memory.memsw.limit_in_bytes", limits.memory_bytes))
        settings += [
            (self.dirs["pids"] / "pids.max", limits.pids),
            (cpu / "cpu.cfs_period_us", CPU_PERIOD_US),
            (cpu / "cpu.cfs_quota_us", cpu_quota_us(limits.cpus)),
        ]
        _write_all(settings)

    def enter(self) -> None:
        """Move the calling process into every controller of this cgroup (call it in the child)."""
        for directory in self.dirs.values():
            (directory / "cgroup.procs").write_text("0")

    def pids(self) -> list[int]:
        """Return every process id still in the run's cgroup (the pids controller sees them all)."""
        return _procs_below(self.dirs["pids"])

    def kill_all(self, attempts: int = 50) -> int:
        """SIGKILL every process in the cgroup until none is left; return how many were killed.

        The freezer stops the processes first, so a fork bomb cannot outrun the kill.
        Raises RunnerError when processes survive every attempt.
        """
        freezer = self.dirs["freezer"] / "freezer.state"
        # A process is counted once, however many attempts it takes to see it gone.
        killed: set[int] = set()
        for _ in range(attempts):
            pids = self.pids()
            if not pids:
                return len(killed)
            _write_quietly(freezer, "FROZEN")
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                    killed.add(pid)
            _write_quietly(freezer, "THAWED")
            time.sleep(0.05)
        raise RunnerError(f"processes {self.pids()} of the run survive SIGKILL; check the host")

    def oom_kills(self) -> int:
        """Return how many processes of the run the kernel killed for memory.

        Processes directly in the cgroup are counted by memory.oom_control; container
        engines make a child cgroup whose count vanishes with the container, so the
        kernel's own OOM records (/dev/kmsg) that name a cgroup under this one count too.
        """
        counted = _counted_oom_kills(self.dirs["memory"] / "memory.oom_control")
        return max(counted, kmsg.oom_records(self.relative, self._kmsg_start))

    def peak_memory(self) -> int | None:
        """Return the run's peak memory use in bytes (children included), when the kernel says."""
        try:
            return int((self.dirs["memory"] / "memory.max_usage_in_bytes").read_text())
        except (OSError, ValueError):
            return None

    def remove(self) -> None:
        """Delete the run's cgroups (children first) in every hierarchy, including those a container
        engine made for it under `--cgroup-parent`. Processes must be gone already."""
        for directory in {*self.dirs.values(), *self.root.glob(f"*/{self.parent}/{self.name}")}:
            if directory.exists():
                _remove_tree(directory)


class CgroupV2(RunCgroup):
    """The run's group in the unified (v2) hierarchy: root/parent/name.

    The limits need the memory, pids and cpu controllers enabled in the subtree_control
    of the root and of the parent. v2 lets a group pass controllers on only while it
    holds no processes itself, so the parent never holds any: the runner's processes
    stay where they are, and only the run's own go into the run's group.
    """

    version = 2

    def __init__(self, name: str, root: Path = CGROUP_ROOT, parent: str = PARENT) -> None:
        """Name the run's group `root/parent/name` in the cgroup2 hierarchy mounted at `root`."""
        super().__init__(name, root, parent)
        self.path = root / parent / name
        self._sampler: _PeakSampler | None = None

    @classmethod
    def unusable(cls, root: Path, euid: int, parent: str = PARENT) -> str | None:
        """Return why v2 groups with limits cannot be made under `root` by `euid` (not root, read-only,
        controllers not offered, the parent group holding processes), or None."""
        return (
            _access_problem([root], euid, "cgroup v2", root)
            or _missing_controllers_problem(root)
            or _busy_parent_problem(root / parent)
        )

    def make(self) -> None:
        """Create the run's group (and the parent). Raises RunnerError when that fails."""
        try:
            self.path.mkdir(parents=True)
        except OSError as exc:
            raise RunnerError(f"cannot create the run's cgroup {self.path}: {exc.strerror}") from exc

    def limit(self, limits: Limits) -> None:
        """Enable the controllers down to the run's group, then write memory.max, memory.swap.max (0:
        the memory limit includes swap, as in v1), pids.max and cpu.max ("quota period").

        Raises RunnerError naming the controllers that are not offered, the group that
        refused them, or the file that refused its value.
        """
        problem = _missing_controllers_problem(self.root)
        if problem:
            raise RunnerError(problem)
        enable = " ".join(f"+{c}" for c in V2_CONTROLLERS)
        for group in (self.root, self.root / self.parent):
            try:
                _write(group / "cgroup.subtree_control", enable)
            except OSError as exc:
                raise RunnerError(_enable_failure(group, exc)) from exc
        settings: list[tuple[Path, int | str]] = [(self.path / "memory.max", limits.memory_bytes)]
        # Without swap accounting (swapaccount=0) the file is absent: swap then cannot be capped.
        if (self.path / "memory.swap.max").exists():
            settings.append((self.path / "memory.swap.max", 0))
        settings += [
            (self.path / "pids.max", limits.pids),
            (self.path / "cpu.max", f"{cpu_quota_us(limits.cpus)} {CPU_PERIOD_US}"),
        ]
        _write_all(settings)
        if not (self.path / "memory.peak").exists():
            self._sampler = _PeakSampler(self.path / "memory.current")

    def enter(self) -> None:
        """Move the calling process into the run's group (call it in the child, before exec)."""
        (self.path / "cgroup.procs").write_text("0")

    def pids(self) -> list[int]:
        """Return every process id in the run's group and in the groups an engine made below it."""
        return _procs_below(self.path)

    def freeze(self, frozen: bool) -> None:
        """Stop (True) or resume (False) every process of the group and its children (cgroup.freeze).

        Raises RunnerError when the kernel refuses (cgroup.freeze needs Linux 5.2).
        """
        try:
            _write(self.path / "cgroup.freeze", "1" if frozen else "0")
        except OSError as exc:
            raise RunnerError(f"cannot {'freeze' if frozen else 'thaw'} {self.path}: {exc.strerror}") from exc

    def kill_all(self, attempts: int = 50) -> int:
        """SIGKILL every process in the group until none is left; return how many there were.

        cgroup.kill (Linux 5.14) kills the whole tree at once, forks racing with it included;
        before 5.14 the group is frozen, so nothing can fork, and each process is signalled.
        Raises RunnerError when processes survive every attempt.
        """
        if (self.path / "cgroup.kill").exists():
            return self._kill_with_kill_file(attempts)
        return self._kill_frozen(attempts)

    def _kill_with_kill_file(self, attempts: int) -> int:
        seen: set[int] = set()
        for _ in range(attempts):
            pids = self.pids()
            if not pids:
                return len(seen)
            seen.update(pids)
            _write_quietly(self.path / "cgroup.kill", "1")
            time.sleep(0.05)
        raise RunnerError(f"processes {self.pids()} of the run survive cgroup.kill; check the host")

    def _kill_frozen(self, attempts: int) -> int:
        seen: set[int] = set()
        # A frozen process still dies of SIGKILL, and one forked during the freeze is born frozen.
        with contextlib.suppress(RunnerError):
            self.freeze(True)
        try:
            for _ in range(attempts):
                pids = self.pids()
                if not pids:
                    return len(seen)
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                        seen.add(pid)
                time.sleep(0.05)
        finally:
            with contextlib.suppress(RunnerError):
                self.freeze(False)
        raise RunnerError(f"processes {self.pids()} of the run survive SIGKILL; check the host")

    def oom_kills(self) -> int:
        """Return how many processes of the run the kernel killed for memory.

        memory.events counts up the hierarchy, so the groups a container engine makes below
        this one are counted here and stay counted after the engine removes them. A host
        mounted with memory_localevents counts locally only: the kernel's OOM records then
        still name the child group.
        """
        counted = _counted_oom_kills(self.path / "memory.events")
        return max(counted, kmsg.oom_records(self.relative, self._kmsg_start))

    def peak_memory(self) -> int | None:
        """Return memory.peak (Linux 5.19), else the largest memory.current sampled during the run.

        The sampled value is a lower bound: a spike shorter than the sampling interval is
        missed. None when neither can be read (the memory controller is not enabled).
        """
        try:
            return int((self.path / "memory.peak").read_text())
        except (OSError, ValueError):
            return self._sampler.peak if self._sampler else None

    def remove(self) -> None:
        """Delete the run's group and every group an engine made below it, children first."""
        if self._sampler:
            self._sampler.stop()
        if self.path.exists():
            _remove_tree(self.path)


@dataclass(frozen=True)
class Hierarchy:
    """Where run groups go on this host: the class and the hierarchy root it works in.

    `kind` is None when no run group can be made; `reason` then says what is missing and
    the fix.
    """

    kind: type[RunCgroup] | None
    root: Path
    reason: str | None = None


def find_hierarchy(root: Path = CGROUP_ROOT, euid: int | None = None) -> Hierarchy:
    """Pick the cgroup version for run groups under `root` (see the module's docstring).

    `euid` is the runner's effective user id (this process's when None). Returns the
    usable hierarchy, or one with `kind` None and the reason. Never raises.
    """
    euid = os.geteuid() if euid is None else euid
    if _is_cgroup2(root):
        return _checked(CgroupV2, root, euid)
    missing_v1 = [c for c in CONTROLLERS if not (root / c / "cgroup.procs").is_file()]
    if not missing_v1:
        return _checked(CgroupV1, root, euid)
    unified = root / "unified"
    if _is_cgroup2(unified):
        v2 = _checked(CgroupV2, unified, euid)
        if v2.kind is not None or _missing_controllers_problem(unified) is None:
            return v2
        return Hierarchy(
            None,
            root,
            f"the cgroup v1 controllers {', '.join(missing_v1)} are not mounted under {root}, and {v2.reason}",
        )
    if len(missing_v1) == len(CONTROLLERS):
        return Hierarchy(
            None,
            root,
            f"no cgroup hierarchy is mounted at {root}: mount cgroup2 there "
            f"(`mount -t cgroup2 cgroup2 {root}`), or the cgroup v1 controllers {', '.join(CONTROLLERS)}",
        )
    return Hierarchy(
        None,
        root,
        f"the cgroup v1 controllers {', '.join(missing_v1)} are not mounted under {root}: "
        f"mount each (`mount -t cgroup -o NAME cgroup {root}/NAME`)",
    )


def _checked(kind: type[RunCgroup], root: Path, euid: int) -> Hierarchy:
    reason = kind.unusable(root, euid)
    return Hierarchy(None if reason else kind, root, reason)


def _is_cgroup2(path: Path) -> bool:
    # Only the cgroup2 filesystem has cgroup.controllers; a v1 hierarchy or a plain folder has not.
    return (path / "cgroup.controllers").is_file()


def _access_problem(mounts: list[Path], euid: int, version: str, where: Path) -> str | None:
    if euid != 0:
        return (
            f"the runner runs as user id {euid}, not root, and only root can make cgroups under "
            f"{where} ({version}); run it as root"
        )
    for mount in mounts:
        if os.statvfs(mount).f_flag & os.ST_RDONLY:
            return (
                f"the {version} hierarchy {mount} is mounted read-only, as a container sees the host's "
                "cgroups (a runner in a container that drives the host's docker through its socket "
                "cannot make them); run the runner on the host"
            )
        if not os.access(mount, os.W_OK):
            return f"the {version} hierarchy {mount} is not writable by the runner; check its mount and owner"
    return None


def _offered_controllers(root: Path) -> list[str]:
    try:
        return (root / "cgroup.controllers").read_text().split()
    except OSError:
        return []


def _missing_controllers_problem(root: Path) -> str | None:
    offered = _offered_controllers(root)
    missing = [c for c in V2_CONTROLLERS if c not in offered]
    if not missing:
        return None
    return (
        f"the cgroup v2 hierarchy at {root} does not offer the {', '.join(missing)} controller(s) "
        f"(it offers: {' '.join(offered) or 'none'}), so the memory, process and CPU limits cannot be "
        "applied: they are held by cgroup v1 hierarchies or disabled at boot; boot with "
        "systemd.unified_cgroup_hierarchy=1 for a pure cgroup v2 host, or mount the v1 controllers"
    )


def _busy_parent_problem(parent: Path) -> str | None:
    pids = _procs_in(parent / "cgroup.procs")
    if not pids:
        return None
    return (
        f"the runner's parent group {parent} holds processes ({' '.join(map(str, pids))}), and cgroup v2 "
        f"passes controllers only through groups that hold none; move them out (write each pid to "
        f"{parent.parent / 'cgroup.procs'})"
    )


def _enable_failure(group: Path, exc: OSError) -> str:
    if exc.errno == errno.EBUSY:
        return _busy_parent_problem(group) or (
            f"{group} refuses to enable the {', '.join(V2_CONTROLLERS)} controllers for its children "
            "(busy: it holds processes, or a child is threaded)"
        )
    return f"cannot enable the {', '.join(V2_CONTROLLERS)} controllers in {group}/cgroup.subtree_control: {exc}"


def _counted_oom_kills(events: Path) -> int:
    """Return the `oom_kill N` of a v1 memory.oom_control or a v2 memory.events; 0 when absent or unreadable."""
    try:
        match = re.search(r"^oom_kill (\d+)$", events.read_text(), re.MULTILINE)
    except OSError:
        return 0
    return int(match.group(1)) if match else 0


def cpu_quota_us(cpus: float) -> int:
    """Return the CFS quota in microseconds per CPU_PERIOD_US period for `cpus` CPUs.

    At least 1 ms: the kernel refuses smaller quotas. Container engines get the same
    numbers as flags (--cpu-period, --cpu-quota).
    """
    return max(1000, int(cpus * CPU_PERIOD_US))


def _procs_in(procs: Path) -> list[int]:
    try:
        return [int(line) for line in procs.read_text().split()]
    except (OSError, ValueError):
        return []


def _procs_below(group: Path) -> list[int]:
    found: set[int] = set()
    for procs in group.glob("**/cgroup.procs"):
        found.update(_procs_in(procs))
    return sorted(found)


def _remove_tree(group: Path) -> None:
    for child in sorted(group.glob("**/"), key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):
            child.rmdir()


def _write(path: Path, value: int | str) -> None:
    path.write_text(str(value))


def _write_all(settings: list[tuple[Path, int | str]]) -> None:
    for path, value in settings:
        try:
            _write(path, value)
        except OSError as exc:
            raise RunnerError(f"cannot set {path} to {value}: {exc.strerror or exc}") from exc


def _write_quietly(path: Path, value: str) -> None:
    with contextlib.suppress(OSError):
        path.write_text(value)


class _PeakSampler:
    """Keeps the largest memory.current seen, for kernels before 5.19 that have no memory.peak."""

    def __init__(self, current: Path) -> None:
        self.peak: int | None = None
        self._current = current
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cgroup-peak", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            with contextlib.suppress(OSError, ValueError):
                value = int(self._current.read_text())
                self.peak = value if self.peak is None else max(self.peak, value)
            if self._stopped.wait(PEAK_SAMPLE_S):
                return

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()
