"""`python -m challenge`: the live challenge's organizer commands over the results store.

Only parses options and prints; the work lives in store.py, rules.py, jobs.py and board.py.
Every failure is one `Error:` line; a refused submission exits 1 with its reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import click

from challenge.board import render_csv, render_html, render_json, table
from challenge.jobs import admit, record_end, record_run, rescore, team_note
from challenge.rules import quota
from challenge.store import PickError, Store, StoreError, open_store
from contracts.competition import Competition, load_competition
from contracts.errors import ChallengeError, ConfigError
from contracts.exits import OrganizerFault, ParticipantFault, fault_exception
from pipeline.mr_note import NotePostError, notes_url, post_note
from pipeline.public_score import NotPublicOnlyError, load_public_score

STORE_HELP = "The results store: an SQLite file (made if absent) or a postgresql:// URL (env CHALLENGE_STORE)."


@contextmanager
def _opened(url: str) -> Iterator[Store]:
    try:
        store = open_store(url)
    except StoreError as exc:
        raise OrganizerFault(str(exc)) from None
    try:
        yield store
    except ChallengeError as exc:
        raise fault_exception(exc) from None
    finally:
        store.close()


def _competition(path: Path) -> Competition:
    try:
        return load_competition(path)
    except ConfigError as exc:
        raise OrganizerFault(str(exc)) from None


store_option = click.option("--store", "store_url", required=True, envvar="CHALLENGE_STORE", help=STORE_HELP)
config_option = click.option(
    "--config", required=True, type=click.Path(path_type=Path), help="competition.yaml (phases, submissions, metric)."
)
pipeline_option = click.option("--pipeline", required=True, help="The pipeline id: one pipeline, one submission.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """The live challenge: admit, record and rank submissions in the results store (organizers only)."""


@main.command("admit")
@store_option
@config_option
@pipeline_option
@click.option("--team", required=True, help="The team: its project path.")
@click.option("--merge-request", required=True, help="The merge request's iid.")
@click.option("--commit", required=True, help="The commit's SHA.")
def admit_command(store_url: str, config: Path, pipeline: str, team: str, merge_request: str, commit: str) -> None:
    """Record a new submission and admit it, or refuse it (exit 1) before the competition, after it, or over quota.

    The quota: submissions.per_day scored submissions in any 24 hours; runs that failed by
    the organizers' fault and refused ones do not count.
    """
    competition = _competition(config)
    with _opened(store_url) as store:
        record, admitted = admit(store, competition, team, merge_request, commit, pipeline)
        if not admitted:
            raise ParticipantFault(f"submission refused: {record.reason}")
        state = quota(store.records(team), store.clock(), competition.submissions.per_day)
    left = "no daily quota" if state.left is None else f"{state.left} of {state.per_day} left in the last 24 hours"
    click.echo(f"submission admitted ({left})")


@main.command("record")
@store_option
@pipeline_option
@click.option("--run", "run_dir", required=True, type=click.Path(path_type=Path), help="The run's folder (run.json).")
@click.option("--score", "score_path", required=True, type=click.Path(path_type=Path), help="The full score.json.")
@click.option(
    "--keep",
    "keep_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Organizer-side folder for the descriptors.",
)
def record_command(store_url: str, pipeline: str, run_dir: Path, score_path: Path, keep_dir: Path) -> None:
    """Record how the run of PIPELINE ended and, when it ran ok, its public and private scores. Prints no score."""
    with _opened(store_url) as store:
        record = record_run(store, pipeline, run_dir, score_path, keep_dir)
    if record is None:
        click.echo(f"pipeline {pipeline} was never admitted (an earlier job failed): nothing to record")
    else:
        click.echo(f"recorded pipeline {pipeline}: {record.status}")


@main.command("note")
@store_option
@config_option
@pipeline_option
@click.option(
    "--team", default=None, help="The team (its project path), for its quota when the pipeline has no record."
)
@click.option("--score", "score_path", type=click.Path(path_type=Path), help="The public-only score.json, if any.")
@click.option(
    "--run",
    "run_dir",
    type=click.Path(path_type=Path),
    help="The run's folder: a run whose end is not recorded yet (the pipeline stopped early) is recorded from it.",
)
@click.option("--token", envvar="MR_NOTE_TOKEN", default=None, help="Project access token (api scope, Reporter).")
@click.option("--api-url", envvar="CI_API_V4_URL", default=None, help="GitLab's API root.")
@click.option("--project", envvar="CI_PROJECT_ID", default=None, help="The project id.")
@click.option("--merge-request", envvar="CI_MERGE_REQUEST_IID", default=None, help="The merge request's iid.")
@click.option("--pipeline-url", envvar="CI_PIPELINE_URL", default=None, help="Linked from the note.")
def note_command(
    store_url: str,
    config: Path,
    pipeline: str,
    team: str | None,
    score_path: Path | None,
    run_dir: Path | None,
    token: str | None,
    api_url: str | None,
    project: str | None,
    merge_request: str | None,
    pipeline_url: str | None,
) -> None:
    """Post the team's note on its merge request: status, public score, earlier public scores, quota left.

    Without a token, print the note it would post. Only public numbers are read. A note that
    GitLab refuses or cannot take, or a token outside a merge request pipeline, is the
    organizers' fault: one `Error:` line and exit code 3.
    """
    competition = _competition(config)
    public = None
    if score_path is not None and score_path.exists():
        try:
            public = load_public_score(score_path)
        except NotPublicOnlyError as exc:
            raise OrganizerFault(str(exc)) from None
    with _opened(store_url) as store:
        if run_dir is not None:
            record_end(store, pipeline, run_dir)
        body = team_note(store, competition, pipeline, public, team, pipeline_url)
    if not token:
        click.echo("MR_NOTE_TOKEN is not set: no note is posted. The note would be:\n")
        click.echo(body, nl=False)
        return
    if not (api_url and project and merge_request):
        raise OrganizerFault(
            "a merge request pipeline must set CI_API_V4_URL, CI_PROJECT_ID and CI_MERGE_REQUEST_IID; "
            "run this job only on merge_request_event"
        )
    try:
        note_id = post_note(notes_url(api_url, project, merge_request), token, body)
    except NotePostError as exc:
        raise OrganizerFault(str(exc)) from None
    click.echo(f"posted note {note_id} on merge request !{merge_request}:\n")
    click.echo(body, nl=False)


@main.command("pick")
@store_option
@config_option
@pipeline_option
@click.option("--team", required=True, help="The team picking (its project path): only its own submissions.")
@click.option("--unpick", is_flag=True, help="Withdraw the pick instead.")
def pick_command(store_url: str, config: Path, pipeline: str, team: str, unpick: bool) -> None:
    """Use the submission of PIPELINE as one of TEAM's finals (up to submissions.final, until phases.end)."""
    competition = _competition(config)
    with _opened(store_url) as store:
        owner = store.record(pipeline).team
        if owner != team:
            raise PickError(f"pipeline {pipeline} is a submission of {owner}, not of {team}: pick your own")
        if unpick:
            picked = store.unpick(pipeline, competition.phases.end)
        else:
            picked = store.set_pick(pipeline, competition.submissions.final, competition.phases.end)
    chosen = ", ".join(f"pipeline {r.pipeline} ({r.commit[:8]})" for r in picked) or "none"
    click.echo(f"final submissions ({len(picked)} of {competition.submissions.final}): {chosen}")


@main.command("leaderboard")
@store_option
@config_option
@click.option("--out", required=True, type=click.Path(path_type=Path), help="The file to write.")
@click.option("--format", "form", type=click.Choice(["html", "csv", "json"]), default="html", show_default=True)
@click.option("--title", default="Leaderboard", show_default=True)
@click.option("--baseline", default=None, help="The organizers' team, whose row is marked as the baseline.")
def leaderboard_command(store_url: str, config: Path, out: Path, form: str, title: str, baseline: str | None) -> None:
    """Write the leaderboard: best public score per team while running; after phases.end, the final picks by private."""
    competition = _competition(config)
    with _opened(store_url) as store:
        now = store.clock()
        rows, final = table(store.records(), store.picks(), competition, now, baseline)
    fpr = competition.metric.primary_fpr
    if form == "html":
        text = render_html(rows, fpr, final, title, now)
    elif form == "csv":
        text = render_csv(rows, fpr, final)
    else:
        text = render_json(rows, fpr, final)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise OrganizerFault(f"the leaderboard must go to a writable path, {out} is not: {exc.strerror}") from None
    click.echo(f"wrote {out}: {len(rows)} teams, {'final (private)' if final else 'running (public)'}")


@main.command("rescore")
@store_option
@config_option
@click.option("--gt", "gt_dir", required=True, type=click.Path(path_type=Path), help="The (new) gt/ folder.")
def rescore_command(store_url: str, config: Path, gt_dir: Path) -> None:
    """Score every stored submission again against GT (a new label, a fixed reference); the leaderboard follows."""
    metric = _competition(config).metric
    with _opened(store_url) as store:
        done = rescore(store, gt_dir, metric)
    click.echo(f"rescored {len(done)} submissions")


@main.command("clock")
@store_option
@click.option("--set", "instant", default=None, help="Pin the store's clock to this UTC time (ISO 8601).")
@click.option("--wall", is_flag=True, help="Back to the wall clock.")
def clock_command(store_url: str, instant: str | None, wall: bool) -> None:
    """Show the store's clock, or pin it for a rehearsal (--set 2019-05-20T10:00:00Z), or free it (--wall)."""
    with _opened(store_url) as store:
        if instant is not None:
            try:
                pinned = datetime.fromisoformat(instant)
            except ValueError:
                raise click.ClickException(
                    f"--set must be an ISO 8601 time like 2019-05-20T10:00:00Z, got {instant}"
                ) from None
            store.set_clock(pinned if pinned.tzinfo else pinned.replace(tzinfo=UTC))
        elif wall:
            store.set_clock(None)
        click.echo(f"the store's clock: {store.clock().isoformat()}")
