"""Checking MCS2019's original files against one another and planning the import.

Every check runs whatever the others found, so one pass lists every problem. The plan
says which original image becomes which frame of which track, each track's person and
subset, and which descriptor rows become the references, the train frame descriptors and,
when given, the train references.

Where the public/private split comes from: `is_val` of test_df.csv, one value per person.
MCS2019 marks held-out persons with `is_val` (in train_df.csv it splits train from
validation persons, and MCS2019 scoring code kept in participants' repositories splits the
test tracks by the `is_val` of their person); the persons scored during the challenge, on
the public leaderboard, are taken to be `is_val` True. `public_is_val=False` reverses that if the
organizers' copy says otherwise.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
from tqdm import tqdm

from contracts.ids import few
from contracts.names import FRAMES_PER_TRACK, IMAGE_SIZE, LABEL_COLUMNS, PRIVATE, PUBLIC, SUBSETS, TRACK_COLUMNS
from evaluate.checkdata import image_problem
from evaluate.mcs2019.layout import (
    FRAME_ID,
    IS_VAL,
    PERSON_ID,
    REFERENCE_DESCRIPTORS,
    REFERENCE_TABLE,
    TEST_TABLE,
    TRACK_ID,
    TRACK_ORDER,
    TRAIN_DESCRIPTORS,
    TRAIN_REFERENCE_DESCRIPTORS,
    TRAIN_REFERENCE_TABLE,
    TRAIN_TABLE,
    WARP_PATH,
)
from evaluate.mcs2019.read import FILE_ROWS, LINE, ROW, Original
from evaluate.problems import Finding, Problems

FRAME = TRACK_COLUMNS[1]
#: Column of the plan's frame tables: the original image's absolute path.
SOURCE = "source"
SUBSET = LABEL_COLUMNS[2]
_POSITION = "_position"


@dataclass(frozen=True)
class Plan:
    """What the import writes, every id the original string.

    `test`: track_id, frame (0..9), source, in track_order_df.csv order, frames in frame_id
    order. `labels`: track_id, person_id, subset, in the same track order. `reference_person`
    [R] and `reference_descriptor` [R, D] float32, in test_gt_df.csv order. `train`:
    track_id, frame, source, person_id, tracks in order of first appearance in
    train_df.csv; `train_descriptor` [rows of train, D] float32, row for row.
    `train_reference_person` [R'] and `train_reference_descriptor` [R', D] float32, in
    train_gt_df.csv order, are None when the train references were not given. `warnings`:
    what the import goes ahead with but the organizer should know (each with its fix).
    """

    test: pd.DataFrame
    labels: pd.DataFrame
    reference_person: np.ndarray
    reference_descriptor: np.ndarray
    train: pd.DataFrame
    train_descriptor: np.ndarray
    train_reference_person: np.ndarray | None
    train_reference_descriptor: np.ndarray | None
    warnings: tuple[Finding, ...]


def plan_import(original: Original, public_is_val: bool, problems: Problems, progress: bool = False) -> Plan | None:
    """Check `original` file against file; return the plan, or None when `problems` holds any finding.

    `public_is_val` says which `is_val` value marks the public subset. Reading every image
    header is the long step; `progress` shows a bar for it on stderr.
    """
    test = _frames(original.test, TEST_TABLE, problems)
    train = _frames(original.train, TRAIN_TABLE, problems)
    if train is not None:
        _one_value_per_track(train, PERSON_ID, TRAIN_TABLE, problems)
    order = _order(original.order, problems)
    labels = _labels(order, test, public_is_val, problems)
    references = _references(original.references, original.reference_descriptors, labels, problems)
    dim = None if references is None else references[1].shape[1]
    train_descriptor = _train_descriptors(original.train, original.train_descriptors, dim, problems)
    warnings = Problems()
    train_dim = None if train_descriptor is None else train_descriptor.shape[1]
    train_references = _train_references(original, train, train_dim, problems, warnings)
    for name, table in ((TEST_TABLE, test), (TRAIN_TABLE, train)):
        if table is not None:
            _check_images(original.images, name, table, problems, progress)
    if problems.findings or test is None or labels is None or references is None:
        return None
    if train is None or train_descriptor is None:
        return None
    if not original.train_references_given:
        warnings.add(
            TRAIN_REFERENCE_TABLE,
            f"not given (nor {TRAIN_REFERENCE_DESCRIPTORS}), so the dataset has no train/references.npz: "
            "`make train-aggregator` needs it, and `python -m evaluate validate` takes one train track per "
            "person as references instead",
            "copy both files from the organizers' MCS2019 data into the --from folder and import again",
        )
    test = _in_track_order(test, labels[TRACK_ID])
    train = _in_track_order(train, train.groupby(TRACK_ID, sort=False)[ROW].min().sort_values().index)
    return Plan(
        test=_with_source(test, original.images)[[TRACK_ID, FRAME, SOURCE]],
        labels=labels[list(LABEL_COLUMNS)].reset_index(drop=True),
        reference_person=references[0],
        reference_descriptor=references[1],
        train=_with_source(train, original.images)[[TRACK_ID, FRAME, SOURCE, PERSON_ID]],
        train_descriptor=np.ascontiguousarray(train_descriptor[train[ROW].to_numpy()]),
        train_reference_person=None if train_references is None else train_references[0],
        train_reference_descriptor=None if train_references is None else train_references[1],
        warnings=tuple(warnings.findings),
    )


def _frames(table: pd.DataFrame | None, name: str, problems: Problems) -> pd.DataFrame | None:
    """Check the frames of each track; return the table sorted by track and frame_id, numbered 0..9."""
    if table is None:
        return None
    counts = table.groupby(TRACK_ID, sort=False).size()
    wrong = counts[counts != FRAMES_PER_TRACK]
    if wrong.size:
        examples = [f"{track} ({count} frames)" for track, count in wrong.items()]
        problems.add(
            name,
            f"{wrong.size} tracks do not have {FRAMES_PER_TRACK} frames: {few(examples)}",
            f"give every track exactly {FRAMES_PER_TRACK} rows, one per sampled frame",
        )
    repeated = table[table.duplicated([TRACK_ID, FRAME_ID], keep=False)]
    if not repeated.empty:
        problems.add(
            name,
            f"tracks {few(repeated[TRACK_ID].unique())} list a {FRAME_ID} more than once (lines {few(repeated[LINE])})",
            f"keep one row per frame; {FRAME_ID} orders the frames of a track",
        )
    ordered = table.sort_values([TRACK_ID, FRAME_ID], kind="stable").copy()
    ordered[FRAME] = ordered.groupby(TRACK_ID, sort=False).cumcount()
    return ordered


def _one_value_per_track(table: pd.DataFrame, column: str, name: str, problems: Problems) -> None:
    values = table.groupby(TRACK_ID, sort=False)[column].nunique()
    mixed = values.index[values > 1]
    if mixed.size:
        problems.add(name, f"tracks {few(mixed)} have more than one {column}", f"give all rows of a track one {column}")


def _order(order: pd.DataFrame | None, problems: Problems) -> pd.DataFrame | None:
    if order is None:
        return None
    repeated = order[order.duplicated(TRACK_ID, keep="first")]
    if not repeated.empty:
        problems.add(
            TRACK_ORDER,
            f"tracks {few(repeated[TRACK_ID].unique())} are listed more than once (lines {few(repeated[LINE])})",
            "list each track once: its line is the row a submission answers it on",
        )
    return order.drop_duplicates(TRACK_ID, keep="first")


def _labels(
    order: pd.DataFrame | None, test: pd.DataFrame | None, public_is_val: bool, problems: Problems
) -> pd.DataFrame | None:
    """Check tracks against track_order_df.csv and the is_val split; return track_id, person_id, subset."""
    if order is None or test is None:
        return None
    listed, present = order[TRACK_ID], pd.Index(test[TRACK_ID].unique())
    without_frames = listed[~listed.isin(present)]
    if without_frames.size:
        problems.add(
            TRACK_ORDER,
            f"tracks {few(without_frames)} have no frames in {TEST_TABLE}",
            f"list only tracks of {TEST_TABLE}, or restore their frames",
        )
    unlisted = present[~present.isin(listed)]
    if unlisted.size:
        problems.add(
            TEST_TABLE,
            f"tracks {few(unlisted)} are not in {TRACK_ORDER}, so no submission row answers them",
            f"add them to {TRACK_ORDER} with their {PERSON_ID}, or drop their frames",
        )
    _one_value_per_track(test, IS_VAL, TEST_TABLE, problems)
    person_of = order.set_index(TRACK_ID)[PERSON_ID]
    if PERSON_ID in test.columns:
        stated = test.dropna(subset=[PERSON_ID])
        disagree = stated[stated[PERSON_ID] != stated[TRACK_ID].map(person_of)]
        disagree = disagree[disagree[TRACK_ID].isin(listed)]
        if not disagree.empty:
            first = disagree.iloc[0]
            problems.add(
                TEST_TABLE,
                f"tracks {few(disagree[TRACK_ID].unique())} have a {PERSON_ID} other than {TRACK_ORDER}'s "
                f"(line {first[LINE]}: {first[PERSON_ID]} here, {person_of[first[TRACK_ID]]} there)",
                "use the organizers' copies of both files, which agree",
            )
    is_val = test.groupby(TRACK_ID, sort=False)[IS_VAL].first()
    labels = order[order[TRACK_ID].isin(present)].copy()
    labels[IS_VAL] = labels[TRACK_ID].map(is_val).astype(bool)
    labels[SUBSET] = np.where(labels[IS_VAL] == public_is_val, PUBLIC, PRIVATE)
    flags = labels.groupby(PERSON_ID, sort=False)[IS_VAL].nunique()
    both = flags.index[flags > 1]
    if both.size:
        problems.add(
            TEST_TABLE,
            f"persons {few(both)} have tracks with {IS_VAL} True and False, which would put them in both subsets",
            f"give all tracks of a person the same {IS_VAL}",
        )
    for subset in SUBSETS:
        persons = labels.loc[labels[SUBSET] == subset, PERSON_ID].nunique()
        if persons < 2:
            flag = public_is_val if subset == PUBLIC else not public_is_val
            problems.add(
                TEST_TABLE,
                f"the {subset} subset ({IS_VAL} {flag}) has tracks of {persons} person(s); it needs at least 2",
                f"check the {IS_VAL} column, or pass --public-is-not-val if True marks the private persons",
            )
    return labels


def _rows_match(table: pd.DataFrame, table_name: str, descriptors: np.ndarray, name: str, problems: Problems) -> bool:
    """True when the .npy `name` has one row per row of the CSV `table_name`; else add the problem and say False."""
    if descriptors.shape[0] == table.attrs[FILE_ROWS]:
        return True
    problems.add(
        name,
        f"holds {descriptors.shape[0]} rows, {table_name} has {table.attrs[FILE_ROWS]}; "
        "row i of one must describe row i of the other",
        f"use the {name} that belongs to this {table_name}",
    )
    return False


def _references(
    table: pd.DataFrame | None, descriptors: np.ndarray | None, labels: pd.DataFrame | None, problems: Problems
) -> tuple[np.ndarray, np.ndarray] | None:
    """Check test_gt_df.csv row for row against gt_descriptors.npy and against the tracks' persons."""
    if table is None or descriptors is None:
        return None
    if not _rows_match(table, REFERENCE_TABLE, descriptors, REFERENCE_DESCRIPTORS, problems):
        return None
    persons, rows = _in_table_order(table, descriptors)
    if labels is not None:
        tracked = labels[PERSON_ID].unique()
        unreferenced = labels[~labels[PERSON_ID].isin(persons)]
        if not unreferenced.empty:
            problems.add(
                TRACK_ORDER,
                f"persons {few(unreferenced[PERSON_ID].unique())} (tracks {few(unreferenced[TRACK_ID])}) have no "
                f"reference in {REFERENCE_TABLE}",
                f"add their reference rows to {REFERENCE_TABLE} and {REFERENCE_DESCRIPTORS}",
            )
        orphans = np.setdiff1d(persons, tracked)
        if orphans.size:
            problems.add(
                REFERENCE_TABLE,
                f"persons {few(orphans)} have references but no test track",
                f"drop their rows from {REFERENCE_TABLE} and {REFERENCE_DESCRIPTORS}: a reference is scored "
                "only against the tracks of its subset",
            )
    return persons, rows


def _in_table_order(table: pd.DataFrame, descriptors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the person ids of a reference table and their descriptor rows, in the table's order."""
    return table[PERSON_ID].to_numpy(dtype=str), np.ascontiguousarray(descriptors[table[ROW].to_numpy()])


def _train_references(
    original: Original, train: pd.DataFrame | None, dim: int | None, problems: Problems, warnings: Problems
) -> tuple[np.ndarray, np.ndarray] | None:
    """Check train_gt_df.csv row for row against train_gt_descriptors.npy, the train persons and dimension `dim`.

    Returns None when they were not given or cannot be used. A reference of a person with no
    train track is a problem (the files belong to other data); a train person without a
    reference only a warning: the import is still of use, but not to train an aggregator.
    """
    table, descriptors = original.train_references, original.train_reference_descriptors
    if table is None or descriptors is None:
        return None
    if not _rows_match(table, TRAIN_REFERENCE_TABLE, descriptors, TRAIN_REFERENCE_DESCRIPTORS, problems):
        return None
    _same_dimension(TRAIN_REFERENCE_DESCRIPTORS, descriptors, TRAIN_DESCRIPTORS, dim, problems)
    persons, rows = _in_table_order(table, descriptors)
    if train is not None:
        trained = train[PERSON_ID].unique().astype(str)
        orphans = np.setdiff1d(persons, trained)
        if orphans.size:
            problems.add(
                TRAIN_REFERENCE_TABLE,
                f"persons {few(orphans)} ({orphans.size} of {np.unique(persons).size}) have references but no "
                f"track in {TRAIN_TABLE}",
                f"use the {TRAIN_REFERENCE_TABLE} and {TRAIN_REFERENCE_DESCRIPTORS} that belong to this "
                f"{TRAIN_TABLE}, or drop those persons' rows from both",
            )
        unreferenced = np.setdiff1d(trained, persons)
        if unreferenced.size:
            warnings.add(
                TRAIN_TABLE,
                f"persons {few(unreferenced)} ({unreferenced.size} of {trained.size} train persons) have no "
                f"reference in {TRAIN_REFERENCE_TABLE}: `make train-aggregator` needs one for every train person, "
                "and `python -m evaluate validate` scores only the tracks of persons with references",
                f"add their rows to {TRAIN_REFERENCE_TABLE} and {TRAIN_REFERENCE_DESCRIPTORS}",
            )
    return persons, rows


def _train_descriptors(
    table: pd.DataFrame | None, descriptors: np.ndarray | None, dim: int | None, problems: Problems
) -> np.ndarray | None:
    if table is None or descriptors is None:
        return None
    if not _rows_match(table, TRAIN_TABLE, descriptors, TRAIN_DESCRIPTORS, problems):
        return None
    _same_dimension(TRAIN_DESCRIPTORS, descriptors, REFERENCE_DESCRIPTORS, dim, problems)
    return descriptors


def _same_dimension(name: str, descriptors: np.ndarray, other: str, dim: int | None, problems: Problems) -> None:
    """Note a problem when the .npy `name` has another dimension than `dim`, the .npy `other`'s (None: unknown)."""
    if dim is not None and descriptors.shape[1] != dim:
        problems.add(
            name, f"has dimension {descriptors.shape[1]}, {other} {dim}", "use the descriptors of one encoder for both"
        )


def _check_images(root: Path, name: str, table: pd.DataFrame, problems: Problems, progress: bool) -> None:
    found: dict[str, list[str]] = {}
    rows = zip(table[WARP_PATH].tolist(), table[LINE].tolist(), strict=True)
    for path, line in tqdm(
        rows, total=len(table), desc=f"check {name}", unit="img", file=sys.stderr, disable=not progress
    ):
        pure = PurePosixPath(path)
        if pure.is_absolute() or ".." in pure.parts:
            problem: str | None = f"must be relative to {root} and stay inside it"
        else:
            problem = image_problem(root / path)
        if problem:
            found.setdefault(problem, []).append(f"line {line}: {path}")
    for problem, where in found.items():
        problems.add(
            name,
            f"{len(where)} {WARP_PATH} images {problem} ({few(where)})",
            f"put every frame under {root} as an aligned {IMAGE_SIZE}x{IMAGE_SIZE} RGB JPEG at its {WARP_PATH}",
        )


def _in_track_order(frames: pd.DataFrame, tracks: pd.Index | pd.Series) -> pd.DataFrame:
    position = pd.Series(np.arange(len(tracks)), index=pd.Index(tracks))
    ordered = frames.assign(**{_POSITION: frames[TRACK_ID].map(position)})
    return ordered.sort_values([_POSITION, FRAME], kind="stable").reset_index(drop=True)


def _with_source(frames: pd.DataFrame, root: Path) -> pd.DataFrame:
    return frames.assign(**{SOURCE: [str(root / path) for path in frames[WARP_PATH]]})
