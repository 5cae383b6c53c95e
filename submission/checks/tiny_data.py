"""A tiny test folder in the data contract: a few tracks of the real face chips in assets/faces."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image

from contracts.names import TRACK_COLUMNS, TRACKS_FILE

FACES_DIR = Path(__file__).resolve().parents[2] / "assets" / "faces"
#: Frames of each track: two of one length and one shorter, so an aggregator meets two
#: frame counts, as on real data where tracks can be shorter than 10 frames.
FRAME_COUNTS = (10, 10, 6)
FIRST_ID = 1


def write_tiny_test(folder: Path, seed: int = 0) -> int:
    """Write folder/tracks.csv and folder/images/*.jpg: one track per FRAME_COUNTS entry; return the image count.

    Each track is one face chip with seeded noise per frame. Raises FileNotFoundError
    when assets/faces holds no chip (a broken organizer checkout).
    """
    chips = sorted(FACES_DIR.glob("*_112.png"))
    if not chips:
        raise FileNotFoundError(f"{FACES_DIR} holds no *_112.png face chip: the organizers' checkout is incomplete")
    rng = np.random.default_rng(seed)
    (folder / "images").mkdir(parents=True)
    rows = []
    for track, frames in enumerate(FRAME_COUNTS):
        with Image.open(chips[track % len(chips)]) as chip:
            face = np.asarray(chip.convert("RGB"), dtype=np.float64)
        for frame in range(frames):
            noisy = np.clip(face + rng.normal(0, 6, face.shape), 0, 255).astype(np.uint8)
            relative = f"images/{FIRST_ID + track}_{frame}.jpg"
            Image.fromarray(noisy).save(folder / relative, quality=90)
            rows.append((FIRST_ID + track, frame, relative))
    with (folder / TRACKS_FILE).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(TRACK_COLUMNS)
        writer.writerows(rows)
    return len(rows)
