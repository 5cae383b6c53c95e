"""The models' contract: the signature solution.py relies on, and the ONNX versions the image runs.

A model's signature is its inputs and outputs as (name, dtype, shape): dtype in numpy's
spelling, shape a list whose entries are ints (fixed sizes) or names (dynamic axes; ONNX
Runtime reports an unnamed dynamic axis as None). In the contract below a letter is an
axis that must be dynamic, and "D" the descriptor dimension: the same in every model and,
when the caller knows the references, equal to theirs. Models other than these two are
the participant's own (a quality network, say): they need only load.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

#: What onnxruntime 1.16 (the image's) reads: ONNX IR version <= 9 and opset <= 19.
MAX_IR_VERSION: Final = 9
MAX_OPSET: Final = 19
DESCRIPTOR_AXIS: Final = "D"
#: The aggregator's input and output (solution.py spells them out: it imports nothing of the project).
AGGREGATOR_INPUT: Final = "frame_descriptors"
AGGREGATOR_OUTPUT: Final = "track_descriptors"


@dataclass(frozen=True)
class Tensor:
    """One input or output of the contract: `shape` holds ints (fixed) and letters (dynamic, or D)."""

    name: str
    dtype: str
    shape: tuple[int | str, ...]

    def describe(self) -> str:
        """`name` dtype [axes], as the README's table writes it."""
        return f"{self.name} {self.dtype} [{', '.join(str(axis) for axis in self.shape)}]"


@dataclass(frozen=True)
class ModelContract:
    """The inputs and outputs a model of models/ must have, in order."""

    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]


MODEL_CONTRACTS: Final[dict[str, ModelContract]] = {
    "encoder.onnx": ModelContract(
        inputs=(Tensor("images", "uint8", ("N", 112, 112, 3)),),
        outputs=(Tensor("descriptors", "float32", ("N", DESCRIPTOR_AXIS)),),
    ),
    "aggregator.onnx": ModelContract(
        inputs=(Tensor(AGGREGATOR_INPUT, "float32", ("T", "F", DESCRIPTOR_AXIS)),),
        outputs=(Tensor(AGGREGATOR_OUTPUT, "float32", ("T", DESCRIPTOR_AXIS)),),
    ),
}


def signature_problems(model: str, inputs: list[Any], outputs: list[Any], dim: int | None = None) -> list[str]:
    """Return what breaks the contract in the signature of `model` (a file name in models/).

    `inputs` and `outputs` are lists of {"name", "dtype", "shape"} as found in the model;
    `dim` is the descriptor dimension of the references, when known. A model the contract
    does not name has no rule. Returns one sentence per problem, empty when it complies.
    """
    contract = MODEL_CONTRACTS.get(model)
    if contract is None:
        return []
    problems = []
    descriptor_sizes: set[int] = set()
    for kind, wanted, found in (("input", contract.inputs, inputs), ("output", contract.outputs, outputs)):
        if len(found) != len(wanted):
            names = ", ".join(str(value.get("name")) for value in found) or "none"
            problems.append(
                f"models/{model} must have {len(wanted)} {kind}(s) "
                f"({', '.join(t.describe() for t in wanted)}), got {len(found)} ({names})"
            )
            continue
        for tensor, value in zip(wanted, found, strict=True):
            problems += _tensor_problems(model, kind, tensor, value, descriptor_sizes)
    if len(descriptor_sizes) > 1:
        problems.append(
            f"models/{model} has descriptors of several dimensions {sorted(descriptor_sizes)}: D must be one number"
        )
    if dim is not None and descriptor_sizes - {dim}:
        problems.append(
            f"models/{model} makes descriptors of dimension {sorted(descriptor_sizes - {dim})[0]}, "
            f"the references have {dim}: the output must have the references' dimension"
        )
    return problems


def _tensor_problems(model: str, kind: str, tensor: Tensor, value: Any, descriptor_sizes: set[int]) -> list[str]:
    where = f"models/{model} {kind} {tensor.name}"
    name, dtype, shape = value.get("name"), value.get("dtype"), value.get("shape")
    if name != tensor.name:
        return [f"models/{model} {kind} must be named {tensor.name}, got {name}: solution.py looks it up by name"]
    problems = []
    if dtype != tensor.dtype:
        problems.append(f"{where} must be {tensor.dtype}, got {dtype}")
    if not isinstance(shape, list) or len(shape) != len(tensor.shape):
        rank = len(shape) if isinstance(shape, list) else "unknown"
        return [*problems, f"{where} must have {len(tensor.shape)} axes [{_axes(tensor.shape)}], got {rank}"]
    for index, (axis, found) in enumerate(zip(tensor.shape, shape, strict=True)):
        fixed = isinstance(found, int) and not isinstance(found, bool)
        if axis == DESCRIPTOR_AXIS:
            if fixed:
                descriptor_sizes.add(found)
        elif isinstance(axis, int):
            if fixed and found != axis:
                problems.append(f"{where} axis {index} must be {axis}, got {found}")
        elif fixed:
            problems.append(
                f"{where} axis {index} ({axis}) must be dynamic, got the fixed size {found}: "
                "export it with that axis dynamic (dynamic_axes in torch.onnx.export, a name in the graph builder)"
            )
    return problems


def _axes(shape: tuple[int | str, ...]) -> str:
    return ", ".join(str(axis) for axis in shape)


def probe_problems(report: Any, dim: int | None = None) -> list[str]:
    """Return what breaks the contract in a report of contracts/model_probe.py, one sentence each.

    The report may come from a sandbox that ran the participant's models, so its shape is
    checked before use. A model that does not load or run under the image's onnxruntime,
    a missing contract model, or a signature that differs is a problem; `dim` is the
    references' descriptor dimension, when known.
    """
    models = report.get("models") if isinstance(report, dict) else None
    if not isinstance(models, dict):
        return ["the models could not be examined: the probe wrote no report of them"]
    runtime = f"onnxruntime {report.get('onnxruntime')}"
    problems = []
    for name in MODEL_CONTRACTS:
        if name not in models:
            problems.append(f"models/{name} is missing: solution.py needs it (README, Your own aggregator)")
    for name, found in sorted(models.items()):
        if not isinstance(found, dict):
            problems.append(f"models/{name} could not be examined")
        elif "error" in found:
            problems.append(
                f"models/{name} does not load on {runtime} (the image's): {found['error']}; export it again "
                f"(IR version <= {MAX_IR_VERSION}, opset <= {MAX_OPSET}) and run make check-models "
                "(README, Your own aggregator)"
            )
        else:
            problems += signature_problems(name, found.get("inputs") or [], found.get("outputs") or [], dim)
            if "run_error" in found:
                problems.append(f"models/{name} loads but fails to run on {runtime}: {found['run_error']}")
    return problems
