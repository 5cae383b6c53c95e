"""`python -m bench --quick`: it runs, results.json has the schema the README and RESULTS.md rely on.

Speed is never asserted; the quick sizes are too small to mean anything. What is checked
is what a reader of RESULTS.md would notice: a missing figure, a figure in the JSON that
RESULTS.md does not show, a GPU run that quietly falls back to the CPU.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from bench.cli import main
from bench.datagen import compare_datasets, scaled
from bench.flops import encoder_macs_per_image
from bench.gpu import FP16_MIN_COSINE, fp16_figures
from bench.machine import gpu_name
from bench.negatives import bench_negatives
from bench.pipeline import PipelineError, prepare_tracks
from bench.results import negatives_section, write_results
from bench.targets import check_targets
from contracts.names import FRAMES_PER_TRACK
from evaluate.datagen.presets import PRESETS
from tests.challenge_data import write_challenge

# Dotted paths into results.json and the type each must have.
SCHEMA: dict[str, type | tuple[type, ...]] = {
    "quick": bool,
    "finished_at": str,
    "elapsed_s": float,
    "machine.cores": int,
    "machine.cpu_model": str,
    "machine.memory_gib": float,
    "scorer.pairs": int,
    "scorer.ours_s": float,
    "scorer.naive_s": float,
    "scorer.floor_s": float,
    "scorer.ours_peak_mb": float,
    "scorer.naive_peak_mb": float,
    "scorer.identical": bool,
    "scorer.speedup": float,
    "scorer.memory_ratio": float,
    "scorer.over_floor": float,
    "scorer.memory_method": str,
    "pipeline.images_per_s": float,
    "pipeline.encoder_only_images_per_s": float,
    "pipeline.provider": str,
    "pipeline.ratio": float,
    "pipeline.encoder_macs_per_image": int,
    "pipeline.projection.time_limit_s": float,
    "sandbox.bare_s": float,
    "negatives.ran": bool,
    "datagen.persons": int,
    "datagen.images": int,
    "datagen.full.images": int,
    "datagen.baseline.seconds": float,
    "datagen.baseline.images_per_s": float,
    "datagen.baseline.projected_full_s": float,
    "datagen.ours.seconds": float,
    "datagen.ours.images_per_s": float,
    "datagen.ours.ms_per_person": float,
    "datagen.ours.ms_per_image": float,
    "datagen.baseline.encoder_ms_per_image": float,
    "datagen.ours.encoder_ms_per_image": float,
    "datagen.ours.projected_full_s": float,
    "datagen.ratio": float,
    "datagen.projected_ratio": float,
    "datagen.identity_search_full_s": float,
    "datagen.same_images": bool,
    "datagen.max_descriptor_difference": float,
    "targets": list,
}
# Figures RESULTS.md must show, exactly as results.json holds them.
FIGURES = [
    "scorer.ours_s",
    "scorer.naive_s",
    "scorer.floor_s",
    "scorer.ours_peak_mb",
    "scorer.naive_peak_mb",
    "scorer.speedup",
    "scorer.memory_ratio",
    "scorer.over_floor",
    "pipeline.images_per_s",
    "pipeline.process_images_per_s",
    "pipeline.encoder_only_images_per_s",
    "pipeline.ratio",
    "pipeline.provider",
    "pipeline.encoder_gflops_per_image",
    "pipeline.decode_images_per_s_per_core",
    "pipeline.projection.decode_s",
    "sandbox.bare_s",
    "machine.cpu_model",
    "datagen.baseline.seconds",
    "datagen.ours.seconds",
    "datagen.baseline.images_per_s",
    "datagen.ours.images_per_s",
    "datagen.ours.ms_per_person",
    "datagen.ours.ms_per_image",
    "datagen.baseline.encoder_ms_per_image",
    "datagen.ours.encoder_ms_per_image",
    "datagen.ratio",
    "datagen.projected_ratio",
    "datagen.identity_search_full_s",
]


def dig(document: dict[str, Any], dotted: str) -> Any:
    """The value at a dotted path of a nested dict."""
    value: Any = document
    for key in dotted.split("."):
        value = value[key]
    return value


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    out = tmp_path_factory.mktemp("bench")
    result = CliRunner().invoke(main, ["--quick", "--out", str(out), "--data", str(out / "no-such-data")])
    return result, out


@pytest.fixture(scope="module")
def results(quick_run: tuple[Any, Path]) -> dict[str, Any]:
    result, out = quick_run
    assert result.exit_code == 0, result.output
    return json.loads((out / "results.json").read_text())


@pytest.fixture(scope="module")
def markdown(quick_run: tuple[Any, Path], results: dict[str, Any]) -> str:
    return (quick_run[1] / "RESULTS.md").read_text()


@pytest.mark.parametrize(("path", "kind"), SCHEMA.items())
def test_results_json_has_every_key_with_its_type(results: dict[str, Any], path: str, kind: type) -> None:
    assert isinstance(dig(results, path), kind), f"{path} = {dig(results, path)!r}"


def test_streamed_scorer_agrees_with_the_naive_way_in_every_case(results: dict[str, Any]) -> None:
    for case in results["scorer"]["cases"]:
        assert case["identical"] and case["tpr_ours"] == case["tpr_naive"]
        assert all(0 < tpr < 1 for tpr in case["tpr_ours"]), "the bench data must make every TPR informative"


def test_both_negatives_rules_are_scored_on_a_real_dataset(tmp_path: Path) -> None:
    """The quick run has no ground truth; a small generated dataset has, and each rule gives its own negatives."""
    data = write_challenge(tmp_path / "data")
    measured = bench_negatives(tmp_path / "work", data / "test", lambda message: None)
    subset, every = measured["rules"]["subset"]["subsets"], measured["rules"]["all"]["subsets"]
    for name in ("public", "private"):
        assert every[name]["negatives"] > subset[name]["negatives"] > 0
        assert set(every[name]["tpr"]) == set(subset[name]["tpr"]) == {"1e-06", "1e-05", "0.0001"}
    section = negatives_section(measured)
    assert f"| all | public | {every['public']['negatives']:,} |" in section


def test_growth_curve_has_one_row_per_size_in_order(results: dict[str, Any]) -> None:
    pairs = [row["pairs"] for row in results["scorer"]["growth"]]
    assert len(pairs) >= 2 and pairs == sorted(pairs)
    assert all(row["seconds"] > 0 and row["peak_mb"] > 0 for row in results["scorer"]["growth"])


def test_pipeline_runs_the_solution_on_the_cpu_beside_the_bare_encoder(results: dict[str, Any]) -> None:
    pipeline = results["pipeline"]
    assert pipeline["provider"] == pipeline["encoder_only_provider"] == "CPUExecutionProvider"
    assert pipeline["data"] == "assets/faces"
    assert pipeline["images"] == 10 * pipeline["tracks"]
    assert set(pipeline["projection"]["gpus"]) == {"RTX 2080 Ti", "H100 SXM"}
    assert pipeline["projection"]["measured"] is False


def test_every_engine_is_measured_or_says_why_not(results: dict[str, Any]) -> None:
    engines = results["sandbox"]["engines"]
    assert set(engines) == {"local", "bwrap", "podman"}
    assert engines["local"]["ran"] and engines["local"]["status"] == "invalid_output"
    for row in engines.values():
        assert (row["ran"] and isinstance(row["wall_s"], float)) or (not row["ran"] and row["reason"])
        # The no-op ran in the sandbox and wrote nothing: not an exec that failed to start.
        assert not row["ran"] or row["status"] == "invalid_output"


def test_results_md_shows_every_figure(results: dict[str, Any], markdown: str) -> None:
    missing = [path for path in FIGURES if str(dig(results, path)) not in markdown]
    assert not missing, f"RESULTS.md lacks {missing}"
    for row in results["scorer"]["growth"]:
        assert f"{row['pairs']:,}" in markdown and str(row["seconds"]) in markdown


def test_results_md_labels_quick_mode_projections_and_the_unmeasured_gpu(markdown: str) -> None:
    assert "Quick mode" in markdown
    assert "Projection, not a measurement" in markdown
    assert "tracemalloc" in markdown
    assert "## GPU\n\nNot measured yet" in markdown


@pytest.mark.skipif(gpu_name() is not None, reason="this host has a GPU")
def test_gpu_variant_refuses_to_run_without_a_gpu(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--gpu", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert (
        result.output == "Error: --gpu needs an NVIDIA GPU, and nvidia-smi finds none on this host; run `make bench`\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_missing_image_in_the_test_folder_is_named(tmp_path: Path) -> None:
    source = tmp_path / "test"
    source.mkdir()
    (source / "tracks.csv").write_text("track_id,frame,path\n7,0,images/7_0.jpg\n")
    with pytest.raises(PipelineError, match=r"every image tracks.csv names must exist, got .*images/7_0.jpg missing"):
        prepare_tracks(source, 1, tmp_path / "copy")


def test_macs_are_counted_from_output_sizes_and_weight_fan_in(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["rows", "x"], ["r"]),
            helper.make_node("Conv", ["r", "w"], ["c"], pads=[1, 1, 1, 1], strides=[2, 2]),
            helper.make_node("ReduceMean", ["c"], ["m"], axes=[2, 3], keepdims=0),
            helper.make_node("MatMul", ["m", "fc"], ["y"]),
        ],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])],
        [
            numpy_helper.from_array(rng.normal(size=(8, 8)).astype(np.float32), "rows"),
            numpy_helper.from_array(rng.normal(size=(4, 3, 3, 3)).astype(np.float32), "w"),
            numpy_helper.from_array(rng.normal(size=(4, 2)).astype(np.float32), "fc"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    onnx.save(model, tmp_path / "tiny.onnx")
    # Left-hand MatMul: 3 x 8 x 8 outputs, 8 each; Conv: 4 x 4 x 4 outputs (stride 2 on 8 x 8), 3 x 3 x 3 each;
    # right-hand MatMul: 2 outputs, 4 each.
    assert encoder_macs_per_image(tmp_path / "tiny.onnx") == 3 * 8 * 8 * 8 + 4 * 4 * 4 * 27 + 2 * 4


@pytest.mark.parametrize(
    ("pipeline_ratio", "datagen_ratio", "met", "missed_by"),
    [(0.95, 3.2, True, None), (0.6, 2.0, False, "1.50x")],
)
def test_targets_say_whether_met_and_by_how_much(
    pipeline_ratio: float, datagen_ratio: float, met: bool, missed_by: str | None
) -> None:
    case = {"speedup": 17.0, "memory_ratio": 0.01, "identical": True, "over_floor": 1.1}
    results = {
        "scorer": {"cases": [case]},
        "pipeline": {"ratio": pipeline_ratio},
        "sandbox": {"engines": {"bwrap": {"ran": False}}},
        "datagen": {"ratio": datagen_ratio},
    }
    rows = {row["name"]: row for row in check_targets(results)}
    assert rows["pipeline"]["met"] is met and rows["pipeline"].get("missed_by") == missed_by
    assert rows["data generation"]["met"] is met and rows["data generation"].get("missed_by") == missed_by
    assert rows["data generation"]["goal"] == "baseline / ours >= 3"
    assert rows["bwrap overhead"]["met"] is None
    del results["datagen"]
    assert {row["name"]: row for row in check_targets(results)}["data generation"]["met"] is None
    assert all(rows[name]["met"] for name in ("scorer speed", "scorer memory", "scorer values", "scorer vs floor"))


def test_fp16_encoder_keeps_the_descriptors_of_real_faces() -> None:
    faces = sorted((Path(__file__).resolve().parent.parent / "assets" / "faces").glob("*_112.png"))[:8]
    images = np.stack([np.asarray(Image.open(path).convert("RGB"), dtype=np.uint8) for path in faces])
    figures = fp16_figures(images, batch_size=8, provider="CPUExecutionProvider")
    assert figures["holds_fidelity"] and figures["min_cosine_vs_fp32"] >= FP16_MIN_COSINE
    assert figures["encoder_only_images_per_s"] > 0


def test_results_md_shows_the_gpu_figures_once_a_gpu_run_exists(results: dict[str, Any], tmp_path: Path) -> None:
    gpu_run = {
        "quick": False,
        "machine": {**results["machine"], "gpu": "NVIDIA H100 80GB HBM3"},
        "finished_at": "2026-11-24T09:00:00+00:00",
        "device": "NVIDIA H100 80GB HBM3",
        "pipeline": {**results["pipeline"], "provider": "CUDAExecutionProvider", "images_per_s": 2345.6},
        "fp16": {"min_cosine_vs_fp32": 0.99991, "holds_fidelity": True, "encoder_only_images_per_s": 6543.2},
    }
    (tmp_path / "results.json").write_text(json.dumps(results))
    markdown = write_results(tmp_path, gpu_run, gpu=True).read_text()
    assert "## GPU (NVIDIA H100 80GB HBM3)" in markdown and "Not measured yet" not in markdown
    assert all(figure in markdown for figure in ("2345.6", "6543.2", "0.99991", "CUDAExecutionProvider"))
    assert json.loads((tmp_path / "results-gpu.json").read_text())["device"] == "NVIDIA H100 80GB HBM3"


def test_both_generators_make_the_same_images_and_descriptors_within_1e_5(results: dict[str, Any]) -> None:
    datagen = results["datagen"]
    assert datagen["same_images"] and datagen["differing_files"] == []
    # Every image, table and id array of the tiny dataset is compared, not just a few files.
    assert datagen["files_compared"] > datagen["tracks"] * FRAMES_PER_TRACK
    # The baseline really ran the other encoder: its descriptors differ, by float32 rounding only.
    assert 0 < datagen["max_descriptor_difference"] < 1e-5


def test_datagen_quick_run_is_mcs2019_at_its_smallest_and_projects_the_full_size(results: dict[str, Any]) -> None:
    datagen = results["datagen"]
    assert (datagen["persons"], datagen["tracks"]) == (6, 12)
    assert datagen["ratio"] == round(datagen["baseline"]["seconds"] / datagen["ours"]["seconds"], 2)
    assert datagen["full"] == {"persons": 5235, "tracks": 23492, "images": 261095, "encoded_images": 212005}
    for name in ("baseline", "ours"):
        row = datagen[name]
        assert row["images_per_s"] == pytest.approx(datagen["images"] / row["seconds"], rel=0.02)
        assert row["projected_full_s"] > row["seconds"]


def test_results_md_says_the_mcs2019_time_is_a_projection(results: dict[str, Any], markdown: str) -> None:
    section = markdown[markdown.index("## Data generation") :]
    assert "**Projection, not a measurement.** mcs2019 is 5,235 persons and 261,095 images" in section
    for name in ("baseline", "ours"):
        assert f"| {results['datagen'][name]['projected_full_s']:,.0f} |" in section
    assert "| data generation | baseline / ours >= 3 |" in markdown


def test_mcs2019_scaled_down_keeps_its_proportions_and_two_persons_per_part() -> None:
    preset = scaled(PRESETS["mcs2019"], 0.01)
    assert (preset.train_persons, preset.train_tracks) == (9, 154)
    assert (preset.public_persons, preset.public_tracks) == (3, 40)
    assert (preset.private_persons, preset.private_tracks) == (40, 40)
    assert preset.references == 5
    smallest = scaled(PRESETS["mcs2019"], 1e-6)
    assert [smallest.train_persons, smallest.public_persons, smallest.private_persons] == [2, 2, 2]
    assert [smallest.train_tracks, smallest.public_tracks, smallest.private_tracks] == [2, 2, 2]


def test_dataset_comparison_names_a_changed_image_and_measures_descriptors(tmp_path: Path) -> None:
    for name, pixel, descriptor in (("a", b"jpeg 1", 0.5), ("b", b"jpeg 2", 0.5 + 2**-18)):
        (tmp_path / name / "test" / "images").mkdir(parents=True)
        (tmp_path / name / "test" / "images" / "0.jpg").write_bytes(pixel)
        (tmp_path / name / "test" / "tracks.csv").write_text("same\n")
        np.savez(
            tmp_path / name / "references.npz",
            person_id=np.array([1]),
            descriptor=np.full((1, 4), descriptor, np.float32),
        )
    compared = compare_datasets(tmp_path / "a", tmp_path / "b")
    assert compared["differing_files"] == ["test/images/0.jpg"] and not compared["same_images"]
    assert compared["files_compared"] == 3
    assert compared["max_descriptor_difference"] == 2**-18


def test_only_datagen_measures_that_section_into_an_earlier_run(results: dict[str, Any], tmp_path: Path) -> None:
    earlier = {**results, "datagen": None, "targets": []}
    (tmp_path / "results.json").write_text(json.dumps(earlier))
    result = CliRunner().invoke(main, ["--only", "datagen", "--quick", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    rewritten = json.loads((tmp_path / "results.json").read_text())
    assert rewritten["datagen"]["same_images"] and rewritten["scorer"] == results["scorer"]
    assert [row["name"] for row in rewritten["targets"]] == [row["name"] for row in results["targets"]]
    assert "## Data generation\n\n`make data` on mcs2019's proportions" in (tmp_path / "RESULTS.md").read_text()


def test_only_needs_an_earlier_run(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--only", "datagen", "--quick", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert f"{tmp_path / 'results.json'} must exist for --only: run `make bench` once first" in result.output
