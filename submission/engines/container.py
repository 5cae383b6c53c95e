"""docker and podman: the participant's image with the DevBattle flags (no network, read-only
root, no capabilities, limits), in the run's cgroup through `--cgroup-parent`.

What the two share is `ContainerEngine`; what differs (the base command, whether the
engine answers, the image's VOLUMEs, GPUs, which mounts the engine sees) is written once
in each subclass.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from contracts.competition import Gpus
from contracts.names import CONTAINER_DATA, CONTAINER_OUTPUT
from submission.engines.base import Engine, Launch, environment
from submission.engines.commands import DOCKER_BASE, PODMAN_BASE
from submission.isolation.cgroup import CPU_PERIOD_US, cpu_quota_us
from submission.isolation.privileges import SANDBOX_UID
from submission.isolation.seccomp import container_args
from submission.settings import EngineName, RunSettings

# What docker and podman report as the start time of a container that never started.
_NEVER_STARTED = ("", "0001-01-01T00:00:00Z")


@dataclass(frozen=True)
class ContainerState:
    """What the container engine says of a finished container (`docker inspect`'s State)."""

    started: bool
    exit_code: int | None
    oom_killed: bool
    error: str


class ContainerEngine(Engine):
    """What docker and podman share: the `run` flags, signals, the ended container's state, removal."""

    enters_cgroup = False
    #: The engine's command and the options it always takes.
    base: tuple[str, ...]

    def unavailable(self, settings: RunSettings) -> str | None:
        if shutil.which(self.base[0]) is None:
            return f"{self.name} is not installed; install it (`apt-get install {self.name}`) or use --engine bwrap"
        reason = self._unreachable()
        if reason:
            return reason
        if not settings.image:
            return f"--engine {self.name} runs an image: give one with --image (build it with `make build`)"
        exists = subprocess.run(
            [*self.base, "image", "inspect", settings.image], capture_output=True, text=True, timeout=60
        )
        if exists.returncode != 0:
            return f"image {settings.image} is not present in {self.name}; build it first with `make build`"
        return None

    def _unreachable(self) -> str | None:
        """Return why the engine does not answer, or None when it does."""
        return None

    def image_volumes(self, image: str) -> list[str]:
        """Return the folders the image declares as VOLUME, sorted (none when it cannot be inspected)."""
        done = subprocess.run(
            [*self.base, "image", "inspect", "--format", "{{json .Config.Volumes}}", image],
            capture_output=True,
            text=True,
            timeout=60,
        )
        volumes = json.loads(done.stdout or "null") if done.returncode == 0 else None
        return sorted(volumes or {})

    def image_problem(self, settings: RunSettings) -> str | None:
        """Return what in the participant's image keeps it from running under the contract, or None.

        A VOLUME at /output or /data (or inside them) would hide or shadow the run's own
        mounts: docker refuses the container ("Duplicate mount point"), podman hides
        /output behind the volume. Either way it is the image's to fix.
        """
        ours = (CONTAINER_OUTPUT, CONTAINER_DATA)
        clashing = [
            path
            for path in self.image_volumes(str(settings.image))
            if any(path.rstrip("/") == mount or path.startswith(mount + "/") for mount in ours)
        ]
        if not clashing:
            return None
        return (
            f"the image declares VOLUME {', '.join(clashing)}, where the runner mounts "
            f"{' and '.join(ours)}: remove that VOLUME line from the Dockerfile and rebuild the image"
        )

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
            *container_args(scratch),
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
        for key, value in environment(CONTAINER_DATA, CONTAINER_OUTPUT, settings.time_limit_s).items():
            argv += ["--env", f"{key}={value}"]
        argv += self._gpu_flags(settings.gpus)
        argv += self._image_volume_flags(str(settings.image))
        argv += [str(settings.image), *(settings.command if settings.command_given else ())]
        return Launch(argv=argv, env=None, cwd=None, container=run_name)

    def _image_volume_flags(self, image: str) -> list[str]:
        """A tmpfs over each VOLUME of the image: --read-only leaves those writable, on the host's disk, unbounded."""
        raise NotImplementedError

    def _gpu_flags(self, gpus: Gpus) -> list[str]:
        """The flags that give the container the GPUs `gpus` asks for."""
        raise NotImplementedError

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
        """True when the engine binds folders as the runner sees them, mounts made by the runner included."""
        raise NotImplementedError


class DockerEngine(ContainerEngine):
    """docker: a daemon that must answer, `--gpus`, and a tmpfs for each VOLUME the image declares."""

    name = EngineName.DOCKER
    base = DOCKER_BASE

    def _unreachable(self) -> str | None:
        if not docker_engine_reachable():
            return "no docker engine is reachable (the docker CLI is only a client here); use --engine podman or bwrap"
        return None

    def _image_volume_flags(self, image: str) -> list[str]:
        return [flag for path in self.image_volumes(image) for flag in ("--tmpfs", path)]

    def _gpu_flags(self, gpus: Gpus) -> list[str]:
        if gpus.number == 0:
            return []
        return ["--gpus", "all" if gpus.number is None else f"count={gpus.number}"]

    def sees_runner_mounts(self) -> bool:
        """dockerd binds what it sees in its own mount namespace: only when it runs in the runner's
        (not when the runner is in a container given the host's docker socket) does it see a
        volume the runner mounts."""
        own = os.readlink("/proc/self/ns/mnt")
        for comm in Path("/proc").glob("[0-9]*/comm"):
            try:
                if comm.read_text().strip() == "dockerd":
                    return os.readlink(comm.parent / "ns" / "mnt") == own
            except OSError:
                continue
        return False


class PodmanEngine(ContainerEngine):
    """podman (runc, cgroupfs): daemonless, CDI devices for GPUs, `--image-volume tmpfs`."""

    name = EngineName.PODMAN
    base = PODMAN_BASE

    def _image_volume_flags(self, image: str) -> list[str]:
        return ["--image-volume", "tmpfs"]

    def _gpu_flags(self, gpus: Gpus) -> list[str]:
        if gpus.number is None:
            return ["--device", "nvidia.com/gpu=all"]
        return [flag for index in range(gpus.number) for flag in ("--device", f"nvidia.com/gpu={index}")]

    def sees_runner_mounts(self) -> bool:
        """podman's runtime is the runner's own child: it sees the runner's mounts."""
        return True


def docker_engine_reachable() -> bool:
    """True when the docker CLI can talk to an engine within a few seconds."""
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except subprocess.TimeoutExpired:
        return False
