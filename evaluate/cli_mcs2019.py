"""`python -m evaluate import-mcs2019` and `make-mcs2019-replica`: bring MCS2019's original files in, or fake them."""

from __future__ import annotations

from pathlib import Path

import click

from contracts.errors import ConfigError
from contracts.exits import EXIT_ORGANIZER, OrganizerFault
from contracts.names import SUBSETS
from contracts.units import format_size
from evaluate.datagen.encoder import EncoderError
from evaluate.datagen.faces import FacesError
from evaluate.datagen.presets import PRESETS
from evaluate.datagen.writer import DatasetExistsError
from evaluate.mcs2019.importer import OriginalDataError, import_mcs2019
from evaluate.mcs2019.replica import make_replica


@click.command("import-mcs2019")
@click.option(
    "--from",
    "source",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder of test_df.csv, track_order_df.csv, test_gt_df.csv, gt_descriptors.npy, train_df.csv, "
    "train_df_descriptors.npy, and optionally train_gt_df.csv with train_gt_descriptors.npy (the train "
    "persons' references, which make train-aggregator needs).",
)
@click.option("--out", required=True, type=click.Path(path_type=Path), help="The dataset folder to write.")
@click.option(
    "--images",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder the warp_path column is relative to.  [default: FROM/data]",
)
@click.option(
    "--public-is-val/--public-is-not-val",
    default=True,
    show_default=True,
    help="Whether is_val True (test_df.csv) marks the public subset.",
)
@click.option(
    "--competition",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A competition.yaml to use.  [default: MCS2019's: DevBattle limits, FPR 1e-6]",
)
@click.option("--force", is_flag=True, help="Replace an existing dataset at --out.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def import_mcs2019_command(
    source: Path,
    out: Path,
    images: Path | None,
    public_is_val: bool,
    competition: Path | None,
    force: bool,
    quiet: bool,
) -> None:
    """Import MCS2019's original files from FROM into the dataset folder OUT, ids kept as they are.

    Every problem of the original files is listed at once, one line each with its fix,
    and the exit code is 3 (the organizer's to fix); nothing is written then. What the
    import goes ahead with but should be known (train references not given, train persons
    without one) is printed as a warning after the summary.
    """
    try:
        summary = import_mcs2019(source, out, images, public_is_val, competition, force, progress=not quiet)
    except OriginalDataError as exc:
        for finding in exc.findings:
            click.echo(f"- {finding}")
        click.echo(f"{source}: {len(exc.findings)} problem(s) found; nothing was written", err=True)
        raise SystemExit(EXIT_ORGANIZER) from None
    except (DatasetExistsError, ConfigError) as exc:
        raise OrganizerFault(str(exc)) from None
    click.echo(f"imported {source} into {summary.out} in {summary.seconds:.0f} s")
    for part in ("train", *SUBSETS):
        click.echo(f"  {part:8s} {summary.tracks[part]:6d} tracks of {summary.persons[part]:5d} persons")
    click.echo(f"  references {summary.references} of dimension {summary.dim}; {summary.images:,} images copied")
    if summary.train_references is not None:
        click.echo(f"  train references {summary.train_references}")
    for warning in summary.warnings:
        click.echo(f"warning: {warning}")


@click.command("make-mcs2019-replica")
@click.option("--preset", type=click.Choice(sorted(PRESETS)), default="tiny", show_default=True, help="Dataset sizes.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Same seed, same bytes.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="The folder of original files to write.")
@click.option("--force", is_flag=True, help="Replace an existing replica at --out.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def make_mcs2019_replica(preset: str, seed: int, out: Path, force: bool, quiet: bool) -> None:
    """Write a synthetic dataset to OUT in the layout of MCS2019's original files (md5 ids, 128-D descriptors).

    What import-mcs2019 is tested on: `import-mcs2019 --from OUT` gives back the tracks,
    frames, images, references and labels of `make-data` with the same preset and seed.
    """
    try:
        summary = make_replica(out, PRESETS[preset], seed, force=force, progress=not quiet)
    except (DatasetExistsError, EncoderError, FacesError) as exc:
        raise OrganizerFault(str(exc)) from None
    click.echo(
        f"wrote {summary.out} (preset {preset}, seed {seed}): {summary.test_rows:,} test frames, "
        f"{summary.train_rows:,} train frames, {summary.reference_rows} references, "
        f"{summary.train_reference_rows} train references, {format_size(summary.bytes)}"
    )
