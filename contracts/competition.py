"""competition.yaml: the challenge's name, time limit, hardware profile, metric, phases and submission rules.

`load_competition` collects every problem with its field path and raises them together;
a missing file means the DevBattle profile of MCS2019.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from contracts.errors import ConfigError
from contracts.units import parse_size


class Similarity(StrEnum):
    """How two descriptors are compared."""

    EUCLIDEAN = "euclidean"
    COSINE = "cosine"


class Negatives(StrEnum):
    """Which references are the negatives of a subset's track: those of the subset's other
    persons (`subset`, the default) or those of every other person with test tracks (`all`)."""

    SUBSET = "subset"
    ALL = "all"


SIMILARITIES = tuple(Similarity)
NEGATIVES = tuple(Negatives)


class Gpus(str):
    """How many GPUs a run may use: "all", "none" or a count, checked once when made.

    A str, so that it reads and compares as the text it was made from ("all" == Gpus("all")).
    Raises ValueError for anything else (a bool too: YAML's `yes`).
    """

    def __new__(cls, value: object) -> Gpus:
        text = str(value).strip().lower()
        if isinstance(value, bool) or not (text in ("all", "none") or text.isdigit()):
            raise ValueError(f"must be all, none or a number of GPUs, got {value}")
        return super().__new__(cls, text)

    @property
    def number(self) -> int | None:
        """The number of GPUs: None for all of them, 0 for none."""
        if self == "all":
            return None
        return 0 if self == "none" else int(self)


@dataclass(frozen=True)
class Hardware:
    """The limits a submission runs under (the DevBattle machine by default)."""

    cpus: float = 6.0
    memory_bytes: int = 16 * 1024**3
    gpus: Gpus = Gpus("all")
    pids_limit: int = 1024
    shm_size_bytes: int = 2 * 1024**3
    #: The most /output may hold (the runner gives it one inode per 64 KiB too).
    output_limit_bytes: int = 1024**3


@dataclass(frozen=True)
class Metric:
    """How descriptors are compared, against which negatives, and which operating points are reported."""

    similarity: Similarity = Similarity.EUCLIDEAN
    fpr: tuple[float, ...] = (1e-6, 1e-5, 1e-4)
    primary_fpr: float = 1e-6
    primary_subset: str = "public"
    negatives: Negatives = Negatives.SUBSET


@dataclass(frozen=True)
class Phases:
    """When submissions are scored, in UTC: from `start` (inclusive) to `end` (exclusive).

    None means no bound. At `end` the leaderboard turns private and final picks close.
    """

    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True)
class Submissions:
    """How many scored submissions a team has per 24 hours (None: no cap) and how many it picks as final."""

    per_day: int | None = None
    final: int = 2


@dataclass(frozen=True)
class Competition:
    """The whole of competition.yaml, with the MCS2019 / DevBattle values as defaults."""

    name: str = "mcs2019"
    time_limit_s: float = 900.0
    hardware: Hardware = field(default_factory=Hardware)
    metric: Metric = field(default_factory=Metric)
    phases: Phases = field(default_factory=Phases)
    submissions: Submissions = field(default_factory=Submissions)
    #: The most a participant reads of a run's log (its first and last lines); the organizers keep it whole.
    participant_log_bytes: int = 16 * 1024


DEVBATTLE = Competition()

_TOP = {"name", "time_limit_s", "hardware", "metric", "phases", "submissions", "participant_log_bytes"}
_PHASES = {"start", "end"}
_SUBMISSIONS = {"per_day", "final"}
#: The participant's view of a log must show a line of each end; above 1 MiB it would carry out a test set.
PARTICIPANT_LOG_RANGE = (1024, 1024**2)
_HARDWARE = {"cpus", "memory", "gpus", "pids_limit", "shm_size", "output_limit"}
_METRIC = {"similarity", "fpr", "primary_fpr", "primary_subset", "negatives"}


def load_competition(path: str | Path | None) -> Competition:
    """Read competition.yaml; return the DevBattle defaults when `path` is None.

    Every key is optional and falls back to `DEVBATTLE`. Raises `ConfigError` listing every
    problem (unknown keys, wrong types, out-of-range values) with its field path, e.g.
    ``invalid hardware.memory "0": must be at least 1 byte``.
    """
    if path is None:
        return DEVBATTLE
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot be read: {exc.strerror}"]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), [f"is not valid YAML: {exc}"]) from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(str(path), ["the top level must be a mapping of keys to values"])
    problems: list[str] = []
    competition = _parse(raw, problems)
    if problems:
        raise ConfigError(str(path), problems)
    return competition


def write_competition(path: str | Path, competition: Competition, header: str) -> None:
    """Write `competition` to `path` as a competition.yaml that `load_competition` reads back equal.

    `header` is one line of comment on top (what wrote the file). Every key is written, so
    an organizer sees every setting, `metric.negatives` included. Raises OSError when the
    file cannot be written.
    """
    hardware, metric = competition.hardware, competition.metric
    phases, submissions = competition.phases, competition.submissions
    document = {
        "name": competition.name,
        "time_limit_s": competition.time_limit_s,
        "participant_log_bytes": competition.participant_log_bytes,
        "hardware": {
            "cpus": hardware.cpus,
            "memory": hardware.memory_bytes,
            "gpus": str(hardware.gpus),
            "pids_limit": hardware.pids_limit,
            "shm_size": hardware.shm_size_bytes,
            "output_limit": hardware.output_limit_bytes,
        },
        "metric": {
            "similarity": str(metric.similarity),
            "fpr": list(metric.fpr),
            "primary_fpr": metric.primary_fpr,
            "primary_subset": metric.primary_subset,
            "negatives": str(metric.negatives),
        },
        "phases": {"start": _iso(phases.start), "end": _iso(phases.end)},
        "submissions": {"per_day": submissions.per_day, "final": submissions.final},
    }
    Path(path).write_text(f"# {header}\n" + yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


def _parse(raw: dict[str, Any], problems: list[str]) -> Competition:
    _unknown(raw, _TOP, "", problems)
    hardware_raw = _section(raw, "hardware", problems)
    metric_raw = _section(raw, "metric", problems)
    phases_raw = _section(raw, "phases", problems)
    submissions_raw = _section(raw, "submissions", problems)
    _unknown(hardware_raw, _HARDWARE, "hardware.", problems)
    _unknown(metric_raw, _METRIC, "metric.", problems)
    _unknown(phases_raw, _PHASES, "phases.", problems)
    _unknown(submissions_raw, _SUBMISSIONS, "submissions.", problems)
    base_hw, base_metric = DEVBATTLE.hardware, DEVBATTLE.metric

    name = raw.get("name", DEVBATTLE.name)
    if not isinstance(name, str) or not name.strip():
        problems.append(f'invalid name "{name}": must be a non-empty string')
    time_limit = _number(raw, "time_limit_s", "", DEVBATTLE.time_limit_s, 1, problems)

    hardware = Hardware(
        cpus=_number(hardware_raw, "cpus", "hardware.", base_hw.cpus, 0.01, problems),
        memory_bytes=_size(hardware_raw, "memory", base_hw.memory_bytes, problems),
        gpus=_gpus(hardware_raw.get("gpus", base_hw.gpus), problems),
        pids_limit=int(_number(hardware_raw, "pids_limit", "hardware.", base_hw.pids_limit, 16, problems)),
        shm_size_bytes=_size(hardware_raw, "shm_size", base_hw.shm_size_bytes, problems),
        output_limit_bytes=_size(hardware_raw, "output_limit", base_hw.output_limit_bytes, problems),
    )

    similarity = metric_raw.get("similarity", base_metric.similarity)
    if similarity not in SIMILARITIES:
        problems.append(f'invalid metric.similarity "{similarity}": must be one of {", ".join(SIMILARITIES)}')
        similarity = base_metric.similarity
    fprs = _fprs(metric_raw.get("fpr", list(base_metric.fpr)), problems)
    primary = metric_raw.get("primary_fpr", fprs[0] if fprs else base_metric.primary_fpr)
    if not _is_fpr(primary):
        problems.append(f'invalid metric.primary_fpr "{primary}": must be a number in (0, 1)')
    elif fprs and float(str(primary)) not in fprs:
        problems.append(f'invalid metric.primary_fpr "{primary}": must be one of metric.fpr {list(fprs)}')
    subset = metric_raw.get("primary_subset", base_metric.primary_subset)
    if subset not in ("public", "private"):
        problems.append(f'invalid metric.primary_subset "{subset}": must be public or private')
    negatives = metric_raw.get("negatives", base_metric.negatives)
    if negatives not in NEGATIVES:
        problems.append(f'invalid metric.negatives "{negatives}": must be one of {", ".join(NEGATIVES)}')
        negatives = base_metric.negatives
    metric = Metric(
        similarity=Similarity(similarity),
        fpr=fprs,
        primary_fpr=float(str(primary)) if _is_fpr(primary) else base_metric.primary_fpr,
        primary_subset=str(subset),
        negatives=Negatives(negatives),
    )
    return Competition(
        name=str(name),
        time_limit_s=time_limit,
        hardware=hardware,
        metric=metric,
        phases=_phases(phases_raw, problems),
        submissions=_submissions(submissions_raw, problems),
        participant_log_bytes=_participant_log(raw, problems),
    )


def _phases(raw: dict[str, Any], problems: list[str]) -> Phases:
    start = _instant(raw, "start", problems)
    end = _instant(raw, "end", problems)
    if start is not None and end is not None and end <= start:
        problems.append(f'invalid phases.end "{_iso(end)}": must be after phases.start "{_iso(start)}"')
        return Phases()
    return Phases(start=start, end=end)


def _instant(raw: dict[str, Any], key: str, problems: list[str]) -> datetime | None:
    """A UTC instant: YAML's own timestamp or an ISO 8601 string; without a zone it is read as UTC."""
    value = raw.get(key)
    if value is None:
        return None
    instant: datetime | None = None
    if isinstance(value, datetime):
        instant = value
    elif isinstance(value, str):
        try:
            instant = datetime.fromisoformat(value)
        except ValueError:
            instant = None
    elif isinstance(value, date):
        instant = datetime(value.year, value.month, value.day)
    if instant is None:
        problems.append(f'invalid phases.{key} "{value}": must be a UTC date and time like 2019-05-20T00:00:00Z')
        return None
    return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant.astimezone(UTC)


def _iso(instant: datetime | None) -> str | None:
    return None if instant is None else instant.strftime("%Y-%m-%dT%H:%M:%SZ")


def _submissions(raw: dict[str, Any], problems: list[str]) -> Submissions:
    base = DEVBATTLE.submissions
    per_day = raw.get("per_day", base.per_day)
    if per_day is not None and (isinstance(per_day, bool) or not isinstance(per_day, int) or per_day < 1):
        problems.append(f'invalid submissions.per_day "{per_day}": must be a whole number of at least 1, or null')
        per_day = base.per_day
    final = raw.get("final", base.final)
    if isinstance(final, bool) or not isinstance(final, int) or final < 1:
        problems.append(f'invalid submissions.final "{final}": must be a whole number of at least 1')
        final = base.final
    return Submissions(per_day=per_day, final=final)


def _participant_log(raw: dict[str, Any], problems: list[str]) -> int:
    value = raw.get("participant_log_bytes", DEVBATTLE.participant_log_bytes)
    low, high = PARTICIPANT_LOG_RANGE
    try:
        size = parse_size(value)
    except ValueError as exc:
        problems.append(f'invalid participant_log_bytes "{value}": {exc}')
        return DEVBATTLE.participant_log_bytes
    if not low <= size <= high:
        problems.append(
            f'invalid participant_log_bytes "{value}": must be between {low} and {high} bytes (1k to 1m); '
            "it bounds what a run tells the participant, the test images included"
        )
        return DEVBATTLE.participant_log_bytes
    return size


def _section(raw: dict[str, Any], key: str, problems: list[str]) -> dict[str, Any]:
    value = raw.get(key, {})
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.append(f'invalid {key} "{value}": must be a mapping')
        return {}
    return value


def _unknown(raw: dict[str, Any], known: set[str], prefix: str, problems: list[str]) -> None:
    for key in sorted(set(raw) - known, key=str):
        problems.append(f"unknown key {prefix}{key}: expected one of {', '.join(sorted(known))}")


def _number(raw: dict[str, Any], key: str, prefix: str, default: float, minimum: float, problems: list[str]) -> float:
    value = raw.get(key, default)
    number = _as_float(value)
    if number is None:
        problems.append(f'invalid {prefix}{key} "{value}": must be a number')
        return default
    if number < minimum:
        problems.append(f'invalid {prefix}{key} "{value}": must be at least {minimum:g}')
        return default
    return number


def _size(raw: dict[str, Any], key: str, default: int, problems: list[str]) -> int:
    value = raw.get(key, default)
    try:
        size = parse_size(value)
    except ValueError as exc:
        problems.append(f'invalid hardware.{key} "{value}": {exc}')
        return default
    if size < 1:
        problems.append(f'invalid hardware.{key} "{value}": must be at least 1 byte')
        return default
    return size


def _gpus(value: Any, problems: list[str]) -> Gpus:
    try:
        return Gpus(value)
    except ValueError:
        problems.append(f'invalid hardware.gpus "{value}": must be all, none or a number of GPUs')
        return DEVBATTLE.hardware.gpus


def _as_float(value: Any) -> float | None:
    # PyYAML reads "1e-6" (no dot) as a string, so numeric strings count as numbers.
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _is_fpr(value: Any) -> bool:
    number = _as_float(value)
    return number is not None and 0 < number < 1


def _fprs(value: Any, problems: list[str]) -> tuple[float, ...]:
    if not isinstance(value, list) or not value:
        problems.append(f'invalid metric.fpr "{value}": must be a non-empty list of numbers in (0, 1)')
        return DEVBATTLE.metric.fpr
    bad = [v for v in value if not _is_fpr(v)]
    if bad:
        problems.append(f"invalid metric.fpr {bad}: every target must be a number in (0, 1)")
        return DEVBATTLE.metric.fpr
    return tuple(sorted({float(str(v)) for v in value}))


def competition_beside(data_dir: str | Path) -> Path | None:
    """Return the competition.yaml that sits beside or inside a data folder, if any.

    `data_dir` may be the dataset root (``data/demo``) or its ``test`` folder.
    """
    data_dir = Path(data_dir)
    for candidate in (data_dir / "competition.yaml", data_dir.parent / "competition.yaml"):
        if candidate.is_file():
            return candidate
    return None
