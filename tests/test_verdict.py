"""The judge's rules as a table: walked in order, the first rule that applies decides.

For each rule, a run where it and every later rule apply, and no earlier one, must get
that rule's status and message: so the order of verdict.RULES is the order tested here.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from contracts.names import DESCRIPTORS_FILE
from contracts.status import Status
from submission.engines import make_engine
from submission.engines.container import ContainerState
from submission.isolation.output_volume import OutputUsage, Skipped
from submission.settings import resolve_settings
from submission.supervise import ProcessResult
from submission.verdict import RULES, Evidence, judge_evidence

#: Each rule of RULES, in order: what makes it apply, and the verdict it gives (status, message start).
TABLE = [
    ("the container never started", Status.ENGINE_ERROR, "docker could not start the container: "),
    ("killed at the time limit", Status.TIMEOUT, "the submission did not finish within the time limit of 900s"),
    ("the kernel killed a process for memory", Status.OOM, "the submission ran out of memory: the kernel killed 2"),
    ("/output reached its limit", Status.INVALID_OUTPUT, "the output is invalid: /output reached its limit"),
    ("a non-zero exit code", Status.FAILED, "the submission exited with code 3"),
    ("descriptors.npz left out of the copy", Status.INVALID_OUTPUT, "the output is invalid: descriptors.npz"),
    ("the output contract", Status.INVALID_OUTPUT, "the output is invalid: "),
]


def _evidence(dataset: Path, run_dir: Path, first: int) -> Evidence:
    """A docker run where rules `first`.. of TABLE apply and none before them does."""
    settings = resolve_settings(
        engine="docker", data_dir=dataset / "test", run_dir=run_dir, submission_dir=run_dir, image="x"
    )
    applies = [index >= first for index in range(len(TABLE))]
    state = ContainerState(started=not applies[0], exit_code=3 if applies[4] else 0, oom_killed=False, error="")
    result = ProcessResult(3 if applies[4] else 0, applies[1], 1.0, "", "", 0, container=state)
    return Evidence(
        settings=settings,
        engine=make_engine("docker"),
        result=result,
        oom_kills=2 if applies[2] else 0,
        usage=OutputUsage(bytes_used=1, files=1, full=applies[3]),
        skipped={DESCRIPTORS_FILE: Skipped.LINK} if applies[5] else {},
        stderr_tail="",
    )


def test_the_table_names_every_rule_in_order() -> None:
    assert [name for name, _ in RULES] == [name for name, _, _ in TABLE]


@pytest.mark.parametrize("first", range(len(TABLE)), ids=[name for name, _, _ in TABLE])
def test_the_first_rule_that_applies_decides(first: int, dataset: Path, tmp_path: Path) -> None:
    (tmp_path / "output").mkdir()
    status, message = judge_evidence(_evidence(dataset, tmp_path, first))
    _, expected_status, expected_start = TABLE[first]
    assert status is expected_status
    assert message.startswith(expected_start), message


def test_no_rule_applies_to_a_clean_run_with_valid_output(dataset: Path, tmp_path: Path) -> None:
    evidence = _evidence(dataset, tmp_path, len(TABLE) - 1)
    ids = np.loadtxt(dataset / "test" / "tracks.csv", delimiter=",", skiprows=1, usecols=0, dtype=np.int64)
    (tmp_path / "output").mkdir()
    np.savez(
        tmp_path / "output" / DESCRIPTORS_FILE,
        track_id=np.unique(ids),
        descriptor=np.ones((np.unique(ids).size, 8), dtype=np.float32),
    )
    status, message = judge_evidence(dataclasses.replace(evidence, usage=None))
    assert status is Status.OK
    assert message == f"the submission wrote {np.unique(ids).size} descriptors of dimension 8 in 1.0s"
