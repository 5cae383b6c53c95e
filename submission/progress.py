"""Reading what the submission reports about itself (progress.json, solution.json), safely.

These files are written by untrusted code into /output and read by the runner as root:
they are opened without following links, only when regular, and only up to a small size.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

_MAX_BYTES = 64 * 1024


def read_untrusted_json(path: Path) -> dict[str, Any] | None:
    """Return the JSON object in `path`, or None when it is absent, a link, too large or not an object."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > _MAX_BYTES:
            return None
        raw = os.read(fd, _MAX_BYTES)
    finally:
        os.close(fd)
    try:
        document = json.loads(raw)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def progress_line(elapsed_s: float, limit_s: float, progress: dict[str, Any] | None) -> str:
    """Return the live line: elapsed, time left, and tracks done when the solution reports them."""
    line = f"elapsed {elapsed_s:5.0f}s  left {max(0.0, limit_s - elapsed_s):5.0f}s"
    if progress:
        done, total = progress.get("tracks_done"), progress.get("tracks_total")
        if isinstance(done, int) and isinstance(total, int) and total > 0:
            line += f"  tracks {done}/{total} ({100 * done / total:.0f}%)"
        rate = progress.get("images_per_s")
        if isinstance(rate, (int, float)):
            line += f"  {rate:.1f} images/s"
    return line
