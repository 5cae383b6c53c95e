"""Sizes written the docker way ("512m", "16g") and parsed to bytes."""

import re

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_FACTOR = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(text: str | int) -> int:
    """Return the number of bytes in a size such as ``512m``, ``16g``, ``1.5G`` or ``4096``.

    Suffixes are binary (k = 1024), as docker reads them. Raises ValueError, with the
    rule, when the text is not a size.

    >>> parse_size("16g")
    17179869184
    """
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise ValueError(f"size must be a non-negative number of bytes, got {text}")
        return text
    match = _SIZE.match(str(text))
    if match is None:
        raise ValueError(f'size must look like 512m, 16g or 4096, got "{text}"')
    number, unit = match.groups()
    return int(float(number) * _FACTOR[unit.lower()])


def format_size(n_bytes: int) -> str:
    """Return a short human form of a byte count, e.g. ``1.5 GiB``."""
    value = float(n_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
