"""Reading an organizer's CSV table with its ids as text, noting why it cannot be used instead of raising.

`check-data` (evaluate.checkdata) and the MCS2019 import (evaluate.mcs2019.read) read their
tables the same way and differ only in the fixes they suggest, which `TableFixes` holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from evaluate.problems import Problems


@dataclass(frozen=True)
class TableFixes:
    """The fix to print for each way a table can be unusable."""

    missing: str
    unreadable: str
    columns: str
    empty: str


def read_text_table(
    path: Path,
    name: str,
    columns: Iterable[str],
    text_columns: Iterable[str],
    fixes: TableFixes,
    problems: Problems,
    empty_is_na: bool = False,
) -> pd.DataFrame | None:
    """Return the CSV at `path` when it exists, parses, has every one of `columns` and at least one row.

    `text_columns` are read as strings, never numbers (an md5 such as "1e10..." must not become
    a float); an empty cell stays "" unless `empty_is_na`, which reads it as NaN. Otherwise
    notes the first reason it cannot be used in `problems` under `name` and returns None.
    """
    columns = list(columns)
    if not path.is_file():
        problems.add(name, "is missing", fixes.missing)
        return None
    try:
        table = pd.read_csv(
            path,
            dtype=dict.fromkeys(text_columns, str),
            keep_default_na=False,
            na_values=[""] if empty_is_na else None,
            low_memory=False,
        )
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        problems.add(name, f"cannot be read as CSV: {exc}", fixes.unreadable)
        return None
    missing = [c for c in columns if c not in table.columns]
    if missing:
        problems.add(
            name, f"lacks the columns {', '.join(missing)} (has {', '.join(map(str, table.columns))})", fixes.columns
        )
        return None
    if table.empty:
        problems.add(name, "has no rows", fixes.empty)
        return None
    return table
