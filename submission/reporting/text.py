"""Making the submission's text safe to print and to store.

Whatever the submission writes (its stderr tail, the strings of its solution.json) reaches
a terminal, a CI job log or run.json. Control characters there can rewrite what a
person sees: `\\r` and `ESC [2K` erase a line and print a fake green "ok", OSC 52 writes
the viewer's clipboard, bidirectional overrides reorder text. They are shown as escapes
instead, so the bytes stay visible and harmless.
"""

from __future__ import annotations

import unicodedata

# Cc: C0, DEL and C1 controls (ESC, CSI, OSC, BEL, \r, \b...); Cf: format characters,
# bidi overrides and zero-width ones among them; Zl, Zp: line and paragraph separators.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


def printable(text: str, keep_tabs: bool = False) -> str:
    """Return `text` with every control, format and separator character shown as an escape.

    ``"\\x1b[32mok"`` becomes ``"\\\\x1b[32mok"``; letters, digits, punctuation and spaces of
    every script are kept. With `keep_tabs` a tab stays a tab (the log keeps columns).
    """
    if text.isprintable():
        return text
    return text.translate(_KEEP_TABS if keep_tabs else _ESCAPE_TABS)


class _Escapes(dict[int, str]):
    """str.translate's table, filled on first sight of each character: a flood of controls costs
    one dictionary look-up per character in C, not a Unicode category look-up in Python."""

    def __init__(self, keep_tabs: bool) -> None:
        super().__init__()
        self.keep_tabs = keep_tabs

    def __missing__(self, code: int) -> str:
        char = chr(code)
        shown = _escape(char) if _unsafe(char, self.keep_tabs) else char
        # The Basic Multilingual Plane at most: a text of every code point cannot grow the table without end.
        if code <= 0xFFFF:
            self[code] = shown
        return shown


_KEEP_TABS = _Escapes(keep_tabs=True)
_ESCAPE_TABS = _Escapes(keep_tabs=False)


def _unsafe(char: str, keep_tabs: bool) -> bool:
    if char == "\t":
        return not keep_tabs
    return unicodedata.category(char) in _UNSAFE_CATEGORIES


def _escape(char: str) -> str:
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
