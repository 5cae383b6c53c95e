"""The `python -m submission` command line: parses options, prints the outcome; the work is in run.py."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from contracts.errors import ConfigError, RunnerError
from contracts.exits import EXIT_ORGANIZER, EXIT_PARTICIPANT
from contracts.names import RUN_REPORT_FILE
from contracts.status import Status
from contracts.units import parse_size
from submission.checks.check import check_submission
from submission.interrupts import RunInterrupted, signals_interrupt_the_run
from submission.retention import prune_runs
from submission.run import run_submission
from submission.rundir import RunDirError, prepare_run_dir
from submission.settings import ENGINES, PIPELINE_ENGINES, resolve_settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SizeType(click.ParamType):
    """A size such as 512m or 16g, in bytes."""

    name = "size"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_size(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Run a challenge submission under the DevBattle limits and report how it went."""


@main.command(context_settings={"show_default": True})
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default="auto",
    help="auto: docker, then podman (with --image), then bwrap, then local (no isolation).",
)
@click.option(
    "--data",
    "data_dir",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="The test folder (tracks.csv + images), mounted read-only at /data.",
)
@click.option(
    "--out",
    "run_dir",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="RUN_DIR: gets output/ (mounted at /output), run.json and log.txt.",
)
@click.option(
    "--submission",
    "submission_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=PROJECT_ROOT,
    show_default="the project root",
    help="bwrap/local: the folder mounted read-only at /submission, where COMMAND runs.",
)
@click.option("--image", default=None, help="docker/podman: the submission image to run.")
@click.option(
    "--time-limit",
    type=float,
    default=None,
    show_default="competition.yaml, else 900",
    help="Wall-clock seconds before the submission is stopped.",
)
@click.option("--cpus", type=float, default=None, show_default="competition.yaml, else 6")
@click.option(
    "--memory",
    type=SizeType(),
    default=None,
    show_default="competition.yaml, else 16g",
    help="Memory limit, swap included (e.g. 512m, 16g).",
)
@click.option("--pids-limit", type=int, default=None, show_default="competition.yaml, else 1024")
@click.option(
    "--gpus",
    default=None,
    show_default="competition.yaml, else all",
    help="all, none or a count; all degrades to none on a host without a GPU.",
)
@click.option(
    "--log-limit", type=SizeType(), default=None, show_default="10m", help="Cap of log.txt; the head and tail are kept."
)
@click.option(
    "--output-limit",
    type=SizeType(),
    default=None,
    show_default="competition.yaml, else 1g",
    help="The most /output may hold, in bytes, and one file per 64 KiB of it (a filesystem of its own).",
)
@click.option(
    "--dim",
    type=int,
    default=None,
    show_default="any: the scorer checks it against the references",
    help="The descriptor dimension the output must have.",
)
@click.option("--force", is_flag=True, help="Empty RUN_DIR/output if an earlier run left files there.")
@click.option("--quiet", is_flag=True, help="No live progress line.")
@click.option(
    "--pipeline",
    is_flag=True,
    help=f"In the organizers' pipeline: --engine must be one of {', '.join(PIPELINE_ENGINES)} (never local or auto).",
)
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def run(
    engine: str,
    data_dir: Path,
    run_dir: Path,
    submission_dir: Path,
    image: str | None,
    time_limit: float | None,
    cpus: float | None,
    memory: int | None,
    pids_limit: int | None,
    gpus: str | None,
    log_limit: int | None,
    output_limit: int | None,
    dim: int | None,
    force: bool,
    quiet: bool,
    pipeline: bool,
    command: tuple[str, ...],
) -> None:
    """Run a submission; write RUN_DIR/run.json, RUN_DIR/log.txt (the organizers'), RUN_DIR/log.participant.txt
    (its bounded view for the participant) and RUN_DIR/output/.

    COMMAND (after --) replaces `python solution.py` (bwrap, local) or the image's own
    command (docker, podman). Exit code: 0 ok; 1 the submission failed (failed, timeout,
    oom, invalid_output); 3 the engine could not run it (engine_error); 2 bad options;
    130 or 143 the runner was interrupted (SIGINT, SIGTERM): the submission is stopped
    and run.json written first.
    """
    if pipeline and engine not in PIPELINE_ENGINES:
        raise click.UsageError(
            f"--pipeline runs only the sandboxed engines ({', '.join(PIPELINE_ENGINES)}), got --engine {engine}: "
            "set SUBMISSION_ENGINE in the runner host's pipeline.env (README, GitLab pipeline)"
        )
    try:
        settings = resolve_settings(
            engine=engine,
            data_dir=data_dir,
            run_dir=run_dir,
            submission_dir=submission_dir,
            image=image,
            command=command,
            time_limit_s=time_limit,
            cpus=cpus,
            memory_bytes=memory,
            pids_limit=pids_limit,
            gpus=gpus,
            log_limit_bytes=log_limit,
            output_limit_bytes=output_limit,
            dim=dim,
        )
        prepare_run_dir(settings.run_dir, force)
    except (ValueError, ConfigError, RunnerError, RunDirError) as exc:
        raise click.UsageError(str(exc)) from None

    live = sys.stderr.isatty() and not quiet

    def progress(line: str) -> None:
        if live:
            click.echo("\r" + line + "   ", nl=False, err=True)

    try:
        with signals_interrupt_the_run():
            report = run_submission(
                settings, progress=None if quiet else progress, warn=lambda m: click.secho(m, fg="yellow", err=True)
            )
    except RunInterrupted as exc:
        report_path = settings.run_dir / RUN_REPORT_FILE
        click.secho(f"\ninterrupted: {exc}; the submission was stopped, report {report_path}", err=True)
        sys.exit(128 + exc.signum)
    if live:
        click.echo(err=True)
    color = "green" if report.status is Status.OK else "red"
    click.secho(f"{report.status}: {report.message}", fg=color, err=True)
    click.echo(
        f"engine {report.engine}, {report.wall_s or 0:.1f}s; report {settings.run_dir / RUN_REPORT_FILE}", err=True
    )
    if report.status is Status.ENGINE_ERROR:
        sys.exit(EXIT_ORGANIZER)
    if report.status is not Status.OK:
        sys.exit(EXIT_PARTICIPANT)


@main.command(context_settings={"show_default": True})
@click.option(
    "--submission",
    "submission_dir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=PROJECT_ROOT,
    show_default="the project root",
    help="The participant's checkout: what contracts/submitted_files.txt names is checked.",
)
@click.option(
    "--dimension",
    type=click.IntRange(min=1),
    default=None,
    show_default="any",
    help="The references' descriptor dimension the models and the output must have.",
)
def check(submission_dir: Path, dimension: int | None) -> None:
    """Check a submission against the contract, as the pipeline's first stage does (well under a minute).

    The declared files are there; models/manifest.json records the models as they are; the
    Python files are Python 3.8 (vermin); every models/*.onnx loads and runs on the image's
    onnxruntime 1.16 with the contract's signature; solution.py turns a few tiny tracks
    into output that passes the output contract. The models and solution.py run only
    inside the runner's bwrap sandbox, on .venv-image. Exit code: 0 passed; 1 the
    submission has problems (each printed with its fix); 3 the check could not run.
    """
    try:
        result = check_submission(submission_dir.resolve(), dimension, step=lambda line: click.echo(line, err=True))
    except RunnerError as exc:
        click.secho(f"the check could not run (the organizers' side): {exc}", fg="red", err=True)
        sys.exit(EXIT_ORGANIZER)
    if result.problems:
        click.secho(f"\n{len(result.problems)} problem(s) to fix before the submission is run:", fg="red", err=True)
        for problem in result.problems:
            click.echo(f"- {problem}", err=True)
        sys.exit(EXIT_PARTICIPANT)
    click.secho("the submission passes the check", fg="green", err=True)


@main.command("prune-runs")
@click.option(
    "--runs",
    "team_dir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    required=True,
    help="One team's folder of runs (RUNS_DIR/<team>), each run a folder holding run.json.",
)
@click.option("--keep", type=int, default=20, show_default=True, help="How many of the newest finished runs stay.")
@click.option("--days", type=float, default=None, help="Also remove finished runs older than this many days.")
def prune(team_dir: Path, keep: int, days: float | None) -> None:
    """Remove a team's finished runs beyond the KEEP newest (and older than DAYS); runs in progress stay."""
    try:
        pruned = prune_runs(team_dir, keep, days)
    except (ValueError, OSError) as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"{team_dir}: {len(pruned.removed)} run(s) removed, {len(pruned.kept)} kept")
