"""`python -m evaluate validate`: score an aggregator on the train persons, with the worst tracks and their frames."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click

from contracts.competition import load_competition
from contracts.errors import ChallengeError
from contracts.names import COMPETITION_FILE
from evaluate.trainset import read_train
from evaluate.validation import format_validation, validate

# relative to where the command runs: a participant runs it in their checkout
DEFAULT_AGGREGATOR = Path("models/aggregator.onnx")


class ValidateInputError(click.ClickException):
    """A bad input to `validate` (dataset, aggregator, config): one `Error:` line, exit code 2."""

    exit_code = 2


@click.command("validate")
@click.option(
    "--data",
    "data_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The dataset folder holding train/ (tracks.csv, frame_descriptors.npz), e.g. data/demo.",
)
@click.option(
    "--aggregator",
    type=click.Path(path_type=Path),
    default=DEFAULT_AGGREGATOR,
    show_default=True,
    help="The aggregator to validate (ONNX: frame_descriptors [T, F, D] -> track_descriptors [T, D]).",
)
@click.option(
    "--config",
    type=click.Path(path_type=Path),
    default=None,
    help="competition.yaml (FPR targets, primary FPR, similarity); default: the one in --data, else MCS2019's.",
)
@click.option(
    "--fpr",
    "fprs",
    type=click.FloatRange(min=0, max=1, min_open=True),
    multiple=True,
    help="FPR target, repeatable; the first is the primary one (default: those of the config). "
    "Train has fewer negative pairs than test: a target below 1/negatives is marked unresolvable.",
)
@click.option(
    "--worst", type=click.IntRange(min=0), default=5, show_default=True, help="Tracks shown with their frames."
)
def validate_command(
    data_dir: Path, aggregator: Path, config: Path | None, fprs: tuple[float, ...], worst: int
) -> None:
    """Score AGGREGATOR on the train persons of DATA with the challenge's metric; show the worst tracks.

    References are DATA/train/references.npz when the dataset has them; otherwise each train
    person with two tracks or more gives one track as references (the L2-normalized
    descriptors of its frames) and its other tracks are queries
    (`evaluate.trainset.split_train_tracks`). The aggregator runs through onnxruntime on
    the CPU over train/frame_descriptors.npz, so the encoder is not run. Prints the TPR at
    the primary FPR target in one line, the table of every target, and the worst tracks
    with each frame's cosine to the nearest reference of its person and of another person
    (a frame far from its own person is one a better aggregator would weigh down). Every
    bad input is one `Error:` line and exit code 2.
    """
    if config is None and (data_dir / COMPETITION_FILE).is_file():
        config = data_dir / COMPETITION_FILE
    try:
        metric = load_competition(config).metric
        if fprs:
            metric = replace(metric, fpr=tuple(sorted(set(fprs))), primary_fpr=fprs[0])
        result = validate(read_train(data_dir), data_dir, aggregator, metric, worst=worst)
    except ChallengeError as exc:
        raise ValidateInputError(str(exc)) from None
    for line in format_validation(result):
        click.echo(line)
