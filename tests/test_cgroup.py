"""Per-run cgroups: which version is picked and why not, and the v2 group against the kernel.

Three kinds of test, and what each can prove:
- the choice of version runs over plain folders shaped like each host layout (the choice
  only looks at which files exist), plus one real read-only mount;
- the v2 group's process handling (enter, pids, cgroup.kill, freeze, remove) runs for real
  in a cgroup2 hierarchy of this host, in a parent group of its own;
- the limit values can only be checked against a plain folder standing in for a group
  where this host's cgroup2 hierarchy has no memory, pids or cpu controller: that proves
  which value goes to which file, not that the kernel accepts it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from contracts.errors import RunnerError
from submission.isolation.cgroup import (
    CGROUP_ROOT,
    CONTROLLERS,
    PEAK_SAMPLE_S,
    CgroupV1,
    CgroupV2,
    Limits,
    RunCgroup,
    find_hierarchy,
)

ROOT = Path(__file__).resolve().parent.parent
LIMITS = Limits(memory_bytes=300 * 1024**2, pids=77, cpus=1.5)

# A tree of 8 processes: the parent, 2 children with 2 grandchildren each, and a daemon that
# double-forks away from the parent. The parent prints every pid, then waits to be killed.
FORK_TREE = """
import os, time

def sleep_forever():
    time.sleep(600)
    os._exit(0)

def spawn(body):
    r, w = os.pipe()
    if os.fork() == 0:
        os.close(r)
        body(w)
        sleep_forever()
    os.close(w)
    return os.read(r, 256).decode().split()

def child(w):
    pids = [os.getpid()]
    for _ in range(2):
        pid = os.fork()
        if pid == 0:
            sleep_forever()
        pids.append(pid)
    os.write(w, " ".join(map(str, pids)).encode())

def daemon(w):
    os.setsid()
    if os.fork() == 0:
        os.write(w, str(os.getpid()).encode())
        sleep_forever()
    os._exit(0)

pids = [str(os.getpid())] + spawn(child) + spawn(child) + spawn(daemon)
print(" ".join(pids), flush=True)
time.sleep(600)
"""
TREE_SIZE = 1 + 2 * (1 + 2) + 1


def _v1_tree(root: Path, controllers: tuple[str, ...] = CONTROLLERS) -> None:
    for controller in controllers:
        (root / controller).mkdir(parents=True)
        (root / controller / "cgroup.procs").write_text("")


def _v2_tree(root: Path, offered: str = "cpuset cpu io memory hugetlb pids") -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "cgroup.controllers").write_text(offered + "\n")
    (root / "cgroup.subtree_control").write_text("")
    (root / "cgroup.procs").write_text("1\n")


# ---------------------------------------------------------------- choosing the version


@pytest.mark.parametrize(
    ("layout", "expected", "where"),
    [
        ("pure v2", CgroupV2, ""),
        ("hybrid", CgroupV1, ""),
        ("v1 only", CgroupV1, ""),
        ("hybrid, v1 without freezer, v2 with the controllers", CgroupV2, "unified"),
    ],
)
def test_the_version_follows_what_is_mounted(tmp_path: Path, layout: str, expected: type, where: str) -> None:
    if layout == "pure v2":
        _v2_tree(tmp_path)
    elif layout == "hybrid":
        _v1_tree(tmp_path)
        _v2_tree(tmp_path / "unified", offered="hugetlb")
    elif layout == "v1 only":
        _v1_tree(tmp_path)
    else:
        _v1_tree(tmp_path, ("memory", "pids", "cpu"))
        _v2_tree(tmp_path / "unified", offered="memory pids cpu")
    hierarchy = find_hierarchy(tmp_path, euid=0)
    assert hierarchy.kind is expected and hierarchy.reason is None
    assert hierarchy.root == tmp_path / where


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ("nothing", "no cgroup hierarchy is mounted at {root}: mount cgroup2 there"),
        ("v1 without pids", "the cgroup v1 controllers pids are not mounted under {root}: mount each"),
        (
            "hybrid without freezer, v2 without controllers",
            "the cgroup v1 controllers freezer are not mounted under {root}, and the cgroup v2 hierarchy at "
            "{root}/unified does not offer the memory, pids, cpu controller(s) (it offers: hugetlb)",
        ),
        ("v2 without pids", "the cgroup v2 hierarchy at {root} does not offer the pids controller(s)"),
        ("v2 with a busy parent", "the runner's parent group {root}/mcs-runner holds processes (4242 4343)"),
    ],
)
def test_every_reason_names_what_is_missing_and_the_fix(tmp_path: Path, layout: str, message: str) -> None:
    if layout == "v1 without pids":
        _v1_tree(tmp_path, ("memory", "cpu", "freezer"))
    elif layout.startswith("hybrid"):
        _v1_tree(tmp_path, ("memory", "pids", "cpu"))
        _v2_tree(tmp_path / "unified", offered="hugetlb")
    elif layout == "v2 without pids":
        _v2_tree(tmp_path, offered="cpu memory")
    elif layout == "v2 with a busy parent":
        _v2_tree(tmp_path)
        (tmp_path / "mcs-runner").mkdir()
        (tmp_path / "mcs-runner" / "cgroup.procs").write_text("4242\n4343\n")
    hierarchy = find_hierarchy(tmp_path, euid=0)
    assert hierarchy.kind is None
    assert hierarchy.reason is not None and message.format(root=tmp_path) in hierarchy.reason
    assert "rlimit" not in hierarchy.reason


@pytest.mark.parametrize("layout", ["pure v2", "v1"])
def test_a_runner_that_is_not_root_is_told_so(tmp_path: Path, layout: str) -> None:
    if layout == "pure v2":
        _v2_tree(tmp_path)
    else:
        _v1_tree(tmp_path)
    version = "cgroup v2" if layout == "pure v2" else "cgroup v1"
    assert find_hierarchy(tmp_path, euid=1000).reason == (
        f"the runner runs as user id 1000, not root, and only root can make cgroups under {tmp_path} "
        f"({version}); run it as root"
    )


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root and unshare(1)")
def test_a_read_only_hierarchy_is_named_as_a_container_sees_it(tmp_path: Path) -> None:
    """A real read-only mount, in a mount namespace of its own so the host sees nothing."""
    mount = tmp_path / "cgroup"
    mount.mkdir()
    script = (
        f"mount -t tmpfs tmpfs {mount} && printf 'cpu memory pids\\n' > {mount}/cgroup.controllers && "
        f"mount -o remount,ro {mount} && {sys.executable} -c "
        f"'from pathlib import Path; from submission.isolation.cgroup import RunCgroup; "
        f'print(RunCgroup.supported(Path("{mount}")))\''
    )
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        f"the cgroup v2 hierarchy {mount} is mounted read-only, as a container sees the host's cgroups "
        "(a runner in a container that drives the host's docker through its socket cannot make them); "
        "run the runner on the host"
    )


def _hybrid_host() -> bool:
    return (CGROUP_ROOT / "unified" / "cgroup.controllers").is_file() and all(
        (CGROUP_ROOT / c / "cgroup.procs").is_file() for c in CONTROLLERS
    )


@pytest.mark.skipif(os.geteuid() != 0 or not _hybrid_host(), reason="needs root on a hybrid cgroup host")
def test_this_hybrid_host_picks_v1_where_the_controllers_are() -> None:
    assert find_hierarchy().kind is CgroupV1
    assert RunCgroup.supported() is None


# ---------------------------------------------------------------- limits, in plain folders


def test_v2_limits_go_to_their_files(tmp_path: Path) -> None:
    """Only which value is written where: the kernel's acceptance is not tested here."""
    _v2_tree(tmp_path, offered="cpu memory pids")
    group = CgroupV2("run-test", tmp_path)
    group.make()
    for name in ("memory.max", "memory.swap.max", "memory.peak", "pids.max", "cpu.max"):
        (group.path / name).write_text("max\n")
    group.limit(LIMITS)
    assert (tmp_path / "cgroup.subtree_control").read_text() == "+memory +pids +cpu"
    assert (tmp_path / "mcs-runner" / "cgroup.subtree_control").read_text() == "+memory +pids +cpu"
    written = {name: (group.path / name).read_text() for name in ("memory.max", "memory.swap.max", "pids.max")}
    assert written == {"memory.max": str(300 * 1024**2), "memory.swap.max": "0", "pids.max": "77"}
    assert (group.path / "cpu.max").read_text() == "150000 100000"
    assert group.relative == "/mcs-runner/run-test"
    group.remove()


def test_v2_without_swap_accounting_caps_memory_only_and_a_tiny_cpu_share_is_one_ms(tmp_path: Path) -> None:
    _v2_tree(tmp_path, offered="cpu memory pids")
    group = CgroupV2("run-test", tmp_path)
    group.make()
    (group.path / "memory.peak").write_text("0\n")
    group.limit(Limits(memory_bytes=4096, pids=1, cpus=0.001))
    assert not (group.path / "memory.swap.max").exists()
    assert (group.path / "cpu.max").read_text() == "1000 100000"


def test_v1_limits_are_the_same_files_as_before(tmp_path: Path) -> None:
    _v1_tree(tmp_path)
    group = CgroupV1("run-test", tmp_path)
    group.make()
    (group.dirs["memory"] / "memory.memsw.limit_in_bytes").write_text("")
    group.limit(LIMITS)
    read = {path.name: path.read_text() for path in tmp_path.glob("*/mcs-runner/run-test/*")}
    assert read == {
        "memory.limit_in_bytes": str(300 * 1024**2),
        "memory.memsw.limit_in_bytes": str(300 * 1024**2),
        "pids.max": "77",
        "cpu.cfs_period_us": "100000",
        "cpu.cfs_quota_us": "150000",
    }


def test_create_picks_the_class_and_a_refused_create_leaves_nothing(tmp_path: Path) -> None:
    _v2_tree(tmp_path / "v2", offered="cpu memory pids")
    group = RunCgroup.create(LIMITS, root=tmp_path / "v2")
    assert isinstance(group, CgroupV2) and group.relative.startswith("/mcs-runner/run-")
    assert (group.path / "pids.max").read_text() == "77"
    group.remove()

    _v1_tree(tmp_path / "hybrid", ("memory", "pids", "cpu"))
    _v2_tree(tmp_path / "hybrid" / "unified", offered="hugetlb")
    with pytest.raises(RunnerError, match=r"does not offer the memory, pids, cpu controller\(s\)"):
        RunCgroup.create(LIMITS, root=tmp_path / "hybrid")
    assert not (tmp_path / "hybrid" / "unified" / "mcs-runner").exists()


def test_v2_counts_oom_kills_and_reads_the_peak(tmp_path: Path) -> None:
    _v2_tree(tmp_path, offered="cpu memory pids")
    group = CgroupV2(f"run-{uuid.uuid4().hex[:12]}", tmp_path)
    group.make()
    (group.path / "memory.events").write_text("low 0\nhigh 0\nmax 9\noom 2\noom_kill 3\noom_group_kill 0\n")
    (group.path / "memory.peak").write_text("123456789\n")
    assert group.oom_kills() == 3
    assert group.peak_memory() == 123456789


def test_v2_before_memory_peak_samples_memory_current(tmp_path: Path) -> None:
    """Kernels before 5.19 have no memory.peak: the largest memory.current seen is kept."""
    _v2_tree(tmp_path, offered="cpu memory pids")
    group = CgroupV2("run-test", tmp_path)
    group.make()
    current = group.path / "memory.current"
    current.write_text("1000\n")
    group.limit(LIMITS)
    for value in (5000, 2000):
        time.sleep(PEAK_SAMPLE_S * 6)
        current.write_text(f"{value}\n")
    time.sleep(PEAK_SAMPLE_S * 6)
    assert group.peak_memory() == 5000
    group.remove()


# ---------------------------------------------------------------- a real cgroup2 group


def _cgroup2_mount() -> Path | None:
    for mount in (CGROUP_ROOT, CGROUP_ROOT / "unified"):
        if (mount / "cgroup.controllers").is_file() and (mount / "cgroup.procs").is_file():
            return mount
    return None


MOUNT = _cgroup2_mount()
needs_cgroup2 = pytest.mark.skipif(os.geteuid() != 0 or MOUNT is None, reason="needs root and a cgroup2 mount")


@pytest.fixture
def group() -> Iterator[CgroupV2]:
    """A real v2 group without limits, under a parent of its own so no other run is touched."""
    assert MOUNT is not None
    made = CgroupV2("run-test", MOUNT, parent=f"mcs-runner-test-{uuid.uuid4().hex[:8]}")
    made.make()
    yield made
    made.kill_all()
    made.remove()
    (MOUNT / made.parent).rmdir()


@pytest.fixture
def tree(group: CgroupV2) -> Iterator[tuple[subprocess.Popen[str], list[int]]]:
    """FORK_TREE started inside `group` through `enter`; yields the process and every pid of the tree."""
    process = subprocess.Popen(
        [sys.executable, "-c", FORK_TREE],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=group.enter,
    )
    assert process.stdout is not None
    pids = [int(pid) for pid in process.stdout.readline().split()]
    yield process, pids
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
    process.wait()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@needs_cgroup2
def test_limits_the_hierarchy_cannot_apply_are_refused_by_name(group: CgroupV2) -> None:
    assert MOUNT is not None
    offered = (MOUNT / "cgroup.controllers").read_text().split()
    missing = [c for c in ("memory", "pids", "cpu") if c not in offered]
    if not missing:
        pytest.skip(f"{MOUNT} offers every controller; see test_limits_are_applied_where_offered")
    with pytest.raises(RunnerError, match=f"does not offer the {', '.join(missing)} controller"):
        group.limit(LIMITS)
    assert group.peak_memory() is None and group.oom_kills() == 0


@needs_cgroup2
def test_limits_are_applied_where_offered(group: CgroupV2) -> None:
    assert MOUNT is not None
    if not {"memory", "pids", "cpu"} <= set((MOUNT / "cgroup.controllers").read_text().split()):
        pytest.skip(f"{MOUNT} does not offer memory, pids and cpu (a hybrid host)")
    group.limit(LIMITS)
    assert int((group.path / "memory.max").read_text()) == 300 * 1024**2
    assert (group.path / "pids.max").read_text().strip() == "77"
    assert (group.path / "cpu.max").read_text().split() == ["150000", "100000"]


@needs_cgroup2
def test_enter_puts_the_whole_fork_tree_in_the_group(group: CgroupV2, tree) -> None:
    process, pids = tree
    assert len(pids) == TREE_SIZE and pids[0] == process.pid
    assert sorted(pids) == group.pids()
    assert Path(f"/proc/{process.pid}/cgroup").read_text().splitlines()[-1].endswith(group.relative)


@needs_cgroup2
def test_kill_all_ends_the_tree_and_its_daemon_at_once(group: CgroupV2, tree) -> None:
    process, pids = tree
    assert (group.path / "cgroup.kill").exists(), "this kernel predates cgroup.kill (5.14)"
    assert group.kill_all() == TREE_SIZE
    assert process.wait(timeout=10) == -signal.SIGKILL
    assert group.pids() == []
    assert not [pid for pid in pids if _alive(pid)]


@needs_cgroup2
def test_freeze_stops_the_group_and_the_fallback_kills_it_frozen(group: CgroupV2, tree) -> None:
    """The pre-5.14 path, called directly: this kernel has cgroup.kill, so kill_all would not take it."""
    process, pids = tree
    group.freeze(True)
    events = dict(line.split() for line in (group.path / "cgroup.events").read_text().splitlines())
    deadline = time.monotonic() + 5
    while events["frozen"] != "1" and time.monotonic() < deadline:
        time.sleep(0.05)
        events = dict(line.split() for line in (group.path / "cgroup.events").read_text().splitlines())
    assert events["populated"] == "1" and events["frozen"] == "1"
    group.freeze(False)

    assert group._kill_frozen(attempts=50) == TREE_SIZE
    assert process.wait(timeout=10) == -signal.SIGKILL
    assert group.pids() == []
    assert (group.path / "cgroup.freeze").read_text().strip() == "0"


@needs_cgroup2
def test_remove_deletes_an_engines_child_groups_first(group: CgroupV2) -> None:
    (group.path / "libpod-0123" / "container").mkdir(parents=True)
    group.remove()
    assert not group.path.exists()


@needs_cgroup2
def test_signal_all_spares_the_engine_process(group: CgroupV2, tree) -> None:
    process, pids = tree
    group.signal_all(signal.SIGTERM, spare=process.pid)
    deadline = time.monotonic() + 10
    while group.pids() != [process.pid] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert group.pids() == [process.pid]
    assert _alive(process.pid)
