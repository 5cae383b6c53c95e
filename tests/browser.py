"""A page seen by a real headless Chromium (Debian's `chromium`): its rendered DOM and a screenshot."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

CHROMIUM = "chromium"
TIMEOUT_S = 120


def chromium_missing() -> str | None:
    """Return why no headless Chromium can run here, or None."""
    if shutil.which(CHROMIUM) is None:
        return "chromium is not installed (.ci/run installs Debian's chromium)"
    return None


def _chromium(page: Path, profile: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={profile}",
            "--window-size=1200,700",
            *options,
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=True,
    )


def rendered(page: Path, screenshot: Path) -> str:
    """Open `page` in headless Chromium, write its screenshot to `screenshot` (PNG) and return the rendered DOM."""
    profile = screenshot.parent / f".{screenshot.stem}-profile"
    _chromium(page, profile, f"--screenshot={screenshot}")
    return _chromium(page, profile, "--dump-dom").stdout


def table_rows(dom: str) -> list[list[str]]:
    """Return the cells of each body row of the DOM's table with id `leaderboard`."""
    table = re.search(r'<table id="leaderboard">(.*?)</table>', dom, re.DOTALL)
    assert table, "the page has no leaderboard table"
    rows = re.findall(r"<tr>(.*?)</tr>", table.group(1), re.DOTALL)
    return [re.findall(r"<td>(.*?)</td>", row, re.DOTALL) for row in rows if "<td>" in row]
