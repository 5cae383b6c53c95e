"""local: COMMAND on the bare host, with the run's limits but no isolation at all (a last resort)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from submission.engines.base import STAGED_SUBMISSION, Engine, Launch, environment
from submission.settings import EngineName, RunSettings


class LocalEngine(Engine):
    """The bare host: limits through the cgroup, but no isolation of files or network."""

    name = EngineName.LOCAL
    isolated = False

    def unavailable(self, settings: RunSettings) -> str | None:
        return None

    def launch(self, settings: RunSettings, cgroup_path: str | None, run_name: str, scratch: Path) -> Launch:
        env = dict(os.environ)
        env.update(environment(str(settings.data_dir), str(settings.output_dir)))
        env["PATH"] = f"{Path(sys.prefix) / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}"
        return Launch(argv=list(settings.command), env=env, cwd=scratch / STAGED_SUBMISSION, container=None)
