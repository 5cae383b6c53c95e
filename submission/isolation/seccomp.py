"""The kernel calls a submission may not make, as one list, compiled for every engine.

A submission needs files, memory, threads and processes; it never needs a new namespace,
the kernel keyring, userfaultfd, io_uring, eBPF, perf counters, another process's memory,
mounts or kernel modules. Each of those is kernel code reachable without privileges (or a
step towards a privilege), and the usual way out of a sandbox. RULES lists them once:

- `bpf_program()` compiles RULES to the classic BPF that bwrap loads with `--seccomp FD`
  (x86_64 only: the syscall numbers are the x86_64 table);
- `container_profile()` writes the same RULES as the JSON profile docker and podman load
  with `--security-opt seccomp=FILE`.

Both allow every call RULES does not name (as docker's own profile does, the engines'
dropped capabilities still refuse what needs a privilege). clone3 fails with ENOSYS, not
EPERM: its flags are in memory a filter cannot read, and ENOSYS makes the C library fall
back to clone, whose flags the filter does check. Every call of another architecture
(i386 through int 0x80, x32) is refused: its numbers would slip past the x86_64 table.
"""

from __future__ import annotations

import errno
import json
import os
import platform
import struct
from dataclasses import dataclass
from pathlib import Path

#: The clone flags that make a new namespace; clone(2) with any of them is refused.
NAMESPACE_FLAGS = {
    "CLONE_NEWNS": 0x00020000,
    "CLONE_NEWCGROUP": 0x02000000,
    "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000,
    "CLONE_NEWUSER": 0x10000000,
    "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWNET": 0x40000000,
}
_NAMESPACE_MASK = sum(NAMESPACE_FLAGS.values())


@dataclass(frozen=True)
class Rule:
    """One refused call: `syscall` fails with `errno`; only when flags & `flags_mask` when a mask is given."""

    syscall: str
    errno: int = errno.EPERM
    flags_mask: int = 0


RULES: tuple[Rule, ...] = (
    # New namespaces: a user namespace gives CAP_NET_ADMIN, CAP_SYS_ADMIN over fresh kernel code.
    Rule("unshare"),
    Rule("clone", flags_mask=_NAMESPACE_MASK),
    Rule("clone3", errno=errno.ENOSYS),
    Rule("setns"),
    # The kernel keyring, userfaultfd (stalls the kernel at will), io_uring, eBPF, perf counters.
    Rule("keyctl"),
    Rule("add_key"),
    Rule("request_key"),
    Rule("userfaultfd"),
    Rule("io_uring_setup"),
    Rule("io_uring_enter"),
    Rule("io_uring_register"),
    Rule("bpf"),
    Rule("perf_event_open"),
    # Another process's memory and file descriptors.
    Rule("ptrace"),
    Rule("process_vm_readv"),
    Rule("process_vm_writev"),
    Rule("pidfd_getfd"),
    # Mounts, old and new API.
    Rule("mount"),
    Rule("umount2"),
    Rule("pivot_root"),
    Rule("open_tree"),
    Rule("move_mount"),
    Rule("fsopen"),
    Rule("fsconfig"),
    Rule("fsmount"),
    Rule("fspick"),
    Rule("mount_setattr"),
    # The kernel itself, and files by handle (the classic way out of a container).
    Rule("kexec_load"),
    Rule("kexec_file_load"),
    Rule("init_module"),
    Rule("finit_module"),
    Rule("delete_module"),
    Rule("open_by_handle_at"),
)

#: The x86_64 number of each call in RULES (arch/x86/entry/syscalls/syscall_64.tbl).
X86_64_NUMBERS = {
    "unshare": 272,
    "clone": 56,
    "clone3": 435,
    "setns": 308,
    "keyctl": 250,
    "add_key": 248,
    "request_key": 249,
    "userfaultfd": 323,
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
    "bpf": 321,
    "perf_event_open": 298,
    "ptrace": 101,
    "process_vm_readv": 310,
    "process_vm_writev": 311,
    "pidfd_getfd": 438,
    "mount": 165,
    "umount2": 166,
    "pivot_root": 155,
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "mount_setattr": 442,
    "kexec_load": 246,
    "kexec_file_load": 320,
    "init_module": 175,
    "finit_module": 313,
    "delete_module": 176,
    "open_by_handle_at": 304,
}

AUDIT_ARCH_X86_64 = 0xC000003E
#: x32 calls are x86_64 calls with this bit set in their number.
X32_SYSCALL_BIT = 0x40000000
PROFILE_FILE = "seccomp.json"

# Classic BPF opcodes (linux/filter.h) and seccomp's return values (linux/seccomp.h).
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
# Offsets in struct seccomp_data: nr, arch, then the six 64-bit arguments from 16.
_NR = 0
_ARCH = 4
_ARG0_LOW = 16


class SeccompUnsupportedError(RuntimeError):
    """The filter cannot be built for this machine."""


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("<HBBI", code, jt, jf, k)


def unsupported(machine: str | None = None) -> str | None:
    """Return why bpf_program() cannot serve `machine` (platform.machine() unless given), with the fix; else None."""
    machine = machine or platform.machine()
    if machine == "x86_64":
        return None
    return (
        f"the bwrap seccomp filter is built for x86_64, this machine is {machine}; "
        "run submissions with --engine docker or podman here"
    )


def bpf_program(machine: str | None = None) -> bytes:
    """Return RULES as a classic BPF seccomp program (struct sock_filter[]), as bwrap's --seccomp reads it.

    `machine` is platform.machine() unless given. Raises SeccompUnsupportedError on any
    machine but x86_64: the program holds x86_64 syscall numbers.
    """
    reason = unsupported(machine)
    if reason:
        raise SeccompUnsupportedError(reason)
    refuse_other_abi = _RET_ERRNO | errno.ENOSYS
    program = [
        _insn(_LD_W_ABS, _ARCH),
        _insn(_JEQ_K, AUDIT_ARCH_X86_64, jt=1),
        _insn(_RET_K, refuse_other_abi),
        _insn(_LD_W_ABS, _NR),
        _insn(_JGE_K, X32_SYSCALL_BIT, jf=1),
        _insn(_RET_K, refuse_other_abi),
    ]
    for rule in RULES:
        number = X86_64_NUMBERS[rule.syscall]
        refuse = _insn(_RET_K, _RET_ERRNO | rule.errno)
        if rule.flags_mask:
            # clone's flags are an int: the low half of the first argument is all of them.
            program += [
                _insn(_JEQ_K, number, jf=4),
                _insn(_LD_W_ABS, _ARG0_LOW),
                _insn(_JSET_K, rule.flags_mask, jf=1),
                refuse,
                _insn(_RET_K, _RET_ALLOW),
            ]
        else:
            program += [_insn(_JEQ_K, number, jf=1), refuse]
    program.append(_insn(_RET_K, _RET_ALLOW))
    return b"".join(program)


def container_profile() -> dict:
    """Return RULES as a docker/podman seccomp profile: allow by default, refuse each rule with its errno.

    A masked rule becomes one entry per flag, refused when `arg0 & flag == flag`: a profile
    can only OR its entries.
    """
    entries: list[dict] = []
    for rule in RULES:
        entry = {"names": [rule.syscall], "action": "SCMP_ACT_ERRNO", "errnoRet": rule.errno}
        if not rule.flags_mask:
            entries.append(entry)
            continue
        for bit in range(64):
            flag = 1 << bit
            if rule.flags_mask & flag:
                condition = {"index": 0, "value": flag, "valueTwo": flag, "op": "SCMP_CMP_MASKED_EQ"}
                entries.append({**entry, "args": [condition]})
    return {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"], "syscalls": entries}


def bwrap_args() -> tuple[list[str], int]:
    """Return bwrap's options that load the filter and forbid new user namespaces, and the fd they name.

    The fd is the read end of a pipe holding bpf_program(): the child must inherit it
    (pass it in Popen's pass_fds) and the parent close it once the child has started.
    Raises SeccompUnsupportedError off x86_64.
    """
    program = bpf_program()
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, program)
    finally:
        os.close(write_end)
    return ["--disable-userns", "--seccomp", str(read_end)], read_end


def container_args(scratch: Path) -> list[str]:
    """Write the profile into `scratch` and return the docker/podman options that load it."""
    path = scratch / PROFILE_FILE
    path.write_text(json.dumps(container_profile(), indent=1) + "\n")
    return ["--security-opt", f"seccomp={path}"]
