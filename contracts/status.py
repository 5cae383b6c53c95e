"""The states a run can end in, and the fields of the run report (`run.json`)."""

from enum import StrEnum
from typing import Final


class Status(StrEnum):
    """How a run ended. Only `OK` output is ever scored.

    `ENGINE_ERROR` is the organizer's side (sandbox missing, image absent); every other
    non-OK state is the participant's.
    """

    OK = "ok"
    TIMEOUT = "timeout"
    FAILED = "failed"
    OOM = "oom"
    INVALID_OUTPUT = "invalid_output"
    ENGINE_ERROR = "engine_error"


class Fault(StrEnum):
    """Whose problem a run that is not OK is: run.json's `fault`."""

    PARTICIPANT = "participant"
    ORGANIZER = "organizer"


RUN_REPORT_FIELDS: Final[tuple[str, ...]] = (
    "status",
    "exit_code",
    "wall_s",
    "time_limit_s",
    "peak_memory_bytes",
    "engine",
    "image",
    "started_at",
    "finished_at",
    "log_path",
    "log_truncated",
    "execution_provider",
    "message",
)
