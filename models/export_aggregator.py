"""Build ``models/aggregator.onnx``: one descriptor per track from its frame descriptors.

Usage: ``python -m models.export_aggregator``. The MCS2019 baseline: the mean over the
frames, then L2 normalization. Input ``frame_descriptors`` float32 [T, F, 128] (T tracks
and F frames both dynamic), output ``track_descriptors`` float32 [T, 128]. A track whose
mean is the zero vector stays zero: the norm is clamped from below at ``EPSILON`` first.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import onnx

from contracts.model_contract import AGGREGATOR_INPUT, AGGREGATOR_OUTPUT
from models.onnx_export import FLOAT, MODELS_DIR, GraphBuilder, save, tensor_info

INPUT_NAME = AGGREGATOR_INPUT
OUTPUT_NAME = AGGREGATOR_OUTPUT
DESCRIPTOR_SIZE = 128
# As torch.nn.functional.normalize: far below any real descriptor norm (about 1 here),
# far above float32's smallest normal number, so the division stays finite.
EPSILON = 1e-12


def build_aggregator(descriptor_size: int = DESCRIPTOR_SIZE) -> onnx.ModelProto:
    """The aggregator graph: [T, F, D] -> mean over F -> divided by max(L2 norm, EPSILON) -> [T, D].

    Raises onnx's errors when the graph does not check.
    """
    builder = GraphBuilder()
    normalize_rows(builder, builder.op("ReduceMean", [INPUT_NAME], "mean_over_frames", axes=[1], keepdims=0))
    return aggregator_model(builder, "mean_l2_aggregator", descriptor_size, "models/export_aggregator.py")


def normalize_rows(builder: GraphBuilder, tensor: str) -> None:
    """Add to `builder` the nodes that divide `tensor` [T, D] by max(its rows' L2 norm, EPSILON) into OUTPUT_NAME."""
    norm = builder.op("ReduceL2", [tensor], "norm", axes=[1], keepdims=1)
    norm = builder.op("Max", [norm, builder.constant("epsilon", np.array(EPSILON, np.float32))], "clamped_norm")
    builder.op("Div", [tensor, norm], "normalize", output=OUTPUT_NAME)


def aggregator_model(builder: GraphBuilder, name: str, descriptor_size: int, producer: str) -> onnx.ModelProto:
    """Return `builder`'s graph as an aggregator: INPUT_NAME float32 [T, F, D] -> OUTPUT_NAME [T, D], T and F dynamic.

    Raises onnx's errors when the graph does not check.
    """
    return builder.model(
        name,
        [tensor_info(INPUT_NAME, FLOAT, ["T", "F", descriptor_size])],
        [tensor_info(OUTPUT_NAME, FLOAT, ["T", descriptor_size])],
        producer=producer,
    )


def main() -> None:
    """Command line: write models/aggregator.onnx and its manifest entry."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    digest = save(
        build_aggregator(),
        MODELS_DIR / "aggregator.onnx",
        command="python -m models.export_aggregator (make models)",
        source={"method": "MCS2019 baseline: mean over frames, then L2 normalization", "epsilon": EPSILON},
    )
    print(f"wrote models/aggregator.onnx (sha256 {digest})", file=sys.stderr)


if __name__ == "__main__":
    main()
