"""The /etc a bwrap sandbox sees: written for it, naming nothing of the host.

The host's passwd and group list its users, hosts its names and addresses, resolv.conf
its network. The sandbox gets its own copies instead, holding only the sandbox user, the
sandbox's hostname and no name server (there is no network). Only files the C library
reads at run time are kept from the host: the linker's cache and the time zone.
"""

from __future__ import annotations

from pathlib import Path

from submission.isolation.privileges import SANDBOX_UID

#: The sandbox's hostname, in /etc/hosts and given to bwrap.
HOSTNAME = "submission"
#: Host files bound read-only as they are: what the dynamic linker and localtime(3) read.
HOST_ETC_FILES = ("ld.so.cache", "localtime")


def sandbox_etc_files(uid: int = SANDBOX_UID) -> dict[str, str]:
    """Return the text of each generated /etc file, by name: passwd, group, hosts, resolv.conf, nsswitch.conf."""
    return {
        "passwd": f"nobody:x:{uid}:{uid}:sandbox:/tmp:/usr/sbin/nologin\n",
        "group": f"nogroup:x:{uid}:\n",
        "hosts": f"127.0.0.1 localhost {HOSTNAME}\n::1 localhost {HOSTNAME}\n",
        "resolv.conf": "",
        "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files\n",
    }


def write_sandbox_etc(folder: Path, uid: int = SANDBOX_UID) -> dict[str, Path]:
    """Write sandbox_etc_files() into `folder` (created, readable by everyone); return each file's path by name."""
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    written = {}
    for name, text in sandbox_etc_files(uid).items():
        path = folder / name
        path.write_text(text)
        path.chmod(0o644)
        written[name] = path
    return written
