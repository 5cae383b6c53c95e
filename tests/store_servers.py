"""Results stores for tests: an SQLite file, or a throwaway PostgreSQL server (Debian's package) on a Unix socket.

The server is made as docs/platform.md says: a folder owned by `postgres`, initdb with trust
authentication, pg_ctl listening on a socket in that folder only (no TCP); stopped and
removed by the fixture that started it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")


def postgres_missing() -> str | None:
    """Return why no throwaway PostgreSQL server can be started here, or None."""
    if not (POSTGRES_BIN / "initdb").exists():
        return "PostgreSQL 15 is not installed (.ci/run installs Debian's postgresql)"
    if os.geteuid() != 0 and shutil.which("runuser") is None:
        return "starting PostgreSQL as the postgres user needs root"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (make venv installs requirements/host.txt)"
    return None


def _as_postgres(*command: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command]


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start a PostgreSQL server with its data and socket in a new folder of /tmp; yield its URL; stop and remove it.

    The folder is not under pytest's tmp_path, whose root-only parents the postgres user cannot enter.
    """
    folder = Path(tempfile.mkdtemp(prefix="mcs-store-pg-"))
    shutil.chown(folder, "postgres", "postgres")
    folder.chmod(0o700)
    data = folder / "data"
    subprocess.run(
        _as_postgres(str(POSTGRES_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"),
        check=True,
        capture_output=True,
    )
    options = f"-k {folder} -c listen_addresses= -c fsync=off"
    subprocess.run(
        _as_postgres(
            str(POSTGRES_BIN / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start"
        ),
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://postgres@/postgres?host={folder}"
    finally:
        subprocess.run(
            _as_postgres(str(POSTGRES_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"), capture_output=True
        )
        shutil.rmtree(folder, ignore_errors=True)
