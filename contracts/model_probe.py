"""Load every ONNX model of a folder with this Python's onnxruntime, run it once, and write what was found.

    python model_probe.py MODELS_DIR OUT_JSON

Runs where the models run: under the image's Python 3.8, numpy 1.24 and onnxruntime 1.16
(`.venv-image`, or the runner's sandbox, which starts it with `python -c` and this file's
text). Standard library, numpy and onnxruntime only, no import of the project. OUT_JSON
holds {"onnxruntime": version, "models": {file name: {"inputs", "outputs", "ran"} or
{"error"}}}: the signature as (name, numpy dtype, shape with ints, names or null), and
the output shapes of one run on zeros where every dynamic axis is 2 (3 for the second one).
"""

import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

# ONNX Runtime's type names -> numpy's
DTYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(uint8)": "uint8",
    "tensor(int8)": "int8",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
    "tensor(bool)": "bool",
}
MAX_MESSAGE = 400


def describe(values):
    """[{"name", "dtype", "shape"}] of ONNX Runtime's NodeArg list."""
    return [{"name": v.name, "dtype": DTYPES.get(v.type, v.type), "shape": list(v.shape)} for v in values]


def zeros_for(value):
    """An array of zeros for one input: dynamic axes 2, then 3, then 2..., fixed ones as declared."""
    sizes, dynamic = [], 0
    for axis in value.shape:
        if isinstance(axis, int):
            sizes.append(axis)
        else:
            sizes.append(2 + dynamic % 2)
            dynamic += 1
    return np.zeros(sizes, dtype=DTYPES.get(value.type, "float32"))


def probe(path):
    """What one model shows: its signature and one run's output shapes, or the first line of its error."""
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own types, one per failure
        return {"error": str(exc).strip().splitlines()[0][:MAX_MESSAGE] if str(exc).strip() else type(exc).__name__}
    found = {"inputs": describe(session.get_inputs()), "outputs": describe(session.get_outputs())}
    try:
        results = session.run(None, {v.name: zeros_for(v) for v in session.get_inputs()})
        found["ran"] = [list(np.shape(result)) for result in results]
    except Exception as exc:
        found["run_error"] = str(exc).strip().splitlines()[0][:MAX_MESSAGE] if str(exc).strip() else type(exc).__name__
    return found


def main(argv):
    """Probe every MODELS_DIR/*.onnx and write OUT_JSON; return 0."""
    models_dir, out = Path(argv[0]), Path(argv[1])
    report = {"onnxruntime": ort.__version__, "models": {}}
    for path in sorted(models_dir.glob("*.onnx")):
        report["models"][path.name] = probe(path)
    out.write_text(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
