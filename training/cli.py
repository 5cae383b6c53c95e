"""`python -m training` (make train-aggregator): train an aggregator on DATA/train, export it, record it."""

from __future__ import annotations

import time
from pathlib import Path

import click
import numpy as np

from evaluate.trainset import TrainDataError
from models.onnx_export import MODELS_DIR
from training.data import load_train, split_persons
from training.export import write
from training.fit import Epoch, FitConfig, fit
from training.model import ARCHITECTURES
from training.pooling import POOLINGS
from training.validate import tpr, validation_fpr


@click.command(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.option("--data", required=True, type=click.Path(path_type=Path), help="The dataset; only DATA/train is read.")
@click.option("--arch", type=click.Choice(ARCHITECTURES), default="gated", help="The aggregator to learn.")
@click.option("--epochs", type=click.IntRange(min=1), default=40)
@click.option(
    "--held-out",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.2,
    help="Share of train persons kept out of training to validate on.",
)
@click.option("--seed", type=click.IntRange(min=0), default=0, help="Split, initial weights and batches.")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=MODELS_DIR / "aggregator.onnx",
    help="The ONNX file to write; its manifest entry goes to models/manifest.json.",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def main(data: Path, arch: str, epochs: int, held_out: float, seed: int, out: Path, quiet: bool) -> None:
    """Train an aggregator on DATA/train, validate on held-out train persons, write OUT and its manifest entry.

    Prints the training-free poolings' validation TPR first, then one line per epoch; the
    weights of the best validation epoch are exported (ONNX opset 17, dynamic T and F).
    """
    try:
        train = load_train(data)
        fit_rows, validation_rows = split_persons(train.person, held_out, seed)
        fit_set, validation = train.select(fit_rows), train.select(validation_rows)
        fpr = validation_fpr(validation)
    except (TrainDataError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"train: {fit_set.person.size} tracks of {np.unique(fit_set.person).size} persons; validation: "
        f"{validation.person.size} tracks of {np.unique(validation.person).size} held-out persons, TPR@{fpr:g}"
    )
    for name, pool in POOLINGS.items():
        click.echo(f"  {name:10s} {tpr(validation, pool(validation.frames), [fpr])[0]:.3f}")

    def report(epoch: Epoch) -> None:
        click.echo(
            f"epoch {epoch.epoch:3d}/{epochs}  loss {epoch.loss:.3f}  validation TPR@{fpr:g} {epoch.tpr:.3f}  "
            f"({epoch.seconds:.1f} s)"
        )

    started = time.monotonic()
    config = FitConfig(arch=arch, epochs=epochs, seed=seed)
    model, history = fit(fit_set, validation, fpr, config, progress=not quiet, on_epoch=report)
    best = max(history, key=lambda epoch: epoch.tpr)
    parameters = sum(p.numel() for p in model.parameters())
    source = {
        "method": f"learned aggregator '{arch}' (training/model.py), the weights of the best validation epoch",
        "train_tracks": int(fit_set.person.size),
        "validation_tracks": int(validation.person.size),
        "validation_fpr": fpr,
        "validation_tpr": round(best.tpr, 4),
        "best_epoch": best.epoch,
        "epochs": epochs,
        "seed": seed,
        "parameters": parameters,
        "train_seconds": round(time.monotonic() - started, 1),
    }
    command = (
        f"python -m training --data {data} --arch {arch} --epochs {epochs} --held-out {held_out} --seed {seed} "
        f"--out {out} (make train-aggregator)"
    )
    digest = write(model, train.frames.shape[2], out, command, source)
    click.echo(f"best epoch {best.epoch}: validation TPR@{fpr:g} {best.tpr:.3f}; {parameters} parameters")
    click.echo(f"wrote {out} (sha256 {digest[:16]}) and its entry in models/manifest.json")
