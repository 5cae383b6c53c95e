"""The organizers' build runner: `make build CONTAINER=buildah`, run by an unprivileged user.

A team's own Dockerfile is built with the organizers' Makefile (not the team's) by the user
.ci/run adds for it, with no privilege: its RUN steps are root only inside a user namespace
mapped onto that user's subordinate ids, with no network. The image leaves buildah's storage
through `buildah push`, here into an archive whose layers the test reads.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from checkout import copy_checkout, run_make

from contracts.submitted import submitted_files

ROOT = Path(__file__).resolve().parent.parent
# the build runner's user (.ci/run adds it with a subordinate id range)
BUILD_USER = "mcsbuild"
BASE_IMAGE = "localhost/mcs-base:bookworm"
TEAM_IMAGE = "localhost/mcs-team:rootless-test"
BUILDAH = ("buildah", "--storage-driver", "vfs")
# what the team's RUN step records about where it runs
TEAM_DOCKERFILE = f"""\
FROM {BASE_IMAGE}
COPY submitted/ /submission/
RUN cat /proc/self/uid_map > /build-uid-map && cut -d: -f1 -s /proc/net/dev > /build-net
"""

pytestmark = [pytest.mark.slow, pytest.mark.buildah]


def _as_build_user(*command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run `command` as BUILD_USER in its own home (its buildah storage), from a clean environment."""
    home = pwd.getpwnam(BUILD_USER).pw_dir
    env = ("env", "-i", f"HOME={home}", f"PATH={os.environ['PATH']}", "LANG=C.UTF-8")
    return subprocess.run(
        ["runuser", "-u", BUILD_USER, "--", *env, *command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    """A folder BUILD_USER owns (pytest's tmp_path is root's alone), holding the base image's archive.

    Skips where the builder cannot run: not root (runuser), buildah missing, no BUILD_USER or no
    subordinate ids for it. Loads the local base image into BUILD_USER's storage unless it is there.
    """
    if os.geteuid() != 0:
        pytest.skip("the test switches to the build user with runuser, which needs root")
    if shutil.which("buildah") is None:
        pytest.skip("buildah is not installed (.ci/run installs it)")
    try:
        user = pwd.getpwnam(BUILD_USER)
    except KeyError:
        pytest.skip(f"no user {BUILD_USER} (.ci/run adds it)")
    if not any(line.startswith(f"{BUILD_USER}:") for line in Path("/etc/subuid").read_text().splitlines()):
        pytest.skip(f"{BUILD_USER} has no subordinate ids in /etc/subuid (.ci/run adds them)")
    folder = Path(tempfile.mkdtemp(prefix="mcs-rootless-"))
    try:
        if _as_build_user("test", "-r", str(ROOT / "Makefile"), cwd=Path("/")).returncode != 0:
            pytest.skip(f"{BUILD_USER} cannot read the organizers' checkout {ROOT} (a folder under a 0700 home?)")
        # The wheelhouse is the organizers' (root's) download: the build user only reads it.
        wheels = run_make(ROOT, "wheels", "BASE=local", "CONTAINER=podman", timeout=900)
        assert wheels.returncode == 0, wheels.stderr[-2000:]
        folder.chmod(0o755)
        os.chown(folder, user.pw_uid, user.pw_gid)
        if _as_build_user(*BUILDAH, "inspect", "--type", "image", BASE_IMAGE, cwd=folder).returncode != 0:
            made = subprocess.run(["images/make-base-image.sh", BASE_IMAGE, "podman"], cwd=ROOT, capture_output=True)
            assert made.returncode == 0, made.stderr
            archive = folder / "base.tar"
            subprocess.run(["podman", "save", "--output", str(archive), BASE_IMAGE], check=True, capture_output=True)
            archive.chmod(0o644)
            pulled = _as_build_user(*BUILDAH, "pull", f"docker-archive:{archive}", cwd=folder)
            assert pulled.returncode == 0, pulled.stderr
        yield folder
    finally:
        shutil.rmtree(folder)


def _layers_files(archive: Path) -> dict[str, bytes | None]:
    """Each path in a docker-archive image's layers (the last layer wins), with a regular file's bytes."""
    files: dict[str, bytes | None] = {}
    with tarfile.open(archive) as image:
        manifest = json.load(image.extractfile("manifest.json"))  # type: ignore[arg-type]
        for name in manifest[0]["Layers"]:
            with tarfile.open(fileobj=image.extractfile(name), mode="r:*") as layer:
                for member in layer:
                    read = layer.extractfile(member) if member.isfile() else None
                    files[member.name.removeprefix("./")] = read.read() if read else None
    return files


def test_the_build_user_builds_a_team_image_without_privilege_or_network(workdir: Path) -> None:
    team = workdir / "team"
    copy_checkout(team)
    (team / "mylib.py").write_text("GREETING = 'a helper module'\n")
    (team / "Dockerfile").write_text(TEAM_DOCKERFILE)
    user = pwd.getpwnam(BUILD_USER)
    for path in [team, *team.rglob("*")]:
        os.lchown(path, user.pw_uid, user.pw_gid)
    build = ("make", "-s", "--no-print-directory", "-C", str(ROOT), "build", "CONTAINER=buildah", "BASE=local")
    built = _as_build_user(
        *build, f"IMAGE={TEAM_IMAGE}", f"SOURCE={team}", f"CONTEXT_DIR={workdir / 'context'}", cwd=workdir
    )
    try:
        assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
        archive = workdir / "team.tar"
        pushed = _as_build_user(*BUILDAH, "push", TEAM_IMAGE, f"docker-archive:{archive}:{TEAM_IMAGE}", cwd=workdir)
        assert pushed.returncode == 0, pushed.stderr
    finally:
        _as_build_user(*BUILDAH, "rmi", "--force", TEAM_IMAGE, cwd=workdir)
    files = _layers_files(archive)
    held = sorted(
        path.removeprefix("submission/")
        for path, data in files.items()
        if path.startswith("submission/") and data is not None
    )
    assert held == [path.as_posix() for path in submitted_files(team)]
    assert "mylib.py" in held
    # the RUN step's root is BUILD_USER itself (its subordinate ids beyond), never the host's root
    inside, outside, _count = (files["build-uid-map"] or b"").split()[:3]
    assert (inside, outside) == (b"0", str(user.pw_uid).encode())
    # no network: its namespace has a loopback interface only
    assert (files["build-net"] or b"").split() == [b"lo"]
