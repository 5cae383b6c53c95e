"""What every engine is: a name, whether it isolates, how it starts a submission (`Launch`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from submission.settings import EngineName, RunSettings

#: The folder of the run's scratch space that holds the staged submission.
STAGED_SUBMISSION = "submission"


@dataclass(frozen=True)
class Launch:
    """How to start the submission: the argv, its environment and folder, the container's name,
    and what the child runs before exec (after entering the run's cgroup)."""

    argv: list[str]
    env: dict[str, str] | None
    cwd: Path | None
    container: str | None
    setup: Callable[[], None] | None = None


class Engine:
    """One way to run a submission. Subclasses fill in `unavailable` and `launch`."""

    name: EngineName
    isolated = True
    #: True when the runner itself puts the started process into the run's cgroup.
    enters_cgroup = True

    def unavailable(self, settings: RunSettings) -> str | None:
        """Return None when this engine can run `settings` here, else why not and the fix."""
        raise NotImplementedError

    def launch(self, settings: RunSettings, cgroup_path: str | None, run_name: str, scratch: Path) -> Launch:
        """Return how to start the submission under this engine.

        `scratch` is the run's private folder: the staged submission is in
        `scratch / STAGED_SUBMISSION`, and the engine may add what it needs.
        """
        raise NotImplementedError

    def stop(self, run_name: str, signal_name: str) -> None:
        """Send a signal to the run through the engine (only containers need it)."""


def environment(data: str, output: str) -> dict[str, str]:
    """Return the variables every engine gives the submission: where /data and /output are."""
    return {"DATA_DIR": data, "OUTPUT_DIR": output, "PYTHONUNBUFFERED": "1"}
