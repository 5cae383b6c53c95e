"""What a run leaves on the host while it runs, recorded so that a runner killed by SIGKILL
(a CI job cancelled hard, an OOM kill of the runner) leaves nothing behind for good.

Each live run has a record in the state folder: `<run id>.json` (its RUN_DIR, cgroup,
container, mounted /output, scratch folder, as each comes to exist) and `<run id>.lock`,
held with flock by the runner for the whole run. The kernel drops the lock when the
runner dies, however it dies, so a lock that can be taken is proof that its owner is
dead: only such runs are cleaned, never one whose runner lives (several runs may share
a host). The lock file is locked before it gets its name, so no cleaner can ever find a
new run's record unlocked.

Cleaning a dead run kills every process left in its cgroup and removes the cgroup,
removes its container, unmounts its /output volume and deletes its scratch folder.
The runner's watchdog (submission/reaper.py) does it at the run's deadline; the next
runner start does it for whatever is still there.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts.errors import RunnerError
from submission.isolation.cgroup import CgroupV1, CgroupV2, RunCgroup

#: Where the records live; this variable moves them (one folder per host, shared by its runners).
STATE_DIR_VARIABLE = "MCS_RUNNER_STATE"


def state_dir() -> Path:
    """Return the folder of the run records: $MCS_RUNNER_STATE, else /run/mcs-runner for root,
    else a per-user folder in the temporary directory."""
    if os.environ.get(STATE_DIR_VARIABLE):
        return Path(os.environ[STATE_DIR_VARIABLE])
    if os.geteuid() == 0:
        return Path("/run/mcs-runner")
    return Path(tempfile.gettempdir()) / f"mcs-runner-{os.geteuid()}"


class RunRecord:
    """The record of one live run. Open it with `open`; `note` what the run makes; `close` at its end."""

    def __init__(self, folder: Path, run_id: str, lock_fd: int, fields: dict[str, Any]) -> None:
        self.folder = folder
        self.run_id = run_id
        self._lock_fd = lock_fd
        self._fields = fields

    @classmethod
    def open(cls, folder: Path, run_id: str, run_dir: Path) -> RunRecord:
        """Create and lock the record of run `run_id` writing to `run_dir`. Raises OSError when the
        state folder cannot be made or written."""
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=folder, prefix=".lock-")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            record = cls(folder, run_id, fd, {"run_id": run_id, "runner_pid": os.getpid(), "run_dir": str(run_dir)})
            record._write()
            os.rename(temporary, folder / f"{run_id}.lock")
        except BaseException:
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        return record

    def note(self, **fields: Any) -> None:
        """Add what the run has made (cgroup, container, mount, scratch) to the record, on disk at once."""
        self._fields.update(fields)
        self._write()

    def close(self) -> None:
        """Delete the record and release its lock: the run has ended and cleaned up after itself."""
        for suffix in (".json", ".lock"):
            with contextlib.suppress(FileNotFoundError):
                (self.folder / f"{self.run_id}{suffix}").unlink()
        os.close(self._lock_fd)

    def _write(self) -> None:
        temporary = self.folder / f".{self.run_id}.json.tmp"
        temporary.write_text(json.dumps(self._fields), encoding="utf-8")
        os.replace(temporary, self.folder / f"{self.run_id}.json")


def cgroup_fields(cgroup: RunCgroup) -> dict[str, Any]:
    """Return what the record keeps of `cgroup` to find it again from another process."""
    return {"version": cgroup.version, "root": str(cgroup.root), "name": cgroup.name, "parent": cgroup.parent}


@dataclass(frozen=True)
class DeadRun:
    """A run whose runner died, as its record left it, with what cleaning it did (one sentence each)."""

    run_id: str
    run_dir: Path | None
    done: tuple[str, ...]


def clean_dead_runs(folder: Path, only: str | None = None) -> list[DeadRun]:
    """Clean every run in `folder` whose runner is dead (its lock is free), or only run `only`.

    Returns the runs cleaned. Live runs are never touched. Never raises for one run's
    failure: what could not be done is among its sentences.
    """
    cleaned = []
    pattern = f"{only}.lock" if only else "*.lock"
    for lock in sorted(folder.glob(pattern)) if folder.is_dir() else []:
        with _owned(lock) as owned:
            if owned:
                cleaned.append(_clean(folder, lock.name[: -len(".lock")]))
    return cleaned


@contextlib.contextmanager
def _owned(lock: Path) -> Iterator[bool]:
    """Yield True while this process holds `lock` and it is still the file of that name (its owner is dead)."""
    try:
        fd = os.open(lock, os.O_RDWR | os.O_NOFOLLOW)
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            same = os.stat(lock, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        yield same
    finally:
        os.close(fd)


def _clean(folder: Path, run_id: str) -> DeadRun:
    record_path = folder / f"{run_id}.json"
    try:
        fields = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        fields = {}
    done: list[str] = []
    container = fields.get("container")
    if container:
        try:
            removed = subprocess.run(
                [*container["base"], "rm", "--force", container["name"]], capture_output=True, timeout=120
            )
        except (OSError, subprocess.SubprocessError) as exc:
            done.append(f"could not remove its container {container['name']}: {exc}")
        else:
            if removed.returncode == 0:
                done.append(f"removed its container {container['name']}")
    if fields.get("cgroup"):
        done += _end_cgroup(fields["cgroup"])
    mount = fields.get("mount")
    if mount and os.path.ismount(mount):
        if subprocess.run(["umount", mount], capture_output=True).returncode != 0:
            subprocess.run(["umount", "--lazy", mount], capture_output=True)
        done.append(f"unmounted {mount}")
        collect = Path(mount).with_name(f".{Path(mount).name}.collect")
        if collect.is_dir() and not collect.is_symlink():
            shutil.rmtree(collect, ignore_errors=True)
    scratch = fields.get("scratch")
    if scratch and os.path.isdir(scratch):
        shutil.rmtree(scratch, ignore_errors=True)
        done.append(f"deleted its scratch folder {scratch}")
    for suffix in (".json", ".lock"):
        with contextlib.suppress(FileNotFoundError):
            (folder / f"{run_id}{suffix}").unlink()
    run_dir = fields.get("run_dir")
    return DeadRun(run_id=run_id, run_dir=Path(run_dir) if run_dir else None, done=tuple(done))


def _end_cgroup(fields: dict[str, Any]) -> list[str]:
    kind: type[RunCgroup] = CgroupV2 if fields.get("version") == 2 else CgroupV1
    group = kind(str(fields["name"]), Path(fields["root"]), str(fields["parent"]))
    inside = group.relative.lstrip("/")
    if not any(path.exists() for path in [group.root / inside, *group.root.glob(f"*/{inside}")]):
        return []
    done = []
    try:
        killed = group.kill_all()
        if killed:
            done.append(f"killed {killed} process(es) left in its cgroup {group.relative}")
        group.remove()
        done.append(f"removed its cgroup {group.relative}")
    except (OSError, RunnerError) as exc:
        done.append(f"could not end its cgroup {group.relative}: {exc}")
    return done
