"""The seccomp filter: its numbers are the kernel's, bwrap's program and the engines' profile agree, each rule holds.

The programs are checked three ways: the syscall numbers against libseccomp (what docker
and podman resolve the profile's names with); the BPF program, run by a plain interpreter
here, against the JSON profile read as an engine reads it, on every syscall number and on
many clone flags; and each rule on the real kernel, as root (all capabilities, so only
the filter can refuse), by the probe submission with and without the filter.
Under every engine the probe itself runs in test_security.py.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import random
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from submission.isolation.seccomp import (
    AUDIT_ARCH_X86_64,
    NAMESPACE_FLAGS,
    RULES,
    X32_SYSCALL_BIT,
    X86_64_NUMBERS,
    SeccompUnsupportedError,
    bpf_program,
    container_profile,
    unsupported,
)

ROOT = Path(__file__).resolve().parent.parent
PROBE = ROOT / "tests" / "fixtures" / "submissions" / "kernel_calls" / "solution.py"
AUDIT_ARCH_I386 = 0x40000003
ALLOW = 0x7FFF0000
ERRNO = 0x00050000
CLONE = X86_64_NUMBERS["clone"]
SIGCHLD = 17


def _libseccomp() -> ctypes.CDLL:
    name = ctypes.util.find_library("seccomp")
    assert name, "libseccomp is not installed (apt-get install libseccomp2); docker and podman need it too"
    library = ctypes.CDLL(name)
    library.seccomp_syscall_resolve_name_arch.argtypes = [ctypes.c_uint32, ctypes.c_char_p]
    return library


def run_bpf(program: bytes, nr: int, arch: int = AUDIT_ARCH_X86_64, arg0: int = 0) -> int:
    """The value a classic BPF seccomp program returns for one call: a plain interpreter of the opcodes it uses."""
    data = struct.pack("<iIQ6Q", nr, arch, 0, arg0, 0, 0, 0, 0, 0)
    accumulator, pc = 0, 0
    while True:
        code, jt, jf, k = struct.unpack_from("<HBBI", program, pc * 8)
        pc += 1
        if code == 0x20:  # ld [k]
            accumulator = struct.unpack_from("<I", data, k)[0]
        elif code == 0x15:  # jeq #k
            pc += jt if accumulator == k else jf
        elif code == 0x35:  # jge #k
            pc += jt if accumulator >= k else jf
        elif code == 0x45:  # jset #k
            pc += jt if accumulator & k else jf
        elif code == 0x06:  # ret #k
            return k
        else:
            raise AssertionError(f"opcode {code:#x} at {pc - 1}")


def run_profile(profile: dict, numbers: dict[str, int], nr: int, arg0: int = 0) -> int:
    """The verdict of a docker/podman profile for one x86_64 call, as libseccomp applies it (same return encoding)."""
    assert profile["defaultAction"] == "SCMP_ACT_ALLOW"
    for entry in profile["syscalls"]:
        if nr not in {numbers[name] for name in entry["names"]}:
            continue
        held = all(arg0 & test["value"] == test["valueTwo"] for test in entry.get("args", []))
        assert all(test["op"] == "SCMP_CMP_MASKED_EQ" and test["index"] == 0 for test in entry.get("args", []))
        if held:
            assert entry["action"] == "SCMP_ACT_ERRNO"
            return ERRNO | entry["errnoRet"]
    return ALLOW


def test_the_syscall_numbers_are_the_kernels_as_libseccomp_knows_them() -> None:
    library = _libseccomp()
    resolve = library.seccomp_syscall_resolve_name_arch
    resolved = {name: resolve(AUDIT_ARCH_X86_64, name.encode()) for name in X86_64_NUMBERS}
    assert resolved == X86_64_NUMBERS
    assert sorted(rule.syscall for rule in RULES) == sorted(X86_64_NUMBERS)
    assert len({rule.syscall for rule in RULES}) == len(RULES)


def test_bwrap_program_and_container_profile_refuse_exactly_the_same_calls() -> None:
    program = bpf_program("x86_64")
    profile = container_profile()
    library = _libseccomp()
    names = {name for entry in profile["syscalls"] for name in entry["names"]}
    numbers = {name: library.seccomp_syscall_resolve_name_arch(AUDIT_ARCH_X86_64, name.encode()) for name in names}
    rng = random.Random(16)
    flag_samples = [0, SIGCHLD, 0x003D0F00 | SIGCHLD, *NAMESPACE_FLAGS.values(), 0x7E020000, 0xFFFFFFFF]
    flag_samples += [rng.getrandbits(32) for _ in range(200)] + [rng.getrandbits(64) for _ in range(50)]
    refused = set()
    for nr in range(0, 512):
        for arg0 in flag_samples if nr == CLONE else [0, rng.getrandbits(64)]:
            verdict = run_bpf(program, nr, arg0=arg0)
            assert verdict == run_profile(profile, numbers, nr, arg0), (nr, hex(arg0))
            if verdict != ALLOW:
                refused.add(nr)
    assert refused == set(X86_64_NUMBERS.values())
    # clone: refused exactly when a namespace flag is set, in the low 32 bits where the kernel reads them.
    for arg0 in flag_samples:
        namespaces = arg0 & 0xFFFFFFFF & sum(NAMESPACE_FLAGS.values())
        assert (run_bpf(program, CLONE, arg0=arg0) != ALLOW) == bool(namespaces), hex(arg0)
    assert run_bpf(program, X86_64_NUMBERS["clone3"]) == ERRNO | errno.ENOSYS
    assert run_bpf(program, X86_64_NUMBERS["keyctl"]) == ERRNO | errno.EPERM


def test_calls_of_another_abi_are_refused_and_other_machines_are_told() -> None:
    program = bpf_program("x86_64")
    assert run_bpf(program, 39) == ALLOW  # getpid
    assert run_bpf(program, 39, arch=AUDIT_ARCH_I386) == ERRNO | errno.ENOSYS
    assert run_bpf(program, X32_SYSCALL_BIT | 39) == ERRNO | errno.ENOSYS
    assert container_profile()["architectures"] == ["SCMP_ARCH_X86_64"]
    with pytest.raises(SeccompUnsupportedError, match="for x86_64, this machine is aarch64; run submissions with"):
        bpf_program("aarch64")
    assert unsupported("aarch64") == (
        "the bwrap seccomp filter is built for x86_64, this machine is aarch64; "
        "run submissions with --engine docker or podman here"
    )
    assert unsupported("x86_64") is None


def _probe(*prefix: str) -> dict[str, int]:
    """Run the probe as root in private namespaces behind PREFIX; return each call's errno (0: it worked)."""
    command = ["unshare", "--mount", "--uts", "--ipc", "--net", "--fork", *prefix, str(PROBE)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    results = {}
    for line in done.stdout.splitlines():
        if line.startswith("call "):
            name_nr, outcome = line[len("call ") :].split(": ", 1)
            name, nr = name_nr.rsplit(" ", 1)
            assert X86_64_NUMBERS[name.split()[0]] == int(nr), line
            results[name] = 0 if outcome == "ok" else int(outcome.split()[1])
    assert "threads: started 4; subprocess said child" in done.stdout
    return results


INSTALL = """
import ctypes, os, sys
from submission.isolation.seccomp import bpf_program
program = ctypes.create_string_buffer(bpf_program(), len(bpf_program()))
class Fprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
libc = ctypes.CDLL(None, use_errno=True)
assert libc.prctl(38, 1, 0, 0, 0) == 0  # PR_SET_NO_NEW_PRIVS
fprog = Fprog(len(program) // 8, ctypes.addressof(program))
assert libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) == 0, ctypes.get_errno()  # PR_SET_SECCOMP, FILTER
os.execv(sys.executable, [sys.executable, *sys.argv[1:]])
"""


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root and unshare(1)")
def test_each_rule_is_what_refuses_its_call_on_the_real_kernel() -> None:
    """As root every probed call gets past the capability checks: only the filter answers EPERM (or ENOSYS)."""
    without = _probe(sys.executable)
    with_filter = _probe(sys.executable, "-c", INSTALL)
    expected = {rule.syscall: rule.errno for rule in RULES}
    with_flags = {f"clone{three} {flag}" for flag in NAMESPACE_FLAGS for three in ("", "3")}
    assert set(with_filter) == set(expected) - {"clone"} | with_flags
    for name, found in with_filter.items():
        call = name.split()[0]
        assert found == expected[call], (name, found)
        # Without the filter the same call does not fail that way: the filter is what refused it.
        assert without[name] != found, (name, without[name])
