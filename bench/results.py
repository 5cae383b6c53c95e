"""Writing results.json (and results-gpu.json) and RESULTS.md, which explains each figure in a sentence.

RESULTS.md is rebuilt from whichever of the two JSON files exist in the output folder,
so a GPU run on another host adds its section without redoing the CPU figures.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.aggregators import aggregators_section
from bench.datagen import datagen_section

RESULTS_FILE = "results.json"
GPU_RESULTS_FILE = "results-gpu.json"
MARKDOWN_FILE = "RESULTS.md"


def write_results(out: Path, results: dict[str, Any], gpu: bool) -> Path:
    """Write `results` to out/results.json (out/results-gpu.json when `gpu`), then out/RESULTS.md.

    Returns the path of RESULTS.md. Raises OSError when `out` cannot be written.
    """
    out.mkdir(parents=True, exist_ok=True)
    (out / (GPU_RESULTS_FILE if gpu else RESULTS_FILE)).write_text(json.dumps(results, indent=2) + "\n")
    cpu = _load(out / RESULTS_FILE)
    markdown = render(cpu, _load(out / GPU_RESULTS_FILE)) if cpu else render_gpu_only(results)
    path = out / MARKDOWN_FILE
    path.write_text(markdown)
    return path


def render(results: dict[str, Any], gpu: dict[str, Any] | None) -> str:
    """Return RESULTS.md for the CPU `results`, with the GPU section from `gpu` or a note that it is not measured."""
    parts = [
        _header(results),
        _targets(results),
        _scorer(results["scorer"]),
        _pipeline(results["pipeline"]),
        _sandbox(results["sandbox"]),
        negatives_section(results["negatives"]),
        aggregators_section(results.get("aggregators")),
        datagen_section(results.get("datagen")),
        _gpu(gpu),
    ]
    return "\n".join(parts)


def render_gpu_only(gpu: dict[str, Any]) -> str:
    """Return RESULTS.md when only a GPU run exists in the folder."""
    return "# Benchmarks\n\nNo CPU run here yet: `make bench` writes it.\n\n" + _gpu(gpu)


def _load(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _machine(machine: dict[str, Any]) -> str:
    gpu = machine["gpu"] or "no GPU"
    return (
        f"{machine['cores']} cores ({machine['usable_cores']} usable), {machine['cpu_model']}, "
        f"{machine['memory_gib']} GiB, {gpu}; load average {machine['load_average_1m']} at the start "
        f"(Python {machine['python']}, numpy {machine['numpy']}, onnxruntime {machine['onnxruntime']})"
    )


def _header(results: dict[str, Any]) -> str:
    quick = (
        "\n**Quick mode: small sizes, for the tests only; these numbers mean nothing.**\n" if results["quick"] else ""
    )
    return f"""# Benchmarks

Written by `make bench` (`python -m bench`) on {results["finished_at"]} in {results["elapsed_s"]} s.
Machine: {_machine(results["machine"])}.
{quick}
Every figure stands beside a baseline measured in the same run on the same data, because
this machine is shared and its absolute speed drifts: read the ratios, not the seconds.
Timings are the best of the repeats (the least disturbed), peak memory is traced in a
fresh process per contender.
"""


def _targets(results: dict[str, Any]) -> str:
    lines = ["## Goals of issues 7 and 18", "", "| goal | target | measured | met |", "|---|---|---|---|"]
    for row in results["targets"]:
        met = {True: "yes", False: f"**no**, missed by {row.get('missed_by')}", None: "not measured"}[row["met"]]
        lines.append(f"| {row['name']} | {row['goal']} | {row['value']} | {met} |")
    missed = [row["name"] for row in results["targets"] if row["met"] is False]
    lines.append("")
    lines.append("Every goal is met." if not missed else f"Missed: {', '.join(missed)}; the sections below say why.")
    return "\n".join(lines) + "\n"


def _scorer(scorer: dict[str, Any]) -> str:
    lines = [
        "## Scorer",
        "",
        f"A private subset at a stress size: {scorer['identities']:,} identities, one track and "
        f"{scorer['references_per_identity']} references each, so {scorer['pairs']:,} pairs, TPR at FPR "
        f"{', '.join(f'{f:g}' for f in scorer['fprs'])}. *Ours* is `evaluate.scoring.score_subset`, streamed in "
        "blocks; *naive* computes every pair distance as one float64 matrix, then scikit-learn's "
        "`roc_curve(drop_intermediate=False)` and the largest TPR with FPR <= f; the *floor* is the bare float64 "
        "matrix product of the same sizes, which any exact scorer must do.",
        "",
        f"Peak memory is measured with {scorer['memory_method']}: each contender runs in its own fresh process, "
        "tracing starts after the inputs are built, and the peak is what the contender allocates on top of them "
        "(numpy's arrays included; BLAS's own work buffers are not).",
        "",
        "| D | pairs | ours s | naive s | floor s | blocked product s | naive / ours | ours / floor | ours peak MiB "
        "| naive peak MiB | floor peak MiB | ours / naive peak | identical |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in scorer["cases"]:
        lines.append(
            f"| {c['dim']} | {c['pairs']:,} | {c['ours_s']} | {c['naive_s']} | {c['floor_s']} "
            f"| {c['blocked_product_s']} | {c['speedup']} "
            f"| {c['over_floor']} | {c['ours_peak_mb']} | {c['naive_peak_mb']} | {c['floor_peak_mb']} "
            f"| {c['memory_ratio']} | {c['identical']} |"
        )
    lines += [
        "",
        "*naive / ours* is how many times faster the streamed scorer is; *ours / floor* how far it is from the "
        "matrix product alone; *identical* says whether every TPR@FPR of the two agrees exactly "
        f"(at D = {scorer['cases'][0]['dim']}: {', '.join(str(t) for t in scorer['cases'][0]['tpr_ours'])}). "
        "The *blocked product* is the floor's product computed in the scorer's row blocks, results dropped.",
        "",
        _beyond_product(scorer["cases"]),
        "",
        f"### Growth of the scorer alone (D = {scorer['growth_dim']})",
        "",
        "Each size in a fresh process, timed with tracemalloc on (which costs little here: the scorer makes few, "
        "large allocations). The peak is bounded by the block size and the kept negatives, not by the pair count.",
        "",
        "| pairs | identities | seconds | peak MiB | pairs per second |",
        "|---|---|---|---|---|",
    ]
    for row in scorer["growth"]:
        lines.append(
            f"| {row['pairs']:,} | {row['identities']:,} | {row['seconds']} | {row['peak_mb']} "
            f"| {row['pairs_per_s']:,} |"
        )
    return "\n".join(lines) + "\n"


def _beyond_product(cases: list[dict[str, Any]]) -> str:
    """What the scorer spends per pair besides the matrix product, and why that sets ours / floor."""
    per_pair = ", ".join(f"{c['ns_per_pair_beyond_product']} ns at D = {c['dim']}" for c in cases)
    return (
        f"Beyond the product, the scorer spends {per_pair} per pair (ours minus the blocked product): its other "
        "passes over every block (distances from the product, the positive mask, the histogram behind roc.png and "
        "the top-k buffer of negatives) cost the same per pair whatever D is, while the product's cost per pair "
        f"grows with D. The floor itself writes one {cases[0]['pairs']:,}-entry matrix (hence its own peak), "
        "which the blocked product avoids. So ours / floor measures these passes against the product's cost at "
        "that D; it is not a constant."
    )


def _pipeline(pipeline: dict[str, Any]) -> str:
    projection = pipeline["projection"]
    lines = [
        "## Solution pipeline",
        "",
        f"`solution.py` as a process on {pipeline['images']} images ({pipeline['tracks']} tracks, from "
        f"`{pipeline['data']}`) on {pipeline['provider']}, batch {pipeline['batch_size']}, "
        f"{pipeline['threads']} intra-op threads, {pipeline['decode_workers']} decode threads, beside the bare "
        "encoder session run in the bench on the same images decoded beforehand, same batch size and threads.",
        "",
        "| figure | value | meaning |",
        "|---|---|---|",
        f"| `pipeline.images_per_s` | {pipeline['images_per_s']} | solution.py from the first image read to "
        "descriptors.npz written (decode, encoder, aggregator, writing), model loading excluded |",
        f"| `pipeline.process_images_per_s` | {pipeline['process_images_per_s']} | the same over the whole process "
        "(interpreter start and model loading included) |",
        f"| `pipeline.encoder_only_images_per_s` | {pipeline['encoder_only_images_per_s']} | the bare encoder on "
        f"pre-decoded batches ({pipeline['encoder_only_provider']}) |",
        f"| `pipeline.ratio` | {pipeline['ratio']} | solution / bare encoder: 1 means decoding and the rest are "
        "fully hidden behind inference |",
        f"| `pipeline.decode_images_per_s_per_core` | {pipeline['decode_images_per_s_per_core']} | JPEG decoding "
        "on one thread, in the bench |",
        "",
        _pipeline_gap(pipeline),
        "",
    ]
    lines += [
        "### Projection for the full MCS test on a GPU (not measured)",
        "",
        f"**Projection, not a measurement.** The encoder costs {pipeline['encoder_gflops_per_image']} GFLOP per "
        f"image ({pipeline['encoder_macs_per_image']:,} multiply-accumulates, counted from the ONNX graph: each "
        "Conv's and the MatMul's output size times its weight's fan-in). The full test is "
        f"{projection['images']:,} images. Encoder time is projected at the GPU's fp32 peak and at an assumed "
        f"{projection['assumed_utilization']:.0%} of it; JPEG decoding on the DevBattle profile's "
        f"{projection['decode_cpus']} CPUs at the single-core rate measured here takes {projection['decode_s']} s and "
        "overlaps inference, so the run is projected at the slower of the two, against the "
        f"{projection['time_limit_s']:g} s limit.",
        "",
        "| GPU | fp32 peak TFLOPS | encoder s at peak | encoder s at assumed use | projected run s | within limit |",
        "|---|---|---|---|---|---|",
    ]
    for name, gpu in projection["gpus"].items():
        lines.append(
            f"| {name} | {gpu['peak_tflops']} | {gpu['encoder_s_at_peak']} | {gpu['encoder_s_at_assumed_utilization']} "
            f"| {gpu['projected_run_s']} | {gpu['fits_limit']} |"
        )
    return "\n".join(lines) + "\n"


def _pipeline_gap(pipeline: dict[str, Any]) -> str:
    """Where the solution's time goes beyond the bare encoder's, from the timings in its solution.json."""
    timings = pipeline["timings_s"]
    steady = timings["total_s"] - timings["load_s"]
    waited = timings["waiting_for_decode_s"]
    inference = timings["encode_s"] - waited
    decode_cpu = pipeline["images"] / pipeline["decode_images_per_s_per_core"]
    first_batch = min(pipeline["batch_size"], pipeline["images"]) / pipeline["decode_images_per_s_per_core"]
    slower = inference - pipeline["bare_encoder_s"]
    breakdown = (
        f"Where the time goes, in the best solution run: {steady:.3f} s from the first image read to the file "
        f"written, where the bare encoder needs {pipeline['bare_encoder_s']} s for the same images. The encoder "
        f"waited {waited} s for decoded batches (the first batch cannot overlap anything: decoding it alone takes "
        f"about {first_batch:.3f} s on one core), the aggregator took {timings['aggregate_s']} s and writing "
        f"{timings['write_s']} s. Inference itself took {inference:.3f} s, {slower:+.3f} s against the bare encoder; "
        f"decoding every image costs {decode_cpu:.3f} s of one core in the bench"
    )
    if "decode_s" in timings:
        breakdown += f" and took {timings['decode_s']} s of thread time inside the solution, beside inference"
    breakdown += "."
    if slower <= decode_cpu:
        return breakdown + " Decoding is hidden: what is left is the noise of a shared machine."
    return breakdown + (
        f" The rest of the slowdown is contention: {pipeline['decode_workers']} decode threads and "
        f"{pipeline['threads']} intra-op threads (which spin while they wait for work) share {pipeline['threads']} "
        "cores, on a machine other jobs were using too (see the load average above)."
    )


def _sandbox(sandbox: dict[str, Any]) -> str:
    lines = [
        "## Sandbox overhead",
        "",
        f"A no-op submission (`{sandbox['no_op']}`, median of {sandbox['repeats']}) through the whole "
        "`python -m submission run` command, beside the same interpreter started bare "
        f"({sandbox['bare_s']} s). *Overhead* is the command's wall time minus the bare process's: the runner's "
        "own start, the cgroup, the output volume (mkfs, mount, copy out), the sandbox, the output check and the "
        "report. *Over local* removes the runner's "
        "share by subtracting the `local` engine (no sandbox). *Clock* is the run's `wall_s` in run.json (the time "
        "a submission is charged, polled every 0.1 s). The no-op writes no descriptors, so `invalid_output` is the "
        f"expected status. podman runs the image `{sandbox['image']}`.",
        "",
        "| engine | wall s | overhead s | over local s | clock s | status |",
        "|---|---|---|---|---|---|",
    ]
    for engine, row in sandbox["engines"].items():
        if row["ran"]:
            lines.append(
                f"| {engine} | {row['wall_s']} | {row['overhead_s']} | {row['over_local_s']} | {row['clock_s']} "
                f"| {row['status']} |"
            )
        else:
            lines.append(f"| {engine} | not run: {row['reason']} | | | | |")
    return "\n".join(lines) + "\n"


def negatives_section(negatives: dict[str, Any]) -> str:
    """Return the RESULTS.md section of `bench_negatives`' results: a table of both rules, or why it did not run."""
    lines = ["## Which references are negatives", ""]
    if not negatives["ran"]:
        return "\n".join([*lines, f"Not measured: {negatives['reason']}.", ""])
    lines += [
        f"The baseline's descriptors of all {negatives['tracks']} tracks of `{negatives['data']}`, scored under "
        "each rule of `metric.negatives`: *subset* (the default) meets each subset's tracks with the references "
        "of that subset's persons, *all* with every test reference. Positives are the same; only the negatives "
        "differ. *Score s* is the best of 3 scorings of both subsets. * marks a target the negatives cannot "
        "resolve (fewer than 1/FPR of them: the value is the TPR at FPR = 0).",
        "",
    ]
    fprs = list(next(iter(next(iter(negatives["rules"].values()))["subsets"].values()))["tpr"])
    lines += [
        "| rule | subset | negatives | " + " | ".join(f"TPR@{fpr}" for fpr in fprs) + " | score s |",
        "|---|---|---|" + "---|" * len(fprs) + "---|",
    ]
    for rule, measured in negatives["rules"].items():
        for subset, figures in measured["subsets"].items():
            tprs = " | ".join(f"{figures['tpr'][fpr]}{'' if figures['resolvable'][fpr] else '*'}" for fpr in fprs)
            lines.append(f"| {rule} | {subset} | {figures['negatives']:,} | {tprs} | {measured['score_s']} |")
    return "\n".join(lines) + "\n"


def _gpu(gpu: dict[str, Any] | None) -> str:
    if gpu is None:
        return (
            "## GPU\n\nNot measured yet: no GPU host was available to this run. `make bench-gpu` on a GPU host "
            "runs the pipeline on the CUDA provider beside the bare encoder with IO binding, checks whether fp16 "
            "keeps the descriptors (cosine >= 0.999 to fp32) and adds its figures here; without a GPU it stops "
            "with one line and never falls back to the CPU. Until then, the GPU figures above are projections.\n"
        )
    pipeline, fp16 = gpu["pipeline"], gpu["fp16"]
    fp16_speed = fp16["encoder_only_images_per_s"] if fp16["holds_fidelity"] else "not used"
    return f"""## GPU ({gpu["device"]})

Measured by `make bench-gpu` on {gpu["finished_at"]}: {_machine(gpu["machine"])}.

| figure | value | meaning |
|---|---|---|
| `gpu.pipeline.images_per_s` | {pipeline["images_per_s"]} | solution.py on {pipeline["provider"]}, end to end |
| `gpu.pipeline.encoder_only_images_per_s` | {pipeline["encoder_only_images_per_s"]} | bare encoder, IO binding |
| `gpu.pipeline.ratio` | {pipeline["ratio"]} | solution / bare encoder |
| `gpu.fp16.min_cosine_vs_fp32` | {fp16["min_cosine_vs_fp32"]} | fp16 fidelity (holds: {fp16["holds_fidelity"]}) |
| `gpu.fp16.encoder_only_images_per_s` | {fp16_speed} | bare fp16 encoder, IO binding |
"""
