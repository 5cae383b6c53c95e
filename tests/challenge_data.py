"""A small challenge dataset in the data contract (test/, gt/, competition.yaml), quick to make and to run.

Each person is one real face chip of assets/faces; its reference is models/encoder.onnx on
the clean chip, its tracks are noisy JPEG frames of the same chip (tests/face_tracks.py).
The first half of the persons is public, the rest private.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd
from PIL import Image

from contracts.names import (
    COMPETITION_FILE,
    DESCRIPTOR_KEY,
    GT_DIR,
    LABEL_COLUMNS,
    PERSON_ID_KEY,
    PRIVATE,
    PUBLIC,
    REFERENCES_FILE,
    TEST_DIR,
    TEST_LABELS_FILE,
)
from tests.face_tracks import face_chips, write_test_folder

ROOT = Path(__file__).resolve().parent.parent
FIRST_TRACK_ID = 1000


def write_challenge(folder: Path, n_persons: int = 8, tracks_per_person: int = 2, seed: int = 0) -> Path:
    """Write folder/test, folder/gt and folder/competition.yaml; return `folder`.

    Track i shows person i % n_persons; persons 0 .. n_persons/2 - 1 are public.
    """
    chips = face_chips()[:n_persons]
    tracks = write_test_folder(
        folder / TEST_DIR, n_tracks=n_persons * tracks_per_person, seed=seed, first_id=FIRST_TRACK_ID
    )
    faces = np.stack([np.asarray(Image.open(chip).convert("RGB")) for chip in chips])
    session = ort.InferenceSession(str(ROOT / "models" / "encoder.onnx"), providers=["CPUExecutionProvider"])
    references = session.run(None, {session.get_inputs()[0].name: faces})[0].astype(np.float32)
    gt = folder / GT_DIR
    gt.mkdir(parents=True, exist_ok=True)
    persons = np.arange(n_persons)
    np.savez(gt / REFERENCES_FILE, **{PERSON_ID_KEY: persons, DESCRIPTOR_KEY: references})
    track_ids = np.unique(tracks[LABEL_COLUMNS[0]].to_numpy())
    person = (track_ids - FIRST_TRACK_ID) % n_persons
    subset = np.where(person < n_persons // 2, PUBLIC, PRIVATE)
    labels = pd.DataFrame(dict(zip(LABEL_COLUMNS, (track_ids, person, subset), strict=True)))
    labels.to_csv(gt / TEST_LABELS_FILE, index=False)
    (folder / COMPETITION_FILE).write_text(
        "name: pipeline-test\ntime_limit_s: 300\nhardware:\n  cpus: 2\n  memory: 4g\n  gpus: none\n",
        encoding="utf-8",
    )
    return folder
