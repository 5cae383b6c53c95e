"""Copying /output out: apparent sizes count against the limit, holes stay holes, bytes stay exact."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from contracts.names import OUTPUT_DIR
from submission.isolation.output_volume import Skipped, _copy_tree


def _sparse_file(path: Path, size: int, extents: list[tuple[int, bytes]]) -> None:
    with path.open("wb") as handle:
        for offset, data in extents:
            handle.seek(offset)
            handle.write(data)
        handle.truncate(size)


@pytest.mark.parametrize("seed", range(5))
def test_a_sparse_file_is_copied_byte_for_byte_with_its_holes(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    source, target = tmp_path / "source", tmp_path / "target"
    source.mkdir()
    target.mkdir()
    size = rng.randrange(1, 64) * 1024**2 + rng.randrange(0, 4096)
    extents = [
        (rng.randrange(0, size - 10_000), rng.randbytes(rng.randrange(1, 10_000))) for _ in range(rng.randrange(0, 6))
    ]
    _sparse_file(source / "sparse.bin", size, extents)
    (source / "dense.bin").write_bytes(rng.randbytes(100_000))
    assert _copy_tree(source, target, budget=size + 100_000) == {}
    for name in ("sparse.bin", "dense.bin"):
        assert (target / name).read_bytes() == (source / name).read_bytes()
    copied, original = os.stat(target / "sparse.bin"), os.stat(source / "sparse.bin")
    assert copied.st_size == size
    assert copied.st_blocks <= original.st_blocks + 8 * len(extents) + 8


def test_apparent_sizes_count_against_the_limit(tmp_path: Path) -> None:
    source, target = tmp_path / "source", tmp_path / "target"
    source.mkdir()
    target.mkdir()
    _sparse_file(source / "a.bin", 10 * 1024**2, [(0, b"a")])
    _sparse_file(source / "b.bin", 10 * 1024**2, [(0, b"b")])
    skipped = _copy_tree(source, target, budget=15 * 1024**2)
    assert skipped == {"b.bin": Skipped.TOO_LARGE}
    assert os.stat(target / "a.bin").st_size == 10 * 1024**2


@pytest.mark.bwrap
def test_a_sparse_file_under_the_limit_lands_sparse_on_the_host(runner) -> None:
    run = runner("bwrap", "sparse_within_limit")
    assert run.report["status"] == "ok"
    copied = os.stat(run.run_dir / OUTPUT_DIR / "sparse.bin")
    assert copied.st_size == 1000 * 1024**2
    assert copied.st_blocks * 512 <= 1024**2, "the host copy must keep the file's holes"
    assert run.report["output_bytes"] < 1024**2
