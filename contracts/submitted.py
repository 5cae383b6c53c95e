"""The one declaration of what is submitted (contracts/submitted_files.txt) and the files it names.

`python -m contracts.submitted [FOLDER]` prints the submitted files of FOLDER (default: the
current folder), one a line: the Makefile builds the image's context and `make pack`'s
archive from that list, and bwrap's staging copies the same list, so the three agree by
construction. Standard library only: the Makefile runs it with the system's Python.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

DECLARATION = Path(__file__).resolve().with_name("submitted_files.txt")
_WILDCARDS = frozenset("*?[")


def submitted_patterns(declaration: Path = DECLARATION) -> tuple[str, ...]:
    """Return the glob patterns of `declaration`, in order: every line but blanks and # comments."""
    lines = (line.split("#", 1)[0].strip() for line in declaration.read_text(encoding="utf-8").splitlines())
    return tuple(line for line in lines if line)


def required_files(patterns: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """Return the patterns without a wildcard: files every submission must have."""
    patterns = submitted_patterns() if patterns is None else patterns
    return tuple(pattern for pattern in patterns if not _WILDCARDS & set(pattern))


def submitted_files(folder: Path, patterns: tuple[str, ...] | None = None) -> list[Path]:
    """Return the regular files of `folder` that the patterns name, relative and sorted.

    Links, and files reached through a linked folder, are left out: none can point the
    sandbox, the image or the archive at a file outside the submission.
    """
    patterns = submitted_patterns() if patterns is None else patterns
    found: set[Path] = set()
    for pattern in patterns:
        for path in folder.glob(pattern):
            if stat.S_ISREG(os.lstat(path).st_mode) and not _passes_through_link(path, folder):
                found.add(path.relative_to(folder))
    return sorted(found)


def _passes_through_link(path: Path, root: Path) -> bool:
    current = root
    for part in path.relative_to(root).parts[:-1]:
        current = current / part
        if current.is_symlink():
            return True
    return False


def main(argv: list[str]) -> int:
    """Command line: print the submitted files of argv[0] (default ".") one a line; return 0."""
    folder = Path(argv[0]) if argv else Path(".")
    for relative in submitted_files(folder):
        print(relative.as_posix())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
