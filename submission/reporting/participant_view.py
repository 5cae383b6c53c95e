"""What a participant may read of a run: a bounded view of the log and a bounded message.

The full log (RUN_DIR/log.txt, up to --log-limit) stays with the organizers: a solution
that prints the test images would otherwise carry them out through the CI job's log and
artifacts (3,500 demo images in one 7.9 MB log). The view holds the log's first and last
whole lines, at most `participant_log_bytes` of competition.yaml (16 KiB by default) in
all, and run.json's message is cut to MESSAGE_LIMIT characters: together the most a
submission can say to its team per run.
"""

from __future__ import annotations

#: The most characters of run.json's `message` (a failing run quotes the submission's stderr).
MESSAGE_LIMIT = 1024
#: The smallest view that still shows a line of each end.
MIN_VIEW_BYTES = 1024


def bounded_message(message: str, limit: int = MESSAGE_LIMIT) -> str:
    """Return `message` if it has at most `limit` characters, else its start and a note, `limit` characters in all."""
    if len(message) <= limit:
        return message
    note = f" [... {len(message)} characters, cut]"
    return message[: limit - len(note)] + note


def participant_view(log: bytes, limit: int) -> bytes:
    """Return the first and last whole lines of `log`, at most `limit` bytes with the line that marks the cut.

    The whole log when it fits. Lines are never split: a head or tail line that does not
    fit whole is left out. Raises ValueError when `limit` is below MIN_VIEW_BYTES.
    """
    if limit < MIN_VIEW_BYTES:
        raise ValueError(f"the participant's view of the log must be at least {MIN_VIEW_BYTES} bytes, got {limit}")
    if len(log) <= limit:
        return log
    marker_room = 120
    half = (limit - marker_room) // 2
    head_end = log.rfind(b"\n", 0, half) + 1
    tail_start = log.find(b"\n", len(log) - half - 1) + 1 or len(log)
    tail_start = max(tail_start, head_end)
    hidden = tail_start - head_end
    marker = (
        f"[... {hidden} bytes cut: the organizers keep the whole log; a participant sees its ends ...]\n"
    ).encode()
    return log[:head_end] + marker + log[tail_start:]
