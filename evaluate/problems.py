"""Collecting every problem of an organizer's input at once: one `Finding` per problem, never a stop at the first.

`check-data` (evaluate.checkdata) and the MCS2019 import (evaluate.mcs2019) both note what they
find in a `Problems` and show the whole list in one pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Finding:
    """One problem: the file it is in (relative to the dataset), what is wrong, and how to fix it."""

    file: str
    problem: str
    fix: str

    def __str__(self) -> str:
        """Return ``file: problem; fix: ...`` on one line."""
        return f"{self.file}: {self.problem}; fix: {self.fix}"


@dataclass
class Problems:
    """Every problem found so far, each a `Finding` (file, problem, fix) printed on one line."""

    findings: list[Finding] = field(default_factory=list)

    def add(self, file: str, problem: str, fix: str) -> None:
        """Record one problem in `file` and its fix."""
        self.findings.append(Finding(file, problem, fix))
