"""bubblewrap: namespaces without a container image, for machines with no container engine."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from contracts.competition import Gpus
from contracts.names import CONTAINER_DATA, CONTAINER_OUTPUT, CONTAINER_SUBMISSION
from submission.engines.base import STAGED_SUBMISSION, Engine, Launch, environment
from submission.isolation.privileges import SANDBOX_UID, sandbox_user_setup
from submission.settings import EngineName, RunSettings

_SYSTEM_DIRS = ("bin", "lib", "lib32", "lib64", "sbin")
_ETC_FILES = ("ld.so.cache", "ld.so.conf", "localtime", "nsswitch.conf", "passwd", "group")


class BwrapEngine(Engine):
    """bubblewrap: COMMAND from the staged submission (staging.py) in fresh namespaces.

    The sandbox runs as an unprivileged host user (see privileges.py) on a read-only root
    that holds only the system's /usr (and its /bin, /lib links), a few /etc files, the
    Python environment, /submission (the staged run-time files), /data read-only,
    /output read-write and a private /tmp.
    """

    name = EngineName.BWRAP

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
        env = environment(CONTAINER_DATA, CONTAINER_OUTPUT)
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


def gpu_devices(gpus: Gpus, dev: Path = Path("/dev")) -> list[str]:
    """Return the NVIDIA device nodes a run with `--gpus` may use: none, the first N GPUs, or all.

    The control nodes (nvidiactl, nvidia-uvm...) come with any GPU; `dev` is where to look.
    """
    numbered = sorted(
        (path for path in dev.glob("nvidia[0-9]*") if path.name[len("nvidia") :].isdigit()),
        key=lambda path: int(path.name[len("nvidia") :]),
    )
    if gpus.number is not None:
        numbered = numbered[: gpus.number]
    if not numbered:
        return []
    control = sorted(path for path in dev.glob("nvidia*") if not path.name[len("nvidia") :].isdigit())
    return [str(path) for path in [*numbered, *control]]
