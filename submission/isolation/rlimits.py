"""The fallback limits when no per-run cgroup can be made: rlimits set in the child before exec.

They are weaker than a cgroup: the memory limit is on address space, per process; the
process limit counts every process of the user (and does not bind root); the CPU quota
and the kill of processes left behind are not possible at all. The run's log says so.
"""

from __future__ import annotations

import resource
from collections.abc import Callable


def rlimit_setter(memory_bytes: int, pids: int) -> Callable[[], None]:
    """Return a function that, called in the child before exec, caps its address space and processes."""

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        resource.setrlimit(resource.RLIMIT_NPROC, (pids, pids))

    return apply
