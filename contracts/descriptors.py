"""Reading a submission's descriptors file safely and checking it against the contract.

The runner is root on the host and the file was written by untrusted code: it is opened
without following links, only if it is a regular file, only up to a size bound, and
without unpickling anything. Nothing is allocated from what the file claims before the
claim is checked: the zip directory and each member's .npy header are read first, and
an array is loaded only once its dtype, shape and byte count are known to be right. The
scorer and the runner both call `read_descriptors`, so a file the runner accepts is
exactly a file the scorer accepts.
"""

from __future__ import annotations

import errno
import io
import math
import os
import stat
import tokenize
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
from numpy.lib import format as npy_format

from contracts.errors import InvalidOutputError
from contracts.ids import MAX_ID_CHARS, IdKind, as_ids, few_ids, id_kind, kind_mismatch
from contracts.names import DESCRIPTOR_KEY, TRACK_ID_KEY, TRACKS_FILE
from contracts.units import format_size

DEFAULT_MAX_BYTES = 1024**3
#: The largest descriptor dimension accepted when the caller does not name one (`dim`);
#: face descriptors are 128 to 512 values, so 4096 leaves room without letting a
#: submission make the scorer multiply arbitrarily wide rows.
MAX_DIM = 4096
_KEYS = (TRACK_ID_KEY, DESCRIPTOR_KEY)
_EXPECTED_MEMBERS = {f"{key}.npy" for key in _KEYS}
_SHOWN = 5
# numpy writes a header of about 128 bytes for these arrays; anything longer is not
# numpy.savez output, and numpy's header parser (ast.literal_eval) must never see a long
# crafted header: a few kilobytes of nesting exhaust it.
_MAX_HEADER_BYTES = 1024
_HEADER_PREFIX_BYTES = 12 + _MAX_HEADER_BYTES
# Beyond the array data an npz holds the zip records and two .npy headers (well under
# this), and deflate may grow incompressible floats by about 1/1000.
_OVERHEAD_BYTES = 64 * 1024
_CHUNK_BYTES = 1024**2
_INTEGER_ID_BYTES = 8
# numpy's unicode dtype stores 4 bytes a character.
_STRING_ID_BYTES = 4 * MAX_ID_CHARS
_DESCRIPTOR_DTYPE = np.dtype(np.float32)
# What zipfile and zlib raise on a corrupt or encrypted member.
_ZIP_ERRORS = (OSError, EOFError, RuntimeError, zipfile.BadZipFile, zlib.error)
# numpy.savez stores, numpy.savez_compressed deflates. zipfile caps deflate's output per
# read but decompresses a whole bzip2 or LZMA chunk at once: a few kilobytes of those can
# inflate to gigabytes while only the header is being read.
_COMPRESSIONS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}
# What numpy's header reader raises on a malformed header: it parses the header with
# ast.literal_eval and tokenize, which also fail with these on a short but deep one.
_HEADER_ERRORS = (ValueError, SyntaxError, RecursionError, MemoryError, tokenize.TokenError)


@dataclass(frozen=True)
class Descriptors:
    """One descriptor per track: `track_id` [N] (int64, or numpy unicode: string ids), `descriptor` float32 [N, D]."""

    track_id: np.ndarray
    descriptor: np.ndarray


@dataclass(frozen=True)
class _Member:
    """An npz member whose .npy header was read; `stream` is positioned at its data."""

    key: str
    shape: tuple[int, ...]
    fortran_order: bool
    dtype: np.dtype
    data_bytes: int
    stream: IO[bytes]
    leftover: bytes

    @property
    def declared_bytes(self) -> int:
        """The number of data bytes the header's shape and dtype imply."""
        return math.prod(self.shape) * self.dtype.itemsize


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
    expected_track_ids : the track ids of tracks.csv (`contracts.tracks.read_track_ids`); the
        file must hold exactly these, once each, in their kind: integers when these are
        integers, numpy unicode strings (``<U``, at most `MAX_ID_CHARS` characters) when
        these are strings. They also bound the file size: one id (8 bytes, or 4 bytes for
        each of `MAX_ID_CHARS` characters) and `dim` (else `MAX_DIM`) float32 values per
        track, plus the zip and .npy headers. Without them, either kind is accepted.
    dim : the descriptor dimension required (the references' D). Without it, D must be
        between 1 and `MAX_DIM`.
    max_bytes : the largest file, and the largest total of uncompressed arrays, accepted.

    Returns
    -------
    Descriptors with `track_id` as int64 (integer ids) or native-order numpy unicode (string
    ids) and `descriptor` float32, rows in file order.

    Raises
    ------
    InvalidOutputError
        with one sentence naming the problem and the fix: missing file, a link, not a
        regular file, too large, not an npz, missing, extra or repeated members, wrong
        dtype or shape, ids of another kind than tracks.csv's or strings over `MAX_ID_CHARS`,
        a header that declares more or less data than its member holds,
        a row count other than the number of tracks, D of 0 or above the limit, NaN or
        inf (which rows), duplicated, missing or extra track ids (how many, a few of them).
        All of these but the last three are found before any array is loaded.
    """
    path = Path(path)
    expected = None if expected_track_ids is None else np.unique(as_ids(np.asarray(expected_track_ids)))
    with _open_regular_file(path) as (handle, size):
        _check_file_size(path, size, max_bytes, expected, dim)
        track_id, descriptor = _load_npz(path, handle, max_bytes, expected, dim)
    _check_id_range(track_id)
    track_id = as_ids(track_id)
    _check_finite(track_id, descriptor)
    _check_ids(track_id, expected)
    return Descriptors(track_id=track_id, descriptor=descriptor)


def not_a_regular_file(name: str, is_link: bool) -> InvalidOutputError:
    """Return the error for an output file `name` that is a symbolic link (`is_link`) or another non-regular file.

    The runner, which never copies such files out of /output, words them the same way.
    """
    if is_link:
        return InvalidOutputError(f"{name} is a symbolic link; write the file itself, not a link")
    return InvalidOutputError(f"{name} is not a regular file; write a plain .npz file")


@contextmanager
def _open_regular_file(path: Path) -> Iterator[tuple[IO[bytes], int]]:
    """Yield the file opened for reading without following links, and its size."""
    try:
        # O_NOFOLLOW: a link left by the submission must not make root read another file;
        # O_NONBLOCK: opening a FIFO must not hang the runner.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise InvalidOutputError(f"{path.name} was not written: the solution must write {path}") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise not_a_regular_file(path.name, is_link=True) from None
        raise InvalidOutputError(f"{path.name} cannot be opened: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise not_a_regular_file(path.name, is_link=False)
        if info.st_size == 0:
            raise InvalidOutputError(f"{path.name} is empty; write it with numpy.savez")
        # os.fdopen refuses a folder, so the file object is made only once fd is a regular file.
        handle = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with handle:
        yield handle, info.st_size


def _check_file_size(path: Path, size: int, max_bytes: int, expected: np.ndarray | None, dim: int | None) -> None:
    if size > max_bytes:
        raise InvalidOutputError(
            f"{path.name} is too large: {format_size(size)}, the limit is {format_size(max_bytes)}"
        )
    if expected is None:
        return
    width = MAX_DIM if dim is None else dim
    id_bytes = _INTEGER_ID_BYTES if id_kind(expected.dtype) is IdKind.INTEGER else _STRING_ID_BYTES
    data = expected.size * (id_bytes + width * _DESCRIPTOR_DTYPE.itemsize)
    limit = data + data // 1024 + _OVERHEAD_BYTES
    if size > limit:
        raise InvalidOutputError(
            f"{path.name} is too large: {format_size(size)}, the limit for {expected.size} tracks of dimension "
            f"{'at most ' if dim is None else ''}{width} is {format_size(limit)}; write one row per track of "
            f"{TRACKS_FILE}"
        )


def _load_npz(
    path: Path, handle: IO[bytes], max_bytes: int, expected: np.ndarray | None, dim: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Check the zip directory and both .npy headers, then read the two arrays from `handle`."""
    if not zipfile.is_zipfile(handle):
        raise InvalidOutputError(f"{path.name} is not an npz archive; write it with numpy.savez")
    handle.seek(0)
    try:
        with zipfile.ZipFile(handle) as archive, ExitStack() as streams:
            infos = _check_directory(path, archive.infolist(), max_bytes)
            members = _read_headers(path, archive, infos, streams)
            try:
                _check_headers(path, members[TRACK_ID_KEY], members[DESCRIPTOR_KEY], expected, dim)
            except _TooFewIds as exc:
                raise InvalidOutputError(f"{exc}; {_missing_ids(members[TRACK_ID_KEY], expected)}") from None
            return _read_data(members[TRACK_ID_KEY]), _read_data(members[DESCRIPTOR_KEY])
    except _ZIP_ERRORS as exc:
        raise InvalidOutputError(f"{path.name} is not a valid npz archive: {exc}; write it with numpy.savez") from None


def _check_directory(path: Path, members: list[zipfile.ZipInfo], max_bytes: int) -> dict[str, zipfile.ZipInfo]:
    """Return the two expected members by key once the directory holds them, once each, and nothing else."""
    # zipfile lets a writer add a second entry of the same name, and reading by name picks
    # one of them silently: the file must not say two things.
    repeated = sorted(name for name, count in Counter(m.filename for m in members).items() if count > 1)
    if repeated:
        raise InvalidOutputError(
            f"{path.name} must hold each array once, got {', '.join(repeated[:_SHOWN])} more than once; "
            "write it with a single numpy.savez call"
        )
    # The uncompressed size is bounded too: a small archive must not inflate into memory.
    if sum(m.file_size for m in members) > max_bytes:
        raise InvalidOutputError(
            f"{path.name} unpacks to more than {format_size(max_bytes)}; write only {TRACK_ID_KEY} and {DESCRIPTOR_KEY}"
        )
    other_compression = [m for m in members if m.compress_type not in _COMPRESSIONS]
    if other_compression:
        raise InvalidOutputError(
            f"{path.name} must hold stored or deflated members, got {other_compression[0].filename} compressed "
            f"with zip method {other_compression[0].compress_type}; write it with numpy.savez or numpy.savez_compressed"
        )
    names = {m.filename for m in members}
    missing = [n[:-4] for n in sorted(_EXPECTED_MEMBERS - names)]
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
    return {m.filename[:-4]: m for m in members}


def _read_headers(
    path: Path, archive: zipfile.ZipFile, infos: dict[str, zipfile.ZipInfo], streams: ExitStack
) -> dict[str, _Member]:
    """Open each member and read its .npy header only; the streams stay open at the data."""
    members: dict[str, _Member] = {}
    not_arrays = []
    for key in _KEYS:
        info = infos[key]
        stream = streams.enter_context(archive.open(info))
        prefix = stream.read(min(info.file_size, _HEADER_PREFIX_BYTES))
        member = _parse_header(key, prefix, info.file_size, stream)
        if member is None:
            not_arrays.append(key)
        else:
            members[key] = member
    if not_arrays:
        raise InvalidOutputError(
            f"{path.name} is not a valid npz archive: {', '.join(not_arrays)} must be .npy arrays; "
            "write it with numpy.savez"
        )
    return members


def _parse_header(key: str, prefix: bytes, member_bytes: int, stream: IO[bytes]) -> _Member | None:
    """Return the member described by the .npy header at the start of `prefix`, or None if there is none."""
    buffer = io.BytesIO(prefix)
    try:
        version = npy_format.read_magic(buffer)
        if version == (1, 0):
            shape, fortran_order, dtype = npy_format.read_array_header_1_0(buffer, max_header_size=_MAX_HEADER_BYTES)
        elif version == (2, 0):
            shape, fortran_order, dtype = npy_format.read_array_header_2_0(buffer, max_header_size=_MAX_HEADER_BYTES)
        else:
            return None
    except _HEADER_ERRORS:
        return None
    if any(n < 0 for n in shape):
        return None
    header_bytes = buffer.tell()
    return _Member(
        key=key,
        shape=tuple(shape),
        fortran_order=bool(fortran_order),
        dtype=dtype,
        data_bytes=member_bytes - header_bytes,
        stream=stream,
        leftover=prefix[header_bytes:],
    )


def _check_headers(
    path: Path, track_id: _Member, descriptor: _Member, expected: np.ndarray | None, dim: int | None
) -> None:
    """Refuse, from the headers alone, any dtype, shape or size that is not the contract's."""
    if track_id.dtype.hasobject or descriptor.dtype.hasobject:
        raise InvalidOutputError(
            f"{path.name} holds object arrays; {TRACK_ID_KEY} must be integers or strings (numpy dtype <U) "
            f"and {DESCRIPTOR_KEY} float32"
        )
    if len(track_id.shape) != 1:
        raise InvalidOutputError(f"{TRACK_ID_KEY} must be one-dimensional [N], got shape {list(track_id.shape)}")
    _check_id_dtype(track_id.dtype, None if expected is None else id_kind(expected.dtype))
    if descriptor.dtype != _DESCRIPTOR_DTYPE:
        raise InvalidOutputError(
            f"{DESCRIPTOR_KEY} must be float32, got {descriptor.dtype}; convert with .astype(numpy.float32)"
        )
    if len(descriptor.shape) != 2:
        raise InvalidOutputError(f"{DESCRIPTOR_KEY} must be two-dimensional [N, D], got shape {list(descriptor.shape)}")
    for member in (track_id, descriptor):
        if member.declared_bytes != member.data_bytes:
            raise InvalidOutputError(
                f"{member.key} must hold the {member.declared_bytes} bytes its .npy header declares "
                f"(shape {list(member.shape)}, {member.dtype}), got {member.data_bytes}; write it with numpy.savez"
            )
    rows, (descriptor_rows, width) = track_id.shape[0], descriptor.shape
    if rows == 0 and descriptor_rows == 0:
        raise InvalidOutputError(f"the descriptors file is empty: it must hold one row per track of {TRACKS_FILE}")
    if expected is not None:
        for member in (track_id, descriptor):
            if member.shape[0] != expected.size:
                fewer_ids = member is track_id and member.shape[0] < expected.size
                raise (_TooFewIds if fewer_ids else InvalidOutputError)(
                    f"{member.key} holds {member.shape[0]} rows, {TRACKS_FILE} has {expected.size} tracks; "
                    "write one row per track"
                )
    if descriptor_rows != rows:
        raise InvalidOutputError(
            f"{DESCRIPTOR_KEY} has {descriptor_rows} rows but {TRACK_ID_KEY} has {rows} ids; write one row per track"
        )
    if dim is not None and width != dim:
        raise InvalidOutputError(
            f"{DESCRIPTOR_KEY} has dimension {width}, the references have {dim}; write [N, {dim}] descriptors"
        )
    # A trusted `dim` may exceed MAX_DIM; the file's own D may not, and [N, 0] holds nothing to score.
    if width < 1 or (dim is None and width > MAX_DIM):
        raise InvalidOutputError(
            f"{DESCRIPTOR_KEY} must have a dimension D between 1 and {MAX_DIM}, got {width}; "
            "write [N, D] descriptors of the references' dimension"
        )


class _TooFewIds(InvalidOutputError):
    """track_id has fewer rows than tracks.csv has tracks: its ids (fewer than the tracks, so
    bounded) are read to name the missing ones."""


def _missing_ids(track_id: _Member, expected: np.ndarray | None) -> str:
    """Return "missing: <the first few ids of tracks.csv that `track_id` lacks>"."""
    assert expected is not None
    try:
        missing = np.setdiff1d(expected, as_ids(_read_data(track_id)))
    except ValueError as exc:
        return str(exc)
    return f"missing: {few_ids(missing)}"


def _check_id_dtype(dtype: np.dtype, wanted: IdKind | None) -> None:
    """Refuse an id dtype that is not integer or unicode, not of the `wanted` kind, or of overlong strings."""
    if dtype.kind not in "iuU":
        form = {
            None: "integers or strings (numpy dtype <U)",
            IdKind.INTEGER: "integers",
            IdKind.STRING: "strings (numpy dtype <U)",
        }[wanted]
        raise InvalidOutputError(f"{TRACK_ID_KEY} must hold {form}, got dtype {dtype}; write the ids of {TRACKS_FILE}")
    kind = id_kind(dtype)
    if wanted is not None and kind is not wanted:
        raise InvalidOutputError(kind_mismatch(TRACK_ID_KEY, kind, TRACKS_FILE, wanted))
    # The itemsize is known from the header: a '<U1000000' array is refused before it is read.
    if kind is IdKind.STRING and not 0 < dtype.itemsize <= _STRING_ID_BYTES:
        raise InvalidOutputError(
            f"{TRACK_ID_KEY} must hold strings of 1 to {MAX_ID_CHARS} characters, got dtype {dtype}; "
            f"write the ids of {TRACKS_FILE}"
        )


def _read_data(member: _Member) -> np.ndarray:
    """Read the member's data, whose size its checked header fixed, into one new array."""
    flat = np.empty(math.prod(member.shape), dtype=member.dtype)
    target = flat.view(np.uint8)
    filled = len(member.leftover)
    target[:filled] = np.frombuffer(member.leftover, dtype=np.uint8)
    # Chunked reads: a single read of the whole member would hold a second copy of it.
    while filled < member.declared_bytes:
        chunk = member.stream.read(min(_CHUNK_BYTES, member.declared_bytes - filled))
        if not chunk:
            raise InvalidOutputError(
                f"{member.key} must hold the {member.declared_bytes} bytes its .npy header declares, "
                f"got {filled}; write it with numpy.savez"
            )
        target[filled : filled + len(chunk)] = np.frombuffer(chunk, dtype=np.uint8)
        filled += len(chunk)
    if member.fortran_order:
        return flat.reshape(member.shape[::-1]).transpose()
    return flat.reshape(member.shape)


def _check_id_range(track_id: np.ndarray) -> None:
    # uint64 ids above the int64 range would wrap to other (negative) ids when converted.
    if track_id.dtype == np.uint64 and track_id.size and int(track_id.max()) > np.iinfo(np.int64).max:
        raise InvalidOutputError(
            f"{TRACK_ID_KEY} must fit in int64, got {int(track_id.max())}; write the ids of {TRACKS_FILE}"
        )


def _check_finite(track_id: np.ndarray, descriptor: np.ndarray) -> None:
    bad_rows = np.flatnonzero(~np.isfinite(descriptor).all(axis=1))
    if bad_rows.size:
        raise InvalidOutputError(
            f"{DESCRIPTOR_KEY} has NaN or inf in {bad_rows.size} row(s) (track ids {few_ids(track_id[bad_rows])}); "
            "every value must be finite"
        )


def _check_ids(track_id: np.ndarray, expected: np.ndarray | None) -> None:
    """Refuse repeated ids, and ids other than `expected` (distinct, as many as the rows: checked from the header)."""
    unique, counts = np.unique(track_id, return_counts=True)
    duplicated = unique[counts > 1]
    if duplicated.size:
        raise InvalidOutputError(
            f"{duplicated.size} track id(s) appear more than once: {few_ids(duplicated)}; write each track once"
        )
    if expected is None:
        return
    # As many distinct ids as tracks: every missing id has an extra one in its place.
    missing = np.setdiff1d(expected, unique)
    if missing.size:
        extra = np.setdiff1d(unique, expected)
        raise InvalidOutputError(
            f"{missing.size} track id(s) of {TRACKS_FILE} are missing: {few_ids(missing)}, and in their place "
            f"are ids not in {TRACKS_FILE}: {few_ids(extra)}; write the ids of {TRACKS_FILE}"
        )
