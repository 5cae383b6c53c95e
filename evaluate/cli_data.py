"""`python -m evaluate make-data` and `check-data`: write the synthetic challenge data, check any dataset."""

from __future__ import annotations

from pathlib import Path

import click

from contracts.exits import EXIT_ORGANIZER, OrganizerFault
from contracts.names import SUBSETS
from evaluate.checkdata import check_dataset
from evaluate.datagen.encoder import EncoderError
from evaluate.datagen.faces import FacesError
from evaluate.datagen.overlap import same_seed_siblings
from evaluate.datagen.presets import PRESETS
from evaluate.datagen.writer import DatasetExistsError, generate


@click.command("make-data")
@click.option("--preset", type=click.Choice(sorted(PRESETS)), default="demo", show_default=True, help="Dataset sizes.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Same seed, same bytes.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="The dataset folder to write.")
@click.option("--force", is_flag=True, help="Replace an existing dataset at --out.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def make_data(preset: str, seed: int, out: Path, force: bool, quiet: bool) -> None:
    """Write a synthetic dataset (competition.yaml, test/, train/, gt/) to OUT.

    Faces are new identities morphed from real photographs, frames are degraded like
    video, references and train descriptors come from models/encoder.onnx.
    """
    try:
        summary = generate(out, PRESETS[preset], seed, force=force, progress=not quiet)
    except (DatasetExistsError, EncoderError, FacesError) as exc:
        raise OrganizerFault(str(exc)) from None
    click.echo(f"wrote {summary.out} (preset {summary.preset}, seed {summary.seed}) in {summary.seconds:.0f} s")
    for part, persons in summary.persons.items():
        click.echo(f"  {part:8s} {summary.tracks[part]:6d} tracks of {persons:5d} persons")
    click.echo(f"  references {summary.references}")
    for subset in SUBSETS:
        click.echo(f"  {subset} negative pairs: {summary.negatives[subset]:,}")
    for sibling, other in same_seed_siblings(out, preset, seed):
        click.echo(
            f"warning: {sibling} (preset {other}) was made with the same seed {seed}, so the two share persons "
            f"(the same faces in other parts): a model trained on one has seen test persons of the other; "
            f"make one of them with another --seed",
            err=True,
        )


@click.command("check-data")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--quiet", is_flag=True, help="No progress bar.")
def check_data(data_dir: Path, quiet: bool) -> None:
    """Check DATA_DIR against the data contract; list every problem with its fix.

    Exit code 0 when the dataset is usable, 3 when problems were found (the organizer's to
    fix, as in every command: 1 is the participant's fault), 2 on a usage error.
    """
    report = check_dataset(data_dir, progress=not quiet)
    for note in report.notes:
        click.echo(f"note: {note}")
    if report.findings:
        for finding in report.findings:
            click.echo(f"- {finding}")
        click.echo(f"{data_dir}: {len(report.findings)} problem(s) found", err=True)
        raise SystemExit(EXIT_ORGANIZER)
    click.echo(f"{data_dir}: follows the data contract")
    for name, count in report.counts.items():
        click.echo(f"  {name}: {count:,}")
    for order in report.orders:
        click.echo(
            f"  test files by {order.order}: rho with subset {order.subset_rho:+.3f} (z {order.subset_z:.1f}), "
            f"neighbours of one person {order.same_person} ({order.expected_same_person:.1f} by chance, "
            f"z {order.person_z:.1f})"
        )
    for subset, negatives in report.negatives.items():
        resolvable = ", ".join(f"{f:g} {'yes' if negatives * f >= 1 else 'no'}" for f in report.fpr)
        click.echo(f"  {subset} negative pairs: {negatives:,} (FPR targets resolvable: {resolvable})")
