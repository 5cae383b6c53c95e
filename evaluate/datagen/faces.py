"""The real face chips every synthetic identity is made from (assets/faces, see assets/NOTICE)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from contracts.names import IMAGE_SIZE

FACES_DIR = Path(__file__).resolve().parents[2] / "assets" / "faces"
CHIP_SUFFIX = f"_{IMAGE_SIZE}.png"


class FacesError(RuntimeError):
    """The face chips the generator needs are missing or malformed."""


def load_chips(faces_dir: Path = FACES_DIR, minimum: int = 3) -> np.ndarray:
    """Return the aligned 112x112 chips of `faces_dir` as float32 [K, 112, 112, 3] in [0, 255], sorted by name.

    Raises FacesError when fewer than `minimum` chips are there or one is not 112x112.
    """
    paths = sorted(faces_dir.glob(f"*{CHIP_SUFFIX}"))
    if len(paths) < minimum:
        raise FacesError(
            f"{faces_dir} must hold at least {minimum} aligned chips named *{CHIP_SUFFIX}, got {len(paths)}; "
            "restore assets/faces from the repository"
        )
    chips = []
    for path in paths:
        with Image.open(path) as image:
            if image.size != (IMAGE_SIZE, IMAGE_SIZE):
                raise FacesError(f"{path} must be {IMAGE_SIZE}x{IMAGE_SIZE}, got {image.size[0]}x{image.size[1]}")
            chips.append(np.asarray(image.convert("RGB"), dtype=np.float32))
    return np.stack(chips)
