"""What the model exporters share: the ONNX version limits, a small graph builder, and the manifest.

Every model here must load on ONNX Runtime 1.16 (inside the Python 3.8 image) as well as
on the host's newer version, so the exporters pin the IR version and the opset instead
of taking the onnx package's defaults (onnx 1.23 writes IR 14, which no ORT 1.16 reads).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

IR_VERSION = 9
# Opset 17 rather than ORT 1.16's maximum of 19: every operator used here then has
# kernels for it in ORT 1.16's CUDA provider as well as its CPU one.
OPSET = 17
MODELS_DIR = Path(__file__).resolve().parent
MANIFEST_PATH = MODELS_DIR / "manifest.json"


class GraphBuilder:
    """Collects the nodes and initializers of one ONNX graph; every name is unique by construction."""

    def __init__(self) -> None:
        """Start an empty graph."""
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._names: set[str] = set()

    def _unique(self, name: str) -> str:
        """Return ``name``, or ``name`` with a numeric suffix when it is already taken."""
        candidate, suffix = name, 1
        while candidate in self._names:
            candidate, suffix = f"{name}_{suffix}", suffix + 1
        self._names.add(candidate)
        return candidate

    def constant(self, name: str, value: NDArray[Any]) -> str:
        """Add ``value`` as an initializer and return the name it got."""
        unique = self._unique(name)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), unique))
        return unique

    def op(self, op_type: str, inputs: list[str], name: str, output: str | None = None, **attributes: Any) -> str:
        """Add one node with a single output and return the output's name.

        ``output`` fixes the output name (for graph outputs); otherwise it is ``name``.
        """
        [output_name] = self.ops(op_type, inputs, name, [output] if output is not None else 1, **attributes)
        return output_name

    def ops(self, op_type: str, inputs: list[str], name: str, outputs: int | list[str], **attributes: Any) -> list[str]:
        """Add one node with several outputs (TopK: values and indices) and return their names, in order.

        ``outputs`` is their number (named ``name``, ``name_1``...) or their fixed names (for
        graph outputs). Raises ValueError when it asks for no output.
        """
        count = outputs if isinstance(outputs, int) else len(outputs)
        if count < 1:
            raise ValueError(f"a node must have at least 1 output, got {outputs!r}")
        node_name = self._unique(name)
        if isinstance(outputs, int):
            names = [node_name, *(self._unique(f"{node_name}_{index}") for index in range(1, count))]
        else:
            names = list(outputs)
        self.nodes.append(helper.make_node(op_type, inputs, names, name=node_name, **attributes))
        return names

    def model(
        self, graph_name: str, inputs: list[onnx.ValueInfoProto], outputs: list[onnx.ValueInfoProto], producer: str
    ) -> onnx.ModelProto:
        """Assemble, check and return the model with the pinned IR version and opset.

        Raises onnx.checker.ValidationError or onnx.shape_inference.InferenceError when the
        graph is malformed or its output shapes contradict the declared ones.
        """
        graph = helper.make_graph(self.nodes, graph_name, inputs, outputs, self.initializers)
        model = helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name=producer, ir_version=IR_VERSION
        )
        onnx.checker.check_model(model, full_check=True)
        return model


def tensor_info(name: str, elem_type: int, shape: list[int | str]) -> onnx.ValueInfoProto:
    """A graph input or output: ``shape`` holds ints for fixed and strings for named dynamic dimensions."""
    return helper.make_tensor_value_info(name, elem_type, shape)


def signature(values: Any) -> list[dict[str, Any]]:
    """Name, dtype (numpy spelling) and shape (ints, or the names of dynamic dimensions) of graph values."""
    described = []
    for value in values:
        tensor = value.type.tensor_type
        shape = [dim.dim_param if dim.dim_param else dim.dim_value for dim in tensor.shape.dim]
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(tensor.elem_type)).name
        described.append({"name": value.name, "dtype": dtype, "shape": shape})
    return described


def save(model: onnx.ModelProto, path: Path, command: str, source: dict[str, Any]) -> str:
    """Write ``model`` to ``path`` and record it in ``manifest.json``; return its sha256.

    See `record` for the entry; other models' entries are kept.
    """
    path.write_bytes(model.SerializeToString())
    return record(path, command, source)


def record(path: Path, command: str, source: dict[str, Any], manifest_path: Path | None = None) -> str:
    """Record the model file ``path`` in the manifest beside it (or ``manifest_path``); return its sha256.

    The entry (keyed by the file name) holds the sha256, the size, the input and output
    signatures, the opset, the IR version, the command that made it and ``source``. Other
    models' entries are kept. Raises onnx's DecodeError when the file is not a model.
    """
    manifest_path = manifest_path or path.parent / MANIFEST_PATH.name
    data = path.read_bytes()
    model = onnx.load_from_string(data)
    digest = hashlib.sha256(data).hexdigest()
    manifest = read_manifest(manifest_path)
    manifest[path.name] = {
        "sha256": digest,
        "bytes": len(data),
        "inputs": signature(model.graph.input),
        "outputs": signature(model.graph.output),
        "opset": default_opset(model),
        "ir_version": model.ir_version,
        "command": command,
        "source": source,
    }
    write_manifest(manifest, manifest_path)
    return digest


def default_opset(model: onnx.ModelProto) -> int | None:
    """The version of the default ONNX domain the model imports, None when it imports none."""
    versions = [entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx")]
    return max(versions) if versions else None


def read_manifest(manifest_path: Path = MANIFEST_PATH) -> dict[str, Any]:
    """The manifest's entries by file name; empty when there is no manifest yet."""
    return dict(json.loads(manifest_path.read_text())) if manifest_path.exists() else {}


def write_manifest(manifest: dict[str, Any], manifest_path: Path = MANIFEST_PATH) -> None:
    """Write the entries sorted by file name, indented, as committed."""
    manifest_path.write_text(json.dumps(dict(sorted(manifest.items())), indent=2) + "\n")


FLOAT = TensorProto.FLOAT
UINT8 = TensorProto.UINT8
