"""`python -m evaluate leaderboard`: render the static leaderboard page from a folder of score.json files."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from contracts.exits import OrganizerFault
from evaluate.leaderboard import LeaderboardError, best_per_team, collect_entries, render_html


@click.command("leaderboard")
@click.option(
    "--scores",
    "scores_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder of SCORES/<team>/<submission>/score.json files.",
)
@click.option("--out", required=True, type=click.Path(path_type=Path), help="The HTML page to write.")
@click.option(
    "--competition-ended/--competition-running",
    envvar="COMPETITION_ENDED",
    default=False,
    show_default=True,
    help="Show the private score and rank by it (env COMPETITION_ENDED=true).",
)
@click.option("--title", default="Leaderboard", show_default=True)
def leaderboard(scores_dir: Path, out: Path, competition_ended: bool, title: str) -> None:
    """Write the leaderboard: each team's best submission with its public score and date.

    The private column appears only with --competition-ended (or COMPETITION_ENDED=true).
    """
    try:
        entries = best_per_team(collect_entries(scores_dir), by_private=competition_ended)
    except LeaderboardError as exc:
        raise OrganizerFault(str(exc)) from None
    page = render_html(entries, show_private=competition_ended, title=title, generated_at=datetime.now(UTC))
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise OrganizerFault(f"the page must go to a writable path, {out} is not: {exc.strerror}") from None
    shown = "public and private" if competition_ended else "public"
    click.echo(f"wrote {out}: {len(entries)} teams, {shown} scores")
