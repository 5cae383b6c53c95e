"""contracts/competition.py: competition.yaml with defaults, and every problem reported with its field path."""

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from contracts.competition import (
    DEVBATTLE,
    Competition,
    Hardware,
    Metric,
    Phases,
    Submissions,
    competition_beside,
    load_competition,
    write_competition,
)
from contracts.errors import ConfigError, RunnerError
from contracts.names import COMPETITION_FILE, TEST_DIR


def config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / COMPETITION_FILE
    path.write_text(text)
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_competition(path)
    assert str(caught.value) == f"{path} is invalid: " + "; ".join(caught.value.problems)
    return caught.value.problems


def test_no_file_means_devbattle():
    assert load_competition(None) == DEVBATTLE == Competition()
    assert DEVBATTLE.metric == Metric(similarity="euclidean", fpr=(1e-6, 1e-5, 1e-4), primary_fpr=1e-6)
    assert DEVBATTLE.time_limit_s == 900


@pytest.mark.parametrize("text", ["", "# nothing\n", "hardware:\nmetric:\n"])
def test_empty_file_and_sections_mean_devbattle(tmp_path, text):
    assert load_competition(config(tmp_path, text)) == DEVBATTLE


def test_full_file(tmp_path):
    path = config(
        tmp_path,
        """
name: demo
time_limit_s: 60
hardware: {cpus: 2, memory: 8g, gpus: none, pids_limit: 256, shm_size: 512m, output_limit: 64m}
metric:
  similarity: cosine
  fpr: [1e-4, 1.0e-3, 1e-4, 0.01]
  primary_fpr: 1e-3
  primary_subset: private
""",
    )
    assert load_competition(path) == Competition(
        name="demo",
        time_limit_s=60.0,
        hardware=Hardware(
            cpus=2.0,
            memory_bytes=8 * 1024**3,
            gpus="none",
            pids_limit=256,
            shm_size_bytes=512 * 1024**2,
            output_limit_bytes=64 * 1024**2,
        ),
        metric=Metric(similarity="cosine", fpr=(1e-4, 1e-3, 0.01), primary_fpr=1e-3, primary_subset="private"),
    )


def test_primary_fpr_defaults_to_the_smallest_target(tmp_path):
    metric = load_competition(config(tmp_path, "metric: {fpr: [0.01, 0.001]}\n")).metric
    assert (metric.fpr, metric.primary_fpr) == ((0.001, 0.01), 0.001)


def test_every_problem_is_reported_together_with_its_field_path(tmp_path):
    path = config(
        tmp_path,
        """
name: ""
colour: red
time_limit_s: 0
hardware: {cpus: lots, memory: "0", gpus: some, pids_limit: 4, shm_size: huge, disk: 1g}
metric: {similarity: dot, fpr: [0, 2], primary_fpr: 2, primary_subset: secret, negatives: everyone, colour: blue}
""",
    )
    assert problems_of(path) == [
        "unknown key colour: expected one of hardware, metric, name, participant_log_bytes, phases, submissions, "
        "time_limit_s",
        "unknown key hardware.disk: expected one of cpus, gpus, memory, output_limit, pids_limit, shm_size",
        "unknown key metric.colour: expected one of fpr, negatives, primary_fpr, primary_subset, similarity",
        'invalid name "": must be a non-empty string',
        'invalid time_limit_s "0": must be at least 1',
        'invalid hardware.cpus "lots": must be a number',
        'invalid hardware.memory "0": must be at least 1 byte',
        'invalid hardware.gpus "some": must be all, none or a number of GPUs',
        'invalid hardware.pids_limit "4": must be at least 16',
        'invalid hardware.shm_size "huge": size must look like 512m, 16g or 4096, got "huge"',
        'invalid metric.similarity "dot": must be one of euclidean, cosine',
        "invalid metric.fpr [0, 2]: every target must be a number in (0, 1)",
        'invalid metric.primary_fpr "2": must be a number in (0, 1)',
        'invalid metric.primary_subset "secret": must be public or private',
        'invalid metric.negatives "everyone": must be one of subset, all',
    ]


@pytest.mark.parametrize(("text", "negatives"), [("", "subset"), ("metric: {negatives: all}\n", "all")])
def test_negatives_rule_defaults_to_the_subset(tmp_path, text, negatives):
    assert load_competition(config(tmp_path, text)).metric.negatives == negatives


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("metric: {fpr: []}\n", 'invalid metric.fpr "[]": must be a non-empty list of numbers in (0, 1)'),
        ("metric: {fpr: 0.001}\n", 'invalid metric.fpr "0.001": must be a non-empty list of numbers in (0, 1)'),
        (
            "metric: {fpr: [0.001, 0.01], primary_fpr: 0.1}\n",
            'invalid metric.primary_fpr "0.1": must be one of metric.fpr [0.001, 0.01]',
        ),
        ("metric: [1, 2]\n", 'invalid metric "[1, 2]": must be a mapping'),
        ("hardware: 4\n", 'invalid hardware "4": must be a mapping'),
        ("hardware: {gpus: true}\n", 'invalid hardware.gpus "True": must be all, none or a number of GPUs'),
        ("time_limit_s: .nan\n", 'invalid time_limit_s "nan": must be a number'),
        (
            "hardware: {memory: -5}\n",
            'invalid hardware.memory "-5": size must be a non-negative number of bytes, got -5',
        ),
        (
            "participant_log_bytes: 2m\n",
            'invalid participant_log_bytes "2m": must be between 1024 and 1048576 bytes (1k to 1m); '
            "it bounds what a run tells the participant, the test images included",
        ),
        ("participant_log_bytes: lots\n", 'invalid participant_log_bytes "lots": '),
    ],
)
def test_single_problems(tmp_path, text, problem):
    (only,) = problems_of(config(tmp_path, text))
    assert only.startswith(problem)
    assert only == problem or problem.endswith(": ")


def test_the_participants_view_of_the_log_is_16k_unless_set(tmp_path):
    assert load_competition(None).participant_log_bytes == 16 * 1024
    assert load_competition(config(tmp_path, "participant_log_bytes: 4k\n")).participant_log_bytes == 4096


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("- a\n- b\n", "the top level must be a mapping of keys to values"),
        ("metric: {fpr: [\n", "is not valid YAML: "),
    ],
)
def test_unreadable_structure(tmp_path, text, problem):
    (only,) = problems_of(config(tmp_path, text))
    assert only.startswith(problem)


def test_missing_file_is_a_runner_error(tmp_path):
    with pytest.raises(RunnerError, match=r"none.yaml is invalid: cannot be read: No such file or directory"):
        load_competition(tmp_path / "none.yaml")


def test_competition_beside(tmp_path):
    (tmp_path / TEST_DIR).mkdir()
    assert competition_beside(tmp_path) is None
    config(tmp_path, "")
    assert competition_beside(tmp_path) == tmp_path / COMPETITION_FILE
    assert competition_beside(tmp_path / TEST_DIR) == tmp_path / COMPETITION_FILE


def test_a_written_competition_file_reads_back_equal(tmp_path):
    """make-data and import-mcs2019 write competition.yaml with write_competition: every setting, read back the same."""
    changed = replace(
        DEVBATTLE,
        name="written",
        participant_log_bytes=8192,
        hardware=replace(DEVBATTLE.hardware, cpus=2.5, output_limit_bytes=64 * 1024**2),
        metric=replace(DEVBATTLE.metric, fpr=(1e-5, 1e-4), primary_fpr=1e-4, negatives="all"),
        phases=Phases(start=datetime(2019, 5, 20, tzinfo=UTC), end=datetime(2019, 6, 10, 12, tzinfo=UTC)),
        submissions=Submissions(per_day=3, final=1),
    )
    path = tmp_path / "competition.yaml"
    write_competition(path, changed, "written by a test")
    assert path.read_text().startswith("# written by a test\n")
    assert load_competition(path) == changed


def test_phases_and_submissions_are_read_in_utc(tmp_path):
    path = config(
        tmp_path,
        "phases: {start: 2019-05-20T00:00:00Z, end: '2019-06-10T14:30:00+02:00'}\n"
        "submissions: {per_day: 5, final: 2}\n",
    )
    competition = load_competition(path)
    assert competition.phases == Phases(
        start=datetime(2019, 5, 20, tzinfo=UTC), end=datetime(2019, 6, 10, 12, 30, tzinfo=UTC)
    )
    assert competition.submissions == Submissions(per_day=5, final=2)
    assert DEVBATTLE.phases == Phases() and DEVBATTLE.submissions == Submissions(per_day=None, final=2)


def test_phases_and_submissions_problems_are_reported_together(tmp_path):
    path = config(
        tmp_path,
        "phases: {start: 2019-06-10, end: 2019-05-20, open: always}\nsubmissions: {per_day: 0, final: many}\n",
    )
    assert problems_of(path) == [
        "unknown key phases.open: expected one of end, start",
        'invalid phases.end "2019-05-20T00:00:00Z": must be after phases.start "2019-06-10T00:00:00Z"',
        'invalid submissions.per_day "0": must be a whole number of at least 1, or null',
        'invalid submissions.final "many": must be a whole number of at least 1',
    ]
    assert problems_of(config(tmp_path, "phases: {start: soon}\n")) == [
        'invalid phases.start "soon": must be a UTC date and time like 2019-05-20T00:00:00Z'
    ]
