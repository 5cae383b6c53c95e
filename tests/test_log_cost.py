"""The log path costs the runner little, whatever the submission prints, and shows it exactly.

A submission held to a fraction of a CPU must not make the runner (root, outside its
cgroup) spend seconds of its own: a control-character flood is escaped once per kept byte.
"""

from __future__ import annotations

import os
import random
import threading
import time
import unicodedata
from pathlib import Path

import pytest

from submission.reporting.logs import CappedLog
from submission.reporting.text import printable

FLOOD_BYTES = 64 * 1024**2
FLOOD_CPU_BOUND_S = 5.0


def _reference(text: str, keep_tabs: bool) -> str:
    """Escape character by character, by Unicode category: the obviously right and slow way."""
    out = []
    for char in text:
        unsafe = (not keep_tabs) if char == "\t" else unicodedata.category(char) in {"Cc", "Cf", "Zl", "Zp"}
        code = ord(char)
        if not unsafe:
            out.append(char)
        elif code <= 0xFF:
            out.append(f"\\x{code:02x}")
        else:
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
    return "".join(out)


def test_printable_matches_the_reference_on_random_text() -> None:
    rng = random.Random(0)
    pools = [range(0, 0x100), range(0x2000, 0x2070), range(0xFFF0, 0x10000), range(0x1F000, 0x1F100)]
    pools.append(range(0xE0000, 0xE0080))
    for _ in range(300):
        text = "".join(chr(rng.choice(rng.choice(pools))) for _ in range(rng.randrange(0, 60)))
        for keep_tabs in (False, True):
            assert printable(text, keep_tabs) == _reference(text, keep_tabs)


def _log_lines(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.split(" ", 2)[2] for line in lines if not line.startswith("[...")]


def test_the_tail_is_escaped_as_the_head_is(tmp_path: Path) -> None:
    log = CappedLog((tmp_path / "log.txt").open("wb"), limit=4096)
    texts = [f"line {i} \x1b[2K\r\u202e{'x' * (i % 7)}" for i in range(200)]
    for text in texts:
        log.write("stdout", text)
    log.write("stderr", "last \x07 words")
    log.close()
    shown = _log_lines(tmp_path / "log.txt")
    expected = [_reference(t, keep_tabs=True) for t in [*texts, "last \x07 words"]]
    assert log.truncated
    assert shown[:5] == expected[:5]
    assert shown[-5:] == expected[-5:]
    assert (tmp_path / "log.txt").stat().st_size <= 4096 + 100
    assert log.stderr_tail() == ["last \\x07 words"]


@pytest.mark.parametrize(
    ("chunk", "needle"),
    [(b"\x1b[2K\r\x07" * 2000 + b"\n", "\\x1b[2K\\x0d\\x07"), (b"\x07\n" * 4096, " \\x07\n")],
    ids=["long-lines", "one-character-lines"],
)
def test_a_control_character_flood_costs_the_runner_little_cpu(tmp_path: Path, chunk: bytes, needle: str) -> None:
    """Before: 22.8 s for long lines and 16.1 s for 8 MiB (not 64) of one-character lines; after: under 1 s each."""
    read_end, write_end = os.pipe()

    def flood() -> None:
        with os.fdopen(write_end, "wb") as sink:
            for _ in range(FLOOD_BYTES // len(chunk)):
                sink.write(chunk)

    writer = threading.Thread(target=flood)
    log = CappedLog((tmp_path / "log.txt").open("wb"), limit=10 * 1024**2)
    writer.start()
    # The writer thread's share is a plain pipe write: nearly all of the process's CPU is the log's.
    before = time.process_time()
    with os.fdopen(read_end, "rb") as source:
        log.pump("stdout", source)
    writer.join()
    log.close()
    spent = time.process_time() - before
    assert spent < FLOOD_CPU_BOUND_S, f"logging a {FLOOD_BYTES >> 20} MiB flood cost the runner {spent:.1f}s of CPU"
    assert (tmp_path / "log.txt").stat().st_size <= 10 * 1024**2 + 200
    assert needle in (tmp_path / "log.txt").read_text(encoding="utf-8")[-20000:]
