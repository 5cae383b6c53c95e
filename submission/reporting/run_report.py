"""The run report, RUN_DIR/run.json: written for every run, whatever happened."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from contracts.names import RUN_REPORT_FILE
from contracts.status import RUN_REPORT_FIELDS, Fault, Status
from submission.rundir import RunFiles


@dataclass
class RunReport:
    """What run.json holds: the contract's fields (contracts.status.RUN_REPORT_FIELDS) and a few more.

    `fault` says whose problem a non-ok run is: "participant" or "organizer" (engine_error).
    `clock` says when the time limit started counting. `limits` and `command` let a person
    rerun the submission by hand; `cgroup` names the run's cgroup (removed after the run).
    `output_bytes` and `output_files` say what the submission left in /output.
    `organizer_warnings` lists what the cleanup after the run could not do (a process that
    survived SIGKILL, an output that could not be copied out): the status stands, the
    organizer has something to look at.
    """

    status: Status
    message: str
    exit_code: int | None = None
    wall_s: float | None = None
    time_limit_s: float | None = None
    peak_memory_bytes: int | None = None
    engine: str | None = None
    image: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    log_path: str | None = None
    log_truncated: bool = False
    execution_provider: str = "unknown"
    fault: Fault | None = None
    clock: str = "starts when the engine starts the submission; image build and pull are not counted"
    data_dir: str | None = None
    output_dir: str | None = None
    command: list[str] = field(default_factory=list)
    limits: dict[str, Any] = field(default_factory=dict)
    cgroup: str | None = None
    output_bytes: int | None = None
    output_files: int | None = None
    organizer_warnings: list[str] = field(default_factory=list)
    #: The run's id: its record while it runs (isolation/leftovers.py), and how a later runner
    #: start knows this run.json is the one a killed runner left.
    run_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the report as a JSON object, the contract's fields first."""
        document = asdict(self)
        document["status"] = str(self.status)
        if self.fault is None and self.status is not Status.OK:
            document["fault"] = Fault.ORGANIZER if self.status is Status.ENGINE_ERROR else Fault.PARTICIPANT
        ordered = {key: document.pop(key) for key in RUN_REPORT_FIELDS}
        ordered.update(document)
        return ordered


def write_report(files: RunFiles, report: RunReport) -> Path:
    """Write RUN_DIR/run.json atomically, never through a link; return its path."""
    return files.write_atomically(RUN_REPORT_FILE, (json.dumps(report.to_json(), indent=2) + "\n").encode())
