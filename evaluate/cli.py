"""The `python -m evaluate` command group. Each command lives in its own cli_*.py module."""
import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Organizer tools: score a submission, make and check challenge data."""
