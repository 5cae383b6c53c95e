"""Reading the track ids of a tracks.csv (the rows a submission must answer)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from contracts.errors import RunnerError
from contracts.ids import id_text_problem, parse_ids
from contracts.names import TRACK_COLUMNS


def read_track_ids(tracks_csv: str | Path) -> np.ndarray:
    """Return the distinct track ids of a tracks.csv, in order of first appearance.

    The ids are read as text and take the column's kind (`contracts.ids`): int64 when every
    id is an integer literal, else a numpy unicode array of the ids exactly as written.

    Raises `RunnerError` when the file is missing, has no rows, lacks the `track_id` column
    or holds an empty, overlong or unprintable string id: that is the dataset's fault, not
    the submission's.
    """
    tracks_csv = Path(tracks_csv)
    try:
        # Text, never a number: an md5 such as "1e10..." must not become a float.
        frame = pd.read_csv(tracks_csv, usecols=[TRACK_COLUMNS[0]], dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise RunnerError(f"{tracks_csv} does not exist; run `make data` or point --data at a test folder") from None
    except ValueError as exc:
        raise RunnerError(f"{tracks_csv} has no {TRACK_COLUMNS[0]} column: {exc}") from None
    texts = frame[TRACK_COLUMNS[0]]
    if texts.empty:
        raise RunnerError(
            f"{tracks_csv} has no tracks: it must hold one row per frame; check the dataset with check-data"
        )
    ids = parse_ids(texts.drop_duplicates())
    problem = id_text_problem(ids)
    if problem:
        raise RunnerError(f"{tracks_csv}: {TRACK_COLUMNS[0]} {problem}; check the dataset with check-data")
    return ids
