"""The kernel's own OOM records, read from /dev/kmsg.

A container engine makes its own cgroup under the run's, and that cgroup (with its OOM
count) can vanish with the container; the kernel log keeps a record of every OOM kill
that names the victim's cgroup, so the run can still be told it ran out of memory.
"""

from __future__ import annotations

import os


def position() -> int | None:
    """Return the kernel log's current sequence number (None when it cannot be read).

    Pass it to `oom_records` so that only records written later are counted.
    """
    records = _records()
    return records[-1][0] if records else None


def oom_records(cgroup: str, since: int | None) -> int:
    """Return how many OOM-kill records after sequence number `since` name a cgroup below `cgroup`.

    `cgroup` is the path inside the hierarchy ("/mcs-runner/run-..."); `since` None counts
    every record still in the log. Never raises: an unreadable log counts nothing.
    """
    pattern = f"task_memcg={cgroup}/"
    return sum(
        1
        for sequence, message in _records()
        if (since is None or sequence > since) and message.startswith("oom-kill:") and pattern in message
    )


def _records() -> list[tuple[int, str]]:
    try:
        fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return []
    records = []
    try:
        while True:
            try:
                raw = os.read(fd, 8192)
            except BlockingIOError:
                break
            except OSError:  # EPIPE: a record was overwritten while reading; go on
                continue
            if not raw:
                break
            header, _, message = raw.decode("utf-8", "replace").partition(";")
            fields = header.split(",")
            if len(fields) >= 2 and fields[1].isdigit():
                records.append((int(fields[1]), message))
    finally:
        os.close(fd)
    return records
