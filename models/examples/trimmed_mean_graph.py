"""Route 1, the project's graph builder: an aggregator that drops each track's frames farthest from its mean.

Usage: ``python -m models.examples.trimmed_mean_graph [--out models/aggregator.onnx]``, then
``make check-models``. For each track: the mean of its F frames, each frame's squared
distance to it, the ``max(F - DROP, 1)`` closest frames (TopK, a node with two outputs),
their mean, L2-normalized as the baseline does. Every axis but D stays dynamic.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import onnx

from models.export_aggregator import DESCRIPTOR_SIZE, INPUT_NAME, aggregator_model, normalize_rows
from models.onnx_export import MODELS_DIR, GraphBuilder

#: Frames dropped per track (the farthest from the track's mean); at least one frame stays.
DROP = 3


def build_trimmed_mean(descriptor_size: int = DESCRIPTOR_SIZE, drop: int = DROP) -> onnx.ModelProto:
    """The graph: [T, F, D] -> the max(F - drop, 1) frames closest to the mean -> their mean, L2 -> [T, D].

    Raises onnx's errors when the graph does not check.
    """
    b = GraphBuilder()
    center = b.op("ReduceMean", [INPUT_NAME], "center", axes=[1], keepdims=1)
    distance = b.op("ReduceSumSquare", [b.op("Sub", [INPUT_NAME, center], "offset")], "distance", axes=[2], keepdims=0)
    shape = b.op("Shape", [INPUT_NAME], "shape")
    frames = b.op("Slice", [shape, b.constant("one", np.array([1])), b.constant("two", np.array([2]))], "frames")
    keep = b.op("Sub", [frames, b.constant("drop", np.array([drop]))], "frames_minus_drop")
    keep = b.op("Max", [keep, b.constant("at_least", np.array([1]))], "keep")
    # TopK has two outputs, the distances and their indices; only the indices are used.
    _, closest = b.ops("TopK", [distance, keep], "closest", 2, axis=1, largest=0, sorted=0)
    index = b.op("Unsqueeze", [closest, b.constant("last_axis", np.array([2]))], "closest_index")
    index_shape = b.op(
        "Concat",
        [b.op("Shape", [closest], "kept_shape"), b.constant("d", np.array([descriptor_size]))],
        "index_shape",
        axis=0,
    )
    index = b.op("Expand", [index, index_shape], "closest_index_per_value")
    kept = b.op("GatherElements", [INPUT_NAME, index], "kept_frames", axis=1)
    # The baseline's last steps: L2 normalization, and the contract's signature.
    normalize_rows(b, b.op("ReduceMean", [kept], "mean_of_kept", axes=[1], keepdims=0))
    return aggregator_model(b, "trimmed_mean_aggregator", descriptor_size, "models/examples/trimmed_mean_graph.py")


def main(argv: list[str] | None = None) -> None:
    """Command line: write the aggregator to --out (then run make check-models to record it)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=MODELS_DIR / "aggregator.onnx", help="the model file to write")
    args = parser.parse_args(argv)
    onnx.save(build_trimmed_mean(), str(args.out))
    print(f"wrote {args.out}: now run make check-models", file=sys.stderr)


if __name__ == "__main__":
    main()
