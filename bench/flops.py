"""Counting the encoder's multiply-accumulates per image from its ONNX graph.

Rather than trust shape inference with a symbolic batch, every Conv and MatMul output is
exposed as a graph output and the model is run once on one blank image: the real output
sizes, times the weights' fan-in, give the MACs. The resize to 150x150 is two MatMuls and
counts like any other.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

COUNTED = ("Conv", "MatMul")
INPUT_DTYPES = {"tensor(uint8)": np.uint8, "tensor(float)": np.float32}


def encoder_macs_per_image(model_path: Path) -> int:
    """Return the multiply-accumulates of the Conv and MatMul nodes for one image through `model_path`.

    A Conv output element costs (input channels / groups) x kernel height x kernel width
    MACs (its weight's shape [C_out, C_in / g, kH, kW] without C_out); a MatMul output
    element costs the shared inner dimension: the first of a right-hand weight [K, M], the
    last of a left-hand one [M, K]. Element-wise nodes and pooling are left out: they are a
    rounding error beside the convolutions.

    Raises ValueError when a counted node has no constant weight (a Conv's second input, a
    MatMul's first or second) or the model's first input is neither uint8 nor float32.
    """
    model = onnx.load(str(model_path))
    weights = {init.name: numpy_helper.to_array(init).shape for init in model.graph.initializer}
    counted = [node for node in model.graph.node if node.op_type in COUNTED]
    fan_ins = {}
    for node in counted:
        if node.input[1] in weights:
            weight = weights[node.input[1]]
            fan_ins[node.output[0]] = int(np.prod(weight[1:])) if node.op_type == "Conv" else int(weight[0])
        elif node.op_type == "MatMul" and node.input[0] in weights:
            fan_ins[node.output[0]] = int(weights[node.input[0]][-1])
        else:
            raise ValueError(
                f"the weight of {node.op_type} node {node.name!r} must be an initializer, got a computed input"
            )
    known = {output.name for output in model.graph.output}
    model.graph.output.extend(
        onnx.ValueInfoProto(name=node.output[0]) for node in counted if node.output[0] not in known
    )
    options = ort.SessionOptions()
    # Fusions would rename or remove the intermediate outputs asked for.
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    model_input = session.get_inputs()[0]
    if model_input.type not in INPUT_DTYPES:
        raise ValueError(f"the model's input must be uint8 or float32, got {model_input.type}")
    shape = [1 if not isinstance(d, int) else d for d in model_input.shape]
    names = [node.output[0] for node in counted]
    outputs = session.run(names, {model_input.name: np.zeros(shape, dtype=INPUT_DTYPES[model_input.type])})
    total = 0
    for name, output in zip(names, outputs, strict=True):
        total += int(output.size) * fan_ins[name]
    return total
