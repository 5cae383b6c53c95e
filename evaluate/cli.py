"""The `python -m evaluate` command group. Each command lives in its own cli_*.py module."""

import click

from evaluate.cli_data import check_data, make_data
from evaluate.cli_mcs2019 import import_mcs2019_command, make_mcs2019_replica
from evaluate.cli_score import score
from evaluate.cli_validate import validate_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Organizer tools: score a submission, make and check challenge data; validate an aggregator on train."""


main.add_command(score)
main.add_command(validate_command)
main.add_command(make_data)
main.add_command(check_data)
main.add_command(import_mcs2019_command)
main.add_command(make_mcs2019_replica)
