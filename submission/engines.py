"""The engines a submission can run in, and the exact command each one runs.

- docker / podman run the participant's image (its own command unless one is given),
  with the DevBattle flags: no network, read-only root, no capabilities, limits.
- bwrap runs COMMAND from the staged submission (staging.py) in fresh namespaces, as an
  unprivileged host user, seeing only the system's /usr, the Python environment,
  /submission, /data and /output.
- local runs COMMAND on the host with no isolation at all (limits only): a last resort.

Every engine runs inside the run's cgroup (see cgroup.py): bwrap and local directly,
docker and podman through `--cgroup-parent`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from contracts.names import CONTAINER_DATA, CONTAINER_OUTPUT, CONTAINER_SUBMISSION
from submission.isolation.cgroup import CPU_PERIOD_US, cpu_quota_us
from submission.isolation.privileges import SANDBOX_UID, sandbox_user_setup
from submission.settings import RunSettings

PODMAN_BASE = ("podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs")
DOCKER_BASE = ("docker",)
#: The folder of the run's scratch space that holds the staged submission.
STAGED_SUBMISSION = "submission"
_SYSTEM_DIRS = ("bin", "lib", "lib32", "lib64", "sbin")
_ETC_FILES = ("ld.so.cache", "ld.so.conf", "localtime", "nsswitch.conf", "passwd", "group")
# What docker and podman report as the start time of a container that never started.
_NEVER_STARTED = ("", "0001-01-01T00:00:00Z")


@dataclass(frozen=True)
class Launch:
    """How to start the submission: the argv, its environment and folder, the container's name,
    and what the child runs before exec (after entering the run's cgroup)."""

    argv: list[str]
    env: dict[str, str] | None
    cwd: Path | None
    container: str | None
    setup: Callable[[], None] | None = None


@dataclass(frozen=True)
class ContainerState:
    """What the container engine says of a finished container (`docker inspect`'s State)."""

    started: bool
    exit_code: int | None
    oom_killed: bool
    error: str


class Engine:
    """One way to run a submission. Subclasses fill in `unavailable` and `launch`."""

    name = "engine"
    isolated = True
    #: True when the runner itself puts the started process into the run's cgroup.
    enters_cgroup = True

    def unavailable(self, settings: RunSettings) -> str | None:
        """Return None when this engine can run `settings` here, else why not and the fix."""
        raise NotImplementedError

    def launch(self, settings: RunSettings, cgroup_path: str | None, run_name: str, scratch: Path) -> Launch:
        """Return how to start the submission under this engine.

        `scratch` is the run's private folder: the staged submission is in
        `scratch / STAGED_SUBMISSION`, and the engine may add what it needs.
        """
        raise NotImplementedError

    def stop(self, run_name: str, signal_name: str) -> None:
        """Send a signal to the run through the engine (only containers need it)."""


def _environment(data: str, output: str, time_limit_s: float) -> dict[str, str]:
    return {"DATA_DIR": data, "OUTPUT_DIR": output, "TIME_LIMIT_S": f"{time_limit_s:g}", "PYTHONUNBUFFERED": "1"}


class BwrapEngine(Engine):
    """bubblewrap: namespaces without a container image, for machines with no container engine.

    The sandbox runs as an unprivileged host user (see privileges.py) on a read-only root
    that holds only the system's /usr (and its /bin, /lib links), a few /etc files, the
    Python environment, /submission (the staged run-time files), /data read-only,
    /output read-write and a private /tmp.
    """

    name = "bwrap"

    def unavailable(self, settings: RunSettings) -> str | None:
        if shutil.which("bwrap") is None:
            return "bubblewrap is not installed; install it with `apt-get install bubblewrap`"
        return None

    def launch(self, settings: RunSettings, cgroup_path: str | None, run_name: str, scratch: Path) -> Launch:
        binds = [(prefix, prefix, "--ro-bind") for prefix in _python_prefixes()]
        binds += [
            (str(scratch / STAGED_SUBMISSION), CONTAINER_SUBMISSION, "--ro-bind"),
            (str(settings.data_dir), CONTAINER_DATA, "--ro-bind"),
            (str(settings.output_dir), CONTAINER_OUTPUT, "--bind"),
        ]
        setup = None
        if os.geteuid() == 0:
            # Root drops to the sandbox user before bwrap starts: each source gets an alias
            # that user can reach (privileges.py), and the sandbox binds the alias.
            aliases = {}
            for index, (source, dest, kind) in enumerate(binds):
                alias = scratch / "binds" / str(index)
                alias.mkdir(parents=True)
                aliases[source] = str(alias)
                binds[index] = (str(alias), dest, kind)
            (scratch / "binds").chmod(0o755)
            scratch.chmod(0o755)
            setup = sandbox_user_setup(aliases)
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
        for source, dest, kind in binds:
            argv += [kind, source, dest]
        argv += ["--proc", "/proc", "--dev", "/dev"]
        for device in gpu_devices(settings.gpus):
            argv += ["--dev-bind", device, device]
        env = _environment(CONTAINER_DATA, CONTAINER_OUTPUT, settings.time_limit_s)
        env.update(HOME="/tmp", PATH=f"{Path(os.path.realpath(sys.prefix)) / 'bin'}:/usr/local/bin:/usr/bin:/bin")
        # Last: the root folder read-only, as docker's --read-only (the mounts above keep their own mode).
        argv += ["--remount-ro", "/", "--chdir", CONTAINER_SUBMISSION, "--clearenv"]
        for key, value in env.items():
            argv += ["--setenv", key, value]
        argv += ["--", *settings.command]
        return Launch(argv=argv, env={}, cwd=None, container=None, setup=setup)


def _python_prefixes() -> list[str]:
    """The folders the runner's Python needs (its venv and base install), outside /usr."""
    prefixes = []
    for prefix in sorted({os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix)}):
        if not prefix.startswith("/usr"):
            prefixes.append(prefix)
    return prefixes


def gpu_devices(gpus: str, dev: Path = Path("/dev")) -> list[str]:
    """Return the NVIDIA device nodes a run with `--gpus` may use: none, the first N GPUs, or all.

    The control nodes (nvidiactl, nvidia-uvm...) come with any GPU; `dev` is where to look.
    """
    if gpus == "none":
        return []
    numbered = sorted(
        (path for path in dev.glob("nvidia[0-9]*") if path.name[len("nvidia") :].isdigit()),
        key=lambda path: int(path.name[len("nvidia") :]),
    )
    if gpus != "all":
        numbered = numbered[: int(gpus)]
    if not numbered:
        return []
    control = sorted(path for path in dev.glob("nvidia*") if not path.name[len("nvidia") :].isdigit())
    return [str(path) for path in [*numbered, *control]]


class LocalEngine(Engine):
    """The bare host: limits through the cgroup, but no isolation of files or network."""

    name = "local"
    isolated = False

    def unavailable(self, settings: RunSettings) -> str | None:
        return None

    def launch(self, settings: RunSettings, cgroup_path: str | None, run_name: str, scratch: Path) -> Launch:
        env = dict(os.environ)
        env.update(_environment(str(settings.data_dir), str(settings.output_dir), settings.time_limit_s))
        env["PATH"] = f"{Path(sys.prefix) / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}"
        return Launch(argv=list(settings.command), env=env, cwd=scratch / STAGED_SUBMISSION, container=None)


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

    def launch(self, settings: RunSettings, cgroup_path: str | None, run_name: str, scratch: Path) -> Launch:
        mib = 1024**2
        # The container is kept after it ends (no --rm) so that `state` can read its exit
        # code, OOM kill and error; `remove` deletes it on every way out of the run.
        argv = [
            *self.base,
            "run",
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
            # A quota, not --cpus: docker refuses --cpus above the host's CPU count.
            "--cpu-period",
            str(CPU_PERIOD_US),
            "--cpu-quota",
            str(cpu_quota_us(settings.cpus)),
            "--shm-size",
            f"{settings.shm_size_bytes // mib}m",
            "--user",
            f"{SANDBOX_UID}:{SANDBOX_UID}",
            # The runner keeps the log itself, capped; the engine's copy would not be.
            "--log-driver",
            "none",
            "--volume",
            f"{settings.data_dir}:{CONTAINER_DATA}:ro",
            "--volume",
            f"{settings.output_dir}:{CONTAINER_OUTPUT}:rw",
        ]
        if cgroup_path:
            argv += ["--cgroup-parent", cgroup_path]
        for key, value in _environment(CONTAINER_DATA, CONTAINER_OUTPUT, settings.time_limit_s).items():
            argv += ["--env", f"{key}={value}"]
        argv += self._gpu_flags(settings.gpus)
        argv += self._image_volume_flags(str(settings.image))
        argv += [str(settings.image), *(settings.command if settings.command_given else ())]
        return Launch(argv=argv, env=None, cwd=None, container=run_name)

    def _image_volume_flags(self, image: str) -> list[str]:
        """A tmpfs over each VOLUME of the image: --read-only leaves those writable, on the host's disk, unbounded."""
        if self.name == "podman":
            return ["--image-volume", "tmpfs"]
        done = subprocess.run(
            [*self.base, "image", "inspect", "--format", "{{json .Config.Volumes}}", image],
            capture_output=True,
            text=True,
            timeout=60,
        )
        volumes = json.loads(done.stdout or "null") if done.returncode == 0 else None
        return [flag for path in sorted(volumes or {}) for flag in ("--tmpfs", path)]

    def _gpu_flags(self, gpus: str) -> list[str]:
        if gpus == "none":
            return []
        if self.name == "docker":
            return ["--gpus", gpus if gpus == "all" else f"count={gpus}"]
        if gpus == "all":
            return ["--device", "nvidia.com/gpu=all"]
        return [flag for index in range(int(gpus)) for flag in ("--device", f"nvidia.com/gpu={index}")]

    def stop(self, run_name: str, signal_name: str) -> None:
        subprocess.run([*self.base, "kill", "--signal", signal_name, run_name], capture_output=True, timeout=60)

    def state(self, run_name: str) -> ContainerState | None:
        """Return what the engine says of the ended container `run_name`, or None when there is no such container."""
        done = subprocess.run(
            [*self.base, "inspect", "--type", "container", "--format", "{{json .State}}", run_name],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            return None
        state = json.loads(done.stdout)
        exit_code = state.get("ExitCode")
        return ContainerState(
            started=state.get("StartedAt", "") not in _NEVER_STARTED,
            exit_code=exit_code if isinstance(exit_code, int) else None,
            oom_killed=bool(state.get("OOMKilled")),
            error=str(state.get("Error") or ""),
        )

    def remove(self, run_name: str) -> None:
        """Remove the container, running or not, if it is there."""
        subprocess.run([*self.base, "rm", "--force", "--volumes", run_name], capture_output=True, timeout=120)

    def sees_runner_mounts(self) -> bool:
        """True when the engine binds folders as the runner sees them, mounts made by the runner included.

        podman's runtime is the runner's own child. dockerd binds what it sees in its own
        mount namespace: only when it runs in the runner's (not when the runner is in a
        container given the host's docker socket) does it see a volume the runner mounts.
        """
        if self.name == "podman":
            return True
        own = os.readlink("/proc/self/ns/mnt")
        for comm in Path("/proc").glob("[0-9]*/comm"):
            try:
                if comm.read_text().strip() == "dockerd":
                    return os.readlink(comm.parent / "ns" / "mnt") == own
            except OSError:
                continue
        return False


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
