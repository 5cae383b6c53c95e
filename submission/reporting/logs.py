"""The run's log: every line timestamped and tagged, capped in size with its head and tail kept.

A submission that prints 200 MB must not fill the disk: the first half of the cap goes
to the file as it comes, the last half is held in a bounded buffer and written at the
end, after one line that says how many bytes were dropped in between. Control characters
are shown as escapes (submission.reporting.text), so `cat log.txt` or a CI job log shows what was
written instead of obeying it.
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
        self._tail: collections.deque[bytes] = collections.deque()
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
        """Return the last few lines the submission wrote on stderr."""
        with self._lock:
            return list(self._stderr_tail)[-lines:]

    def write(self, stream: str, text: str) -> None:
        """Add one line from `stream` ("stdout", "stderr" or "runner"), timestamped now.

        Control characters in `text` are written as escapes (tabs are kept).
        """
        text = printable(text, keep_tabs=True)
        if len(text) > _LINE_MAX:
            text = text[:_LINE_MAX] + f" [... {len(text) - _LINE_MAX} characters of this line dropped]"
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        line = f"{stamp} {stream:6} {text}\n".encode("utf-8", "replace")
        with self._lock:
            if stream == "stderr":
                self._stderr_tail.append(text)
            if self._head_left >= len(line) and not self._tail:
                self._file.write(line)
                # Line by line, so that `tail -f log.txt` follows a run as it goes.
                self._file.flush()
                self._head_left -= len(line)
                return
            self._tail.append(line)
            self._tail_bytes += len(line)
            while self._tail_bytes > self.limit - self.limit // 2 and self._tail:
                dropped = self._tail.popleft()
                self._tail_bytes -= len(dropped)
                self._dropped += len(dropped)

    def pump(self, stream: str, source: IO[bytes]) -> None:
        """Copy `source` line by line into the log until it closes (run it in a thread)."""
        for raw in iter(lambda: source.readline(_LINE_MAX), b""):
            self.write(stream, raw.decode("utf-8", "replace").rstrip("\n"))

    def close(self) -> None:
        """Write the kept tail (after a line counting the dropped bytes) and close the file."""
        with self._lock:
            if self._dropped:
                self._file.write(f"[... {self._dropped} bytes of log dropped here: the log is capped ...]\n".encode())
            self._file.writelines(self._tail)
            self._tail.clear()
            self._file.close()
