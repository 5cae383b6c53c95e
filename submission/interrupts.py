"""SIGINT and SIGTERM to the runner (Ctrl-C, a cancelled CI job) as an exception that cleans up.

Python's default for SIGTERM is to die on the spot: no run.json, the container still
running, the cgroup left behind. Raised as `RunInterrupted` instead, the signal unwinds
the run through its `finally` blocks, which stop the submission and write the report.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from types import FrameType

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class RunInterrupted(BaseException):
    """The runner received `signum`; a BaseException so that no `except Exception` swallows it."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"the runner received {signal.Signals(signum).name}")


@contextlib.contextmanager
def signals_interrupt_the_run() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise RunInterrupted once; later ones are ignored
    while the run cleans up. The previous handlers are restored on exit. Main thread only."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        for other in _SIGNALS:
            signal.signal(other, signal.SIG_IGN)
        raise RunInterrupted(signum)

    previous = {signum: signal.signal(signum, interrupt) for signum in _SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
