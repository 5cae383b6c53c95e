"""How a finished run is judged: a table of rules, walked in order, the first that applies decides.

Order matters: a container the engine never started is the engine's failure (unless the
image's own command cannot be run: docker's and podman's 126 and 127); a run killed at
the limit is a timeout even if memory ran out on the way; an OOM kill and a full /output
explain a non-zero exit; only a clean exit has its output checked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from contracts.descriptors import not_a_regular_file, read_descriptors
from contracts.errors import InvalidOutputError
from contracts.names import DESCRIPTORS_FILE, TRACKS_FILE
from contracts.status import Status
from contracts.tracks import read_track_ids
from contracts.units import format_size
from submission.engines.base import Engine
from submission.engines.container import ContainerEngine
from submission.isolation.output_volume import OutputUsage, Skipped, inode_limit
from submission.settings import RunSettings
from submission.supervise import ProcessResult

# docker and podman exit with 126 (not executable) or 127 (not found) when the image's
# command cannot be run: the image is the participant's. 125 is the engine's own failure.
IMAGE_COMMAND_FAILED = (126, 127)

Verdict = tuple[Status, str]


@dataclass(frozen=True)
class Evidence:
    """What a finished run left to judge it by.

    `skipped` is what the output volume left out (OutputVolume.collect), by path;
    `stderr_tail` the submission's last stderr lines, joined; `tracks` the (done, total)
    of the submission's last progress.json, when it wrote a sensible one.
    """

    settings: RunSettings
    engine: Engine
    result: ProcessResult
    oom_kills: int
    usage: OutputUsage | None
    skipped: dict[str, Skipped]
    stderr_tail: str
    tracks: tuple[int, int] | None = None


def _container_never_started(evidence: Evidence) -> Verdict | None:
    result = evidence.result
    if not isinstance(evidence.engine, ContainerEngine) or (result.container and result.container.started):
        return None
    reason = (result.container.error if result.container else "") or evidence.stderr_tail or "it gave no reason"
    if result.exit_code in IMAGE_COMMAND_FAILED:
        return Status.FAILED, f"the image's command could not be run (exit code {result.exit_code}): {reason}"
    return (
        Status.ENGINE_ERROR,
        f"{evidence.engine.name} could not start the container: {reason}; the submission never ran",
    )


def _timed_out(evidence: Evidence) -> Verdict | None:
    if not evidence.result.timed_out:
        return None
    if evidence.tracks:
        done, total = evidence.tracks
        how_far = f"; it had done {done} of {total} tracks (its progress.json)"
    else:
        how_far = "; it wrote no progress.json saying how far it got"
    return Status.TIMEOUT, (
        f"the submission did not finish within the time limit of {evidence.settings.time_limit_s:g}s and was "
        f"stopped{how_far}; its output is not scored"
    )


def _out_of_memory(evidence: Evidence) -> Verdict | None:
    if not evidence.oom_kills:
        return None
    return Status.OOM, (
        f"the submission ran out of memory: the kernel killed {evidence.oom_kills} process(es) at the "
        f"{format_size(evidence.settings.memory_bytes)} limit"
    )


def _output_full(evidence: Evidence) -> Verdict | None:
    if not (evidence.usage and evidence.usage.full):
        return None
    limit = evidence.settings.output_limit_bytes
    return Status.INVALID_OUTPUT, (
        f"the output is invalid: /output reached its limit of {format_size(limit)} "
        f"or {inode_limit(limit)} files (--output-limit); write descriptors.npz and small reports only"
    )


def _non_zero_exit(evidence: Evidence) -> Verdict | None:
    exit_code = evidence.result.submission_exit_code
    if exit_code == 0:
        return None
    tail = evidence.stderr_tail
    return Status.FAILED, f"the submission exited with code {exit_code}" + (
        f"; last stderr lines: {tail}" if tail else "; it wrote nothing on stderr"
    )


def _descriptors_left_out(evidence: Evidence) -> Verdict | None:
    kind = evidence.skipped.get(DESCRIPTORS_FILE)
    if kind is None:
        return None
    if kind in (Skipped.LINK, Skipped.NOT_REGULAR):
        problem = not_a_regular_file(DESCRIPTORS_FILE, kind is Skipped.LINK)
        return Status.INVALID_OUTPUT, f"the output is invalid: {problem}"
    return Status.INVALID_OUTPUT, f"the output is invalid: {DESCRIPTORS_FILE} is {kind}; write a plain .npz file"


def _output_contract(evidence: Evidence) -> Verdict:
    settings = evidence.settings
    try:
        expected = read_track_ids(settings.data_dir / TRACKS_FILE)
        descriptors = read_descriptors(settings.output_dir / DESCRIPTORS_FILE, expected, settings.dim)
    except InvalidOutputError as exc:
        return Status.INVALID_OUTPUT, f"the output is invalid: {exc}"
    return Status.OK, (
        f"the submission wrote {descriptors.track_id.size} descriptors of dimension "
        f"{descriptors.descriptor.shape[1]} in {evidence.result.wall_s:.1f}s"
    )


#: The rules in the order they are tried, each with what it looks at. The last always decides.
RULES: tuple[tuple[str, Callable[[Evidence], Verdict | None]], ...] = (
    ("the container never started", _container_never_started),
    ("killed at the time limit", _timed_out),
    ("the kernel killed a process for memory", _out_of_memory),
    ("/output reached its limit", _output_full),
    ("a non-zero exit code", _non_zero_exit),
    ("descriptors.npz left out of the copy", _descriptors_left_out),
    ("the output contract", _output_contract),
)


def judge_evidence(evidence: Evidence) -> Verdict:
    """Return the status and one-sentence message of the first rule of RULES that applies."""
    for _, rule in RULES:
        verdict = rule(evidence)
        if verdict is not None:
            return verdict
    raise AssertionError("the last rule always decides")
