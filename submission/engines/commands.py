"""The container engines' base commands, written once for the runner, the tests and the Makefile.

Standard library only: the Makefile runs this file as a script (``python3
submission/engines/commands.py podman``) before any virtual environment exists, without
importing the `submission` package.
"""

from __future__ import annotations

import shlex
import sys

# podman through runc with cgroupfs: the run's cgroup is made by the runner, not by systemd.
PODMAN_BASE = ("podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs")
DOCKER_BASE = ("docker",)
BASES = {"podman": PODMAN_BASE, "docker": DOCKER_BASE}


def main(argv: list[str]) -> int:
    """Print the base command of the engine named in `argv` (podman or docker) as one shell line.

    Returns 0, or 2 with the engines it knows on stderr when the name is missing or unknown.
    """
    if len(argv) != 1 or argv[0] not in BASES:
        print(f"usage: python3 submission/engines/commands.py {{{','.join(BASES)}}}", file=sys.stderr)
        return 2
    print(shlex.join(BASES[argv[0]]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
