"""Leaving root between the run's cgroup and the sandbox, in the child just before exec.

bubblewrap started by root maps the sandbox user to host root: files the submission
writes are root's, and /proc/sys is the host's to change. So the child drops to the
sandbox user (uid and gid 65534, no supplementary groups) before it execs bwrap, and
bwrap then makes an unprivileged user namespace in which 65534 is 65534 on the host too.

An unprivileged bwrap resolves every bind source by path, so sources under folders the
sandbox user cannot enter (a Python install under /root, a 0700 temporary folder) would
fail. Before dropping root the child enters a private mount namespace and binds each
such source onto an alias under the run's scratch folder; the mounts vanish with the
child, so nothing is left on the host.
"""

from __future__ import annotations

import ctypes
import os
import resource
from collections.abc import Callable, Mapping

SANDBOX_UID = 65534
_CLONE_NEWNS = 0x00020000
_MS_BIND = 0x1000
_MS_REC = 0x4000
_MS_PRIVATE = 0x40000
# Loaded in the parent: a dlopen between fork and exec is not safe.
_LIBC = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")


def sandbox_user_setup(aliases: Mapping[str, str], uid: int = SANDBOX_UID) -> Callable[[], None]:
    """Return what the child runs before exec: bind each source of `aliases` onto its alias, then become `uid`.

    `aliases` maps a host path to an existing empty folder reachable by `uid`; the binds
    are made in a private mount namespace of the child. The returned function raises
    OSError when a step fails (subprocess reports it as the engine failing to start).
    """
    sources = [(source.encode(), alias.encode()) for source, alias in aliases.items()]

    def setup() -> None:
        if sources:
            _check(_LIBC.unshare(_CLONE_NEWNS), "unshare the mount namespace")
            _check(_LIBC.mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None), "make mounts private")
            for source, alias in sources:
                _check(_LIBC.mount(source, alias, None, _MS_BIND | _MS_REC, None), f"bind {source.decode()}")
        # No core files: a crash must not write the process's memory anywhere.
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)

    return setup
