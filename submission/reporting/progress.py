"""Reading what the submission reports about itself (progress.json, solution.json), safely.

These files are written by untrusted code into /output and read by the runner as root:
they are opened without following links, only when regular, and only up to a small size;
their values are used only when of the expected type and range (a `tracks_done` of
10**400 must not crash the runner), and their strings are made printable.
"""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path
from typing import Any

from submission.reporting.text import printable

_MAX_BYTES = 64 * 1024
# No real test set comes near: larger counts are treated as garbage, not shown.
_MAX_COUNT = 10**9
_MAX_STRING = 200


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
    except (ValueError, RecursionError):  # RecursionError: 64 KiB of nested brackets
        return None
    return document if isinstance(document, dict) else None


def untrusted_string(value: object, default: str = "unknown") -> str:
    """Return `value` made printable and cut to 200 characters when it is a string, else `default`."""
    if not isinstance(value, str):
        return default
    text = printable(value)
    return text if len(text) <= _MAX_STRING else text[:_MAX_STRING] + "..."


def _count(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _MAX_COUNT:
        return value
    return None


def _is_rate(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return 0 <= value < _MAX_COUNT and math.isfinite(value)


def tracks_done(progress: dict[str, Any] | None) -> tuple[int, int] | None:
    """Return (tracks done, tracks in all) from a progress.json, or None when it gives no sensible pair
    (counts in 0..10**9, done <= total, total > 0)."""
    if not progress:
        return None
    done, total = _count(progress.get("tracks_done")), _count(progress.get("tracks_total"))
    if done is None or not total or done > total:
        return None
    return done, total


def progress_line(elapsed_s: float, limit_s: float, progress: dict[str, Any] | None) -> str:
    """Return the live line: elapsed, time left, and tracks done when the solution reports them.

    The solution's numbers are shown only when they make sense (counts in 0..10**9 with
    done <= total, a finite non-negative rate); anything else is left out, never an error.
    """
    line = f"elapsed {elapsed_s:5.0f}s  left {max(0.0, limit_s - elapsed_s):5.0f}s"
    tracks = tracks_done(progress)
    if tracks:
        done, total = tracks
        line += f"  tracks {done}/{total} ({100 * done / total:.0f}%)"
    if progress:
        rate = progress.get("images_per_s")
        if _is_rate(rate):
            line += f"  {rate:.1f} images/s"
    return line
