"""The repository stands alone: what its documents point to is in it, what its tools leave behind is ignored."""

from __future__ import annotations

import os
import pty
import re
import subprocess
from pathlib import Path

import pytest

from submission.engines.container import PODMAN_BASE

ROOT = Path(__file__).resolve().parent.parent
# Markdown links to files, [text](path), not to web pages or anchors of the same page.
LOCAL_LINK = re.compile(r"\]\((?!https?://|#)([^)#\s]+)(?:#[^)]*)?\)")
# Links to a heading of the same page, [text](#anchor).
PAGE_ANCHOR = re.compile(r"\]\(#([^)\s]+)\)")
# A Markdown file's name, with or without its folders.
MARKDOWN_NAME = re.compile(r"\b(?:[\w.-]+/)*[A-Za-z][\w-]*\.md\b")
# Settings given so that `make help` needs no container engine to answer.
QUICK_MAKE = ["make", "--no-print-directory", "-s", "help", "CONTAINER=podman", "BASE=local"]


def tracked_files() -> list[Path]:
    """The files git tracks, plus those not ignored (a new document counts before its commit)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    return [ROOT / name for name in listed if (ROOT / name).is_file()]


@pytest.mark.parametrize("document", ["README.md", "docs/design.md", "docs/platform.md"])
def test_every_local_link_of_a_document_is_a_file_of_the_repository(document: str) -> None:
    path = ROOT / document
    links = LOCAL_LINK.findall(path.read_text(encoding="utf-8"))
    missing = [link for link in links if not (path.parent / link).exists()]
    assert not missing, f"{document} links to {missing}, which the repository does not hold"


def heading_anchor(heading: str) -> str:
    """Return the anchor a Markdown renderer gives `heading`: lower case, punctuation dropped, spaces as dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("document", ["README.md", "docs/design.md", "docs/platform.md"])
def test_every_anchor_of_a_document_names_one_of_its_headings(document: str) -> None:
    text = (ROOT / document).read_text(encoding="utf-8")
    headings = {heading_anchor(line.lstrip("#")) for line in text.splitlines() if line.startswith("#")}
    missing = sorted(set(PAGE_ANCHOR.findall(text)) - headings)
    assert not missing, f"{document} links to #{missing}, headings it does not have"


def test_every_markdown_file_named_in_the_repository_is_in_it() -> None:
    names = {p.name for p in tracked_files() if p.suffix == ".md"}
    texts = [p for p in tracked_files() if p.suffix in {".py", ".md", ".txt", ".sh", ".yml", ".toml", ""}]
    absent = set()
    for path in texts:
        for match in MARKDOWN_NAME.findall(path.read_text(encoding="utf-8", errors="replace")):
            if Path(match).name not in names:
                absent.add(f"{path.relative_to(ROOT)}: {match}")
    assert not absent, f"these point to documents the repository does not hold: {sorted(absent)}"


@pytest.mark.parametrize("left", ["run/run.json", "public-score/score.json"])
def test_what_make_ci_local_leaves_in_the_checkout_is_ignored(left: str) -> None:
    done = subprocess.run(["git", "check-ignore", "--quiet", "--no-index", left], cwd=ROOT)
    assert done.returncode == 0, f"{left} (left by make ci-local's jobs) is not in .gitignore"


def test_the_makefile_drives_podman_with_the_runners_base_command() -> None:
    shown = subprocess.run(
        ["make", "--no-print-directory", "-s", "--eval", "show-podman: ; @echo $(PODMAN)", "show-podman"]
        + ["CONTAINER=podman", "BASE=local"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert shown.stdout.split() == list(PODMAN_BASE)


def test_make_help_prints_no_colour_codes_into_a_pipe() -> None:
    done = subprocess.run(QUICK_MAKE, cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    assert "\x1b" not in done.stdout
    assert re.search(r"^  validate +Score AGGREGATOR on the train persons", done.stdout, re.MULTILINE)


def test_make_help_colours_the_targets_on_a_terminal() -> None:
    controller, terminal = pty.openpty()
    with subprocess.Popen(QUICK_MAKE, cwd=ROOT, stdout=terminal, stderr=subprocess.DEVNULL) as process:
        os.close(terminal)
        chunks = []
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal is closed once make exits
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert process.wait(timeout=120) == 0
    os.close(controller)
    assert "\x1b[36mvalidate" in b"".join(chunks).decode()
