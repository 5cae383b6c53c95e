"""Data generation (`make data`) at mcs2019's proportions, scaled down: the generator as it was beside ours.

Both runs generate the same dataset (same preset, same seed) in this process, one after
the other. The *baseline* is the generator before its speed-up: models/encoder.onnx with
its resize as one ONNX Resize node (`with_resize_node`, the exporter's old graph) and
every chunk encoded inline. *Ours* is the committed encoder (the resize as two matrix
products) with encoding on a background thread while the next frames render. The two
datasets must hold the same images; their descriptors differ by float32 rounding only.

The full mcs2019 generation is projected, not measured: per-person and per-image costs
measured here, times mcs2019's counts.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from contracts.names import DESCRIPTOR_KEY, FRAMES_PER_TRACK
from evaluate.datagen.encoder import ENCODER_PATH, Encoder
from evaluate.datagen.faces import load_chips
from evaluate.datagen.identities import IdentityStyle, nearest_distances, pick_identities
from evaluate.datagen.presets import PRESETS, Preset
from evaluate.datagen.writer import generate
from models.export_encoder import DESCRIPTOR_SIZE, INPUT_SIZE, with_resize_node

FULL = PRESETS["mcs2019"]
# Every count of mcs2019 times this: about 2,600 images, under a minute for both runs here.
SCALE = 0.01
QUICK_SCALE = 0.0005
SEED = 0
# The identity search's cost grows with persons squared; it is timed at this many repeats.
SEARCH_REPEATS = 5
# Images the bare encoder is timed on, per variant.
ENCODER_IMAGES = 256
ENCODER_IMAGES_QUICK = 32
VARIANTS = ("baseline", "ours")
ENCODER_INPUT = (INPUT_SIZE, INPUT_SIZE, 3)
# Ours runs first, so whatever the first run warms up (file caches) favours the baseline.
RUN_ORDER = ("ours", "baseline")


def scaled(preset: Preset, factor: float) -> Preset:
    """Return `preset` with every person and track count times `factor`, rounded.

    At least 2 persons per part and a track per person, so the result is a valid preset
    at any factor; references per person and the metric are kept.
    """
    counts: dict[str, Any] = {}
    for part in ("train", "public", "private"):
        persons = max(2, round(getattr(preset, f"{part}_persons") * factor))
        counts[f"{part}_persons"] = persons
        counts[f"{part}_tracks"] = max(persons, round(getattr(preset, f"{part}_tracks") * factor))
    return dataclasses.replace(preset, name=f"{preset.name} x {factor:g}", **counts)


def workload(preset: Preset, candidates: int) -> dict[str, int]:
    """Return what generating `preset` makes: persons, tracks, rendered images and encoded images.

    Rendered: every frame of every track and every reference. Encoded: train frames,
    references, and `candidates` identity candidates per person (test frames are only
    rendered; participants encode them).
    """
    persons = preset.train_persons + preset.public_persons + preset.private_persons
    tracks = preset.train_tracks + preset.public_tracks + preset.private_tracks
    references = preset.references * persons
    return {
        "persons": persons,
        "tracks": tracks,
        "images": FRAMES_PER_TRACK * tracks + references,
        "encoded_images": FRAMES_PER_TRACK * preset.train_tracks + references + candidates * persons,
    }


def bench_datagen(work: Path, quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    """Generate the scaled mcs2019 dataset with the baseline and with ours in `work`; return the figures.

    Per variant: seconds, images per second, the identity picking's seconds, the
    per-person and per-image costs, the bare encoder's ms per image and the projected full
    mcs2019 time. Also the ratio baseline / ours (measured and projected), whether both
    datasets hold the same bytes apart from descriptors, and the largest descriptor
    difference. Raises what `generate` raises.
    """
    preset = scaled(FULL, QUICK_SCALE if quick else SCALE)
    style = IdentityStyle()
    sizes, full = workload(preset, style.candidates), workload(FULL, style.candidates)
    search_s = _identity_search_s(full["persons"], style.candidates)
    encoder_images = ENCODER_IMAGES_QUICK if quick else ENCODER_IMAGES
    load_before = os.getloadavg()[0]
    reference = with_resize_node(onnx.load(ENCODER_PATH)).SerializeToString()
    encoders = {"baseline": (Encoder(reference), False), "ours": (Encoder(), True)}
    measured: dict[str, Any] = {}
    for name in RUN_ORDER:
        encoder, background = encoders[name]
        summary = generate(work / name, preset, SEED, progress=False, encoder=encoder, background_encoding=background)
        identity_s = _identity_picking_s(encoder, sizes["persons"], style)
        measured[name] = _costs(summary.seconds, identity_s, sizes, full, search_s)
        measured[name]["encoder_ms_per_image"] = round(_encoder_ms_per_image(encoder, encoder_images), 2)
        log(f"datagen: {name} made {sizes['images']:,} images in {summary.seconds:.1f} s")
    compared = compare_datasets(work / "baseline", work / "ours")
    for name in VARIANTS:
        shutil.rmtree(work / name)
    baseline, ours = measured["baseline"], measured["ours"]
    return {
        "preset": preset.name,
        "scale": QUICK_SCALE if quick else SCALE,
        "seed": SEED,
        **sizes,
        "full": full,
        "load_average_1m": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
        "identity_search_full_s": round(search_s, 1),
        "encoder_images": encoder_images,
        "baseline": baseline,
        "ours": ours,
        "ratio": round(baseline["seconds"] / ours["seconds"], 2),
        "projected_ratio": round(baseline["projected_full_s"] / ours["projected_full_s"], 2),
        **compared,
    }


def _identity_picking_s(encoder: Encoder, persons: int, style: IdentityStyle) -> float:
    """Seconds `pick_identities` takes for `persons` persons with `encoder` (drawing and encoding candidates)."""
    started = time.perf_counter()
    for _ in pick_identities(load_chips(), persons, (SEED,), style, encoder):
        pass
    return time.perf_counter() - started


def _encoder_ms_per_image(encoder: Encoder, count: int) -> float:
    """Milliseconds per image of `encoder` alone on `count` random images (its cost does not depend on the pixels)."""
    images = np.random.default_rng(0).integers(0, 256, size=(count, *ENCODER_INPUT), dtype=np.uint8)
    started = time.perf_counter()
    encoder(images)
    return (time.perf_counter() - started) / count * 1000


def _identity_search_s(persons: int, candidates: int) -> float:
    """Estimated seconds of the nearest-person search over a whole `persons`-person identity picking.

    Person i compares its candidates with the i persons kept before, so the search grows
    with persons squared: one search at the mean size persons / 2, timed, times `persons`.
    """
    rng = np.random.default_rng(0)
    kept = rng.normal(size=(persons // 2, DESCRIPTOR_SIZE))
    drawn = rng.normal(size=(candidates, DESCRIPTOR_SIZE))
    started = time.perf_counter()
    for _ in range(SEARCH_REPEATS):
        nearest_distances(drawn, kept)
    return (time.perf_counter() - started) / SEARCH_REPEATS * persons


def _costs(
    seconds: float, identity_s: float, sizes: dict[str, int], full: dict[str, int], search_s: float
) -> dict[str, Any]:
    """One variant's figures: measured seconds and rate, then the costs that project the full generation.

    The identity picking, timed on its own, is the per-person cost; the rest of the run
    (rendering, writing, encoding) divided by the rendered images is the per-image cost.
    """
    per_person = identity_s / sizes["persons"]
    per_image = max(seconds - identity_s, 0.0) / sizes["images"]
    projected = per_person * full["persons"] + per_image * full["images"] + search_s
    return {
        "seconds": round(seconds, 2),
        "images_per_s": round(sizes["images"] / seconds, 1),
        "identity_picking_s": round(identity_s, 2),
        "ms_per_person": round(per_person * 1000, 2),
        "ms_per_image": round(per_image * 1000, 3),
        "projected_full_s": round(projected, 0),
    }


def compare_datasets(first: Path, second: Path) -> dict[str, Any]:
    """Compare two datasets file by file: bytes, except the descriptor arrays of .npz files, compared by value.

    Returns the number of files compared, the relative paths that differ (a file in one
    only, other bytes, or an .npz array other than DESCRIPTOR_KEY that differs), whether
    none does (`same_images`), and the largest absolute difference between descriptors.
    """
    names = {p.relative_to(first) for p in first.rglob("*") if p.is_file()}
    other = {p.relative_to(second) for p in second.rglob("*") if p.is_file()}
    differing = sorted(str(name) for name in names ^ other)
    largest = 0.0
    for name in sorted(names & other):
        a, b = first / name, second / name
        if name.suffix != ".npz":
            if a.read_bytes() != b.read_bytes():
                differing.append(str(name))
            continue
        with np.load(a) as left, np.load(b) as right:
            if set(left.files) != set(right.files):
                differing.append(str(name))
                continue
            for key in left.files:
                if key == DESCRIPTOR_KEY and left[key].shape == right[key].shape:
                    largest = max(largest, float(np.abs(left[key] - right[key]).max(initial=0.0)))
                elif not np.array_equal(left[key], right[key]):
                    differing.append(f"{name}:{key}")
    return {
        "files_compared": len(names | other),
        "differing_files": differing,
        "same_images": not differing,
        "max_descriptor_difference": largest,
    }


def datagen_section(datagen: dict[str, Any] | None) -> str:
    """Return the RESULTS.md section of `bench_datagen`'s results, or a line saying it was not measured."""
    lines = ["## Data generation", ""]
    if datagen is None:
        return "\n".join([*lines, "Not measured: this run had no such section.", ""])
    full = datagen["full"]
    lines += [
        f"`make data` on mcs2019's proportions scaled by {datagen['scale']:g} (preset `{datagen['preset']}`, "
        f"seed {datagen['seed']}): {datagen['persons']:,} persons, {datagen['tracks']:,} tracks, "
        f"{datagen['images']:,} images rendered, {datagen['encoded_images']:,} encoded (train frames, references "
        "and 6 identity candidates per person), generated twice in one process. *Baseline* is the generator as "
        "it was before: the encoder's resize as one ONNX Resize node (cubic), every chunk encoded inline. *Ours* "
        "is the committed encoder (the resize as two matrix products) encoding on a background thread while the "
        "next frames render. Both run today's rendering, identity drawing and session options (the encoder's idle "
        "threads do not spin): the baseline brings back the old encoder graph and the inline encoding, nothing "
        f"else. Load average {datagen['load_average_1m']['before']} before, "
        f"{datagen['load_average_1m']['after']} after.",
        "",
        "| generator | seconds | images/s | identity picking s | ms per person | ms per image | encoder alone "
        "ms per image | projected mcs2019 s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in VARIANTS:
        row = datagen[name]
        lines.append(
            f"| {name} | {row['seconds']} | {row['images_per_s']} | {row['identity_picking_s']} "
            f"| {row['ms_per_person']} | {row['ms_per_image']} | {row['encoder_ms_per_image']} "
            f"| {row['projected_full_s']:,.0f} |"
        )
    same = "the same" if datagen["same_images"] else f"**not** the same ({', '.join(datagen['differing_files'])})"
    lines += [
        "",
        f"Baseline / ours: **{datagen['ratio']}** measured, {datagen['projected_ratio']} projected. Both datasets "
        f"hold {same} bytes in all {datagen['files_compared']:,} files apart from the descriptors, which differ by "
        f"at most {datagen['max_descriptor_difference']:.2g}.",
        "",
        _where_the_time_goes(datagen),
        "",
        f"**Projection, not a measurement.** mcs2019 is {full['persons']:,} persons and {full['images']:,} images "
        f"({full['encoded_images']:,} encoded). The projection is ms per person (identity picking, timed alone "
        "after each run: drawing and encoding 6 candidates) times the persons, plus ms per image (the rest of the "
        "run over the rendered images) times the images, plus the search for the most distinct candidate, which "
        f"grows with persons squared: estimated at {datagen['identity_search_full_s']} s for mcs2019 (one search "
        "at half the persons, timed, times the persons), and negligible at the bench's size. Both runs share "
        "the machine with other jobs; the baseline / ours ratio is the figure to read.",
        "",
    ]
    return "\n".join(lines)


def _where_the_time_goes(datagen: dict[str, Any]) -> str:
    """What encoding costs in each run (bare encoder times encoded images) against the run's seconds."""
    encoded = datagen["encoded_images"]
    parts = []
    for name in VARIANTS:
        row = datagen[name]
        encoding = row["encoder_ms_per_image"] * encoded / 1000
        parts.append(f"{name} {encoding:.1f} s of its {row['seconds']} s")
    return (
        f"*Encoder alone* is the bare encoder on {datagen['encoder_images']} random images after each run. "
        f"Encoding the {encoded:,} encoded images at that rate takes {' and '.join(parts)}; the rest is drawing "
        "identities, rendering frames, JPEG coding and writing files, which both runs share (ours also overlaps its "
        "encoding with them on a second core, when the machine has one free)."
    )
