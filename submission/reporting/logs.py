"""The run's log: every line timestamped and tagged, capped in size with its head and tail kept.

A submission that prints 200 MB must not fill the disk: the first half of the cap goes
to the file as it comes, the last half is held in a bounded buffer and written at the
end, after one line that says how many bytes were dropped in between. Control characters
are shown as escapes (submission.reporting.text), so `cat log.txt` or a CI job log shows what was
written instead of obeying it.

The runner's own CPU is not the submission's to spend: the pumps read blocks, not lines,
and once the head is written a block's lines are kept raw, counted with a few C-level
calls, and escaped and stamped only if they are still in the tail at the end. A flood of
control characters or of empty lines costs the runner a bounded amount of per-line work
(the head's and the tail's lines), not work per line it was sent.
"""

from __future__ import annotations

import collections
import os
import threading
from datetime import UTC, datetime
from typing import IO

from submission.reporting.text import printable

DEFAULT_LOG_LIMIT = 10 * 1024**2
_LINE_MAX = 8192
_BLOCK = 64 * 1024
_STAMP = "%Y-%m-%dT%H:%M:%S.%fZ"


class CappedLog:
    """A thread-safe log of at most about `limit` bytes (head and tail kept), written to `file`.

    `file` is a binary file opened for writing (RunFiles.create); `close` closes it.
    """

    def __init__(self, file: IO[bytes], limit: int = DEFAULT_LOG_LIMIT) -> None:
        self.limit = limit
        self._head_left = limit // 2
        self._tail_budget = limit - limit // 2
        # (stamp, stream, raw lines, their size as counted): escaped and written at close.
        self._tail: collections.deque[tuple[str, str, list[bytes], int]] = collections.deque()
        self._tail_bytes = 0
        self._dropped = 0
        self._lock = threading.Lock()
        self._stderr_tail: collections.deque[bytes] = collections.deque(maxlen=20)
        self._file = file

    @property
    def truncated(self) -> bool:
        """True when some lines were dropped from the middle."""
        return self._dropped > 0

    def stderr_tail(self, lines: int = 5) -> list[str]:
        """Return the last few lines the submission wrote on stderr, control characters escaped."""
        with self._lock:
            kept = list(self._stderr_tail)[-lines:]
        return [_shown(raw) for raw in kept]

    def write(self, stream: str, text: str) -> None:
        """Add one line from `stream` ("stdout", "stderr" or "runner"), timestamped now.

        Control characters in `text` are written as escapes (tabs are kept).
        """
        self._add(stream, [text.encode("utf-8", "replace")])

    def pump(self, stream: str, source: IO[bytes]) -> None:
        """Copy `source` into the log until it closes (run it in a thread), a line at most _LINE_MAX bytes."""
        descriptor = source.fileno()
        pending = b""
        while block := os.read(descriptor, _BLOCK):
            lines = (pending + block).split(b"\n")
            pending = lines.pop()
            while len(pending) >= _LINE_MAX:
                lines.append(pending[:_LINE_MAX])
                pending = pending[_LINE_MAX:]
            if lines:
                self._add(stream, lines)
        if pending:
            self._add(stream, [pending])

    def _add(self, stream: str, lines: list[bytes]) -> None:
        """Write `lines` to the head while it has room; keep the rest raw in the tail, oldest dropped first."""
        stamp = datetime.now(UTC).strftime(_STAMP)
        with self._lock:
            if stream == "stderr":
                self._stderr_tail.extend(lines[-20:])
            written = 0
            if not self._tail:
                for raw in lines:
                    line = _format(stamp, stream, raw)
                    if self._head_left < len(line):
                        break
                    self._file.write(line)
                    self._head_left -= len(line)
                    written += 1
                # Block by block, so that `tail -f log.txt` follows a run as it goes.
                self._file.flush()
            if written < len(lines):
                self._keep(stamp, stream, lines[written:])

    def _keep(self, stamp: str, stream: str, lines: list[bytes]) -> None:
        """Append raw `lines` to the tail and drop its oldest entries beyond the tail's half of the cap."""
        overhead = _overhead(stamp, stream)
        size = sum(map(len, lines)) + overhead * len(lines)
        if size > self._tail_budget:
            first, kept = len(lines), 0
            while first > 0 and kept + len(lines[first - 1]) + overhead <= self._tail_budget:
                first -= 1
                kept += len(lines[first]) + overhead
            self._dropped += size - kept
            lines, size = lines[first:], kept
        self._tail.append((stamp, stream, lines, size))
        self._tail_bytes += size
        while self._tail_bytes > self._tail_budget:
            *_, dropped = self._tail.popleft()
            self._tail_bytes -= dropped
            self._dropped += dropped

    def close(self) -> None:
        """Write the kept tail (after a line counting the dropped bytes) and close the file."""
        with self._lock:
            lines = [_format(stamp, stream, raw) for stamp, stream, raws, _ in self._tail for raw in raws]
            self._tail.clear()
            # Escapes make a line longer than it came: the tail's half still bounds what is written.
            written = sum(len(line) for line in lines)
            first = 0
            while written > self._tail_budget and first < len(lines):
                written -= len(lines[first])
                self._dropped += len(lines[first])
                first += 1
            if self._dropped:
                self._file.write(f"[... {self._dropped} bytes of log dropped here: the log is capped ...]\n".encode())
            self._file.writelines(lines[first:])
            self._file.close()


def _shown(raw: bytes) -> str:
    """A raw line as the log shows it: decoded, control characters escaped, cut to _LINE_MAX characters."""
    text = printable(raw.decode("utf-8", "replace"), keep_tabs=True)
    if len(text) > _LINE_MAX:
        return text[:_LINE_MAX] + f" [... {len(text) - _LINE_MAX} characters of this line dropped]"
    return text


def _format(stamp: str, stream: str, raw: bytes) -> bytes:
    """One line of the log: its time, its stream and its text as shown."""
    return f"{stamp} {stream:6} {_shown(raw)}\n".encode("utf-8", "replace")


def _overhead(stamp: str, stream: str) -> int:
    """The bytes a line's stamp and stream add to it: what each kept raw line counts beyond its own."""
    return len(stamp) + max(len(stream), 6) + 3
