"""RUN_DIR/output as a filesystem of its own for the run: bounded in bytes and in files.

Without it a submission fills the host's disk (3 GiB in 2.4 s, 200,000 files in 5 s) well
inside 15 minutes. The runner makes a sparse ext4 image per run, of `--output-limit`
bytes and one inode per 64 KiB, owned by the sandbox user, and mounts it on
RUN_DIR/output with nosuid, nodev and noexec: a setuid program left there is inert on
the host. After the run the regular files and folders in it are copied out (never a
link, device or FIFO), the image is unmounted and deleted, and RUN_DIR/output is a plain
folder again, for the scorer and the CI artifacts. The limit counts a sparse file's
apparent size (a file claiming more than the limit is left out), and the copy keeps its
holes: it uses as much of the host's disk as it used of the volume.

It needs root, a loop device and mkfs.ext4; where one is missing, `unavailable` says
which and the run goes on with an unbounded folder and a warning.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from contracts.errors import RunnerError

BYTES_PER_INODE = 64 * 1024
MIN_INODES = 1024
MIN_LIMIT_BYTES = 16 * 1024**2
DEFAULT_OUTPUT_LIMIT = 1024**3
_MOUNT_OPTIONS = "loop,nosuid,nodev,noexec"
FULL_MARGIN = 0.05
#: Folders deeper than this in /output are not copied out.
MAX_DEPTH = 32
#: Nor those whose path, from /output's copy on the host, would pass this many bytes (PATH_MAX less a margin).
MAX_PATH_BYTES = 3072


class Skipped(StrEnum):
    """Why something in /output was left out of the copy; the value is how the log says it."""

    LINK = "a symbolic link"
    NOT_REGULAR = "not a regular file"
    TOO_LARGE = "larger than the output limit (a sparse file)"
    TOO_DEEP = "nested too deep"


@dataclass(frozen=True)
class OutputUsage:
    """What the submission left in /output: bytes and files used, and whether a limit was reached."""

    bytes_used: int
    files: int
    full: bool


def inode_limit(limit_bytes: int) -> int:
    """Return how many files and folders an output of `limit_bytes` may hold (one per 64 KiB, at least 1024)."""
    return max(MIN_INODES, limit_bytes // BYTES_PER_INODE)


class OutputVolume:
    """The mounted image behind RUN_DIR/output. Make it with `create`; end it with `collect`."""

    def __init__(self, image: Path, mount_point: Path, limit_bytes: int) -> None:
        self.image = image
        self.mount_point = mount_point
        self.limit_bytes = limit_bytes
        # What the empty filesystem already uses (its metadata, reserved inodes), not counted as the submission's.
        empty = os.statvfs(mount_point)
        self._empty_blocks = empty.f_blocks - empty.f_bfree
        self._empty_inodes = empty.f_files - empty.f_ffree

    @staticmethod
    def unavailable() -> str | None:
        """Return None when an output volume can be made here, else what is missing and the fix."""
        if os.geteuid() != 0:
            return "the runner is not root, so it cannot mount a filesystem"
        if shutil.which("mkfs.ext4") is None:
            return "mkfs.ext4 is not installed (`apt-get install e2fsprogs`)"
        if not os.path.exists("/dev/loop-control"):
            return "there is no loop device (/dev/loop-control); run the runner on the host or privileged"
        return None

    @classmethod
    def create(cls, mount_point: Path, limit_bytes: int, scratch: Path, owner: int) -> OutputVolume:
        """Make an ext4 image of `limit_bytes` in `scratch`, owned by uid/gid `owner`, and mount it on `mount_point`.

        `mount_point` must be an empty folder. Raises RunnerError (with mkfs's or mount's
        own words) when the image cannot be made or mounted.
        """
        image = scratch / "output.img"
        with image.open("xb") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.truncate(limit_bytes)
        mkfs = [
            "mkfs.ext4",
            "-q",
            "-F",
            "-m",
            "0",
            "-N",
            str(inode_limit(limit_bytes)),
            "-O",
            "^has_journal",
            "-E",
            f"root_owner={owner}:{owner},nodiscard",
            str(image),
        ]
        _run_or_raise(mkfs, "cannot make the output filesystem")
        _run_or_raise(
            ["mount", "-t", "ext4", "-o", _MOUNT_OPTIONS, str(image), str(mount_point)],
            "cannot mount the output filesystem",
        )
        # lost+found is mkfs's, not the submission's: an empty /output is what the contract promises.
        with contextlib.suppress(OSError):
            (mount_point / "lost+found").rmdir()
        os.chmod(mount_point, 0o700)
        return cls(image, mount_point, limit_bytes)

    def usage(self) -> OutputUsage:
        """Return the bytes and files (folders included) the submission added, and whether either limit was reached."""
        info = os.statvfs(self.mount_point)
        bytes_used = (info.f_blocks - info.f_bfree - self._empty_blocks) * info.f_frsize
        files = info.f_files - info.f_ffree - self._empty_inodes
        # A write fails while some space is left (ext4 keeps a reserve for its metadata, and
        # a large write does not fit in the rest): within 5% of either limit counts as reached.
        full = info.f_bavail < info.f_blocks * FULL_MARGIN or info.f_favail < info.f_files * FULL_MARGIN
        return OutputUsage(bytes_used=bytes_used, files=max(0, files), full=full)

    def collect(self) -> dict[str, Skipped]:
        """Copy the regular files and folders out, unmount and delete the image; RUN_DIR/output becomes a folder.

        Returns what was left out, each path (relative to /output) with what it was: a
        symbolic link, not a regular file (a device, FIFO or socket), larger than the
        output limit (a sparse file), or nested too deep (more than MAX_DEPTH folders, or a
        path longer than MAX_PATH_BYTES). Every process of the run must be gone. The volume
        is unmounted, and the half-made copy removed, even when copying fails. Raises
        RunnerError when the volume cannot be unmounted.
        """
        staging = self.mount_point.with_name(f".{self.mount_point.name}.collect")
        if os.path.lexists(staging):
            shutil.rmtree(staging)
        staging.mkdir(mode=0o755)
        try:
            skipped = _copy_tree(self.mount_point, staging, self.limit_bytes)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        finally:
            self.discard()
        self.mount_point.rmdir()
        os.rename(staging, self.mount_point)
        return skipped

    def discard(self) -> None:
        """Unmount the volume and delete its image, whatever it holds. Raises RunnerError when it stays mounted."""
        done = subprocess.run(["umount", str(self.mount_point)], capture_output=True, text=True)
        if done.returncode != 0 and os.path.ismount(self.mount_point):
            # Busy (a container engine still holds it): detach now, freed when released.
            subprocess.run(["umount", "--lazy", str(self.mount_point)], capture_output=True)
        if os.path.ismount(self.mount_point):
            raise RunnerError(f"cannot unmount the output filesystem at {self.mount_point}: {done.stderr.strip()}")
        with contextlib.suppress(FileNotFoundError):
            self.image.unlink()


def _run_or_raise(argv: list[str], what: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise RunnerError(f"{what}: {done.stderr.strip() or f'{argv[0]} exited with code {done.returncode}'}")


def _copy_tree(source: Path, destination: Path, budget: int) -> dict[str, Skipped]:
    """Copy regular files and folders from `source` into `destination` without following any link.

    At most `budget` bytes are written: a sparse file claims any size while using no space
    in the volume, and must not fill the host's disk on the way out. Folders deeper than
    MAX_DEPTH, or whose path would pass MAX_PATH_BYTES, are left out (the walk uses no
    recursion, so no depth can crash it, and no path it opens passes PATH_MAX).
    """
    skipped: dict[str, Skipped] = {}
    longest = max(len(os.fsencode(source)), len(os.fsencode(destination)))
    pending = [Path()]
    while pending:
        relative = pending.pop()
        folder_fd = os.open(source / relative, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            for entry in sorted(os.listdir(folder_fd)):
                path = relative / entry
                mode = os.stat(entry, dir_fd=folder_fd, follow_symlinks=False).st_mode
                if stat.S_ISDIR(mode):
                    if len(path.parts) > MAX_DEPTH or longest + len(os.fsencode(path)) > MAX_PATH_BYTES:
                        skipped[_shown(path)] = Skipped.TOO_DEEP
                        continue
                    (destination / path).mkdir(mode=0o755)
                    pending.append(path)
                elif not stat.S_ISREG(mode):
                    skipped[path.as_posix()] = Skipped.LINK if stat.S_ISLNK(mode) else Skipped.NOT_REGULAR
                else:
                    budget -= _copy_file(entry, folder_fd, destination / path, budget, skipped, path.as_posix())
        finally:
            os.close(folder_fd)
    return skipped


def _shown(path: Path) -> str:
    """`path` as the log shows it: in full up to 200 characters, else its start and its depth."""
    text = path.as_posix()
    return text if len(text) <= 200 else f"{text[:200]}... ({len(path.parts)} folders deep)"


def _copy_file(name: str, folder_fd: int, target: Path, budget: int, skipped: dict[str, Skipped], shown: str) -> int:
    """Copy one regular file if it fits in `budget`; return the bytes written (0 when it was left out)."""
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=folder_fd)
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            skipped[shown] = Skipped.NOT_REGULAR
            return 0
        if info.st_size > budget:
            skipped[shown] = Skipped.TOO_LARGE
            return 0
        with target.open("xb") as copy:
            _copy_keeping_holes(handle.fileno(), copy.fileno(), info.st_size)
        return info.st_size


def _copy_keeping_holes(source: int, target: int, size: int) -> None:
    """Copy the `size` bytes of `source` into the empty `target`, its holes kept as holes.

    A sparse file in /output counts against the limit with its apparent size (the copy's
    budget) and lands on the host using no more disk than it used in the volume: only its
    data extents are written, and the length is set at the end.
    """
    offset = 0
    while offset < size:
        try:
            start = os.lseek(source, offset, os.SEEK_DATA)
        except OSError:
            # ENXIO: no data after `offset`, only a hole to the end.
            break
        end = os.lseek(source, start, os.SEEK_HOLE)
        os.lseek(target, start, os.SEEK_SET)
        while start < end:
            written = os.sendfile(target, source, start, min(end - start, 1024**2))
            if written == 0:
                break
            start += written
        offset = end
    os.ftruncate(target, size)
