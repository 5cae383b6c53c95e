"""The submission as the sandbox sees it: exactly its run-time files, copied into a folder of their own.

The folder given as --submission is often more than the submission: the project root
(the default) holds older runs in out/, datasets in data/ and private scores in build/;
a CI checkout holds whatever the branch committed. The sandbox sees only what the
submission image holds at /submission and `make pack` archives: RUNTIME_FILES, from
contracts/submitted_files.txt. Links are never copied, so none can point the sandbox elsewhere.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from contracts.errors import RunnerError
from contracts.submitted import submitted_files, submitted_patterns

#: What /submission holds, as glob patterns relative to the submission folder: the one
#: declaration of what is submitted, which the image's build context and `make pack` read too.
RUNTIME_FILES = submitted_patterns()


def stage_submission(submission_dir: Path, destination: Path) -> list[Path]:
    """Copy the run-time files of `submission_dir` into the new folder `destination`; return them.

    The copies are world-readable (the sandbox user is not their owner) and folders are
    0755. Raises RunnerError when the folder holds none of the run-time files.
    """
    files = submitted_files(submission_dir, RUNTIME_FILES)
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
