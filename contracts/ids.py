"""Track and person ids: integers or strings, decided per column, compared exactly.

MCS2019's original data names tracks and persons by 32-hex md5 strings; the synthetic
data uses integers. Both are accepted, by one rule:

- In a CSV (tracks.csv, test_labels.csv), an id column is read as text, never as a
  number, so ``"1e10..."`` stays a string and ``"00123"`` keeps its zeros. The column
  holds integer ids when every cell is a canonical integer literal that fits int64
  (``0`` or an optional ``-`` and digits without a leading zero: what ``str(int(x))``
  gives back); otherwise every id of the column is a string, exactly as written.
- In an npz, the dtype says the kind: an integer dtype holds integer ids, numpy unicode
  (``<U``) holds string ids. Object arrays are never read (no pickle).
- A string id is 1 to `MAX_ID_CHARS` printable characters.

Integer ids are held as int64 arrays, string ids as numpy unicode arrays. Two files that
name the same tracks or persons must hold them in the same kind; a mismatch is reported
with both kinds, never converted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum

import numpy as np

#: The longest string id: an md5 is 32 hex characters; 64 leaves room for other hashes
#: while bounding what a submission's unicode track_id array may cost (4 bytes a character).
MAX_ID_CHARS = 64
_CANONICAL_INTEGER = re.compile(r"0|-?[1-9][0-9]*")
_INT64 = np.iinfo(np.int64)
#: How many ids, names or lines a message shows before "..." (every message of the project).
SHOWN = 5


class IdKind(StrEnum):
    """The kind of a column of ids."""

    INTEGER = "integer"
    STRING = "string"


def parse_ids(texts: Iterable[str]) -> np.ndarray:
    """Return the ids written as `texts` (the cells of one CSV column), in the column's kind.

    Returns int64 when every text is a canonical integer literal within int64, else a
    numpy unicode array of the texts unchanged. An empty column gives an empty int64 array.
    Raises nothing: whether the texts are acceptable ids is `id_text_problem`'s question.

    >>> parse_ids(["12", "-3", "0"]), parse_ids(["12", "00123"]), parse_ids(["1e10"])
    (array([12, -3,  0]), array(['12', '00123'], dtype='<U5'), array(['1e10'], dtype='<U4'))
    """
    values = [str(text) for text in texts]
    if all(_CANONICAL_INTEGER.fullmatch(value) for value in values):
        numbers = [int(value) for value in values]
        if all(_INT64.min <= number <= _INT64.max for number in numbers):
            return np.array(numbers, dtype=np.int64)
    return np.array(values, dtype=str)


def id_kind(dtype: np.dtype) -> IdKind:
    """Return the kind of ids an array of `dtype` holds.

    Raises ValueError when `dtype` is neither an integer nor numpy unicode (``<U``).
    """
    if dtype.kind in "iu":
        return IdKind.INTEGER
    if dtype.kind == "U":
        return IdKind.STRING
    raise ValueError(f"ids must be integers or numpy unicode strings, got dtype {dtype}")


def as_ids(ids: np.ndarray) -> np.ndarray:
    """Return `ids` in the form ids are held in: int64 for integer ids, native-order unicode for strings.

    Raises ValueError as `id_kind` does, or when an unsigned id does not fit int64.
    """
    if id_kind(ids.dtype) is IdKind.STRING:
        # astype(str) would keep a big-endian '>U'; the plain 'U<n>' dtype is native.
        return ids.astype(np.dtype(f"U{ids.dtype.itemsize // 4}"))
    too_large = beyond_int64(ids)
    if too_large is not None:
        raise ValueError(f"ids must fit in int64, got {too_large}")
    return ids.astype(np.int64)


def beyond_int64(ids: np.ndarray) -> int | None:
    """Return the largest of integer `ids` when it does not fit int64 (only uint64 ids can), else None.

    Such ids would wrap to other, negative, ids when converted.
    """
    if ids.dtype == np.uint64 and ids.size and int(ids.max()) > _INT64.max:
        return int(ids.max())
    return None


def id_text_problem(ids: np.ndarray) -> str | None:
    """Return what is wrong with the string ids of `ids` (e.g. ``"must not be empty, got an empty id"``), or None.

    Integer ids are always acceptable. A string id must be 1 to `MAX_ID_CHARS` printable
    characters (no control characters: ids reach terminals and logs).
    """
    if id_kind(ids.dtype) is IdKind.INTEGER:
        return None
    for text in ids.tolist():
        if not text:
            return "must not be empty, got an empty id"
        if len(text) > MAX_ID_CHARS:
            return f"must be at most {MAX_ID_CHARS} characters, got one of {len(text)}"
        if not text.isprintable():
            return f"must be printable characters, got {text!r}"
    return None


def kind_mismatch(what: str, kind: IdKind, reference: str, reference_kind: IdKind) -> str:
    """Return the sentence for ids `what` of kind `kind` that must match `reference`, whose kind is `reference_kind`."""
    form = "integers (int64)" if reference_kind is IdKind.INTEGER else "strings (numpy unicode, dtype <U)"
    return (
        f"{what} holds {kind.value} ids but {reference} holds {reference_kind.value} ids; "
        f"write them as {form}, exactly as {reference} has them"
    )


def few(values: object) -> str:
    """Return the first SHOWN of `values` (an array, a Series or a list) for a message: ``"a, b, c, ..."``.

    Strings are shown without quotes and with their control characters as escapes
    (``b\\x1b``): names and ids read from data files reach a terminal.
    """
    items = list(np.asarray(values).ravel().tolist())
    shown = [repr(item)[1:-1] if isinstance(item, str) else str(item) for item in items[:SHOWN]]
    return ", ".join(shown) + (", ..." if len(items) > SHOWN else "")


def few_ids(ids: np.ndarray) -> str:
    """Return the first few ids of `ids` for a message, e.g. ``"3, 8, 9, 12, 40, ..."``.

    String ids are quoted and escaped (``'a1', 'b\\x1b'``): they may come from a submission,
    and a control character must never reach a terminal.
    """
    shown = [repr(i) if isinstance(i, str) else str(int(i)) for i in ids[:SHOWN].tolist()]
    return ", ".join(shown) + (", ..." if ids.size > SHOWN else "")
