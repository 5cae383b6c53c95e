"""Route 2, ``torch.onnx.export``: an aggregator that weights each frame by its closeness to the track's mean.

Usage: ``python -m models.examples.weighted_mean_torch [--out models/aggregator.onnx]`` (needs
requirements/train.txt: torch, host only, never in the image), then ``make check-models``.
For each track: each frame's squared distance to the mean of its frames, weights
softmax(-distance / TEMPERATURE) over the frames, the weighted mean, L2-normalized. The
flags that give a model onnxruntime 1.16 runs: ``dynamo=False, opset_version=17`` (IR 8),
and ``dynamic_axes`` for T and F.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import torch

from models.export_aggregator import DESCRIPTOR_SIZE, EPSILON, INPUT_NAME, OUTPUT_NAME
from models.onnx_export import MODELS_DIR, OPSET

#: Squared distances of unit descriptors lie in [0, 4]; 0.05 makes a frame 0.2 farther weigh e^-4 as much.
TEMPERATURE = 0.05


class WeightedMean(torch.nn.Module):
    """[T, F, D] -> softmax(-|frame - mean|^2 / temperature)-weighted mean over F, L2-normalized -> [T, D]."""

    def __init__(self, temperature: float = TEMPERATURE) -> None:
        """Keep the temperature of the weights."""
        super().__init__()
        self.temperature = temperature

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """The track descriptors of `frames` [T, F, D]."""
        distance = (frames - frames.mean(dim=1, keepdim=True)).pow(2).sum(dim=2)
        weights = torch.softmax(-distance / self.temperature, dim=1)
        mean = (weights.unsqueeze(2) * frames).sum(dim=1)
        return torch.nn.functional.normalize(mean, p=2.0, dim=1, eps=EPSILON)


def export(module: torch.nn.Module, out: Path, descriptor_size: int = DESCRIPTOR_SIZE) -> None:
    """Write `module` to `out` as an aggregator of the contract: T and F dynamic, opset 17, the TorchScript exporter."""
    example = torch.zeros(2, 10, descriptor_size)
    # Deliberately the TorchScript exporter, which torch deprecates: the dynamo one writes IR 10.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            module.eval(),
            (example,),
            str(out),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "T", 1: "F"}, OUTPUT_NAME: {0: "T"}},
            opset_version=OPSET,
            dynamo=False,
        )


def main(argv: list[str] | None = None) -> None:
    """Command line: write the aggregator to --out (then run make check-models to record it)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=MODELS_DIR / "aggregator.onnx", help="the model file to write")
    args = parser.parse_args(argv)
    export(WeightedMean(), args.out)
    print(f"wrote {args.out}: now run make check-models", file=sys.stderr)


if __name__ == "__main__":
    main()
