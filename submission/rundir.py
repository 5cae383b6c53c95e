"""RUN_DIR, made and written by a root runner that never follows a link it did not create.

RUN_DIR may lie where others can plant links (a checkout, a shared folder): a committed
`run -> another team's folder`, `run/log.txt -> /etc/...` or `run/.run.json.tmp` must not
make root write or empty anything elsewhere. So RUN_DIR must not be or pass through a
link, the runner's own files must be absent or regular files, and every file is written
through a descriptor of RUN_DIR with O_NOFOLLOW and O_EXCL.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from pathlib import Path
from typing import IO

from contracts.errors import ChallengeError
from contracts.names import (
    LOG_FILE,
    METRICS_FILE,
    OUTPUT_DIR,
    PARTICIPANT_LOG_FILE,
    ROC_FILE,
    RUN_REPORT_FILE,
    SCORE_FILE,
)

#: Every name the runner or the scorer writes in RUN_DIR, the report's temporary file included.
RUNNER_FILES = (
    RUN_REPORT_FILE,
    f".{RUN_REPORT_FILE}.tmp",
    LOG_FILE,
    PARTICIPANT_LOG_FILE,
    f".{PARTICIPANT_LOG_FILE}.tmp",
    SCORE_FILE,
    METRICS_FILE,
    ROC_FILE,
)


class RunDirError(ChallengeError):
    """RUN_DIR cannot be used as it is; the message names what is wrong and the fix."""


def check_no_links(path: Path) -> None:
    """Raise RunDirError when `path` (absolute) or any folder on the way to it is a symbolic link.

    Components that do not exist yet are fine: they will be made as plain folders.
    """
    current = Path(path.anchor)
    for part in path.parts[1:]:
        current = current / part
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            return
        if stat.S_ISLNK(mode):
            raise RunDirError(
                f"--out must not be or pass through a symbolic link, and {current} is one; "
                f"give the real path ({os.path.realpath(path)}) or another folder"
            )
        if not stat.S_ISDIR(mode):
            raise RunDirError(f"--out must be a folder, and {current} is not one; choose another --out")


def prepare_run_dir(run_dir: Path, force: bool) -> None:
    """Make RUN_DIR (absolute) and an empty RUN_DIR/output owned by root.

    Raises RunDirError when RUN_DIR is or passes through a link, when one of the runner's
    files there is a link or not a regular file, or when output/ holds files of an
    earlier run and `force` is False (with `force` it is emptied, links inside removed,
    never followed). Nothing but output/'s content is removed.
    """
    check_no_links(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    check_no_links(run_dir)
    for name in RUNNER_FILES:
        _check_replaceable(run_dir / name)
    output = run_dir / OUTPUT_DIR
    try:
        mode = os.lstat(output).st_mode
    except FileNotFoundError:
        output.mkdir()
        return
    if not stat.S_ISDIR(mode):
        raise RunDirError(f"{output} is not a folder (a link or a file); remove it or choose another --out")
    if any(output.iterdir()):
        if not force:
            raise RunDirError(
                f"{output} holds files of an earlier run; pass --force to empty it or choose another --out"
            )
        # rmtree removes links inside without following them (it works on descriptors).
        shutil.rmtree(output)
        output.mkdir()


def _check_replaceable(path: Path) -> None:
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode):
        kind = "a symbolic link" if stat.S_ISLNK(mode) else "not a regular file"
        raise RunDirError(
            f"{path} is {kind}: the runner writes only regular files of its own there; "
            "remove it or choose another --out"
        )


class RunFiles:
    """The runner's files in RUN_DIR, written through a descriptor of the folder, never through a link.

    Use as a context manager, or call `close`. Raises RunDirError when RUN_DIR is a link.
    """

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        try:
            self._fd = os.open(run_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError as exc:
            raise RunDirError(
                f"{run_dir} cannot be opened as a folder without following a link: {exc.strerror}"
            ) from None

    def create(self, name: str) -> IO[bytes]:
        """Return `name` in RUN_DIR opened for writing as a new, empty regular file.

        An earlier regular file of that name is removed first; a link or folder there is
        an OSError (prepare_run_dir refuses those before the run).
        """
        with contextlib.suppress(FileNotFoundError):
            if not stat.S_ISREG(os.stat(name, dir_fd=self._fd, follow_symlinks=False).st_mode):
                raise IsADirectoryError(f"{self.run_dir / name} is not a regular file")
            os.unlink(name, dir_fd=self._fd)
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=self._fd)
        return os.fdopen(fd, "wb")

    def read(self, name: str) -> bytes:
        """Return the bytes of `name` in RUN_DIR, opened without following a link. Raises OSError."""
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=self._fd)
        with os.fdopen(fd, "rb") as handle:
            return handle.read()

    def write_atomically(self, name: str, data: bytes) -> Path:
        """Write `data` to `name` through a temporary file and a rename; return the path."""
        temporary = f".{name}.tmp"
        with self.create(temporary) as handle:
            handle.write(data)
        os.replace(temporary, name, src_dir_fd=self._fd, dst_dir_fd=self._fd)
        return self.run_dir / name

    def close(self) -> None:
        """Close the folder's descriptor."""
        os.close(self._fd)

    def __enter__(self) -> RunFiles:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
