"""Reading the track ids of a tracks.csv (the rows a submission must answer)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from contracts.errors import RunnerError
from contracts.names import TRACK_COLUMNS


def read_track_ids(tracks_csv: str | Path) -> np.ndarray:
    """Return the distinct track ids of a tracks.csv as int64, in order of first appearance.

    Raises `RunnerError` when the file is missing, has no rows, lacks the `track_id` column
    or holds ids that are not integers: that is the dataset's fault, not the submission's.
    """
    tracks_csv = Path(tracks_csv)
    try:
        frame = pd.read_csv(tracks_csv, usecols=[TRACK_COLUMNS[0]])
    except FileNotFoundError:
        raise RunnerError(f"{tracks_csv} does not exist; run `make data` or point --data at a test folder") from None
    except ValueError as exc:
        raise RunnerError(f"{tracks_csv} has no {TRACK_COLUMNS[0]} column: {exc}") from None
    ids = frame[TRACK_COLUMNS[0]]
    if ids.empty:
        raise RunnerError(
            f"{tracks_csv} has no tracks: it must hold one row per frame; check the dataset with check-data"
        )
    if not pd.api.types.is_integer_dtype(ids):
        raise RunnerError(f"{tracks_csv}: {TRACK_COLUMNS[0]} must hold integers; check the dataset with check-data")
    return ids.drop_duplicates().to_numpy(dtype=np.int64)
