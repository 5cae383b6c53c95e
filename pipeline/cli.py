"""`python -m pipeline`: the public reports of the score job and the settings file of a local pipeline run."""

from __future__ import annotations

from pathlib import Path

import click

from contracts.exits import OrganizerFault
from pipeline.organizer_settings import SETTINGS_FILE, write_local_pipeline
from pipeline.public_score import NotPublicOnlyError, PublicScore, dotenv_text, junit_text, load_public_score


def _load(path: Path) -> PublicScore:
    try:
        return load_public_score(path)
    except NotPublicOnlyError as exc:
        raise OrganizerFault(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Pipeline helpers that only ever see the public score."""


@main.command("reports")
@click.option("--score", "score_path", required=True, type=click.Path(path_type=Path), help="Public-only score.json.")
@click.option("--dotenv", required=True, type=click.Path(path_type=Path), help="Where the dotenv report goes.")
@click.option("--junit", required=True, type=click.Path(path_type=Path), help="Where the JUnit report goes.")
def reports(score_path: Path, dotenv: Path, junit: Path) -> None:
    """Write the dotenv and JUnit reports of a public-only score.json."""
    score = _load(score_path)
    dotenv.write_text(dotenv_text(score), encoding="utf-8")
    junit.write_text(junit_text(score), encoding="utf-8")
    click.echo(dotenv_text(score), nl=False)


@main.command("local-pipeline")
@click.option("--ci-file", type=click.Path(path_type=Path, dir_okay=False, exists=True), default=".gitlab-ci.yml")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), required=True)
@click.option("--tools", required=True, help="ORGANIZER_TOOLS: the organizers' checkout with its .venv.")
@click.option("--data", "data_dir", required=True, type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--engine", default="bwrap", show_default=True, help="SUBMISSION_ENGINE.")
@click.option("--runs", required=True, help="RUNS_DIR.")
@click.option("--scores", required=True, help="SCORES_DIR.")
@click.option("--store", required=True, help="CHALLENGE_STORE: an SQLite file or a postgresql:// URL.")
@click.option("--dimension", required=True, help="DESCRIPTOR_DIM: the references' dimension, for the check stage.")
@click.option("--keep", default="20", show_default=True, help="RUNS_KEEP: finished runs kept per team.")
def local_pipeline(
    ci_file: Path,
    out_dir: Path,
    tools: str,
    data_dir: Path,
    engine: str,
    runs: str,
    scores: str,
    store: str,
    dimension: str,
    keep: str,
) -> None:
    """Write OUT/pipeline.env and OUT/gitlab-ci.yml, a copy of CI_FILE reading it, for gitlab-ci-local.

    On GitLab the jobs read the runner host's fixed settings file instead; see pipeline/organizer_settings.py.
    """
    data = data_dir.resolve()
    values = {
        "ORGANIZER_TOOLS": tools,
        "SUBMISSION_ENGINE": engine,
        "CHALLENGE_TEST": str(data / "test"),
        "CHALLENGE_CONFIG": str(data / "competition.yaml"),
        "RUNS_DIR": runs,
        "RUNS_KEEP": keep,
        "CHALLENGE_GT": str(data / "gt"),
        "SCORES_DIR": scores,
        "CHALLENGE_STORE": store,
        "DESCRIPTOR_DIM": dimension,
    }
    try:
        copy = write_local_pipeline(ci_file, out_dir, values)
    except ValueError as exc:
        raise OrganizerFault(str(exc)) from None
    click.echo(f"wrote {copy}: {SETTINGS_FILE} replaced by {out_dir / 'pipeline.env'}")
