"""Reading a submission's descriptors file safely and checking it against the contract.

The runner is root on the host and the file was written by untrusted code: it is opened
without following links, only if it is a regular file, only up to a size bound, and
without unpickling anything. The scorer and the runner both call `read_descriptors`, so a
file the runner accepts is exactly a file the scorer accepts.
"""

from __future__ import annotations

import errno
import os
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from contracts.errors import InvalidOutputError
from contracts.names import DESCRIPTOR_KEY, TRACK_ID_KEY
from contracts.units import format_size

DEFAULT_MAX_BYTES = 1024**3
_EXPECTED_MEMBERS = {f"{TRACK_ID_KEY}.npy", f"{DESCRIPTOR_KEY}.npy"}
_SHOWN = 5


@dataclass(frozen=True)
class Descriptors:
    """One descriptor per track: `track_id` int64 [N], `descriptor` float32 [N, D]."""

    track_id: np.ndarray
    descriptor: np.ndarray


def read_descriptors(
    path: str | Path,
    expected_track_ids: np.ndarray | None = None,
    dim: int | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Descriptors:
    """Load and validate a descriptors npz; return its arrays in file order.

    Parameters
    ----------
    path : the ``descriptors.npz`` to read. A link or anything but a regular file is refused.
    expected_track_ids : the track ids of tracks.csv; the file must hold exactly these, once each.
    dim : the descriptor dimension required (the references' D).
    max_bytes : the largest file, and the largest total of uncompressed arrays, accepted.

    Raises
    ------
    InvalidOutputError
        with one sentence naming the problem: missing file, a link, not a regular file,
        too large, not an npz, missing or extra arrays, wrong dtype or shape, NaN or inf
        (which rows), duplicated, missing or extra track ids (how many, a few of them).
    """
    raw = _read_regular_file(Path(path), max_bytes)
    arrays = _load_npz(Path(path), raw, max_bytes)
    track_id, descriptor = arrays[TRACK_ID_KEY], arrays[DESCRIPTOR_KEY]
    _check_shapes(track_id, descriptor, dim)
    track_id = track_id.astype(np.int64)
    _check_finite(track_id, descriptor)
    _check_ids(track_id, expected_track_ids)
    return Descriptors(track_id=track_id, descriptor=descriptor)


def _read_regular_file(path: Path, max_bytes: int) -> bytes:
    try:
        # O_NOFOLLOW: a link left by the submission must not make root read another file;
        # O_NONBLOCK: opening a FIFO must not hang the runner.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise InvalidOutputError(f"{path.name} was not written: the solution must write {path}") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InvalidOutputError(f"{path.name} is a symbolic link; write the file itself, not a link") from None
        raise InvalidOutputError(f"{path.name} cannot be opened: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InvalidOutputError(f"{path.name} is not a regular file; write a plain .npz file")
        if info.st_size > max_bytes:
            raise InvalidOutputError(
                f"{path.name} is too large: {format_size(info.st_size)}, the limit is {format_size(max_bytes)}"
            )
        if info.st_size == 0:
            raise InvalidOutputError(f"{path.name} is empty; write it with numpy.savez")
        with os.fdopen(os.dup(fd), "rb") as handle:
            return handle.read(max_bytes + 1)
    finally:
        os.close(fd)


def _load_npz(path: Path, raw: bytes, max_bytes: int) -> dict[str, np.ndarray]:
    import io

    buffer = io.BytesIO(raw)
    if not zipfile.is_zipfile(buffer):
        raise InvalidOutputError(f"{path.name} is not an npz archive; write it with numpy.savez")
    with zipfile.ZipFile(buffer) as archive:
        members = archive.infolist()
        names = {m.filename for m in members}
        # The uncompressed size is bounded too: a small archive must not inflate into memory.
        if sum(m.file_size for m in members) > max_bytes:
            raise InvalidOutputError(
                f"{path.name} unpacks to more than {format_size(max_bytes)}; "
                f"write only {TRACK_ID_KEY} and {DESCRIPTOR_KEY}"
            )
    missing = sorted(n[:-4] for n in _EXPECTED_MEMBERS - names)
    if missing:
        raise InvalidOutputError(
            f"{path.name} lacks the array(s) {', '.join(missing)}; it must hold {TRACK_ID_KEY} and {DESCRIPTOR_KEY}"
        )
    extra = sorted(names - _EXPECTED_MEMBERS)
    if extra:
        raise InvalidOutputError(
            f"{path.name} holds unexpected entries {', '.join(extra[:_SHOWN])}; "
            f"it must hold only {TRACK_ID_KEY} and {DESCRIPTOR_KEY}"
        )
    buffer.seek(0)
    try:
        with np.load(buffer, allow_pickle=False) as npz:
            arrays = {TRACK_ID_KEY: npz[TRACK_ID_KEY], DESCRIPTOR_KEY: npz[DESCRIPTOR_KEY]}
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise InvalidOutputError(
                f"{path.name} holds object arrays; {TRACK_ID_KEY} must be integers and {DESCRIPTOR_KEY} float32"
            ) from None
        raise InvalidOutputError(f"{path.name} is not a valid npz archive: {exc}") from None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise InvalidOutputError(f"{path.name} is not a valid npz archive: {exc}") from None
    # numpy hands back the raw bytes of a member that is not in .npy format.
    not_arrays = [key for key, value in arrays.items() if not isinstance(value, np.ndarray)]
    if not_arrays:
        raise InvalidOutputError(
            f"{path.name} is not a valid npz archive: {', '.join(not_arrays)} must be .npy arrays; "
            "write it with numpy.savez"
        )
    return arrays


def _check_shapes(track_id: np.ndarray, descriptor: np.ndarray, dim: int | None) -> None:
    if track_id.ndim != 1:
        raise InvalidOutputError(f"{TRACK_ID_KEY} must be one-dimensional [N], got shape {list(track_id.shape)}")
    if not np.issubdtype(track_id.dtype, np.integer):
        raise InvalidOutputError(f"{TRACK_ID_KEY} must hold integers, got dtype {track_id.dtype}")
    # uint64 ids above the int64 range would wrap to other (negative) ids when converted.
    if track_id.dtype == np.uint64 and track_id.size and int(track_id.max()) > np.iinfo(np.int64).max:
        raise InvalidOutputError(
            f"{TRACK_ID_KEY} must fit in int64, got {int(track_id.max())}; write the ids of tracks.csv"
        )
    if descriptor.dtype != np.float32:
        raise InvalidOutputError(
            f"{DESCRIPTOR_KEY} must be float32, got {descriptor.dtype}; convert with .astype(numpy.float32)"
        )
    if descriptor.ndim != 2:
        raise InvalidOutputError(f"{DESCRIPTOR_KEY} must be two-dimensional [N, D], got shape {list(descriptor.shape)}")
    if descriptor.shape[0] != track_id.shape[0]:
        raise InvalidOutputError(
            f"{DESCRIPTOR_KEY} has {descriptor.shape[0]} rows but {TRACK_ID_KEY} has {track_id.shape[0]} ids; "
            "write one row per track"
        )
    if track_id.shape[0] == 0:
        raise InvalidOutputError("the descriptors file is empty: it must hold one row per track of tracks.csv")
    if dim is not None and descriptor.shape[1] != dim:
        raise InvalidOutputError(
            f"{DESCRIPTOR_KEY} has dimension {descriptor.shape[1]}, the references have {dim}; "
            f"write [N, {dim}] descriptors"
        )


def _check_finite(track_id: np.ndarray, descriptor: np.ndarray) -> None:
    bad_rows = np.flatnonzero(~np.isfinite(descriptor).all(axis=1))
    if bad_rows.size:
        raise InvalidOutputError(
            f"{DESCRIPTOR_KEY} has NaN or inf in {bad_rows.size} row(s) (track ids {few_ids(track_id[bad_rows])}); "
            "every value must be finite"
        )


def _check_ids(track_id: np.ndarray, expected: np.ndarray | None) -> None:
    unique, counts = np.unique(track_id, return_counts=True)
    duplicated = unique[counts > 1]
    if duplicated.size:
        raise InvalidOutputError(
            f"{duplicated.size} track id(s) appear more than once: {few_ids(duplicated)}; write each track once"
        )
    if expected is None:
        return
    expected = np.asarray(expected, dtype=np.int64)
    missing = np.setdiff1d(expected, unique)
    extra = np.setdiff1d(unique, expected)
    if missing.size:
        raise InvalidOutputError(
            f"{missing.size} track id(s) of tracks.csv are missing: {few_ids(missing)}; write one row for every track"
        )
    if extra.size:
        raise InvalidOutputError(f"{extra.size} track id(s) are not in tracks.csv: {few_ids(extra)}; remove them")


def few_ids(ids: np.ndarray) -> str:
    """Return the first few ids of `ids` for a message, e.g. ``"3, 8, 9, 12, 40, ..."``."""
    text = ", ".join(str(int(i)) for i in ids[:_SHOWN])
    return text + (", ..." if ids.size > _SHOWN else "")
