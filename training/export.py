"""The trained aggregator as ONNX for the image's onnxruntime 1.16, byte for byte the same for the same weights.

TorchScript export (`dynamo=False`) at opset 17 gives IR 8, which onnxruntime 1.16
reads; the dynamo exporter writes opset 18 / IR 10. Doc strings are dropped and the
producer fixed, so the bytes depend on the weights and the graph only.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import onnx
import torch
from torch import nn

from models.export_aggregator import INPUT_NAME, OUTPUT_NAME
from models.onnx_export import OPSET, save

PRODUCER = "training/export.py"


def to_onnx(model: nn.Module, dim: int) -> onnx.ModelProto:
    """Return `model` ([T, F, dim] -> [T, dim]) as a checked ONNX model with dynamic T and F.

    The graph's input is `frame_descriptors`, its output `track_descriptors` (the
    aggregator contract). Raises onnx.checker.ValidationError when the graph does not check.
    """
    model.eval()
    buffer = io.BytesIO()
    example = torch.zeros(2, 3, dim)
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated, and chosen on purpose: see the module's docstring.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model,
            (example,),
            buffer,  # type: ignore[arg-type]  # the TorchScript exporter also writes to a file object
            dynamo=False,
            opset_version=OPSET,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "T", 1: "F"}, OUTPUT_NAME: {0: "T"}},
        )
    proto = onnx.load_from_string(buffer.getvalue())
    proto.producer_name, proto.producer_version, proto.doc_string = PRODUCER, "", ""
    proto.graph.doc_string = ""
    for node in proto.graph.node:
        node.doc_string = ""
    output_shape = proto.graph.output[0].type.tensor_type.shape
    output_shape.dim[1].ClearField("dim_param")
    output_shape.dim[1].dim_value = dim
    onnx.checker.check_model(proto, full_check=True)
    return proto


def write(model: nn.Module, dim: int, path: Path, command: str, source: dict[str, Any]) -> str:
    """Export `model` to `path` and record it in models/manifest.json (models.onnx_export.save); return its sha256."""
    return save(to_onnx(model, dim), path, command=command, source=source)
