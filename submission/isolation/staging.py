"""The submission as the sandbox sees it: exactly its run-time files, copied into a folder of their own.

The folder given as --submission is often more than the submission: the project root
(the default) holds older runs in out/, datasets in data/ and private scores in build/;
a CI checkout holds whatever the branch committed. The sandbox sees only what the
submission image would hold at /submission (the Dockerfile's COPY lines and `make
pack`): RUNTIME_FILES. Links are never copied, so none can point the sandbox elsewhere.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from contracts.errors import RunnerError

#: What /submission holds, as glob patterns relative to the submission folder; the
#: Dockerfile copies the same (tests/test_security.py holds the two together).
RUNTIME_FILES = ("solution.py", "models/*.onnx")


def runtime_files(submission_dir: Path) -> list[Path]:
    """Return the regular files of `submission_dir` that RUNTIME_FILES name, relative and sorted.

    Links and anything but regular files are left out.
    """
    found: set[Path] = set()
    for pattern in RUNTIME_FILES:
        for path in submission_dir.glob(pattern):
            if stat.S_ISREG(os.lstat(path).st_mode) and not _passes_through_link(path, submission_dir):
                found.add(path.relative_to(submission_dir))
    return sorted(found)


def _passes_through_link(path: Path, root: Path) -> bool:
    current = root
    for part in path.relative_to(root).parts[:-1]:
        current = current / part
        if current.is_symlink():
            return True
    return False


def stage_submission(submission_dir: Path, destination: Path) -> list[Path]:
    """Copy the run-time files of `submission_dir` into the new folder `destination`; return them.

    The copies are world-readable (the sandbox user is not their owner) and folders are
    0755. Raises RunnerError when the folder holds none of the run-time files.
    """
    files = runtime_files(submission_dir)
    if not files:
        raise RunnerError(
            f"{submission_dir} holds none of the submission's files ({', '.join(RUNTIME_FILES)}); "
            "point --submission at the folder with solution.py"
        )
    destination.mkdir(mode=0o755)
    for relative in files:
        target = destination / relative
        target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        shutil.copyfile(submission_dir / relative, target, follow_symlinks=False)
        target.chmod(0o644)
    return files
