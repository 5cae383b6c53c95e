"""The engines a submission can run in, one class each, and the choice among them.

- docker / podman (container.py) run the participant's image (its own command unless one
  is given), with the DevBattle flags: no network, read-only root, no capabilities, limits.
- bwrap (bwrap.py) runs COMMAND from the staged submission (staging.py) in fresh
  namespaces, as an unprivileged host user, seeing only the system's /usr, the Python
  environment, /submission, /data and /output.
- local (local.py) runs COMMAND on the host with no isolation at all (limits only): a last resort.

Every engine runs inside the run's cgroup (see cgroup.py): bwrap and local directly,
docker and podman through `--cgroup-parent`.
"""

from __future__ import annotations

from submission.engines.base import Engine
from submission.engines.bwrap import BwrapEngine
from submission.engines.container import DockerEngine, PodmanEngine
from submission.engines.local import LocalEngine
from submission.settings import EngineName, RunSettings

_ENGINES: dict[EngineName, type[Engine]] = {
    EngineName.DOCKER: DockerEngine,
    EngineName.PODMAN: PodmanEngine,
    EngineName.BWRAP: BwrapEngine,
    EngineName.LOCAL: LocalEngine,
}


def make_engine(name: EngineName | str) -> Engine:
    """Return the engine called `name` (docker, podman, bwrap or local).

    Raises ValueError for an unknown name, KeyError for auto (see `choose_engine`).
    """
    return _ENGINES[EngineName(name)]()


def choose_engine(settings: RunSettings) -> tuple[Engine, list[str]]:
    """Resolve `--engine auto`: docker, then podman (both only with --image), then bwrap, then local.

    Returns the engine and the reasons the better ones were passed over.
    """
    order = [EngineName.DOCKER, EngineName.PODMAN] if settings.image else []
    passed: list[str] = []
    for name in [*order, EngineName.BWRAP, EngineName.LOCAL]:
        engine = make_engine(name)
        reason = engine.unavailable(settings)
        if reason is None:
            return engine, passed
        passed.append(f"{name}: {reason}")
    raise AssertionError("the local engine is always available")
