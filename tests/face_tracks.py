"""Small test folders of real face tracks (the chips of assets/faces), in the data contract."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from contracts.names import FRAMES_PER_TRACK, TRACK_COLUMNS, TRACKS_FILE

FACES_DIR = Path(__file__).resolve().parent.parent / "assets" / "faces"


def face_chips() -> list[Path]:
    """Return the 112x112 aligned chips of the real faces in assets/faces, sorted."""
    return sorted(FACES_DIR.glob("*_112.png"))


def write_test_folder(folder: Path, n_tracks: int = 4, seed: int = 0, first_id: int = 1000) -> pd.DataFrame:
    """Write folder/tracks.csv and folder/images/*.jpg: `n_tracks` tracks of 10 frames of one face each.

    Track ids start at `first_id`; the frames are the face's chip with seeded noise, saved
    as JPEG. Returns the tracks.csv rows.
    """
    rng = np.random.default_rng(seed)
    chips = face_chips()
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for track in range(n_tracks):
        face = np.asarray(Image.open(chips[track % len(chips)]).convert("RGB"), dtype=np.float64)
        for frame in range(FRAMES_PER_TRACK):
            noisy = np.clip(face + rng.normal(0, 6, face.shape), 0, 255).astype(np.uint8)
            relative = f"images/{first_id + track}_{frame}.jpg"
            Image.fromarray(noisy).save(folder / relative, quality=90)
            rows.append((first_id + track, frame, relative))
    table = pd.DataFrame(rows, columns=list(TRACK_COLUMNS))
    table.to_csv(folder / TRACKS_FILE, index=False)
    return table
