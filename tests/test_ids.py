"""contracts/ids.py and contracts/tracks.py: the id rule (integers or strings, per column), read exactly."""

from __future__ import annotations

import doctest
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from contracts import ids as ids_module
from contracts.errors import RunnerError
from contracts.ids import MAX_ID_CHARS, IdKind, as_ids, few, id_kind, id_text_problem, parse_ids
from contracts.names import TRACKS_FILE
from contracts.tracks import read_track_ids

# texts of one column, the kind they make, the ids read back
ID_COLUMNS = [
    pytest.param(["12", "3", "12"], IdKind.INTEGER, [12, 3, 12], id="integers"),
    pytest.param(["-5", "0", "9223372036854775807"], IdKind.INTEGER, [-5, 0, 2**63 - 1], id="int64 range"),
    pytest.param(["1", "9223372036854775808"], IdKind.STRING, ["1", "9223372036854775808"], id="beyond int64"),
    pytest.param(["1", "00123"], IdKind.STRING, ["1", "00123"], id="leading zeros are kept"),
    pytest.param(["1e10", "2"], IdKind.STRING, ["1e10", "2"], id="an md5 like 1e10... is no float"),
    pytest.param(["+5", "6"], IdKind.STRING, ["+5", "6"], id="a plus sign is text"),
    pytest.param(["-0"], IdKind.STRING, ["-0"], id="minus zero is text"),
    pytest.param([" 7", "8"], IdKind.STRING, [" 7", "8"], id="spaces are part of the id"),
    pytest.param(["7.0"], IdKind.STRING, ["7.0"], id="a decimal point is text"),
    pytest.param(["NA", "nan", "null"], IdKind.STRING, ["NA", "nan", "null"], id="no missing-value markers"),
    pytest.param(
        ["5d41402abc4b2a76b9719d911017c592", "12"],
        IdKind.STRING,
        ["5d41402abc4b2a76b9719d911017c592", "12"],
        id="md5",
    ),
]


@pytest.mark.parametrize(("texts", "kind", "expected"), ID_COLUMNS)
def test_parse_ids_decides_the_kind_of_the_whole_column(texts, kind, expected):
    ids = parse_ids(texts)
    assert id_kind(ids.dtype) is kind
    assert ids.dtype == (np.int64 if kind is IdKind.INTEGER else np.dtype(f"<U{max(map(len, texts))}"))
    assert ids.tolist() == expected


@pytest.mark.parametrize(("texts", "kind", "expected"), ID_COLUMNS)
def test_read_track_ids_reads_the_column_as_text(tmp_path, texts, kind, expected):
    path = tmp_path / TRACKS_FILE
    rows = [f'"{t}",{frame},images/{i}/{frame}.jpg' for i, t in enumerate(texts) for frame in range(2)]
    path.write_text("track_id,frame,path\n" + "\n".join(rows) + "\n")
    ids = read_track_ids(path)
    assert id_kind(ids.dtype) is kind
    assert ids.tolist() == list(dict.fromkeys(expected))


@pytest.mark.parametrize(
    ("column", "message"),
    [
        ('"5d41",0,a.jpg\n"",0,b.jpg', r"tracks\.csv: track_id must not be empty, got an empty id; check the dataset"),
        (
            f"{'x' * (MAX_ID_CHARS + 1)},0,a.jpg",
            rf"tracks\.csv: track_id must be at most {MAX_ID_CHARS} characters, got one of {MAX_ID_CHARS + 1}; ",
        ),
        ('"a\x1bb",0,a.jpg', r"tracks\.csv: track_id must be printable characters, got 'a\\x1bb'; check the dataset"),
    ],
    ids=["empty", "too long", "control character"],
)
def test_read_track_ids_refuses_unusable_string_ids(tmp_path, column, message):
    path = tmp_path / TRACKS_FILE
    path.write_text("track_id,frame,path\n" + column + "\n")
    with pytest.raises(RunnerError, match=message):
        read_track_ids(path)


def test_read_track_ids_keeps_the_first_appearance_order(tmp_path: Path):
    path = tmp_path / TRACKS_FILE
    path.write_text("track_id,frame,path\nff,0,a\nff,1,b\n0a,0,c\nff,2,d\n1e5,0,e\n")
    assert read_track_ids(path).tolist() == ["ff", "0a", "1e5"]


def test_as_ids_holds_ids_in_one_form():
    assert as_ids(np.array([3, 4], np.uint8)).dtype == np.int64
    assert as_ids(np.array(["ab"], ">U2")).dtype == np.dtype("<U2")
    with pytest.raises(ValueError, match=r"^ids must fit in int64, got 9223372036854775813$"):
        as_ids(np.array([2**63 + 5], np.uint64))
    with pytest.raises(ValueError, match=r"^ids must be integers or numpy unicode strings, got dtype float64$"):
        as_ids(np.array([1.0]))


def test_integer_ids_have_no_text_problem():
    assert id_text_problem(np.array([-1, 0], np.int64)) is None
    assert id_text_problem(np.array(["a" * MAX_ID_CHARS])) is None


def load_solution():
    """solution.py as a module: it repeats the id rule, since it imports nothing of the project."""
    spec = importlib.util.spec_from_file_location("solution", Path(__file__).resolve().parent.parent / "solution.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("texts", "kind", "expected"), ID_COLUMNS)
def test_solution_applies_the_same_rule(texts, kind, expected):
    written = load_solution().track_id_array(texts)
    parsed = parse_ids(texts)
    assert written.dtype == parsed.dtype
    assert written.tolist() == parsed.tolist() == expected


def test_docstring_examples():
    assert doctest.testmod(ids_module).failed == 0


@pytest.mark.parametrize(
    ("values", "shown"),
    [
        (np.arange(3), "0, 1, 2"),
        (np.arange(10, 20), "10, 11, 12, 13, 14, ..."),
        (["images/a.jpg", "b\x1b[2Kok"], "images/a.jpg, b\\x1b[2Kok"),
        (np.array(["3f2a", "c0de\r"]), "3f2a, c0de\\r"),
    ],
)
def test_few_shows_the_first_values_with_control_characters_escaped(values: object, shown: str) -> None:
    assert few(values) == shown
