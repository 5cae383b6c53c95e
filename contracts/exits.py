"""The exit codes of every command line of the project, by whose fault a failure is.

1: the participant's (their output, their image, a run of theirs that did not end ok);
2: a bad invocation (click's own usage errors); 3: the organizer's (an engine, data,
ground truth, a config, a folder). CI jobs and scripts tell the two faults apart by it.
"""

from __future__ import annotations

import click

from contracts.errors import ChallengeError, SubmissionError

EXIT_PARTICIPANT = 1
EXIT_USAGE = 2
EXIT_ORGANIZER = 3


class ParticipantFault(click.ClickException):
    """The participant's problem: one `Error:` line and exit code 1."""

    exit_code = EXIT_PARTICIPANT


class OrganizerFault(click.ClickException):
    """The organizer's problem: one `Error:` line and exit code 3."""

    exit_code = EXIT_ORGANIZER


def fault_exception(error: ChallengeError) -> click.ClickException:
    """Return the click exception for `error`: ParticipantFault for a SubmissionError, else OrganizerFault."""
    kind = ParticipantFault if isinstance(error, SubmissionError) else OrganizerFault
    return kind(str(error))
