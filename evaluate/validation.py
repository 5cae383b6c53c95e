"""Local validation on train persons: a participant's aggregator scored by the challenge's own metric.

The test ground truth stays with the organizers, so a participant iterates on ``train/``:
`validate` runs the aggregator (ONNX, through onnxruntime, as the image does) on the
train frames' descriptors of the query tracks, scores them with `scoring.score_subset`
against references of the same persons (the dataset's ``train/references.npz``, else the
L2-normalized frame descriptors of the reference tracks of `trainset.split_train_tracks`,
as gt references are the encoder's normalized output per image), and diagnoses every
query track: how many of its positive pairs the primary FPR target accepts, its best
positive and hardest negative, and, for the worst tracks, each frame's similarity to its
own person's and to the other persons' references.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import onnxruntime as ort

from contracts.competition import Metric
from contracts.errors import RunnerError
from contracts.model_contract import AGGREGATOR_INPUT, AGGREGATOR_OUTPUT
from evaluate.groundtruth import SubsetTruth
from evaluate.metrics import negated_distances, normalize_rows
from evaluate.reports import format_table, fpr_label
from evaluate.scoring import SubsetScore, score_subset
from evaluate.trainset import TrainDataError, TrainSet, read_train_references, split_train_tracks

SUBSET_NAME = "train"
# Query tracks scored against all references at once in diagnose(): bounds its [block, R] matrix.
DIAGNOSE_BLOCK_ROWS = 1024


class AggregatorError(RunnerError):
    """The aggregator cannot be loaded or breaks its contract; the message names the problem and the fix."""


@dataclass(frozen=True)
class FrameDiagnosis:
    """One frame of a track: its descriptor's cosine to the nearest reference of its person (`own`) and of another."""

    frame: int
    path: str
    own: float
    other: float


@dataclass(frozen=True)
class TrackDiagnosis:
    """One query track under the primary FPR target.

    `accepted` of its `positives` pairs score strictly above the target's threshold;
    `best_positive` and `hardest_negative` are its highest scores against a reference of
    its own person and of another one (`nearest_other_person`); `margin` is their difference
    (negative: an other person's reference is nearer than every one of its own).
    """

    track_id: str
    person_id: str
    positives: int
    accepted: int
    best_positive: float
    hardest_negative: float
    nearest_other_person: str
    frames: tuple[FrameDiagnosis, ...] = ()

    @property
    def margin(self) -> float:
        """best_positive - hardest_negative."""
        return self.best_positive - self.hardest_negative


@dataclass(frozen=True)
class Validation:
    """What `validate` found: the query tracks' score, where the references came from, each track's diagnosis.

    `tracks` are worst first; the first `worst` of them carry their frames.
    """

    score: SubsetScore
    primary_fpr: float
    n_persons: int
    references_from: str
    tracks: tuple[TrackDiagnosis, ...]


def run_aggregator(path: Path, frame_descriptors: np.ndarray, frame_counts: np.ndarray) -> np.ndarray:
    """Return the aggregator's float32 [T, D] track descriptors for the frames grouped by `frame_counts`.

    `frame_descriptors` [M, D] holds the frames of track 0, then track 1, ...; tracks with
    the same frame count go through the model together as [T, F, D], on the CPU.
    Raises `AggregatorError` when the model cannot be loaded, its signature is not
    ``frame_descriptors`` -> ``track_descriptors``, or its output is not [T, D] finite float32.
    """
    if not path.is_file():
        raise AggregatorError(f"the aggregator {path} does not exist: pass --aggregator with your models/*.onnx file")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types per failure
        raise AggregatorError(
            f"the aggregator {path} cannot be loaded: {str(exc).splitlines()[0]}; export it for onnxruntime 1.16 "
            "(opset <= 19, IR <= 9) or pass --aggregator"
        ) from None
    names = ([i.name for i in session.get_inputs()], [o.name for o in session.get_outputs()])
    if names != ([AGGREGATOR_INPUT], [AGGREGATOR_OUTPUT]):
        raise AggregatorError(
            f"the aggregator {path} has inputs {names[0]} and outputs {names[1]}: it must take "
            f"{AGGREGATOR_INPUT} [T, F, D] and give {AGGREGATOR_OUTPUT} [T, D]"
        )
    offsets = np.r_[0, np.cumsum(frame_counts)]
    dim = frame_descriptors.shape[1]
    result = np.empty((frame_counts.size, dim), dtype=np.float32)
    for count in np.unique(frame_counts):
        rows = np.flatnonzero(frame_counts == count)
        index = offsets[rows][:, None] + np.arange(count)[None, :]
        batch = np.ascontiguousarray(frame_descriptors[index], dtype=np.float32)
        try:
            (out,) = session.run([AGGREGATOR_OUTPUT], {AGGREGATOR_INPUT: batch})
        except Exception as exc:  # onnxruntime raises its own exception types per failure
            message = " ".join(str(exc).split())
            raise AggregatorError(
                f"the aggregator {path} failed on {AGGREGATOR_INPUT} {list(batch.shape)} float32: {message}"
            ) from None
        if out.shape != (rows.size, dim) or out.dtype != np.float32 or not np.isfinite(out).all():
            raise AggregatorError(
                f"the aggregator {path} gave {out.dtype} {list(out.shape)} for {list(batch.shape)}: it must give "
                f"finite float32 [{rows.size}, {dim}]"
            )
        result[rows] = out
    return result


def validate(train: TrainSet, data_dir: Path, aggregator: Path, metric: Metric, worst: int = 5) -> Validation:
    """Score `aggregator` on the train tracks of the dataset at `data_dir` under `metric`; diagnose each track.

    References: ``train/references.npz`` when the dataset ships one (every track of a person
    with references is then a query), else `split_train_tracks`. The score is one subset,
    ``train``, so the negatives rule does not apply; the FPR targets, the primary one and
    the similarity are `metric`'s. The `worst` tracks (fewest accepted positives, then the
    smallest margin) carry their frames' diagnoses.

    Raises `AggregatorError` as `run_aggregator` does, and `TrainDataError` when shipped
    references have another dimension than the frames or the references leave fewer than
    two persons with query tracks (no negative pairs).
    """
    shipped = read_train_references(data_dir)
    if shipped is None:
        reference_rows, query_rows = split_train_tracks(train.track_id, train.person_id)
        frames = train.frames_of(reference_rows)
        reference_person = np.repeat(train.person_id[reference_rows], train.frame_counts[reference_rows])
        reference_descriptor = normalize_rows(train.descriptor[frames])
        references_from = "frames of one train track per person (evaluate.trainset.split_train_tracks)"
    else:
        query_rows = np.flatnonzero(np.isin(train.person_id, shipped.person_id))
        reference_person, reference_descriptor = shipped.person_id, shipped.descriptor.astype(np.float64)
        references_from = "train/references.npz"
        if reference_descriptor.shape[1] != train.descriptor.shape[1]:
            raise TrainDataError(
                f"train/references.npz has dimension {reference_descriptor.shape[1]}, the train frames "
                f"{train.descriptor.shape[1]}: compute both with the same encoder"
            )
    persons = np.unique(train.person_id[query_rows])
    if persons.size < 2:
        raise TrainDataError(
            f"validation needs query tracks of at least two persons with references, got {persons.size}: "
            "train/ must hold persons with two tracks or more (or ship train/references.npz)"
        )
    keep = np.isin(reference_person, persons)
    part = SubsetTruth(
        name=SUBSET_NAME,
        track_id=train.track_id[query_rows],
        track_person=train.person_id[query_rows],
        reference_person=reference_person[keep],
        reference_descriptor=reference_descriptor[keep],
    )
    descriptors = run_aggregator(
        aggregator, train.descriptor[train.frames_of(query_rows)], train.frame_counts[query_rows]
    )
    score = score_subset(part, descriptors, metric.fpr, metric.similarity)
    threshold = next(p.threshold for p in score.points if p.fpr == metric.primary_fpr)
    diagnoses = _diagnose_tracks(part, descriptors, metric.similarity, threshold)
    order = sorted(
        range(len(diagnoses)), key=lambda i: (diagnoses[i].accepted / diagnoses[i].positives, diagnoses[i].margin)
    )
    ranked = [diagnoses[i] for i in order]
    for position, i in enumerate(order[:worst]):
        ranked[position] = _with_frames(ranked[position], train, int(query_rows[i]), part)
    return Validation(score, metric.primary_fpr, int(persons.size), references_from, tuple(ranked))


def _diagnose_tracks(
    part: SubsetTruth, descriptors: np.ndarray, similarity: str, threshold: float
) -> list[TrackDiagnosis]:
    """Each query track's positives, accepted positives, best positive and hardest negative, in blocks of rows."""
    tracks = np.asarray(descriptors, dtype=np.float64)
    references = np.asarray(part.reference_descriptor, dtype=np.float64)
    if similarity == "cosine":
        tracks, references = normalize_rows(tracks), normalize_rows(references)
    found: list[TrackDiagnosis] = []
    for start in range(0, tracks.shape[0], DIAGNOSE_BLOCK_ROWS):
        scores = negated_distances(tracks[start : start + DIAGNOSE_BLOCK_ROWS], references)
        own = part.track_person[start : start + DIAGNOSE_BLOCK_ROWS, None] == part.reference_person[None, :]
        positive = np.where(own, scores, -np.inf)
        negative = np.where(own, -np.inf, scores)
        nearest = negative.argmax(axis=1)
        for row in range(scores.shape[0]):
            found.append(
                TrackDiagnosis(
                    track_id=str(part.track_id[start + row]),
                    person_id=str(part.track_person[start + row]),
                    positives=int(own[row].sum()),
                    accepted=int((positive[row] > threshold).sum()),
                    best_positive=float(positive[row].max()),
                    hardest_negative=float(negative[row, nearest[row]]),
                    nearest_other_person=str(part.reference_person[nearest[row]]),
                )
            )
    return found


def _with_frames(track: TrackDiagnosis, train: TrainSet, row: int, part: SubsetTruth) -> TrackDiagnosis:
    """`track` with its frames' cosine similarities to the nearest reference of its person and of any other."""
    frames = np.arange(train.offsets[row], train.offsets[row + 1])
    cosines = normalize_rows(train.descriptor[frames]) @ normalize_rows(part.reference_descriptor).T
    own = part.reference_person == train.person_id[row]
    return replace(
        track,
        frames=tuple(
            FrameDiagnosis(int(train.frame[f]), str(train.path[f]), float(c[own].max()), float(c[~own].max()))
            for f, c in zip(frames, cosines, strict=True)
        ),
    )


def format_validation(result: Validation) -> list[str]:
    """Return the lines the `validate` command prints: the score, the table, the worst tracks and their frames."""
    point = next(p for p in result.score.points if p.fpr == result.primary_fpr)
    lines = [
        f"validation score: {SUBSET_NAME} TPR@FPR={fpr_label(point.fpr)} {point.tpr:.4f}"
        f"{'' if point.resolvable else '*'} ({result.score.n_tracks} query tracks of {result.n_persons} persons, "
        f"{result.score.n_references} references: {result.references_from})",
        format_table({SUBSET_NAME: result.score}),
    ]
    shown = [t for t in result.tracks if t.frames]
    if shown:
        lines.append(
            f"worst {len(shown)} of {len(result.tracks)} tracks at FPR={fpr_label(result.primary_fpr)} "
            "(scores: the metric's similarity; frames: cosine to the nearest reference of its person / of another)"
        )
    for t in shown:
        lines.append(
            f"  track {t.track_id} (person {t.person_id}): {t.accepted}/{t.positives} positives accepted, "
            f"best positive {t.best_positive:.3f}, hardest negative {t.hardest_negative:.3f} "
            f"(person {t.nearest_other_person}), margin {t.margin:+.3f}"
        )
        weakest = min(t.frames, key=lambda f: f.own - f.other)
        for f in t.frames:
            flag = "  <- weakest" if f is weakest else ""
            lines.append(f"    frame {f.frame:>3}  own {f.own:.3f}  other {f.other:.3f}  {f.path}{flag}")
    return lines
