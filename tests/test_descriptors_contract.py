"""contracts/descriptors.py: every way a submission's descriptors file is rejected, and what is accepted."""

import io
import os
import time
import tracemalloc
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

from contracts.descriptors import MAX_DIM, few_ids, read_descriptors
from contracts.errors import InvalidOutputError
from contracts.ids import MAX_ID_CHARS
from contracts.names import DESCRIPTOR_KEY, DESCRIPTORS_FILE, TRACK_ID_KEY

IDS = np.array([12, 15, 3, 4, 40, 7], dtype=np.int64)
DIM = 8


def valid_descriptors(n: int = IDS.size, dim: int = DIM) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(n, dim)).astype(np.float32)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / DESCRIPTORS_FILE


def write(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


def write_valid(path: Path) -> Path:
    return write(path, **{TRACK_ID_KEY: IDS, DESCRIPTOR_KEY: valid_descriptors()})


def test_valid_file_is_returned_in_file_order(path):
    descriptors = valid_descriptors()
    write(path, **{TRACK_ID_KEY: IDS.astype(np.int32), DESCRIPTOR_KEY: descriptors})
    result = read_descriptors(path, expected_track_ids=np.sort(IDS), dim=DIM)
    assert result.track_id.dtype == np.int64
    np.testing.assert_array_equal(result.track_id, IDS)
    np.testing.assert_array_equal(result.descriptor, descriptors)


def test_compressed_npz_is_accepted(path):
    np.savez_compressed(path, **{TRACK_ID_KEY: IDS, DESCRIPTOR_KEY: valid_descriptors()})
    assert read_descriptors(path, expected_track_ids=IDS, dim=DIM).descriptor.shape == (IDS.size, DIM)


def test_missing_file(path):
    with pytest.raises(
        InvalidOutputError, match=rf"^descriptors.npz was not written: the solution must write .*{path}$"
    ):
        read_descriptors(path)


def test_symbolic_link_is_not_followed(path, tmp_path):
    write_valid(tmp_path / "real.npz")
    path.symlink_to(tmp_path / "real.npz")
    with pytest.raises(InvalidOutputError, match=r"descriptors.npz is a symbolic link; write the file itself"):
        read_descriptors(path)


def test_folder_is_not_a_regular_file(path):
    path.mkdir()
    with pytest.raises(InvalidOutputError, match=r"descriptors.npz is not a regular file; write a plain .npz file"):
        read_descriptors(path)


def test_fifo_is_refused_without_hanging(path):
    os.mkfifo(path)
    with pytest.raises(InvalidOutputError, match=r"descriptors.npz is not a regular file"):
        read_descriptors(path)


def test_too_large_file(path):
    write_valid(path)
    with pytest.raises(InvalidOutputError, match=r"descriptors.npz is too large: \d+ B, the limit is 100 B"):
        read_descriptors(path, max_bytes=100)


def test_small_archive_that_unpacks_too_large(path):
    np.savez_compressed(path, **{TRACK_ID_KEY: np.zeros(200_000, np.int64), DESCRIPTOR_KEY: np.zeros((1, 1), "f4")})
    assert path.stat().st_size < 100_000
    with pytest.raises(InvalidOutputError, match=r"descriptors.npz unpacks to more than 97.7 KiB; write only"):
        read_descriptors(path, max_bytes=100_000)


def test_empty_file(path):
    path.write_bytes(b"")
    with pytest.raises(InvalidOutputError, match=r"descriptors.npz is empty; write it with numpy.savez"):
        read_descriptors(path)


def test_not_an_npz(path):
    np.save(path.with_suffix(".npy"), valid_descriptors())
    path.with_suffix(".npy").rename(path)
    with pytest.raises(InvalidOutputError, match=r"descriptors.npz is not an npz archive; write it with numpy.savez"):
        read_descriptors(path)


def test_missing_array(path):
    write(path, **{TRACK_ID_KEY: IDS})
    with pytest.raises(
        InvalidOutputError, match=r"lacks the array\(s\) descriptor; it must hold track_id and descriptor"
    ):
        read_descriptors(path)


def test_unexpected_entries(path):
    write(path, **{TRACK_ID_KEY: IDS, DESCRIPTOR_KEY: valid_descriptors(), "notes": np.zeros(1)})
    with pytest.raises(InvalidOutputError, match=r"holds unexpected entries notes.npy; it must hold only"):
        read_descriptors(path)


def test_object_arrays_are_never_unpickled(path):
    write(path, **{TRACK_ID_KEY: np.array([1, "a"], dtype=object), DESCRIPTOR_KEY: valid_descriptors(2)})
    with pytest.raises(
        InvalidOutputError,
        match=r"holds object arrays; track_id must be integers or strings \(numpy dtype <U\) and descriptor float32",
    ):
        read_descriptors(path)


def test_corrupt_member(path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"{TRACK_ID_KEY}.npy", b"not an npy file")
        archive.writestr(f"{DESCRIPTOR_KEY}.npy", b"nor this")
    path.write_bytes(buffer.getvalue())
    with pytest.raises(
        InvalidOutputError,
        match=r"descriptors.npz is not a valid npz archive: track_id, descriptor must be .npy arrays",
    ):
        read_descriptors(path)


@pytest.mark.parametrize(
    ("track_id", "descriptor", "dim", "message"),
    [
        (IDS.reshape(2, 3), valid_descriptors(), None, r"track_id must be one-dimensional \[N\], got shape \[2, 3\]"),
        (
            IDS.astype(float),
            valid_descriptors(),
            None,
            r"^track_id must hold integers or strings \(numpy dtype <U\), got dtype float64; write the ids of tracks",
        ),
        (
            IDS > 5,
            valid_descriptors(),
            None,
            r"track_id must hold integers or strings \(numpy dtype <U\), got dtype bool;",
        ),
        (
            np.array([2**63 + 5], np.uint64),
            valid_descriptors(1),
            None,
            r"track_id must fit in int64, got 9223372036854775813",
        ),
        (IDS, valid_descriptors().astype(float), None, r"descriptor must be float32, got float64; convert with"),
        (IDS, valid_descriptors()[0], None, r"descriptor must be two-dimensional \[N, D\], got shape \[8\]"),
        (IDS, valid_descriptors(5), None, r"descriptor has 5 rows but track_id has 6 ids; write one row per track"),
        (IDS[:0], valid_descriptors(0), None, r"the descriptors file is empty: it must hold one row per track"),
        (IDS, valid_descriptors(dim=4), DIM, r"descriptor has dimension 4, the references have 8; write \[N, 8\]"),
    ],
)
def test_wrong_shapes_and_dtypes(path, track_id, descriptor, dim, message):
    write(path, **{TRACK_ID_KEY: track_id, DESCRIPTOR_KEY: descriptor})
    with pytest.raises(InvalidOutputError, match=message):
        read_descriptors(path, dim=dim)


def test_nan_and_inf_name_the_tracks(path):
    descriptors = valid_descriptors()
    descriptors[0, 3], descriptors[1, 0] = np.nan, np.inf
    write(path, **{TRACK_ID_KEY: IDS, DESCRIPTOR_KEY: descriptors})
    with pytest.raises(
        InvalidOutputError, match=r"has NaN or inf in 2 row\(s\) \(track ids 12, 15\); every value must"
    ):
        read_descriptors(path)


def test_many_bad_rows_are_shortened(path):
    ids = np.arange(10, 20)
    write(path, **{TRACK_ID_KEY: ids, DESCRIPTOR_KEY: np.full((10, 2), np.nan, np.float32)})
    with pytest.raises(InvalidOutputError, match=r"in 10 row\(s\) \(track ids 10, 11, 12, 13, 14, \.\.\.\)"):
        read_descriptors(path)


@pytest.mark.parametrize(
    ("track_id", "expected", "message"),
    [
        (np.array([3, 4, 3, 4, 5, 6]), None, r"^2 track id\(s\) appear more than once: 3, 4; write each track once$"),
        (
            IDS,
            np.r_[IDS, 99],
            r"^track_id holds 6 rows, tracks.csv has 7 tracks; write one row per track; missing: 99$",
        ),
        (IDS, IDS[2:], r"^track_id holds 6 rows, tracks.csv has 4 tracks; write one row per track$"),
        (
            np.r_[IDS[:4], 98, 99],
            IDS,
            r"^2 track id\(s\) of tracks.csv are missing: 7, 40, and in their place are ids not in tracks.csv: "
            r"98, 99; write the ids of tracks.csv$",
        ),
    ],
)
def test_track_ids_must_match_exactly(path, track_id, expected, message):
    write(path, **{TRACK_ID_KEY: track_id, DESCRIPTOR_KEY: valid_descriptors(track_id.size)})
    with pytest.raises(InvalidOutputError, match=message):
        read_descriptors(path, expected_track_ids=expected)


def test_few_ids():
    assert few_ids(np.array([1, 2])) == "1, 2"
    assert few_ids(np.arange(7)) == "0, 1, 2, 3, 4, ..."
    assert few_ids(np.array(["00123", "a\x1b[2K"])) == "'00123', 'a\\x1b[2K'"


# ----- string ids (MCS2019's md5s) -------------------------------------------------------

MD5S = np.array(["5d41402abc4b2a76b9719d911017c592", "1e100000000000000000000000000000", "00123", "7", "-0", "ab cd"])


def test_string_ids_are_read_back_exactly(path):
    descriptors = valid_descriptors()
    write(path, **{TRACK_ID_KEY: MD5S[::-1], DESCRIPTOR_KEY: descriptors})
    result = read_descriptors(path, expected_track_ids=MD5S, dim=DIM)
    assert result.track_id.dtype.kind == "U"
    assert result.track_id.tolist() == MD5S[::-1].tolist()
    np.testing.assert_array_equal(result.descriptor, descriptors)


def test_big_endian_string_ids_are_read_in_native_order(path):
    write(path, **{TRACK_ID_KEY: MD5S.astype(">U40"), DESCRIPTOR_KEY: valid_descriptors()})
    result = read_descriptors(path, expected_track_ids=MD5S)
    assert result.track_id.dtype == np.dtype("<U40")
    assert result.track_id.tolist() == MD5S.tolist()


@pytest.mark.parametrize(
    ("track_id", "expected", "message"),
    [
        (
            MD5S,
            IDS,
            r"^track_id holds string ids but tracks\.csv holds integer ids; write them as integers \(int64\), exactly "
            r"as tracks\.csv has them$",
        ),
        (
            IDS,
            MD5S,
            r"^track_id holds integer ids but tracks\.csv holds string ids; write them as strings \(numpy unicode, "
            r"dtype <U\), exactly as tracks\.csv has them$",
        ),
        (
            IDS.astype(str),
            IDS,
            r"^track_id holds string ids but tracks\.csv holds integer ids; write them as integers",
        ),
        (IDS.astype(float), MD5S, r"^track_id must hold strings \(numpy dtype <U\), got dtype float64; write the ids"),
        (IDS.astype(float), IDS, r"^track_id must hold integers, got dtype float64; write the ids of tracks\.csv$"),
        (MD5S.astype("S"), MD5S, r"^track_id must hold strings \(numpy dtype <U\), got dtype \|S32; write the ids"),
        (
            np.array(["x" * (MAX_ID_CHARS + 1)] * MD5S.size),
            MD5S,
            rf"^track_id must hold strings of 1 to {MAX_ID_CHARS} characters, got dtype <U{MAX_ID_CHARS + 1}; write ",
        ),
        (
            np.array([""] * MD5S.size, dtype="<U1")[:0],
            MD5S,
            r"^the descriptors file is empty: it must hold one row per track of tracks\.csv$",
        ),
        (
            np.concatenate([MD5S[:4], ["5D41402ABC4B2A76B9719D911017C592", "00123 "]]),
            MD5S,
            r"^2 track id\(s\) of tracks\.csv are missing: '-0', 'ab cd', and in their place are ids not in "
            r"tracks\.csv: '00123 ', '5D41402ABC4B2A76B9719D911017C592'; write the ids of tracks\.csv$",
        ),
        (
            np.concatenate([MD5S[:5], MD5S[2:3]]),
            MD5S,
            r"^1 track id\(s\) appear more than once: '00123'; write each track once$",
        ),
    ],
    ids=[
        "strings for integers",
        "integers for strings",
        "integer texts for integers",
        "float for strings",
        "float for integers",
        "bytes for strings",
        "too long",
        "empty",
        "case and space are part of the id",
        "duplicate",
    ],
)
def test_string_ids_must_match_exactly_and_in_kind(path, track_id, expected, message):
    write(path, **{TRACK_ID_KEY: track_id, DESCRIPTOR_KEY: valid_descriptors(track_id.size)})
    with pytest.raises(InvalidOutputError, match=message):
        read_descriptors(path, expected_track_ids=expected, dim=DIM)


def test_zero_width_strings_are_refused_from_the_header(path):
    write_members(path, (f"{TRACK_ID_KEY}.npy", npy("<U0", (MD5S.size,), b"")), VALID_DESCRIPTORS)
    with pytest.raises(InvalidOutputError, match=r"^track_id must hold strings of 1 to 64 characters, got dtype <U0;"):
        read_descriptors(path)


def test_a_long_string_id_header_is_refused_before_it_is_read(path):
    # A million characters an id for six tracks: 24 MB a row, refused from the header alone.
    write_members(path, (f"{TRACK_ID_KEY}.npy", npy("<U1000000", (MD5S.size,), b"\0" * 64)), VALID_DESCRIPTORS)
    tracemalloc.start()
    try:
        with pytest.raises(
            InvalidOutputError, match=r"^track_id must hold strings of 1 to 64 characters, got dtype <U1000000; write"
        ):
            read_descriptors(path, expected_track_ids=MD5S, dim=DIM)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * 1024**2


def test_string_ids_bound_the_file_size_by_their_longest_form(path):
    # 64-character ids fit; 100 KiB more than the ids and descriptors can hold does not.
    long_ids = np.array([f"{i:064d}" for i in range(MD5S.size)])
    write(path, **{TRACK_ID_KEY: long_ids, DESCRIPTOR_KEY: valid_descriptors()})
    assert read_descriptors(path, expected_track_ids=long_ids, dim=DIM).track_id.tolist() == long_ids.tolist()
    np.savez(path, **{TRACK_ID_KEY: long_ids, DESCRIPTOR_KEY: valid_descriptors(dim=DIM)}, padding=np.zeros(12800))
    with pytest.raises(
        InvalidOutputError,
        match=r"^descriptors\.npz is too large: 102\.\d KiB, the limit for 6 tracks of dimension 8 is 65\.7 KiB; ",
    ):
        read_descriptors(path, expected_track_ids=long_ids, dim=DIM)


def npy(dtype: str, shape: tuple[int, ...], body: bytes) -> bytes:
    """A .npy file whose header says `dtype` and `shape`, followed by `body` whatever its length."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue() + body


def npy_of(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array)
    return buffer.getvalue()


def write_members(path: Path, *members: tuple[str, bytes]) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns on a repeated name; repeating is the point
        with zipfile.ZipFile(path, "w") as archive:
            for name, data in members:
                archive.writestr(name, data)
    return path


BOMB = (10**9, 10**9)
VALID_IDS = (f"{TRACK_ID_KEY}.npy", npy_of(IDS))
VALID_DESCRIPTORS = (f"{DESCRIPTOR_KEY}.npy", npy_of(valid_descriptors()))


@pytest.mark.parametrize(
    ("descriptor", "message"),
    [
        (
            npy("<f4", BOMB, b"\0" * 32),
            r"^descriptor must hold the 4000000000000000000 bytes its \.npy header declares "
            r"\(shape \[1000000000, 1000000000\], float32\), got 32; write it with numpy\.savez$",
        ),
        (npy("<f8", BOMB, b""), r"^descriptor must be float32, got float64; convert with \.astype\(numpy\.float32\)$"),
        (
            npy("<f4", (10**18,), b""),
            r"^descriptor must be two-dimensional \[N, D\], got shape \[1000000000000000000\]$",
        ),
        (
            npy("|O", BOMB, b"not a pickle"),
            r"^descriptors\.npz holds object arrays; track_id must be integers or strings \(numpy dtype <U\) and "
            r"descriptor float32$",
        ),
        (
            npy("<f4", (IDS.size, DIM), b"\0" * (IDS.size * DIM * 4 - 4)),
            r"^descriptor must hold the 192 bytes its \.npy header declares \(shape \[6, 8\], float32\), got 188; ",
        ),
        (
            npy("<f4", (IDS.size - 1, DIM), b"\0" * (IDS.size * DIM * 4)),
            r"^descriptor must hold the 160 bytes its \.npy header declares \(shape \[5, 8\], float32\), got 192; ",
        ),
    ],
    ids=["header bomb", "bomb of the wrong dtype", "bomb of the wrong ndim", "object bomb", "short body", "long body"],
)
@pytest.mark.parametrize("expected", [None, IDS])
def test_header_is_checked_before_anything_is_allocated(path, descriptor, message, expected):
    write_members(path, VALID_IDS, (f"{DESCRIPTOR_KEY}.npy", descriptor))
    with pytest.raises(InvalidOutputError, match=message):
        read_descriptors(path, expected_track_ids=expected)


def test_track_id_header_bomb(path):
    write_members(path, (f"{TRACK_ID_KEY}.npy", npy("<i8", (10**18,), b"\0" * 8)), (f"{DESCRIPTOR_KEY}.npy", b""))
    with pytest.raises(
        InvalidOutputError,
        match=r"^descriptors\.npz is not a valid npz archive: descriptor must be \.npy arrays; write it with numpy",
    ):
        read_descriptors(path)
    write_members(
        path,
        (f"{TRACK_ID_KEY}.npy", npy("<i8", (10**18,), b"\0" * 8)),
        (f"{DESCRIPTOR_KEY}.npy", npy_of(valid_descriptors())),
    )
    with pytest.raises(InvalidOutputError, match=r"^track_id must hold the 8000000000000000000 bytes its \.npy header"):
        read_descriptors(path, expected_track_ids=IDS, dim=DIM)


def test_a_deeply_nested_header_never_reaches_the_parser(path):
    # Under numpy's own 10,000-byte header limit, this exhausts ast.literal_eval (MemoryError).
    nested = b"-" * 9000 + b"1"
    member = b"\x93NUMPY\x01\x00" + len(nested).to_bytes(2, "little") + nested
    write_members(path, (f"{TRACK_ID_KEY}.npy", member), (f"{DESCRIPTOR_KEY}.npy", npy_of(valid_descriptors())))
    with pytest.raises(
        InvalidOutputError, match=r"^descriptors\.npz is not a valid npz archive: track_id must be \.npy arrays; "
    ):
        read_descriptors(path)


def test_millions_of_ids_for_a_few_tracks_are_counted_not_loaded(path):
    ids = np.zeros(5_000_000, dtype=np.int64)
    np.savez_compressed(path, **{TRACK_ID_KEY: ids, DESCRIPTOR_KEY: valid_descriptors(5)})
    del ids
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(
            InvalidOutputError, match=r"^track_id holds 5000000 rows, tracks.csv has 5 tracks; write one row per track$"
        ):
            read_descriptors(path, expected_track_ids=IDS[:5], dim=DIM)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * 1024**2
    assert elapsed < 1.0


def test_file_larger_than_the_tracks_need(path):
    np.savez(path, **{TRACK_ID_KEY: IDS, DESCRIPTOR_KEY: valid_descriptors(dim=4000)})
    with pytest.raises(
        InvalidOutputError,
        match=r"^descriptors\.npz is too large: \d+\.\d KiB, the limit for 6 tracks of dimension 8 is 64\.2 KiB; "
        r"write one row per track of tracks\.csv$",
    ):
        read_descriptors(path, expected_track_ids=IDS, dim=DIM)
    assert read_descriptors(path, expected_track_ids=IDS).descriptor.shape == (IDS.size, 4000)


@pytest.mark.parametrize(
    ("dim_written", "dim", "message"),
    [
        (0, None, rf"^descriptor must have a dimension D between 1 and {MAX_DIM}, got 0; write \[N, D\] descriptors"),
        (MAX_DIM + 1, None, rf"^descriptor must have a dimension D between 1 and {MAX_DIM}, got {MAX_DIM + 1}; "),
        (0, DIM, r"^descriptor has dimension 0, the references have 8; write \[N, 8\] descriptors$"),
    ],
)
def test_dimension_zero_is_refused_even_without_a_required_dimension(path, dim_written, dim, message):
    write(path, **{TRACK_ID_KEY: IDS, DESCRIPTOR_KEY: np.zeros((IDS.size, dim_written), np.float32)})
    with pytest.raises(InvalidOutputError, match=message):
        read_descriptors(path, expected_track_ids=IDS, dim=dim)


def test_a_required_dimension_above_max_dim_is_accepted(path):
    write(path, **{TRACK_ID_KEY: IDS[:1], DESCRIPTOR_KEY: np.ones((1, MAX_DIM + 4), np.float32)})
    assert read_descriptors(path, expected_track_ids=IDS[:1], dim=MAX_DIM + 4).descriptor.shape == (1, MAX_DIM + 4)


def test_repeated_member_is_refused(path):
    write_valid(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr(f"{TRACK_ID_KEY}.npy", npy_of(IDS[::-1].copy()))
    with pytest.raises(
        InvalidOutputError,
        match=r"^descriptors\.npz must hold each array once, got track_id\.npy more than once; "
        r"write it with a single numpy\.savez call$",
    ):
        read_descriptors(path, expected_track_ids=IDS, dim=DIM)


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed])
def test_large_and_fortran_ordered_arrays_read_back_exactly(path, save):
    ids = np.arange(3000, dtype=">i4")
    descriptors = np.asfortranarray(valid_descriptors(3000, 160))
    save(path, **{TRACK_ID_KEY: ids, DESCRIPTOR_KEY: descriptors})
    result = read_descriptors(path, expected_track_ids=ids, dim=160)
    np.testing.assert_array_equal(result.track_id, ids)
    np.testing.assert_array_equal(result.descriptor, descriptors)
    assert result.track_id.dtype == np.int64 and result.descriptor.dtype == np.float32


@pytest.mark.parametrize(("method", "number"), [(zipfile.ZIP_BZIP2, 12), (zipfile.ZIP_LZMA, 14)])
def test_only_stored_or_deflated_members_are_read(path, method, number):
    # 80 MB of ids compress to a few kilobytes; zipfile would inflate them in one piece.
    with zipfile.ZipFile(path, "w", method) as archive:
        archive.writestr(f"{TRACK_ID_KEY}.npy", npy_of(np.zeros(10_000_000, np.int64)))
        archive.writestr(f"{DESCRIPTOR_KEY}.npy", npy_of(valid_descriptors(5)))
    tracemalloc.start()
    try:
        with pytest.raises(
            InvalidOutputError,
            match=rf"^descriptors\.npz must hold stored or deflated members, got track_id\.npy compressed with zip "
            rf"method {number}; write it with numpy\.savez or numpy\.savez_compressed$",
        ):
            read_descriptors(path, expected_track_ids=IDS[:5], dim=DIM)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * 1024**2
