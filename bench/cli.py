"""The `python -m bench` command: parses options, runs the sections, writes the results; the work is in the modules."""

from __future__ import annotations

import json
import tempfile
import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import click

from bench.aggregators import bench_aggregators
from bench.datagen import bench_datagen
from bench.gpu import GpuUnavailable, bench_gpu
from bench.machine import describe
from bench.negatives import bench_negatives
from bench.pipeline import PipelineError, bench_pipeline
from bench.results import RESULTS_FILE, write_results
from bench.sandbox import DEFAULT_IMAGE, bench_sandbox
from bench.scorer import bench_scorer
from bench.targets import check_targets

DEFAULT_DATA = Path("data/demo/test")
DEFAULT_AGGREGATOR_DATA = Path("data/bench")


def log(message: str) -> None:
    """Print one timestamped progress line on stderr."""
    click.echo(time.strftime("%H:%M:%S ") + message, err=True)


@click.command(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.option("--quick", is_flag=True, help="Small sizes, for the tests: checks that everything runs, in seconds.")
@click.option("--gpu", is_flag=True, help="The GPU variant: fails at once where no GPU is usable, never uses the CPU.")
@click.option(
    "--out", type=click.Path(path_type=Path, file_okay=False), default=Path("bench"), help="Folder for the results."
)
@click.option(
    "--data",
    type=click.Path(path_type=Path, file_okay=False),
    default=DEFAULT_DATA,
    help="Test folder the pipeline's tracks come from; when it is missing, tracks are made from assets/faces.",
)
@click.option("--image", default=DEFAULT_IMAGE, help="The image the podman no-op runs in.")
@click.option(
    "--aggregator-data",
    type=click.Path(path_type=Path, file_okay=False),
    default=DEFAULT_AGGREGATOR_DATA,
    help="Dataset (train/, test/, gt/) to train and score the aggregators on: make data PRESET=bench DATA=data/bench",
)
@click.option(
    "--only",
    type=click.Choice(["aggregators", "datagen", "sandbox"]),
    help="Run this section alone; the others keep their figures from OUT/results.json.",
)
def main(quick: bool, gpu: bool, out: Path, data: Path, image: str, aggregator_data: Path, only: str | None) -> None:
    """Measure the scorer, the solution pipeline and the sandbox, each beside its baseline.

    Writes OUT/results.json (OUT/results-gpu.json with --gpu) and OUT/RESULTS.md. Exit code
    1 with one line when a section cannot run (no GPU with --gpu, solution.py failing).
    """
    started = time.perf_counter()
    if only is not None:
        _run_only(out, only, aggregator_data, image, quick)
        return
    try:
        with tempfile.TemporaryDirectory(prefix="bench-") as work:
            results = _run(Path(work), data, quick, gpu, image, aggregator_data)
    except (GpuUnavailable, PipelineError) as exc:
        raise click.ClickException(str(exc)) from None
    results["elapsed_s"] = round(time.perf_counter() - started, 1)
    markdown = write_results(out, results, gpu)
    log(f"wrote {markdown} and its JSON beside it in {results['elapsed_s']} s")


def _run(work: Path, data: Path, quick: bool, gpu: bool, image: str, aggregator_data: Path) -> dict[str, Any]:
    machine = describe()
    if gpu:
        results = bench_gpu(work, data, quick, log)
    else:
        results = {
            "scorer": bench_scorer(quick, log),
            "pipeline": bench_pipeline(work, data, quick, gpu=False, log=log),
            "sandbox": bench_sandbox(work, quick, image, log),
            "negatives": bench_negatives(work, None if quick else data, log),
            "aggregators": (
                {"ran": False, "reason": "the quick run trains nothing"}
                if quick
                else bench_aggregators(aggregator_data, quick, log)
            ),
            "datagen": bench_datagen(work, quick, log),
        }
        results["targets"] = check_targets(results)
    return {
        "quick": quick,
        "machine": machine,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **results,
    }


def _run_only(out: Path, only: str, aggregator_data: Path, image: str, quick: bool) -> None:
    """Measure the section `only` alone into the results of an earlier full run in `out`; rewrite RESULTS.md."""
    previous = out / RESULTS_FILE
    if not previous.is_file():
        raise click.ClickException(f"{previous} must exist for --only: run `make bench` once first")
    results = json.loads(previous.read_text())
    if only == "aggregators":
        results["aggregators"] = bench_aggregators(aggregator_data, quick, log)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-") as work:
            measure = bench_datagen if only == "datagen" else partial(bench_sandbox, image=image)
            results[only] = measure(Path(work), quick, log=log)
    results["targets"] = check_targets(results)
    markdown = write_results(out, results, gpu=False)
    log(f"wrote the {only} section into {markdown} and its JSON beside it")
