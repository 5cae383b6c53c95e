"""The run's log: every line timestamped and tagged, capped in size with its head and tail kept.

A submission that prints 200 MB must not fill the disk: the first half of the cap goes
to the file as it comes, the last half is held in a bounded buffer and written at the
end, after one line that says how many bytes were dropped in between. Control characters
are shown as escapes (submission.reporting.text), so `cat log.txt` or a CI job log shows what was
written instead of obeying it.

The runner's own CPU is not the submission's to spend: a line past the head is kept raw
and escaped only if it is still in the tail at the end, so a flood of control characters
costs the runner a bounded amount of escaping (the tail's), not a pass over every byte.
"""

from __future__ import annotations

import collections
import threading
from datetime import UTC, datetime
from typing import IO

from submission.reporting.text import printable

DEFAULT_LOG_LIMIT = 10 * 1024**2
_LINE_MAX = 8192


class CappedLog:
    """A thread-safe log of at most about `limit` bytes (head and tail kept), written to `file`.

    `file` is a binary file opened for writing (RunFiles.create); `close` closes it.
    """

    def __init__(self, file: IO[bytes], limit: int = DEFAULT_LOG_LIMIT) -> None:
        self.limit = limit
        self._head_left = limit // 2
        # (stamp, stream, raw text) lines, escaped at close; their raw sizes count against the tail's half.
        self._tail: collections.deque[tuple[str, str, str]] = collections.deque()
        self._tail_bytes = 0
        self._dropped = 0
        self._lock = threading.Lock()
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=20)
        self._file = file

    @property
    def truncated(self) -> bool:
        """True when some lines were dropped from the middle."""
        return self._dropped > 0

    def stderr_tail(self, lines: int = 5) -> list[str]:
        """Return the last few lines the submission wrote on stderr, control characters escaped."""
        with self._lock:
            kept = list(self._stderr_tail)[-lines:]
        return [_shorten(printable(text, keep_tabs=True)) for text in kept]

    def write(self, stream: str, text: str) -> None:
        """Add one line from `stream` ("stdout", "stderr" or "runner"), timestamped now.

        Control characters in `text` are written as escapes (tabs are kept).
        """
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        with self._lock:
            if stream == "stderr":
                self._stderr_tail.append(text)
            if not self._tail:
                line = _format(stamp, stream, text)
                if self._head_left >= len(line):
                    self._file.write(line)
                    # Line by line, so that `tail -f log.txt` follows a run as it goes.
                    self._file.flush()
                    self._head_left -= len(line)
                    return
            self._tail.append((stamp, stream, text))
            self._tail_bytes += _raw_size(stamp, stream, text)
            while self._tail_bytes > self.limit - self.limit // 2 and self._tail:
                dropped = _raw_size(*self._tail.popleft())
                self._tail_bytes -= dropped
                self._dropped += dropped

    def pump(self, stream: str, source: IO[bytes]) -> None:
        """Copy `source` line by line into the log until it closes (run it in a thread)."""
        for raw in iter(lambda: source.readline(_LINE_MAX), b""):
            self.write(stream, raw.decode("utf-8", "replace").rstrip("\n"))

    def close(self) -> None:
        """Write the kept tail (after a line counting the dropped bytes) and close the file."""
        with self._lock:
            lines = [_format(*entry) for entry in self._tail]
            self._tail.clear()
            # Escapes make a line longer than it came: the tail's half still bounds what is written.
            budget = self.limit - self.limit // 2
            written = sum(len(line) for line in lines)
            first = 0
            while written > budget and first < len(lines):
                written -= len(lines[first])
                self._dropped += len(lines[first])
                first += 1
            if self._dropped:
                self._file.write(f"[... {self._dropped} bytes of log dropped here: the log is capped ...]\n".encode())
            self._file.writelines(lines[first:])
            self._file.close()


def _shorten(text: str) -> str:
    if len(text) > _LINE_MAX:
        return text[:_LINE_MAX] + f" [... {len(text) - _LINE_MAX} characters of this line dropped]"
    return text


def _format(stamp: str, stream: str, text: str) -> bytes:
    """One line of the log: its time, its stream and its text, escaped and cut to _LINE_MAX characters."""
    return f"{stamp} {stream:6} {_shorten(printable(text, keep_tabs=True))}\n".encode("utf-8", "replace")


def _raw_size(stamp: str, stream: str, text: str) -> int:
    """The size of a line before its escapes: what a kept-raw tail line counts against the cap."""
    return len(stamp) + max(len(stream), 6) + len(text) + 3
