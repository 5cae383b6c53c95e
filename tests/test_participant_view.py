"""What a participant reads of a run is bounded: the log's view and run.json's message.

A solution that prints the hidden test images gets at most `participant_log_bytes` (16 KiB)
of log and MESSAGE_LIMIT characters of message out per run; the full log stays in RUN_DIR.
"""

from __future__ import annotations

import base64
import random
import re

import pytest

from contracts.names import PARTICIPANT_LOG_FILE
from submission.reporting.participant_view import MESSAGE_LIMIT, bounded_message, participant_view

VIEW_BYTES = 16 * 1024


def _random_log(rng: random.Random) -> bytes:
    lines = [rng.choice(["", "x", "y" * 50, "z" * 3000]) + str(i) for i in range(rng.randrange(0, 200))]
    text = "\n".join(lines) + rng.choice(["", "\n", "no newline at the end"])
    return text.encode()


@pytest.mark.parametrize("limit", [1024, 1500, 4096, VIEW_BYTES])
def test_the_view_is_bounded_and_made_of_the_logs_own_first_and_last_lines(limit: int) -> None:
    rng = random.Random(limit)
    for _ in range(200):
        log = _random_log(rng)
        view = participant_view(log, limit)
        assert len(view) <= limit
        if len(log) <= limit:
            assert view == log
            continue
        head, marker, tail = re.fullmatch(rb"(.*?)(\[\.\.\. \d+ bytes cut[^\n]*\n)(.*)", view, re.S).groups()
        assert log.startswith(head) and log.endswith(tail)
        assert head == b"" or head.endswith(b"\n")
        assert tail == b"" or log[len(log) - len(tail) - 1 : len(log) - len(tail)] == b"\n"
        assert f"[... {len(log) - len(head) - len(tail)} bytes cut".encode() in marker


def test_a_view_too_small_to_show_a_line_is_refused() -> None:
    with pytest.raises(ValueError, match="must be at least 1024 bytes, got 100"):
        participant_view(b"x\n" * 1000, 100)


def test_the_message_is_bounded() -> None:
    assert bounded_message("short") == "short"
    long = "m" * 41_246
    cut = bounded_message(long)
    assert len(cut) == MESSAGE_LIMIT and cut.endswith("[... 41246 characters, cut]")


@pytest.mark.bwrap
def test_a_solution_printing_the_test_images_gets_out_at_most_the_bound(runner, dataset) -> None:
    run = runner("bwrap", "prints_images")
    images = sorted((dataset / "test" / "images").glob("*.jpg"))
    encoded = {base64.b64encode(path.read_bytes()).decode() for path in images}
    assert sum(len(text) for text in encoded) > 10 * VIEW_BYTES, "the test set must be larger than the bound"
    full_log = run.log
    assert all(text in full_log for text in encoded), "the organizers' full log keeps everything"
    view = (run.run_dir / PARTICIPANT_LOG_FILE).read_text(encoding="utf-8")
    message = run.report["message"]
    assert len(view.encode()) <= VIEW_BYTES
    assert len(message) <= MESSAGE_LIMIT
    assert run.report["status"] == "failed" and "last stderr lines: IMAGE " in message
    seen = view + message + run.stderr
    # Whole images out: at most what the bound can hold.
    whole = [text for text in encoded if text in seen]
    assert len(whole) * min(len(text) for text in encoded) <= VIEW_BYTES + MESSAGE_LIMIT
