"""Reading MCS2019's original tables and arrays, noting every problem instead of stopping at the first.

Ids are read as text and kept as the original strings. A table that cannot be used at all
(missing, unreadable, lacking a needed column) is None; rows with an empty or malformed
needed cell are reported by their line in the file and left out, so the later checks still
run on the rest and the organizer sees every problem in one pass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from contracts.ids import few
from evaluate.mcs2019.layout import (
    FRAME_ID,
    IMAGES_DIR,
    IS_VAL,
    ORDER_NEEDS,
    PERSON_ID,
    REFERENCE_DESCRIPTORS,
    REFERENCE_NEEDS,
    REFERENCE_TABLE,
    TEST_NEEDS,
    TEST_TABLE,
    TEXT_COLUMNS,
    TRACK_ID,
    TRACK_ORDER,
    TRAIN_DESCRIPTORS,
    TRAIN_NEEDS,
    TRAIN_REFERENCE_DESCRIPTORS,
    TRAIN_REFERENCE_TABLE,
    TRAIN_TABLE,
)
from evaluate.problems import Problems
from evaluate.tables import TableFixes, read_text_table

#: Column added to every table: the row's line in its CSV file (the header is line 1).
LINE = "_line"
#: Column added to every table: the row's position in the file, which the .npy arrays follow.
ROW = "_row"
#: Key of `DataFrame.attrs` holding the number of rows of the file, dropped rows included.
FILE_ROWS = "file_rows"
# Ids become folder names (test/images/<track_id>/) and CSV cells: no separators, no dots.
_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]+$")
_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})
_ID_COLUMNS = (TRACK_ID, PERSON_ID)
_GET_THE_FILE = "copy it from the organizers' MCS2019 data into the --from folder"
_TRAIN_REFERENCES_FIX = (
    f"{_GET_THE_FILE}, or remove {TRAIN_REFERENCE_TABLE} and {TRAIN_REFERENCE_DESCRIPTORS} both to import "
    "without train references"
)


@dataclass(frozen=True)
class Original:
    """The original files as read; a part is None when its file cannot be used at all.

    `train_references` and `train_reference_descriptors` are None too when neither optional
    file was given (`train_references_given` False).
    """

    source: Path
    images: Path
    test: pd.DataFrame | None
    order: pd.DataFrame | None
    references: pd.DataFrame | None
    reference_descriptors: np.ndarray | None
    train: pd.DataFrame | None
    train_descriptors: np.ndarray | None
    train_references: pd.DataFrame | None
    train_reference_descriptors: np.ndarray | None
    train_references_given: bool


def read_original(source: Path, images: Path | None, problems: Problems) -> Original:
    """Read the six original files of folder `source`, and the two optional ones; note every problem in `problems`.

    `images` is the folder the `warp_path` column is relative to (default: ``source/data``).
    The train references (train_gt_df.csv, train_gt_descriptors.npy) are read when either is
    there; one without the other is a problem. Returns what could be read; never raises for
    bad input, which is all in `problems`.
    """
    images = images if images is not None else source / IMAGES_DIR
    table, descriptors = source / TRAIN_REFERENCE_TABLE, source / TRAIN_REFERENCE_DESCRIPTORS
    # Optional, but both or neither: one alone is reported missing by the reader of the other.
    given = table.exists() or descriptors.exists()
    if not images.is_dir():
        problems.add(
            f"{IMAGES_DIR}/",
            f"the image folder {images} does not exist",
            "pass --images with the folder that the warp_path column is relative to",
        )
    return Original(
        source=source,
        images=images,
        test=read_table(source / TEST_TABLE, TEST_NEEDS, problems),
        order=read_table(source / TRACK_ORDER, ORDER_NEEDS, problems),
        references=read_table(source / REFERENCE_TABLE, REFERENCE_NEEDS, problems),
        reference_descriptors=read_descriptors(source / REFERENCE_DESCRIPTORS, problems),
        train=read_table(source / TRAIN_TABLE, TRAIN_NEEDS, problems),
        train_descriptors=read_descriptors(source / TRAIN_DESCRIPTORS, problems),
        train_references=read_table(table, REFERENCE_NEEDS, problems, _TRAIN_REFERENCES_FIX) if given else None,
        train_reference_descriptors=read_descriptors(descriptors, problems, _TRAIN_REFERENCES_FIX) if given else None,
        train_references_given=given,
    )


def read_table(
    path: Path, needs: tuple[str, ...], problems: Problems, missing: str = _GET_THE_FILE
) -> pd.DataFrame | None:
    """Return the CSV at `path` with its `needs` columns usable, or None when it cannot be used.

    Ids and paths are read as text. `frame_id` becomes a number and `is_val` a bool. Rows
    with an empty or malformed cell in a needed column are reported and dropped; the
    columns `_line` (line in the file) and `_row` (position, which .npy rows follow) are added,
    and ``attrs["file_rows"]`` holds the file's row count. `missing` is the fix shown when the
    file is missing.
    """
    fixes = TableFixes(
        missing=missing,
        unreadable=_GET_THE_FILE + " again; it must have a header row",
        columns=f"use the organizers' copy, which has {', '.join(needs)}",
        empty=_GET_THE_FILE,
    )
    name = path.name
    table = read_text_table(path, name, needs, TEXT_COLUMNS, fixes, problems, empty_is_na=True)
    if table is None:
        return None
    table[ROW] = np.arange(len(table))
    table[LINE] = table[ROW] + 2
    bad = np.zeros(len(table), dtype=bool)
    for column in needs:
        empty = table[column].isna().to_numpy()
        _report_lines(problems, name, table, empty, f"have an empty {column}", f"fill in {column} on every row")
        bad |= empty
    for column in (c for c in _ID_COLUMNS if c in needs):
        unsafe = ~table[column].fillna("").map(lambda v: bool(_SAFE_ID.match(v))).to_numpy(dtype=bool) & ~bad
        _report_lines(
            problems,
            name,
            table,
            unsafe,
            f"have a {column} other than letters, digits, - and _ (e.g. {few(table[column][unsafe])})",
            f"use the original {column}s (md5 hex strings)",
        )
        bad |= unsafe
    if FRAME_ID in needs:
        frame = pd.to_numeric(table[FRAME_ID], errors="coerce")
        malformed = (frame.isna() | ~np.isfinite(frame)).to_numpy() & ~bad
        _report_lines(problems, name, table, malformed, f"have a {FRAME_ID} that is not a number", "fix the frame_id")
        table[FRAME_ID] = frame
        bad |= malformed
    if IS_VAL in needs:
        flag = table[IS_VAL].fillna("").str.strip().str.lower()
        unknown = (~flag.isin(_TRUE | _FALSE)).to_numpy() & ~bad
        _report_lines(
            problems,
            name,
            table,
            unknown,
            f"have an {IS_VAL} other than True or False",
            f"write {IS_VAL} as True/False",
        )
        table[IS_VAL] = flag.isin(_TRUE)
        bad |= unknown
    usable = table[~bad].reset_index(drop=True)
    usable.attrs[FILE_ROWS] = len(table)
    return usable


def read_descriptors(path: Path, problems: Problems, missing: str = _GET_THE_FILE) -> np.ndarray | None:
    """Return the float32 [rows, D] array of the .npy at `path`, or None when it cannot be used.

    NaN or inf is reported (with the first rows that hold it) but the array is still
    returned, so its row count can be checked against its table too. `missing` is the fix
    shown when the file is missing.
    """
    name = path.name
    if not path.is_file():
        problems.add(name, "is missing", missing)
        return None
    try:
        array = np.load(path, allow_pickle=False, mmap_mode="r")
    except (ValueError, OSError, EOFError) as exc:
        problems.add(name, f"cannot be read as a .npy array without objects: {exc}", _GET_THE_FILE + " again")
        return None
    if array.dtype != np.float32 or array.ndim != 2 or array.shape[1] == 0:
        problems.add(
            name,
            f"must be float32 [rows, D], got {array.dtype} {list(array.shape)}",
            "save the descriptors with numpy.save as a float32 matrix",
        )
        return None
    array = np.asarray(array)
    bad_rows = np.flatnonzero(~np.isfinite(array).all(axis=1))
    if bad_rows.size:
        problems.add(
            name,
            f"rows {few(bad_rows)} hold NaN or inf ({bad_rows.size} of {array.shape[0]} rows)",
            "recompute those descriptors with the organizers' encoder",
        )
    return array


def _report_lines(problems: Problems, name: str, table: pd.DataFrame, mask: np.ndarray, problem: str, fix: str) -> None:
    if mask.any():
        lines = table[LINE].to_numpy()[mask]
        problems.add(name, f"lines {few(lines)} ({lines.size} rows) {problem}", fix)
