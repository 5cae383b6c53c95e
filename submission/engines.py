"""The engines a submission can run in, and the exact command each one runs.

- docker / podman run the participant's image (its own command unless one is given),
  with the DevBattle flags: no network, read-only root, no capabilities, limits.
- bwrap runs COMMAND from the submission folder in a fresh namespace that sees only the
  system's /usr, the Python environment, /submission, /data and /output.
- local runs COMMAND on the host with no isolation at all (limits only): a last resort.

Every engine runs inside the run's cgroup (see cgroup.py): bwrap and local directly,
docker and podman through `--cgroup-parent`.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from contracts.names import CONTAINER_DATA, CONTAINER_OUTPUT, CONTAINER_SUBMISSION
from submission.settings import RunSettings

SANDBOX_UID = 65534
PODMAN_BASE = ("podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs")
DOCKER_BASE = ("docker",)
_SYSTEM_DIRS = ("bin", "lib", "lib32", "lib64", "sbin")
_ETC_FILES = ("ld.so.cache", "ld.so.conf", "localtime", "nsswitch.conf", "passwd", "group")


@dataclass(frozen=True)
class Launch:
    """How to start the submission: the argv, its environment and folder, and what it isolates."""

    argv: list[str]
    env: dict[str, str] | None
    cwd: Path | None
    container: str | None


class Engine:
    """One way to run a submission. Subclasses fill in `unavailable` and `launch`."""

    name = "engine"
    isolated = True
    #: True when the runner itself puts the started process into the run's cgroup.
    enters_cgroup = True

    def unavailable(self, settings: RunSettings) -> str | None:
        """Return None when this engine can run `settings` here, else why not and the fix."""
        raise NotImplementedError

    def launch(self, settings: RunSettings, cgroup_path: str | None, run_name: str) -> Launch:
        """Return how to start the submission under this engine."""
        raise NotImplementedError

    def stop(self, run_name: str, signal_name: str) -> None:
        """Send a signal to the run through the engine (only containers need it)."""


def _environment(data: str, output: str) -> dict[str, str]:
    return {"DATA_DIR": data, "OUTPUT_DIR": output, "PYTHONUNBUFFERED": "1"}


class BwrapEngine(Engine):
    """bubblewrap: namespaces without a container image, for machines with no container engine."""

    name = "bwrap"

    def unavailable(self, settings: RunSettings) -> str | None:
        if shutil.which("bwrap") is None:
            return "bubblewrap is not installed; install it with `apt-get install bubblewrap`"
        return None

    def launch(self, settings: RunSettings, cgroup_path: str | None, run_name: str) -> Launch:
        argv = [
            "bwrap",
            "--unshare-all",
            "--unshare-user",
            "--uid",
            str(SANDBOX_UID),
            "--gid",
            str(SANDBOX_UID),
            "--die-with-parent",
            "--new-session",
            "--hostname",
            "submission",
            "--ro-bind",
            "/usr",
            "/usr",
            # The private /tmp comes before the other mounts: a venv that lives under the
            # host's /tmp (a CI checkout) is then bound on top of it instead of hidden by it.
            "--tmpfs",
            "/tmp",
        ]
        for name in _SYSTEM_DIRS:
            path = Path("/") / name
            if path.is_symlink():
                argv += ["--symlink", os.readlink(path), str(path)]
            elif path.is_dir():
                argv += ["--ro-bind", str(path), str(path)]
        for name in _ETC_FILES:
            argv += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
        for prefix in _python_prefixes():
            argv += ["--ro-bind", prefix, prefix]
        argv += [
            "--ro-bind",
            str(settings.submission_dir),
            CONTAINER_SUBMISSION,
            # Ground truth and other runs may sit inside the submission folder (the project
            # root is the default): hide them behind empty folders.
            *_masks(settings),
            "--ro-bind",
            str(settings.data_dir),
            CONTAINER_DATA,
            "--bind",
            str(settings.output_dir),
            CONTAINER_OUTPUT,
            "--proc",
            "/proc",
            "--dev",
            "/dev",
        ]
        if settings.gpus != "none":
            for device in sorted(glob.glob("/dev/nvidia*")):
                argv += ["--dev-bind", device, device]
        env = _environment(CONTAINER_DATA, CONTAINER_OUTPUT)
        env.update(HOME="/tmp", PATH=f"{Path(os.path.realpath(sys.prefix)) / 'bin'}:/usr/local/bin:/usr/bin:/bin")
        argv += ["--chdir", CONTAINER_SUBMISSION, "--clearenv"]
        for key, value in env.items():
            argv += ["--setenv", key, value]
        argv += ["--", *settings.command]
        return Launch(argv=argv, env={}, cwd=None, container=None)


def _python_prefixes() -> list[str]:
    """The folders the runner's Python needs (its venv and base install), outside /usr."""
    prefixes = []
    for prefix in sorted({os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix)}):
        if not prefix.startswith("/usr"):
            prefixes.append(prefix)
    return prefixes


def _masks(settings: RunSettings) -> list[str]:
    """tmpfs mounts hiding the datasets (gt/ is there) and the runs, when they lie inside /submission.

    The dataset root and the folder holding it, the run folder and the folder holding it,
    each only when strictly inside the submission folder.
    """
    masks = []
    hidden_paths = (
        settings.data_dir.parent.parent,
        settings.data_dir.parent,
        settings.run_dir.parent,
        settings.run_dir,
    )
    for hidden in hidden_paths:
        try:
            relative = hidden.resolve().relative_to(settings.submission_dir)
        except ValueError:
            continue
        if relative.parts:
            masks += ["--tmpfs", f"{CONTAINER_SUBMISSION}/{relative.as_posix()}"]
    return masks


class LocalEngine(Engine):
    """The bare host: limits through the cgroup, but no isolation of files or network."""

    name = "local"
    isolated = False

    def unavailable(self, settings: RunSettings) -> str | None:
        return None

    def launch(self, settings: RunSettings, cgroup_path: str | None, run_name: str) -> Launch:
        env = dict(os.environ)
        env.update(_environment(str(settings.data_dir), str(settings.output_dir)))
        env["PATH"] = f"{Path(sys.prefix) / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}"
        return Launch(argv=list(settings.command), env=env, cwd=settings.submission_dir, container=None)


class ContainerEngine(Engine):
    """docker or podman: the participant's image with the DevBattle flags."""

    enters_cgroup = False

    def __init__(self, name: str) -> None:
        self.name = name
        self.base = PODMAN_BASE if name == "podman" else DOCKER_BASE

    def unavailable(self, settings: RunSettings) -> str | None:
        if shutil.which(self.base[0]) is None:
            return f"{self.name} is not installed; install it (`apt-get install {self.name}`) or use --engine bwrap"
        if self.name == "docker" and not docker_engine_reachable():
            return "no docker engine is reachable (the docker CLI is only a client here); use --engine podman or bwrap"
        if not settings.image:
            return f"--engine {self.name} runs an image: give one with --image (build it with `make build`)"
        exists = subprocess.run(
            [*self.base, "image", "inspect", settings.image], capture_output=True, text=True, timeout=60
        )
        if exists.returncode != 0:
            return f"image {settings.image} is not present in {self.name}; build it first with `make build`"
        return None

    def launch(self, settings: RunSettings, cgroup_path: str | None, run_name: str) -> Launch:
        mib = 1024**2
        argv = [
            *self.base,
            "run",
            "--rm",
            "--name",
            run_name,
            "--network",
            "none",
            "--read-only",
            "--tmpfs",
            "/tmp",
            "--cap-drop",
            "ALL",
            "--security-opt",
            "no-new-privileges",
            "--pids-limit",
            str(settings.pids_limit),
            "--memory",
            f"{settings.memory_bytes // mib}m",
            "--memory-swap",
            f"{settings.memory_bytes // mib}m",
            "--cpus",
            f"{settings.cpus:g}",
            "--shm-size",
            f"{settings.shm_size_bytes // mib}m",
            "--user",
            f"{SANDBOX_UID}:{SANDBOX_UID}",
            "--volume",
            f"{settings.data_dir}:{CONTAINER_DATA}:ro",
            "--volume",
            f"{settings.output_dir}:{CONTAINER_OUTPUT}:rw",
        ]
        if cgroup_path:
            argv += ["--cgroup-parent", cgroup_path]
        for key, value in _environment(CONTAINER_DATA, CONTAINER_OUTPUT).items():
            argv += ["--env", f"{key}={value}"]
        if settings.gpus != "none":
            if self.name == "docker":
                argv += ["--gpus", settings.gpus if settings.gpus == "all" else f"count={settings.gpus}"]
            else:
                argv += ["--device", "nvidia.com/gpu=all"]
        argv += [str(settings.image), *(settings.command if settings.command_given else ())]
        return Launch(argv=argv, env=None, cwd=None, container=run_name)

    def stop(self, run_name: str, signal_name: str) -> None:
        subprocess.run([*self.base, "kill", "--signal", signal_name, run_name], capture_output=True, timeout=60)

    def remove(self, run_name: str) -> None:
        """Remove the container if it is still there (after a kill, --rm may not have run yet)."""
        subprocess.run([*self.base, "rm", "--force", run_name], capture_output=True, timeout=120)


def docker_engine_reachable() -> bool:
    """True when the docker CLI can talk to an engine within a few seconds."""
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def make_engine(name: str) -> Engine:
    """Return the engine called `name` (docker, podman, bwrap or local)."""
    if name in ("docker", "podman"):
        return ContainerEngine(name)
    return {"bwrap": BwrapEngine, "local": LocalEngine}[name]()


def choose_engine(settings: RunSettings) -> tuple[Engine, list[str]]:
    """Resolve `--engine auto`: docker, then podman (both only with --image), then bwrap, then local.

    Returns the engine and the reasons the better ones were passed over.
    """
    candidates = ["docker", "podman", "bwrap", "local"] if settings.image else ["bwrap", "local"]
    passed: list[str] = []
    for name in candidates:
        engine = make_engine(name)
        reason = engine.unavailable(settings)
        if reason is None:
            return engine, passed
        passed.append(f"{name}: {reason}")
    raise AssertionError("the local engine is always available")
