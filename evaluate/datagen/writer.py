"""Lay out a whole synthetic dataset in the data contract: competition.yaml, test/, train/, gt/.

Persons are split into train, public and private parts (a person has tracks in one part
only). Track ids are a random permutation, so neither an id nor the row order of
test/tracks.csv says which subset a track is in; public and private tracks are mixed.
Test images are rendered one person at a time into a scratch folder, then copied into
test/ in a random order and given one timestamp (`evaluate.testfiles`), so no file's
metadata says it either.
Every random draw comes from a generator seeded by (seed, stream, index...), never from
a shared stream, so the same seed gives the same bytes whatever is generated first.
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
import time
from collections import deque
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from contracts.competition import DEVBATTLE, write_competition
from contracts.names import (
    COMPETITION_FILE,
    DESCRIPTOR_KEY,
    FRAMES_PER_TRACK,
    GT_DIR,
    LABEL_COLUMNS,
    PERSON_ID_KEY,
    PRIVATE,
    PUBLIC,
    REFERENCES_FILE,
    SUBSETS,
    TEST_DIR,
    TEST_LABELS_FILE,
    TRACK_COLUMNS,
    TRACK_ID_KEY,
    TRACKS_FILE,
    TRAIN_DESCRIPTORS_FILE,
    TRAIN_DIR,
    TRAIN_TRACK_COLUMNS,
)
from evaluate.datagen.encoder import Encoder, InlineExecutor
from evaluate.datagen.faces import load_chips
from evaluate.datagen.frames import FrameStyle, decode, plan_track, render_frame, render_reference
from evaluate.datagen.identities import IdentityStyle, pick_identities
from evaluate.datagen.presets import Preset
from evaluate.datagen.switches import VideoStyle, draw_switch, noisy_labels
from evaluate.testfiles import place_files, settle_times

TRAIN = "train"
IMAGES_DIR = "images"
FRAME_KEY = TRACK_COLUMNS[1]
# Test images are rendered here, person by person, then copied into test/ in a random order.
_UNSHUFFLED = ".test-unshuffled"
# Seed streams: (seed, stream, ...) keys the generator of each kind of draw.
_PLAN, _IDENTITY, _REFERENCE, _TRACK, _SWITCH, _LABEL_NOISE = range(6)
# Organizer-side records of what the generator did, for analysis (never under test/).
FRAME_CONDITIONS_FILE = "frame_conditions.csv"
FRAME_CONDITION_KEYS = ("part", "track_id", "frame")
SWITCHES_FILE = "switches.csv"
SWITCH_COLUMNS = ("part", "track_id", "frame", "person_id")
LABEL_NOISE_FILE = "train_label_noise.csv"
LABEL_NOISE_COLUMNS = ("track_id", "person_id", "labelled_person_id")
# Images decoded and waiting for the encoder; bounds memory on the mcs2019 preset.
_ENCODE_CHUNK = 512
# Chunks handed to the background encoder and not yet collected.
_CHUNKS_IN_FLIGHT = 3


class DatasetExistsError(FileExistsError):
    """The output folder exists and may not be replaced."""


@dataclass(frozen=True)
class Summary:
    """What `generate` wrote: the folder, sizes, negative pairs per subset and the time taken."""

    out: Path
    preset: str
    seed: int
    persons: dict[str, int]
    tracks: dict[str, int]
    references: int
    negatives: dict[str, int]
    seconds: float


class _Pending:
    """Decoded images waiting for the encoder, with the row each descriptor belongs to.

    Full chunks are encoded on a background thread (`encoding`, one worker shared by every
    queue, so chunks run in the order they were queued) while the caller renders the next
    frames: ONNX Runtime releases the GIL while it runs. At most `_CHUNKS_IN_FLIGHT` chunks
    wait, which bounds memory when rendering outpaces the encoder. Chunks are the same
    images in the same batches whatever the timing, so the descriptors keep their bits.
    """

    def __init__(self, encoder: Encoder, encoding: Executor) -> None:
        """Queue images for `encoder`, encoded on `encoding` (a one-worker executor)."""
        self.encoder, self.encoding = encoder, encoding
        self.images: list[np.ndarray] = []
        self.rows: list[tuple[int, int]] = []
        self.in_flight: deque[Future[np.ndarray]] = deque()
        self.descriptors: list[np.ndarray] = []
        self.done: list[tuple[int, int]] = []

    def add(self, image: np.ndarray, row: tuple[int, int]) -> None:
        """Queue one image; hand the queue to the encoder once it holds a chunk."""
        self.images.append(image)
        self.rows.append(row)
        if len(self.images) >= _ENCODE_CHUNK:
            self._submit()

    def _submit(self) -> None:
        if self.images:
            self.in_flight.append(self.encoding.submit(self.encoder, np.stack(self.images)))
            self.done.extend(self.rows)
            self.images, self.rows = [], []
        while len(self.in_flight) > _CHUNKS_IN_FLIGHT:
            self.descriptors.append(self.in_flight.popleft().result())

    def flush(self) -> None:
        """Encode every queued image and wait for every chunk; raises what the encoder raised."""
        self._submit()
        while self.in_flight:
            self.descriptors.append(self.in_flight.popleft().result())

    def sorted_by_row(self, dim: int) -> tuple[np.ndarray, np.ndarray]:
        """Return the rows [M, 2] int64 and descriptors [M, dim] float32, sorted by row (after `flush`)."""
        rows = np.asarray(self.done, dtype=np.int64).reshape(-1, 2)
        descriptors = np.concatenate(self.descriptors) if self.descriptors else np.empty((0, dim), np.float32)
        order = np.lexsort((rows[:, 1], rows[:, 0]))
        return rows[order], descriptors[order]


def generate(
    out: Path,
    preset: Preset,
    seed: int,
    force: bool = False,
    progress: bool = True,
    identity_style: IdentityStyle | None = None,
    frame_style: FrameStyle | None = None,
    video_style: VideoStyle | None = None,
    encoder: Encoder | None = None,
    background_encoding: bool = True,
) -> Summary:
    """Write the dataset of `preset` drawn with `seed` to `out` and return its summary.

    `encoder` makes the descriptors (references, train frames, identity picking): models/encoder.onnx
    when None; another one lets a benchmark run the generator with a reference encoder.
    `background_encoding` encodes on one background thread while the next frames render;
    false encodes inline, as the generator did before, for benchmarks. Either way the same
    images go through the encoder in the same batches, so the bytes are the same.

    The dataset is built in a sibling folder and moved into place at the end, so `out`
    never holds half a dataset. Raises DatasetExistsError when `out` exists and `force` is
    false, or when `force` would delete a non-empty folder that holds no competition.yaml;
    the errors of `load_chips` and `Encoder` when assets/faces or models/encoder.onnx is broken.
    """
    started = time.monotonic()
    check_replaceable(out, force)
    encoder = Encoder() if encoder is None else encoder
    chips = load_chips()
    staging = out.parent / f".{out.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    for part_dir in (TEST_DIR, TRAIN_DIR, GT_DIR):
        (staging / part_dir).mkdir(parents=True)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="encoder") if background_encoding else InlineExecutor()
    with pool as encoding:
        writer = _Writer(
            staging, preset, seed, encoder, encoding, frame_style or FrameStyle(), video_style or VideoStyle()
        )
        # One refresh a second keeps CI logs short.
        bar = tqdm(
            total=writer.images, desc="make-data", unit="img", file=sys.stderr, disable=not progress, mininterval=1
        )
        faces = pick_identities(chips, len(writer.parts), (seed, _IDENTITY), identity_style or IdentityStyle(), encoder)
        with bar:
            for slot, face in enumerate(faces):
                bar.update(writer.write_person(slot, face))
        writer.finish()
    _write_competition(staging / COMPETITION_FILE, preset, seed)
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
    return Summary(
        out=out,
        preset=preset.name,
        seed=seed,
        persons={TRAIN: preset.train_persons, PUBLIC: preset.public_persons, PRIVATE: preset.private_persons},
        tracks={TRAIN: preset.train_tracks, PUBLIC: preset.public_tracks, PRIVATE: preset.private_tracks},
        references=preset.references * (preset.public_persons + preset.private_persons),
        negatives={subset: preset.negatives(subset) for subset in SUBSETS},
        seconds=time.monotonic() - started,
    )


class _Writer:
    """Writes one person at a time into the staging folder, then the tables and arrays."""

    def __init__(
        self,
        staging: Path,
        preset: Preset,
        seed: int,
        encoder: Encoder,
        encoding: Executor,
        style: FrameStyle,
        video: VideoStyle,
    ) -> None:
        self.staging, self.preset, self.seed, self.encoder, self.style = staging, preset, seed, encoder, style
        self.video = video
        self.parts, self.person_ids, self.track_counts = _plan(preset, seed)
        n_test = preset.public_tracks + preset.private_tracks
        self.test_ids = iter(np.random.default_rng([seed, _PLAN, 1]).permutation(n_test) + 1)
        self.train_ids = iter(np.random.default_rng([seed, _PLAN, 2]).permutation(preset.train_tracks) + 1)
        self.labels: list[tuple[int, int, str]] = []
        self.train_rows: list[tuple[int, int]] = []
        self.references, self.train_references, self.train_frames = (_Pending(encoder, encoding) for _ in range(3))
        self.switches: list[tuple[str, int, int, int]] = []
        self.conditions: list[dict[str, float | int | str]] = []
        # The person written just before, per part: the face a switching track jumps to.
        self.previous: dict[str, tuple[int, np.ndarray]] = {}
        n_persons = preset.train_persons + preset.public_persons + preset.private_persons
        n_references = preset.references * n_persons
        self.images = FRAMES_PER_TRACK * int(self.track_counts.sum()) + n_references

    def write_person(self, slot: int, face: np.ndarray) -> int:
        """Write the references and tracks of the person in `slot`; return the number of images made.

        Train persons get references too (train/references.npz), so participants can validate.
        """
        person, part = int(self.person_ids[slot]), self.parts[slot]
        is_train = part == TRAIN
        references = self.train_references if is_train else self.references
        for index in range(self.preset.references):
            jpeg = render_reference(face, np.random.default_rng([self.seed, _REFERENCE, person, index]))
            references.add(decode(jpeg), (person, index))
        made = self.preset.references
        folder = self.staging / (TRAIN_DIR if is_train else _UNSHUFFLED)
        other = self.previous.get(part)
        for _ in range(int(self.track_counts[slot])):
            track_id = int(next(self.train_ids if is_train else self.test_ids))
            rng = np.random.default_rng([self.seed, _TRACK, int(is_train), track_id])
            conditions = plan_track(rng, self.style, FRAMES_PER_TRACK)
            switched = range(0)
            if other is not None:
                switch_rng = np.random.default_rng([self.seed, _SWITCH, int(is_train), track_id])
                switched = draw_switch(switch_rng, self.video, FRAMES_PER_TRACK)
            (folder / IMAGES_DIR / str(track_id)).mkdir(parents=True)
            for frame, condition in enumerate(conditions):
                shown, intruder = face, None if other is None else other[1]
                if other is not None and frame in switched:
                    shown, intruder = other[1], face
                    self.switches.append((part, track_id, frame, other[0]))
                if intruder is None and condition.overlap:
                    condition = dataclasses.replace(condition, overlap=0.0)
                self.conditions.append({"part": part, "track_id": track_id, "frame": frame, **condition.record()})
                jpeg = render_frame(shown, condition, rng, intruder)
                (folder / _image_path(track_id, frame)).write_bytes(jpeg)
                if is_train:
                    self.train_frames.add(decode(jpeg), (track_id, frame))
            made += FRAMES_PER_TRACK
            if is_train:
                self.train_rows.append((track_id, person))
            else:
                self.labels.append((track_id, person, part))
        self.previous[part] = (person, face)
        return made

    def finish(self) -> None:
        """Encode what is still queued; move the test images into test/ in a random order and give them one time;
        write the CSV tables, both references.npz and frame_descriptors.npz.

        Train labels get their noise here: train/tracks.csv holds the noisy labels,
        gt/train_label_noise.csv the true ones of the tracks that changed.
        """
        for pending in (self.references, self.train_references, self.train_frames):
            pending.flush()
        unshuffled = self.staging / _UNSHUFFLED
        test_images = [p.relative_to(unshuffled) for p in unshuffled.rglob("*.jpg")]
        place_files([(unshuffled / p, self.staging / TEST_DIR / p) for p in test_images])
        shutil.rmtree(unshuffled)
        train_rows = self._noisy_train_rows()
        _write_tables(self.staging, self.labels, train_rows)
        settle_times(self.staging / TEST_DIR)
        pd.DataFrame(sorted(self.switches), columns=list(SWITCH_COLUMNS)).to_csv(
            self.staging / GT_DIR / SWITCHES_FILE, index=False
        )
        conditions = pd.DataFrame(self.conditions).sort_values(list(FRAME_CONDITION_KEYS))
        conditions.to_csv(self.staging / GT_DIR / FRAME_CONDITIONS_FILE, index=False)
        for folder, pending in ((GT_DIR, self.references), (TRAIN_DIR, self.train_references)):
            ref_rows, ref_descriptors = pending.sorted_by_row(self.encoder.dim)
            # The encoder's raw descriptors have norm ~1.43; the baseline's track descriptors are unit
            # vectors. Unit references make the Euclidean score measure identity, not a norm gap
            # that a rescale would close.
            save_arrays(
                self.staging / folder / REFERENCES_FILE,
                {PERSON_ID_KEY: ref_rows[:, 0], DESCRIPTOR_KEY: _unit_rows(ref_descriptors)},
            )
        frame_rows, frame_descriptors = self.train_frames.sorted_by_row(self.encoder.dim)
        save_arrays(
            self.staging / TRAIN_DIR / TRAIN_DESCRIPTORS_FILE,
            {TRACK_ID_KEY: frame_rows[:, 0], FRAME_KEY: frame_rows[:, 1], DESCRIPTOR_KEY: frame_descriptors},
        )

    def _noisy_train_rows(self) -> list[tuple[int, int]]:
        """Return the train (track, person) rows with label noise; write gt/train_label_noise.csv."""
        rows = np.asarray(self.train_rows, dtype=np.int64).reshape(-1, 2)
        rng = np.random.default_rng([self.seed, _LABEL_NOISE])
        labelled = noisy_labels(rows[:, 1], rng, self.video.label_noise)
        changed = labelled != rows[:, 1]
        noise = np.column_stack([rows[changed], labelled[changed]])
        pd.DataFrame(noise, columns=list(LABEL_NOISE_COLUMNS)).to_csv(
            self.staging / GT_DIR / LABEL_NOISE_FILE, index=False
        )
        return [(int(track), int(person)) for track, person in zip(rows[:, 0], labelled, strict=True)]


def _unit_rows(descriptors: np.ndarray) -> np.ndarray:
    """Return `descriptors` with every row scaled to unit L2 norm (float32, computed in float64)."""
    wide = descriptors.astype(np.float64)
    return (wide / np.linalg.norm(wide, axis=1, keepdims=True)).astype(np.float32)


def check_replaceable(out: Path, force: bool, marker: str = COMPETITION_FILE) -> None:
    """Refuse to write to `out` unless it is absent, or `force` is set and it is empty or holds `marker`.

    `marker` is the file that shows the folder is one of ours to replace (a dataset's
    competition.yaml by default). Raises DatasetExistsError, naming --force or another
    --out as the fix.
    """
    if not out.exists():
        return
    if not force:
        raise DatasetExistsError(f"{out} must not exist yet, got an existing folder; pass --force to replace it")
    if out.is_dir() and any(out.iterdir()) and not (out / marker).is_file():
        raise DatasetExistsError(
            f"{out} must be a dataset (holding {marker}) to be replaced, got another non-empty folder; "
            "choose another --out"
        )


def _plan(preset: Preset, seed: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Return each person slot's part, its shuffled person id and its number of tracks."""
    rng = np.random.default_rng([seed, _PLAN, 0])
    parts: list[str] = []
    counts: list[np.ndarray] = []
    for part, persons, tracks in (
        (TRAIN, preset.train_persons, preset.train_tracks),
        (PUBLIC, preset.public_persons, preset.public_tracks),
        (PRIVATE, preset.private_persons, preset.private_tracks),
    ):
        parts.extend([part] * persons)
        # One track each, the rest spread at random: some people appear in many videos.
        counts.append(1 + rng.multinomial(tracks - persons, np.full(persons, 1.0 / persons)))
    person_ids = rng.permutation(len(parts)) + 1
    return parts, person_ids.astype(np.int64), np.concatenate(counts)


def _image_path(track_id: int, frame: int) -> str:
    return f"{IMAGES_DIR}/{track_id}/{frame}.jpg"


def _track_table(track_ids: list[int]) -> pd.DataFrame:
    rows = [(t, f, _image_path(t, f)) for t in sorted(track_ids) for f in range(FRAMES_PER_TRACK)]
    return pd.DataFrame(rows, columns=list(TRACK_COLUMNS))


def _write_tables(staging: Path, labels: list[tuple[int, int, str]], train_rows: list[tuple[int, int]]) -> None:
    label_table = pd.DataFrame(sorted(labels), columns=list(LABEL_COLUMNS))
    label_table.to_csv(staging / GT_DIR / TEST_LABELS_FILE, index=False)
    _track_table(list(label_table[LABEL_COLUMNS[0]])).to_csv(staging / TEST_DIR / TRACKS_FILE, index=False)
    train = _track_table([track for track, _ in train_rows])
    person_of = dict(train_rows)
    train[TRAIN_TRACK_COLUMNS[3]] = train[TRACK_COLUMNS[0]].map(person_of)
    train[list(TRAIN_TRACK_COLUMNS)].to_csv(staging / TRAIN_DIR / TRACKS_FILE, index=False)


def save_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write `arrays` to the npz `path` by name (numpy.savez: stored, not compressed, no pickle needed)."""
    np.savez(path, **arrays)  # type: ignore[arg-type]  # numpy's stub reads **kwds as its allow_pickle flag


def _write_competition(path: Path, preset: Preset, seed: int) -> None:
    metric = dataclasses.replace(
        DEVBATTLE.metric, fpr=tuple(preset.fpr), primary_fpr=preset.primary_fpr, primary_subset=PUBLIC
    )
    competition = dataclasses.replace(DEVBATTLE, name=f"synthetic-{preset.name}", metric=metric)
    header = f"Synthetic challenge data: python -m evaluate make-data --preset {preset.name} --seed {seed}"
    write_competition(path, competition, header)
