"""Check every models/*.onnx against the models' contract on the image's runtime, then record them.

Usage: ``python -m models.check_models`` (``make check-models``). Whatever made the models
(the graph builder of onnx_export.py, ``torch.onnx.export``, another tool), this is the one
step after it: each model is read with onnx for its IR version and opset, then loaded and
run once by the image's onnxruntime 1.16 under ``.venv-image`` (contracts/model_probe.py),
and its signature compared with contracts/model_contract.py. When all pass,
``models/manifest.json`` gets an entry per model: an entry whose sha256 still matches keeps
its command and source, a new or changed model gets a fresh one, and the entries of
deleted models go.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import onnx

from contracts.model_contract import MAX_IR_VERSION, MAX_OPSET, probe_problems
from models.onnx_export import MANIFEST_PATH, MODELS_DIR, default_opset, read_manifest, record, write_manifest

ROOT = MODELS_DIR.parent
IMAGE_PYTHON = ROOT / ".venv-image" / "bin" / "python"
PROBE = ROOT / "contracts" / "model_probe.py"
PROBE_TIMEOUT_S = 300
COMMAND = "make check-models (python -m models.check_models)"
SOURCE = {"method": "made outside the kit's exporters; recorded by make check-models"}


class ModelCheckError(Exception):
    """The check itself cannot run (no .venv-image, the probe crashed); the message names the fix."""


@dataclass
class ModelsChecked:
    """The outcome: the models found, the problems (empty: all pass) and whether the manifest was written."""

    models: list[str]
    problems: list[str] = field(default_factory=list)
    manifest_written: bool = False


def check_models(
    models_dir: Path = MODELS_DIR,
    image_python: Path = IMAGE_PYTHON,
    dim: int | None = None,
    update_manifest: bool = True,
) -> ModelsChecked:
    """Check every ``models_dir/*.onnx`` on the image's runtime and, when all pass, update the manifest.

    ``dim`` is the references' descriptor dimension, when known. Returns the models and
    every problem found (one sentence each, with its fix); the manifest
    (``models_dir/manifest.json``) is written only when there is none. Raises
    ModelCheckError when ``image_python`` is missing or the probe cannot run.
    """
    paths = sorted(models_dir.glob("*.onnx"))
    checked = ModelsChecked(models=[path.name for path in paths])
    if not paths:
        checked.problems.append(
            f"{models_dir} holds no *.onnx model: solution.py needs encoder.onnx and aggregator.onnx"
        )
        return checked
    for path in paths:
        checked.problems += _version_problems(path)
    checked.problems += probe_problems(probe_models(models_dir, image_python), dim)
    if not checked.problems and update_manifest:
        _update_manifest(models_dir, paths)
        checked.manifest_written = True
    return checked


def _version_problems(path: Path) -> list[str]:
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises protobuf's DecodeError and others for a file that is no model
        return [f"models/{path.name} is not an ONNX model ({type(exc).__name__}): export it again"]
    problems = []
    if model.ir_version > MAX_IR_VERSION:
        problems.append(
            f"models/{path.name} has IR version {model.ir_version}, onnxruntime 1.16 reads at most {MAX_IR_VERSION}: "
            f"set model.ir_version = {MAX_IR_VERSION} (graph builder) or export with opset_version=17 (torch)"
        )
    opset = default_opset(model)
    if opset is not None and opset > MAX_OPSET:
        problems.append(
            f"models/{path.name} imports opset {opset}, onnxruntime 1.16 runs at most {MAX_OPSET}: "
            "export with opset 17 (torch.onnx.export(..., dynamo=False, opset_version=17))"
        )
    return problems


def probe_models(models_dir: Path, image_python: Path = IMAGE_PYTHON) -> object:
    """Run contracts/model_probe.py on ``models_dir`` under ``image_python``; return its JSON report.

    Raises ModelCheckError when the interpreter is missing or the probe fails or hangs.
    """
    if not image_python.exists():
        raise ModelCheckError(f"{image_python} does not exist: run make venv-image (the image's onnxruntime 1.16)")
    with tempfile.TemporaryDirectory(prefix="model-probe-") as scratch:
        out = Path(scratch) / "models.json"
        try:
            done = subprocess.run(
                [str(image_python), str(PROBE), str(models_dir), str(out)],
                capture_output=True,
                text=True,
                timeout=PROBE_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            raise ModelCheckError(f"loading the models took over {PROBE_TIMEOUT_S}s under {image_python}") from None
        if done.returncode != 0 or not out.exists():
            tail = "\n".join(done.stderr.strip().splitlines()[-5:])
            raise ModelCheckError(f"the model probe failed under {image_python} (exit {done.returncode}):\n{tail}")
        return json.loads(out.read_text())


def _update_manifest(models_dir: Path, paths: list[Path]) -> None:
    manifest_path = models_dir / MANIFEST_PATH.name
    names = {path.name for path in paths}
    manifest = {name: entry for name, entry in read_manifest(manifest_path).items() if name in names}
    write_manifest(manifest, manifest_path)
    for path in paths:
        if manifest.get(path.name, {}).get("sha256") != _sha256(path):
            record(path, COMMAND, SOURCE, manifest_path)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    """Command line: check, print every problem or the models recorded; exit 1 on problems, 3 when it cannot run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=MODELS_DIR, help="the folder of *.onnx (default: models/)")
    parser.add_argument("--python", type=Path, default=IMAGE_PYTHON, help="the image's Python (default: .venv-image)")
    parser.add_argument("--dimension", type=int, default=None, help="the references' descriptor dimension")
    args = parser.parse_args(argv)
    try:
        checked = check_models(args.models, args.python, args.dimension)
    except ModelCheckError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    for problem in checked.problems:
        print(f"error: {problem}", file=sys.stderr)
    if checked.problems:
        print(f"{len(checked.problems)} problem(s); models/manifest.json left as it was", file=sys.stderr)
        return 1
    print(f"ok: {', '.join(checked.models)} load and run on the image's onnxruntime and meet the contract")
    print(f"recorded in {args.models / MANIFEST_PATH.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
