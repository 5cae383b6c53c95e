"""What one run needs to know: folders, engine, limits. Limits come from the command line,
then from the competition.yaml beside the data, then from the DevBattle profile."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from contracts.competition import DEVBATTLE, Competition, Gpus, competition_beside, load_competition
from contracts.names import OUTPUT_DIR, TRACKS_FILE
from contracts.tracks import read_track_ids
from submission.reporting.logs import DEFAULT_LOG_LIMIT

DEFAULT_COMMAND = ("python", "solution.py")


class EngineName(StrEnum):
    """The engines a run can ask for; AUTO lets the runner pick the best one available here."""

    AUTO = "auto"
    DOCKER = "docker"
    PODMAN = "podman"
    BWRAP = "bwrap"
    LOCAL = "local"


#: The --engine choices, as text (click shows an enum by its member names).
ENGINES = tuple(str(name) for name in EngineName)
#: The engines the organizers' pipeline may use (run --pipeline): never local, which isolates nothing.
PIPELINE_ENGINES = (EngineName.DOCKER, EngineName.PODMAN, EngineName.BWRAP)
# Seconds between SIGTERM and SIGKILL at the time limit.
GRACE_S = 5.0


@dataclass(frozen=True)
class RunSettings:
    """Everything `run_submission` needs; built by `resolve_settings`."""

    engine: EngineName
    data_dir: Path
    run_dir: Path
    submission_dir: Path
    image: str | None
    command: tuple[str, ...]
    time_limit_s: float
    cpus: float
    memory_bytes: int
    pids_limit: int
    gpus: Gpus
    shm_size_bytes: int
    log_limit_bytes: int
    #: The most bytes /output may hold (and one file per 64 KiB of it).
    output_limit_bytes: int
    #: The descriptor dimension the output must have; None leaves it to the scorer (it has gt).
    dim: int | None = None
    #: False when COMMAND was not given: containers then run the image's own command.
    command_given: bool = False
    grace_s: float = GRACE_S
    #: The most bytes of RUN_DIR/log.participant.txt, the log's view a participant reads.
    participant_log_bytes: int = DEVBATTLE.participant_log_bytes

    @property
    def output_dir(self) -> Path:
        """RUN_DIR/output, mounted read-write at /output."""
        return self.run_dir / OUTPUT_DIR


def resolve_settings(
    *,
    engine: EngineName | str,
    data_dir: Path,
    run_dir: Path,
    submission_dir: Path,
    image: str | None = None,
    command: tuple[str, ...] = (),
    time_limit_s: float | None = None,
    cpus: float | None = None,
    memory_bytes: int | None = None,
    pids_limit: int | None = None,
    gpus: Gpus | str | None = None,
    shm_size_bytes: int | None = None,
    log_limit_bytes: int | None = None,
    output_limit_bytes: int | None = None,
    dim: int | None = None,
    grace_s: float = GRACE_S,
) -> RunSettings:
    """Fill every unset limit from competition.yaml beside `data_dir`, else the DevBattle profile.

    Raises ConfigError when that competition.yaml is invalid, RunnerError when tracks.csv
    is empty or malformed, and ValueError when `data_dir` is not a test folder or when
    options are out of range (every such problem, one a line).
    """
    data_dir = data_dir.resolve()
    if not (data_dir / TRACKS_FILE).is_file():
        raise ValueError(f"--data must be a test folder holding {TRACKS_FILE}, got {data_dir}")
    # A broken tracks.csv is the organizer's problem: say so before the submission runs.
    read_track_ids(data_dir / TRACKS_FILE)
    competition: Competition = load_competition(competition_beside(data_dir))
    hardware = competition.hardware
    problems: list[str] = []
    if gpus is not None:
        try:
            gpus = Gpus(gpus)
        except ValueError:
            problems.append(f"--gpus must be all, none or a number, got {gpus}")
            gpus = None
    settings = RunSettings(
        engine=EngineName(engine),
        data_dir=data_dir,
        # Not resolved: a RUN_DIR that is or passes through a link must be seen, and refused (rundir.py).
        run_dir=Path(os.path.abspath(run_dir)),
        submission_dir=submission_dir.resolve(),
        image=image,
        command=command or DEFAULT_COMMAND,
        time_limit_s=competition.time_limit_s if time_limit_s is None else time_limit_s,
        cpus=hardware.cpus if cpus is None else cpus,
        memory_bytes=hardware.memory_bytes if memory_bytes is None else memory_bytes,
        pids_limit=hardware.pids_limit if pids_limit is None else pids_limit,
        gpus=hardware.gpus if gpus is None else gpus,
        shm_size_bytes=hardware.shm_size_bytes if shm_size_bytes is None else shm_size_bytes,
        log_limit_bytes=DEFAULT_LOG_LIMIT if log_limit_bytes is None else log_limit_bytes,
        output_limit_bytes=hardware.output_limit_bytes if output_limit_bytes is None else output_limit_bytes,
        dim=dim,
        command_given=bool(command),
        grace_s=grace_s,
        participant_log_bytes=competition.participant_log_bytes,
    )
    problems += _problems(settings)
    if problems:
        raise ValueError("\n".join(problems))
    return settings


def _problems(settings: RunSettings) -> list[str]:
    rules = [
        (settings.time_limit_s > 0, f"--time-limit must be positive, got {settings.time_limit_s}"),
        (settings.cpus > 0, f"--cpus must be positive, got {settings.cpus}"),
        (settings.memory_bytes >= 16 * 1024**2, f"--memory must be at least 16m, got {settings.memory_bytes} bytes"),
        (settings.pids_limit >= 8, f"--pids-limit must be at least 8, got {settings.pids_limit}"),
        (settings.log_limit_bytes >= 4096, f"--log-limit must be at least 4k, got {settings.log_limit_bytes} bytes"),
        (
            settings.output_limit_bytes >= 16 * 1024**2,
            f"--output-limit must be at least 16m, got {settings.output_limit_bytes} bytes",
        ),
        (settings.dim is None or settings.dim > 0, f"--dim must be positive, got {settings.dim}"),
        (settings.submission_dir.is_dir(), f"--submission must be a folder, got {settings.submission_dir}"),
    ]
    return [message for holds, message in rules if not holds]


def host_has_gpu() -> bool:
    """True when an NVIDIA GPU device node exists on this host."""
    return bool(glob.glob("/dev/nvidia[0-9]*"))
