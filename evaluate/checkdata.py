"""Check a dataset folder against the data contract and report every problem at once.

This is how organizers bring real data (see README, "Challenge data"): lay it out as
docs/design.md says, run ``python -m evaluate check-data DIR``, fix what it lists. Each
finding names the file, the problem and the fix; nothing stops at the first problem.
"""

from __future__ import annotations

import sys
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
from PIL import Image
from tqdm import tqdm

from contracts.competition import load_competition
from contracts.errors import ConfigError
from contracts.ids import MAX_ID_CHARS, SHOWN, IdKind, as_ids, few, id_kind, id_text_problem, parse_ids
from contracts.names import (
    COMPETITION_FILE,
    DESCRIPTOR_KEY,
    FRAMES_PER_TRACK,
    GT_DIR,
    IMAGE_SIZE,
    LABEL_COLUMNS,
    PERSON_ID_KEY,
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
from evaluate.metaleaks import LEAK_Z, OrderLeak, leak_fix, measure_orders
from evaluate.problems import Problems
from evaluate.tables import TableFixes, read_text_table

_TRACK, _FRAME, _PATH = TRACK_COLUMNS
_PERSON, _SUBSET = LABEL_COLUMNS[1], LABEL_COLUMNS[2]
_ID_COLUMNS = (_TRACK, _PERSON)
_ID_FIX = f"write each id as an integer or as 1 to {MAX_ID_CHARS} printable characters"
IMAGE_FORMAT = "JPEG"

NEGATIVES_ALL_NOTE = (
    "metric.negatives is all: the public score compares public tracks with the private persons' references "
    "too, so every public score a participant sees depends on the private references and tells a little "
    "about them with each submission; `negatives: subset` keeps the public score blind to the private subset"
)


@dataclass
class Report(Problems):
    """The findings and, for the summary, what was counted on the way and what the organizer must know (`notes`)."""

    counts: dict[str, int] = field(default_factory=dict)
    negatives: dict[str, int] = field(default_factory=dict)
    fpr: tuple[float, ...] = ()
    notes: list[str] = field(default_factory=list)
    orders: list[OrderLeak] = field(default_factory=list)


def check_dataset(root: Path, progress: bool = False) -> Report:
    """Check the dataset at `root` (competition.yaml, test/, train/, gt/) and return every finding.

    An empty `Report.findings` means the dataset follows the contract. Reading every image
    header is the long step; `progress` shows a bar for it on stderr. Raises
    NotADirectoryError when `root` is not a folder.
    """
    if not root.is_dir():
        raise NotADirectoryError(f"the dataset must be a folder, got {root}")
    report = Report()
    _check_competition(root, report)
    test = _check_tracks(root, TEST_DIR, TRACK_COLUMNS, report, progress)
    _check_test_leaks(root, test, report)
    train = _check_tracks(root, TRAIN_DIR, TRAIN_TRACK_COLUMNS, report, progress)
    references = _check_references(root, report)
    dim = None if references is None else references[1].shape[1]
    _check_train_descriptors(root, train, dim, report)
    labels = _check_labels(root, test, references, report)
    _check_metadata(root, test, labels, report)
    return report


def _check_competition(root: Path, report: Report) -> None:
    path = root / COMPETITION_FILE
    if not path.is_file():
        report.add(COMPETITION_FILE, "is missing", "write one (name, time_limit_s, hardware, metric): see README")
        return
    try:
        metric = load_competition(path).metric
    except ConfigError as exc:
        for problem in exc.problems:
            report.add(COMPETITION_FILE, problem, "correct the field (see contracts/competition.py for the keys)")
        return
    report.fpr = metric.fpr
    if metric.negatives == "all":
        report.notes.append(NEGATIVES_ALL_NOTE)


def _check_tracks(
    root: Path, part: str, columns: tuple[str, ...], report: Report, progress: bool
) -> pd.DataFrame | None:
    """Check part/tracks.csv and the images it names; return the table when its columns are usable."""
    name = f"{part}/{TRACKS_FILE}"
    table = _read_csv(root / part / TRACKS_FILE, name, columns, report)
    if table is None:
        return None
    if not pd.api.types.is_integer_dtype(table[_FRAME]):
        report.add(name, f"column {_FRAME} must hold integers in every row", "number the frames 0 to 9")
        return None
    report.counts[f"{part} tracks"] = int(table[_TRACK].nunique())
    report.counts[f"{part} images"] = len(table)
    _check_frames(table, name, report)
    if _PERSON in columns:
        persons_per_track = table.groupby(_TRACK)[_PERSON].nunique()
        mixed = persons_per_track.index[persons_per_track > 1].to_numpy()
        if mixed.size:
            report.add(name, f"tracks {few(mixed)} have more than one {_PERSON}", "give each track one person")
        report.counts[f"{part} persons"] = int(table[_PERSON].nunique())
    _check_images(root / part, name, table[_PATH].astype(str), report, progress)
    return table


def _read_csv(path: Path, name: str, columns: Iterable[str], report: Report) -> pd.DataFrame | None:
    columns = tuple(columns)
    fixes = TableFixes(
        missing=f"write it with the columns {','.join(columns)}",
        unreadable="write a comma-separated file with a header row",
        columns=f"write the header {','.join(columns)}",
        empty="list at least one track",
    )
    table = read_text_table(path, name, columns, _ID_COLUMNS, fixes, report)
    if table is None:
        return None
    usable = True
    for column in (c for c in _ID_COLUMNS if c in columns):
        ids = parse_ids(table[column])
        table[column] = ids
        problem = id_text_problem(ids)
        if problem:
            report.add(name, f"{column} {problem}", _ID_FIX)
            usable = False
    return table if usable else None


def _check_frames(table: pd.DataFrame, name: str, report: Report) -> None:
    frames = table.groupby(_TRACK)[_FRAME]
    counts = frames.size()
    wrong = counts.index[counts != FRAMES_PER_TRACK].to_numpy()
    if wrong.size:
        report.add(
            name,
            f"{wrong.size} tracks do not have {FRAMES_PER_TRACK} frames (tracks {few(wrong)}, "
            f"e.g. {int(counts[wrong[0]])} frames)",
            f"give every track exactly {FRAMES_PER_TRACK} frames",
        )
    expected = set(range(FRAMES_PER_TRACK))
    numbered = frames.agg(lambda f: set(f.tolist()) == expected)
    misnumbered = numbered.index[~numbered.to_numpy(dtype=bool)].to_numpy()
    misnumbered = np.setdiff1d(misnumbered, wrong)
    if misnumbered.size:
        report.add(
            name,
            f"{misnumbered.size} tracks do not number their frames 0..{FRAMES_PER_TRACK - 1} "
            f"(tracks {few(misnumbered)})",
            f"number the frames of each track 0 to {FRAMES_PER_TRACK - 1} in time order",
        )


def _check_images(folder: Path, name: str, paths: pd.Series, report: Report, progress: bool) -> None:
    problems: dict[str, list[str]] = {}
    unsafe = [p for p in paths if PurePosixPath(p).is_absolute() or ".." in PurePosixPath(p).parts]
    if unsafe:
        problems[f"paths must be relative to {folder.name}/ and stay inside it"] = unsafe
    for path in tqdm(paths, desc=f"check {name}", unit="img", file=sys.stderr, disable=not progress):
        if path in unsafe:
            continue
        problem = image_problem(folder / path)
        if problem:
            problems.setdefault(problem, []).append(path)
    for problem, where in problems.items():
        report.add(
            name,
            f"{len(where)} images: {problem} (e.g. {', '.join(where[:SHOWN])})",
            f"write every frame as an aligned {IMAGE_SIZE}x{IMAGE_SIZE} RGB JPEG at the path tracks.csv names",
        )


def image_problem(path: Path) -> str | None:
    """Return what is wrong with the image at `path` as the end of a sentence ("must be RGB, got L"), or None.

    A test frame must be an aligned IMAGE_SIZE x IMAGE_SIZE RGB JPEG (the contract of
    docs/design.md); a missing or unreadable file is a problem too, never an exception.
    """
    try:
        with Image.open(path) as image:
            if image.format != IMAGE_FORMAT:
                return f"must be {IMAGE_FORMAT}, got {image.format}"
            if image.size != (IMAGE_SIZE, IMAGE_SIZE):
                return f"must be {IMAGE_SIZE}x{IMAGE_SIZE}, got {image.size[0]}x{image.size[1]}"
            if image.mode != "RGB":
                return f"must be RGB, got {image.mode}"
    except FileNotFoundError:
        return "do not exist"
    except OSError:
        return "cannot be read as images"
    return None


def _check_test_leaks(root: Path, tracks: pd.DataFrame | None, report: Report) -> None:
    name = f"{TEST_DIR}/{TRACKS_FILE}"
    if tracks is not None:
        extra = [str(c) for c in tracks.columns if c not in TRACK_COLUMNS]
        if extra:
            report.add(
                name,
                f"has columns beyond {','.join(TRACK_COLUMNS)}: {', '.join(extra)} "
                "(labels must not reach a submission)",
                f"drop them; labels go to {GT_DIR}/{TEST_LABELS_FILE}",
            )
    test_dir = root / TEST_DIR
    if not test_dir.is_dir():
        return
    named = set() if tracks is None else {str(PurePosixPath(p)) for p in tracks[_PATH].astype(str)}
    stray = sorted(
        path.relative_to(test_dir).as_posix()
        for path in test_dir.rglob("*")
        if path.is_file() and path.name != TRACKS_FILE and path.relative_to(test_dir).as_posix() not in named
    )
    if stray:
        report.add(
            TEST_DIR,
            f"holds {len(stray)} files that tracks.csv does not name, which a submission can read "
            f"(e.g. {', '.join(stray[:SHOWN])})",
            f"keep only tracks.csv and its images in {TEST_DIR}/; labels and references go to {GT_DIR}/",
        )


def _check_references(root: Path, report: Report) -> tuple[np.ndarray, np.ndarray] | None:
    name = f"{GT_DIR}/{REFERENCES_FILE}"
    arrays = _read_npz(root / GT_DIR / REFERENCES_FILE, name, (PERSON_ID_KEY, DESCRIPTOR_KEY), report)
    if arrays is None:
        return None
    person, descriptor = arrays[PERSON_ID_KEY], arrays[DESCRIPTOR_KEY]
    ok = _ids(person, PERSON_ID_KEY, name, report) & _descriptor_matrix(descriptor, name, report)
    if ok and descriptor.shape[0] != person.shape[0]:
        report.add(
            name,
            f"{DESCRIPTOR_KEY} has {descriptor.shape[0]} rows for {person.shape[0]} {PERSON_ID_KEY}s",
            f"store one {DESCRIPTOR_KEY} row per {PERSON_ID_KEY}",
        )
        return None
    return (as_ids(person), descriptor) if ok else None


def _check_train_descriptors(root: Path, train: pd.DataFrame | None, dim: int | None, report: Report) -> None:
    name = f"{TRAIN_DIR}/{TRAIN_DESCRIPTORS_FILE}"
    arrays = _read_npz(root / TRAIN_DIR / TRAIN_DESCRIPTORS_FILE, name, (TRACK_ID_KEY, _FRAME, DESCRIPTOR_KEY), report)
    if arrays is None:
        return
    track, frame, descriptor = arrays[TRACK_ID_KEY], arrays[_FRAME], arrays[DESCRIPTOR_KEY]
    ok = _ids(track, TRACK_ID_KEY, name, report) & _integer_ids(frame, _FRAME, name, report)
    if not (_descriptor_matrix(descriptor, name, report) and ok):
        return
    track = as_ids(track)
    if not track.shape[0] == frame.shape[0] == descriptor.shape[0]:
        report.add(
            name,
            f"{TRACK_ID_KEY}, {_FRAME} and {DESCRIPTOR_KEY} must have one row per frame, got "
            f"{track.shape[0]}, {frame.shape[0]} and {descriptor.shape[0]} rows",
            "store one row per frame of train/tracks.csv",
        )
        return
    if dim is not None and descriptor.shape[1] != dim:
        report.add(
            name,
            f"{DESCRIPTOR_KEY} has dimension {descriptor.shape[1]}, the references {dim}",
            "compute both with the same encoder",
        )
    if train is not None and not _same_kind(
        name, f"{TRACK_ID_KEY} of {name}", track, f"{TRAIN_DIR}/{TRACKS_FILE}", train[_TRACK].to_numpy(), report
    ):
        return
    if train is not None:
        stored = set(zip(track.tolist(), frame.tolist(), strict=True))
        listed = set(zip(train[_TRACK].tolist(), train[_FRAME].tolist(), strict=True))
        if stored != listed:
            report.add(
                name,
                f"rows do not match train/{TRACKS_FILE}: {len(listed - stored)} frames without a descriptor, "
                f"{len(stored - listed)} descriptors of unknown frames",
                "encode exactly the frames train/tracks.csv lists",
            )


def _check_labels(
    root: Path, tracks: pd.DataFrame | None, references: tuple[np.ndarray, np.ndarray] | None, report: Report
) -> pd.DataFrame | None:
    """Check gt/test_labels.csv against the tracks and references; return the table when it could be read."""
    name = f"{GT_DIR}/{TEST_LABELS_FILE}"
    labels = _read_csv(root / GT_DIR / TEST_LABELS_FILE, name, LABEL_COLUMNS, report)
    if labels is None:
        return None
    unknown = sorted(set(labels[_SUBSET].astype(str)) - set(SUBSETS))
    if unknown:
        report.add(name, f"{_SUBSET} must be one of {', '.join(SUBSETS)}, got {', '.join(unknown)}", "fix the subsets")
    counts = labels[_TRACK].value_counts()
    repeated = counts.index[counts > 1].to_numpy()
    if repeated.size:
        report.add(name, f"tracks {few(repeated)} are labelled more than once", "label each test track once")
    listed_ids = None if tracks is None else tracks[_TRACK].to_numpy()
    if listed_ids is not None and _same_kind(
        name, f"{_TRACK} of {name}", labels[_TRACK].to_numpy(), f"{TEST_DIR}/{TRACKS_FILE}", listed_ids, report
    ):
        listed, labelled = np.unique(listed_ids), np.unique(labels[_TRACK].to_numpy())
        for ids, problem in (
            (np.setdiff1d(listed, labelled), "test tracks {} have no label"),
            (np.setdiff1d(labelled, listed), f"labels name tracks {{}} that {TEST_DIR}/{TRACKS_FILE} does not list"),
        ):
            if ids.size:
                report.add(name, problem.format(few(ids)), f"label exactly the tracks of {TEST_DIR}/{TRACKS_FILE}")
    subsets_of = labels.groupby(_PERSON)[_SUBSET].nunique()
    both = subsets_of.index[subsets_of > 1].to_numpy()
    if both.size:
        report.add(name, f"persons {few(both)} have tracks in both subsets", "put each person in one subset only")
    for subset in SUBSETS:
        in_subset = labels[labels[_SUBSET] == subset]
        report.counts[f"{subset} tracks"] = len(in_subset)
        report.counts[f"{subset} persons"] = int(in_subset[_PERSON].nunique())
        if in_subset[_PERSON].nunique() < 2:
            report.add(name, f"subset {subset} has tracks of fewer than 2 persons", "add persons: it has no negatives")
    if references is not None and _same_kind(
        f"{GT_DIR}/{REFERENCES_FILE}",
        f"{PERSON_ID_KEY} of {GT_DIR}/{REFERENCES_FILE}",
        references[0],
        name,
        labels[_PERSON].to_numpy(),
        report,
    ):
        _check_label_references(labels, references[0], report)
    return labels


def _check_metadata(root: Path, tracks: pd.DataFrame | None, labels: pd.DataFrame | None, report: Report) -> None:
    """Refuse test files whose times, inodes, names or listing order tell subsets or persons (`metaleaks`)."""
    if tracks is None or labels is None:
        return
    test_dir = root / TEST_DIR
    rows = zip(tracks[_TRACK].astype(str), tracks[_PATH].astype(str), strict=True)
    present = [(track, path) for track, path in rows if (test_dir / path).is_file()]
    by_track = {
        str(track): (str(person), subset == PUBLIC)
        for track, person, subset in zip(labels[_TRACK], labels[_PERSON], labels[_SUBSET], strict=True)
    }
    report.orders = measure_orders(test_dir, [t for t, _ in present], [p for _, p in present], by_track)
    for order in report.orders:
        if order.leaks:
            report.add(TEST_DIR, f"the {order.order} order of the test files {_told(order)}", leak_fix(order.order))


def _told(order: OrderLeak) -> str:
    """What an order tells, in words with its numbers."""
    told = []
    if order.subset_z > LEAK_Z:
        told.append(f"sorts public from private (Spearman rho {order.subset_rho:+.2f}, z {order.subset_z:.1f})")
    if order.person_z > LEAK_Z:
        told.append(
            f"groups tracks by person ({order.same_person} neighbouring tracks share a person, "
            f"{order.expected_same_person:.1f} by chance, z {order.person_z:.1f})"
        )
    return " and ".join(told) + ", which a submission can read"


def _check_label_references(labels: pd.DataFrame, reference_person: np.ndarray, report: Report) -> None:
    name = f"{GT_DIR}/{REFERENCES_FILE}"
    persons = np.unique(labels[_PERSON].to_numpy())
    without = np.setdiff1d(persons, reference_person)
    if without.size:
        report.add(name, f"labelled persons {few(without)} have no reference", "add their reference descriptors")
    orphans = np.setdiff1d(reference_person, persons)
    if orphans.size:
        report.add(name, f"references of persons {few(orphans)} who have no test track", "drop them")
    report.counts["references"] = int(reference_person.size)
    references_of = pd.Series(reference_person).value_counts()
    for subset in SUBSETS:
        in_subset = labels[labels[_SUBSET] == subset]
        per_track = references_of.reindex(in_subset[_PERSON]).fillna(0).to_numpy()
        total = int(references_of.reindex(np.unique(in_subset[_PERSON])).fillna(0).sum())
        report.negatives[subset] = int((total - per_track).sum())


def _read_npz(path: Path, name: str, keys: tuple[str, ...], report: Report) -> dict[str, np.ndarray] | None:
    if not path.is_file():
        report.add(name, "is missing", f"write it with numpy.savez and the arrays {', '.join(keys)}")
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [key for key in keys if key not in npz.files]
            if missing:
                report.add(name, f"lacks the arrays {', '.join(missing)}", f"store {', '.join(keys)}")
                return None
            return {key: npz[key] for key in keys}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        report.add(name, f"cannot be read as an npz archive without objects: {exc}", "write it with numpy.savez")
        return None


def _ids(ids: np.ndarray, key: str, name: str, report: Report) -> bool:
    """Record a finding unless `ids` is 1-D integer or unicode ids (`contracts.ids`); return whether it is."""
    if ids.ndim != 1 or ids.dtype.kind not in "iuU":
        report.add(
            name,
            f"{key} must be 1-D integers or strings (numpy dtype <U), got {ids.dtype} {list(ids.shape)}",
            f"store {key} as int64, or as numpy unicode strings for text ids",
        )
        return False
    problem = id_text_problem(ids)
    if problem:
        report.add(name, f"{key} {problem}", _ID_FIX)
        return False
    return True


def _same_kind(name: str, what: str, ids: np.ndarray, other: str, other_ids: np.ndarray, report: Report) -> bool:
    """Record a finding on `name` unless `ids` (`what`) are of the kind of `other_ids` (those of `other`)."""
    kind, other_kind = _kind_of(ids), _kind_of(other_ids)
    if kind is other_kind:
        return True
    report.add(
        name,
        f"{what} holds {kind} ids but {other} holds {other_kind} ids",
        f"write the same ids in both files: {other_kind} ids, as {other} has them",
    )
    return False


def _kind_of(ids: np.ndarray) -> IdKind:
    # pandas hands string columns back as object arrays of str; parse_ids gave the column one kind.
    return IdKind.STRING if ids.dtype.kind in "OUT" else id_kind(ids.dtype)


def _integer_ids(ids: np.ndarray, key: str, name: str, report: Report) -> bool:
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
        report.add(name, f"{key} must be 1-D integers, got {ids.dtype} {list(ids.shape)}", f"store {key} as int64")
        return False
    return True


def _descriptor_matrix(descriptor: np.ndarray, name: str, report: Report) -> bool:
    if descriptor.dtype != np.float32 or descriptor.ndim != 2 or descriptor.shape[1] == 0:
        report.add(
            name,
            f"{DESCRIPTOR_KEY} must be float32 [rows, D], got {descriptor.dtype} {list(descriptor.shape)}",
            f"store {DESCRIPTOR_KEY} as a float32 matrix",
        )
        return False
    if not np.isfinite(descriptor).all():
        report.add(name, f"{DESCRIPTOR_KEY} holds NaN or inf", "recompute the descriptors")
        return False
    return True
