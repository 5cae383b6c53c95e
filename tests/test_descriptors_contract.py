"""contracts/descriptors.py: every way a submission's descriptors file is rejected, and what is accepted."""

import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from contracts.descriptors import few_ids, read_descriptors
from contracts.errors import InvalidOutputError
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
        InvalidOutputError, match=r"holds object arrays; track_id must be integers and descriptor float32"
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
        (IDS.astype(float), valid_descriptors(), None, r"track_id must hold integers, got dtype float64"),
        (IDS > 5, valid_descriptors(), None, r"track_id must hold integers, got dtype bool"),
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
        (IDS, np.r_[IDS, 99], r"^track_id holds 6 rows, tracks.csv has 7 tracks; write one row per track$"),
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
