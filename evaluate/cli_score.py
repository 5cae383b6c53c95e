"""`python -m evaluate score`: score a descriptors file against the ground truth, write and print the reports."""

from __future__ import annotations

import json
from pathlib import Path

import click

from contracts.competition import load_competition
from contracts.descriptors import read_descriptors
from contracts.errors import ChallengeError
from contracts.exits import OrganizerFault, ParticipantFault, fault_exception
from contracts.names import OUTPUT_DIR, PUBLIC, RUN_REPORT_FILE, SUBSETS
from contracts.status import Status
from evaluate.groundtruth import load_groundtruth
from evaluate.reports import format_table, write_reports
from evaluate.scoring import score_both_rules


@click.command("score")
@click.option("--descriptors", required=True, type=click.Path(path_type=Path), help="The submission's descriptors.npz.")
@click.option("--gt", "gt_dir", required=True, type=click.Path(path_type=Path), help="The gt/ folder of the dataset.")
@click.option("--out", "run_dir", required=True, type=click.Path(path_type=Path), help="Where the reports go.")
@click.option(
    "--config",
    type=click.Path(path_type=Path),
    default=None,
    help="competition.yaml (similarity, FPR targets, negatives rule, primary score); MCS2019's defaults without it.",
)
@click.option("--public-only", is_flag=True, help="Score, write and print the public subset only.")
def score(descriptors: Path, gt_dir: Path, run_dir: Path, config: Path | None, public_only: bool) -> None:
    """Score DESCRIPTORS on the public and private subsets: TPR at each FPR target.

    The official scores use the negatives rule of competition.yaml (metric.negatives); the
    other rule is scored too and reported beside them. Writes RUN_DIR/score.json,
    metrics.txt and roc.png and prints a table. Every bad input is one `Error:` line; the
    exit code says whose it is: 1 the submission's (its descriptors, a run that did not end
    ok), 3 the organizer's (ground truth, config, output folder), 2 bad options.
    """
    subsets = (PUBLIC,) if public_only else SUBSETS
    _refuse_unfinished_run(descriptors)
    try:
        metric = load_competition(config).metric
        truth = load_groundtruth(gt_dir)
        submitted = read_descriptors(descriptors, expected_track_ids=truth.track_id, dim=truth.dim)
        scores, alternative = score_both_rules(submitted, truth, metric, subsets)
    except ChallengeError as exc:
        raise fault_exception(exc) from None
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_reports(run_dir, scores, metric, alternative)
    except OSError as exc:
        raise OrganizerFault(f"the reports must go to a writable folder, {run_dir} is not: {exc.strerror}") from None
    click.echo(format_table(scores, alternative))


def _refuse_unfinished_run(descriptors: Path) -> None:
    """Refuse the output of a run whose run.json (RUN_DIR/run.json beside RUN_DIR/output/) says it did not end ok."""
    if descriptors.parent.name != OUTPUT_DIR:
        return
    report_path = descriptors.parent.parent / RUN_REPORT_FILE
    try:
        status = json.loads(report_path.read_text(encoding="utf-8")).get("status")
    except (OSError, ValueError, AttributeError):
        return
    if status != Status.OK:
        raise ParticipantFault(
            f"{report_path} says the run ended with status {status}: the output of a run that did not end ok "
            "is never scored"
        )
