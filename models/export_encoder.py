"""Convert face-api's face recognition network into ``models/encoder.onnx``.

Usage: ``python -m models.export_encoder TARBALL`` where TARBALL is the file
``npm pack @vladmandic/face-api`` writes. The weights come from
``package/model/face_recognition_model-weights_manifest.json`` and its ``.bin`` shards,
dequantized as TensorFlow.js does (``value = q * scale + min``). The graph follows the
package's ``src/faceRecognitionNet/``: a ResNet whose convolutions each carry a bias and an
affine "scale" layer, residual blocks that halve the resolution with a 2x2 average-pooled
shortcut zero-padded in channels and space, a global average and a 256x128 matrix.
That network is a port of dlib's ``dlib_face_recognition_resnet_model_v1``.

In front of it, the graph turns the challenge's images into what the network was trained
on: uint8 [N, 112, 112, 3] RGB chips (dlib's 5-point framing, padding 0.25) are cast,
resized to 150x150 and normalized as dlib's ``input_rgb_image`` does: subtract the mean
RGB (122.782, 117.001, 104.298), divide by 256. face-api divides by 255 instead; dlib is the
reference the network was trained with, and its divisor is a power of two.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from numpy.typing import NDArray

from models.onnx_export import FLOAT, MODELS_DIR, UINT8, GraphBuilder, save, tensor_info

PACKAGE = "@vladmandic/face-api"
MANIFEST_MEMBER = "package/model/face_recognition_model-weights_manifest.json"
MODEL_DIR_MEMBER = "package/model"
INPUT_NAME = "images"
OUTPUT_NAME = "descriptors"
INPUT_SIZE = 112
NETWORK_SIZE = 150
DESCRIPTOR_SIZE = 128
MEAN_RGB = (122.782, 117.001, 104.298)
PIXEL_SCALE = 256.0
# Chosen by measurement on assets/faces: the 112 chips resized to 150 against dlib's own
# 150 chips of the same faces (pixel RMSE), and the descriptors against dlib's. Corner
# alignment fits dlib's chip geometry best (RMSE 3.90 bilinear, against 4.04 half-pixel and
# 4.24 asymmetric), and bicubic beats bilinear in every mode (3.49 with align_corners) and
# in descriptor agreement (README, "Models").
RESIZE_INTERPOLATION = "cubic"
RESIZE_MODE = "align_corners"
# ONNX's cubic coefficient (Resize's cubic_coeff_a default), which the resize matrices use.
CUBIC_A = -0.75
# The initializers of the resize: [150, 112] for rows, its transpose for columns.
RESIZE_ROWS = "preprocess/resize_rows"
RESIZE_COLUMNS = "preprocess/resize_columns"
# The residual blocks in order, as face-api names their weights; "down" blocks halve the resolution.
BLOCKS = (
    *("conv32_1", "conv32_2", "conv32_3"),
    *("conv64_down", "conv64_1", "conv64_2", "conv64_3"),
    *("conv128_down", "conv128_1", "conv128_2"),
    *("conv256_down", "conv256_1", "conv256_2", "conv256_down_out"),
)
BYTES_PER_QUANTIZED = {"uint8": 1, "uint16": 2}


def read_member(archive: tarfile.TarFile, name: str) -> bytes:
    """The bytes of one regular file of the tarball; raises ValueError when it is absent."""
    try:
        member = archive.extractfile(name)
    except KeyError:
        member = None
    if member is None:
        raise ValueError(f"tarball must hold {name} (npm pack {PACKAGE}), got a tarball without it")
    return member.read()


def dequantize(spec: dict[str, Any], data: bytes) -> NDArray[np.float32]:
    """Decode one weight of a TensorFlow.js manifest from its bytes.

    ``spec`` is the manifest entry (name, shape, dtype, optional quantization). Raises
    ValueError for a dtype or quantization this network does not use.
    """
    if spec["dtype"] != "float32":
        raise ValueError(f"weight {spec['name']} must be float32, got {spec['dtype']}")
    quantization = spec.get("quantization")
    if quantization is None:
        values = np.frombuffer(data, dtype="<f4")
    elif quantization["dtype"] in BYTES_PER_QUANTIZED:
        codes = np.frombuffer(data, dtype=f"<u{BYTES_PER_QUANTIZED[quantization['dtype']]}").astype(np.float64)
        values = codes * quantization["scale"] + quantization["min"]
    else:
        raise ValueError(f"weight {spec['name']} must be quantized to uint8 or uint16, got {quantization['dtype']}")
    return values.astype(np.float32).reshape(spec["shape"])


def weight_size(spec: dict[str, Any]) -> int:
    """Bytes one manifest entry takes in the shards."""
    quantization = spec.get("quantization")
    per_value = 4 if quantization is None else BYTES_PER_QUANTIZED.get(quantization["dtype"], 1)
    return int(np.prod(spec["shape"], dtype=np.int64)) * per_value


@dataclass(frozen=True)
class Source:
    """The weights of the network by name, and where they came from."""

    weights: dict[str, NDArray[np.float32]]
    version: str
    files: list[str]
    tarball_sha256: str


def load_weights(tarball: Path) -> Source:
    """Read and dequantize the face recognition weights from the face-api tarball.

    Raises ValueError when a file is missing, a weight has an unknown encoding, or the
    shards do not hold exactly the bytes the manifest describes.
    """
    weights: dict[str, NDArray[np.float32]] = {}
    files = [MANIFEST_MEMBER]
    with tarfile.open(tarball, "r:gz") as archive:
        version = json.loads(read_member(archive, "package/package.json"))["version"]
        for group in json.loads(read_member(archive, MANIFEST_MEMBER)):
            shards = [f"{MODEL_DIR_MEMBER}/{path}" for path in group["paths"]]
            files += shards
            data = b"".join(read_member(archive, shard) for shard in shards)
            offset = 0
            for spec in group["weights"]:
                size = weight_size(spec)
                weights[spec["name"]] = dequantize(spec, data[offset : offset + size])
                offset += size
            if offset != len(data):
                raise ValueError(f"weight shards must hold {offset} bytes as the manifest says, got {len(data)}")
    return Source(weights, version, files, hashlib.sha256(tarball.read_bytes()).hexdigest())


def cubic_weight(distance: NDArray[np.float64]) -> NDArray[np.float64]:
    """The cubic convolution kernel of ONNX Resize (Keys, a = CUBIC_A) at `distance` (any shape), zero beyond 2."""
    d = np.abs(distance)
    near = ((CUBIC_A + 2) * d - (CUBIC_A + 3)) * d * d + 1
    far = ((CUBIC_A * d - 5 * CUBIC_A) * d + 8 * CUBIC_A) * d - 4 * CUBIC_A
    return np.where(d <= 1, near, np.where(d < 2, far, 0.0))


def resize_matrix(size_in: int, size_out: int) -> NDArray[np.float32]:
    """float32 [size_out, size_in]: row o holds the weights of ONNX's cubic, corner-aligned Resize for output o.

    Output o samples the input at o * (size_in - 1) / (size_out - 1) from its four nearest
    samples; a tap beyond the border takes the edge sample (ONNX's exclude_outside=0), so
    each row sums to 1. `W @ x @ W.T` resizes a [size_in, size_in] image as Resize does,
    up to float32 rounding (tests/test_encoder.py compares the two). Raises ValueError for
    sizes below 2.
    """
    if min(size_in, size_out) < 2:
        raise ValueError(f"resize sizes must be at least 2, got {size_in} -> {size_out}")
    position = np.arange(size_out) * (size_in - 1) / (size_out - 1)
    base = np.floor(position).astype(np.int64)
    weights = np.zeros((size_out, size_in))
    for tap in range(-1, 3):
        columns = np.clip(base + tap, 0, size_in - 1)
        np.add.at(weights, (np.arange(size_out), columns), cubic_weight(position - (base + tap)))
    return weights.astype(np.float32)


def cubic_resize(builder: GraphBuilder, x: str, size: int, name: str, output: str | None = None) -> str:
    """Add ONNX's own Resize (RESIZE_INTERPOLATION, RESIZE_MODE) of float NCHW `x` to size x size; return its output.

    N and C come from `x`'s shape at run time. This is how the exporter resized before
    `resize_matrix`; it stays as the reference the matrices are checked against. `output`
    fixes the output's name, as in `GraphBuilder.op`.
    """
    batch_channels = builder.op("Shape", [x], f"{name}/batch_channels", end=2)
    target = builder.constant(f"{name}/size", np.array([size, size], dtype=np.int64))
    sizes = builder.op("Concat", [batch_channels, target], f"{name}/sizes", axis=0)
    return builder.op(
        "Resize",
        [x, "", "", sizes],
        name,
        output=output,
        mode=RESIZE_INTERPOLATION,
        coordinate_transformation_mode=RESIZE_MODE,
    )


def with_resize_node(encoder: onnx.ModelProto) -> onnx.ModelProto:
    """Return a copy of `encoder` whose two resize MatMuls are replaced by one ONNX Resize node (`cubic_resize`).

    The result is the encoder as the exporter built it before the resize became matrix
    products: the reference that benchmarks measure the matrices against (same
    descriptors within float32 rounding, about 1e-6 on assets/faces). The MatMuls are the
    nodes that read the initializers RESIZE_COLUMNS and RESIZE_ROWS. Raises ValueError when
    `encoder` has no such pair.
    """
    graph = encoder.graph
    users = {
        weight: [index for index, node in enumerate(graph.node) if node.op_type == "MatMul" and weight in node.input]
        for weight in (RESIZE_COLUMNS, RESIZE_ROWS)
    }
    if any(len(found) != 1 for found in users.values()):
        raise ValueError(
            f"encoder must resize with one MatMul on {RESIZE_COLUMNS} and one on {RESIZE_ROWS} "
            "(as python -m models.export_encoder writes it), got another graph"
        )
    [columns], [rows] = users[RESIZE_COLUMNS], users[RESIZE_ROWS]
    resized = graph.node[columns].input[0]
    builder = GraphBuilder()
    cubic_resize(builder, resized, NETWORK_SIZE, "preprocess/resize_node", output=graph.node[rows].output[0])
    nodes = [node for index, node in enumerate(graph.node) if index not in (columns, rows)]
    reference = onnx.ModelProto()
    reference.CopyFrom(encoder)
    del reference.graph.node[:]
    reference.graph.node.extend([*nodes[:columns], *builder.nodes, *nodes[columns:]])
    kept = [tensor for tensor in graph.initializer if tensor.name not in (RESIZE_COLUMNS, RESIZE_ROWS)]
    del reference.graph.initializer[:]
    reference.graph.initializer.extend([*kept, *builder.initializers])
    onnx.checker.check_model(reference, full_check=True)
    return reference


class EncoderBuilder(GraphBuilder):
    """Builds the network layer by layer from face-api's weights (NCHW, float32)."""

    def __init__(self, weights: dict[str, NDArray[np.float32]]) -> None:
        """Start a graph over ``weights`` (the names of face-api's weight manifest)."""
        super().__init__()
        self.weights = weights

    def channel_vector(self, name: str) -> str:
        """The per-channel weight ``name`` as a constant shaped [1, C, 1, 1], so it broadcasts over NCHW."""
        return self.constant(name, self.weights[name].reshape(1, -1, 1, 1))

    def conv_layer(self, x: str, prefix: str, stride: int, relu: bool) -> str:
        """face-api's convLayer: convolution with bias, then ``x * weights + biases``, then maybe ReLU.

        Stride 1 pads as TensorFlow's 'same' (one pixel for 3x3), stride 2 as 'valid' (none).
        """
        filters = self.weights[f"{prefix}/conv/filters"]  # TensorFlow layout [H, W, in, out]
        kernel = filters.shape[0]
        pad = kernel // 2 if stride == 1 else 0
        out = self.op(
            "Conv",
            [
                x,
                self.constant(f"{prefix}/conv/filters", filters.transpose(3, 2, 0, 1)),
                self.constant(f"{prefix}/conv/bias", self.weights[f"{prefix}/conv/bias"]),
            ],
            f"{prefix}/conv",
            kernel_shape=[kernel, kernel],
            strides=[stride, stride],
            pads=[pad] * 4,
        )
        out = self.op("Mul", [out, self.channel_vector(f"{prefix}/scale/weights")], f"{prefix}/scale/mul")
        out = self.op("Add", [out, self.channel_vector(f"{prefix}/scale/biases")], f"{prefix}/scale/add")
        return self.op("Relu", [out], f"{prefix}/relu") if relu else out

    def residual(self, x: str, prefix: str) -> str:
        """face-api's residual: two 3x3 convolutions, the input added back, ReLU."""
        out = self.conv_layer(x, f"{prefix}/conv1", stride=1, relu=True)
        out = self.conv_layer(out, f"{prefix}/conv2", stride=1, relu=False)
        return self.op("Relu", [self.op("Add", [out, x], f"{prefix}/add")], f"{prefix}/relu")

    def residual_down(self, x: str, prefix: str, size: int, channels_in: int) -> tuple[str, int]:
        """face-api's residualDown on a ``size`` x ``size`` input; returns the output and its size.

        The shortcut is a 2x2 average pool. Where the pooled map has fewer channels, it is
        zero-padded at the end of the channels; where the strided convolution's map is one
        pixel smaller than the pooled one, it is zero-padded at the bottom and right (dlib's
        add_prev adds maps of different shapes the same way).
        """
        channels_out = self.weights[f"{prefix}/conv1/conv/filters"].shape[3]
        conv_size, pooled_size = (size - 3) // 2 + 1, size // 2
        out = self.conv_layer(x, f"{prefix}/conv1", stride=2, relu=True)
        out = self.conv_layer(out, f"{prefix}/conv2", stride=1, relu=False)
        if pooled_size != conv_size:
            missing = pooled_size - conv_size
            out = self.pad(out, f"{prefix}/pad_space", [0, 0, 0, 0, 0, 0, missing, missing])
        pooled = self.op("AveragePool", [x], f"{prefix}/pool", kernel_shape=[2, 2], strides=[2, 2])
        if channels_out != channels_in:
            pooled = self.pad(pooled, f"{prefix}/pad_channels", [0, 0, 0, 0, 0, channels_out - channels_in, 0, 0])
        out = self.op("Relu", [self.op("Add", [out, pooled], f"{prefix}/add")], f"{prefix}/relu")
        return out, pooled_size

    def pad(self, x: str, name: str, pads: list[int]) -> str:
        """Zero-pad ``x`` by ``pads`` (ONNX order: all begins, then all ends)."""
        return self.op("Pad", [x, self.constant(f"{name}/pads", np.array(pads, dtype=np.int64))], name)

    def preprocess(self, images: str) -> str:
        """uint8 NHWC chips at 112 -> float NCHW at 150, normalized as dlib's input layer.

        The bicubic resize is two matrix products, rows then columns (`resize_matrix`):
        ONNX Runtime's CPU Resize in cubic mode took 72% of the whole encoder's time.
        """
        out = self.op("Cast", [images], "preprocess/cast", to=FLOAT)
        out = self.op("Transpose", [out], "preprocess/nchw", perm=[0, 3, 1, 2])
        weights = resize_matrix(INPUT_SIZE, NETWORK_SIZE)
        columns = self.constant(RESIZE_COLUMNS, np.ascontiguousarray(weights.T))
        out = self.op("MatMul", [out, columns], "preprocess/resize_columns")
        out = self.op("MatMul", [self.constant(RESIZE_ROWS, weights), out], "preprocess/resize")
        mean = self.constant("preprocess/mean_rgb", np.array(MEAN_RGB, np.float32).reshape(1, 3, 1, 1))
        out = self.op("Sub", [out, mean], "preprocess/sub")
        scale = self.constant("preprocess/scale", np.array(1.0 / PIXEL_SCALE, np.float32))
        return self.op("Mul", [out, scale], "preprocess/scale")

    def network(self, x: str) -> str:
        """face-api's forwardInput after normalization: [N, 3, 150, 150] -> [N, 128]."""
        out = self.conv_layer(x, "conv32_down", stride=2, relu=True)
        out = self.op("MaxPool", [out], "conv32_down/pool", kernel_shape=[3, 3], strides=[2, 2])
        size = ((NETWORK_SIZE - 7) // 2 + 1 - 3) // 2 + 1
        channels = self.weights["conv32_down/conv/filters"].shape[3]
        for block in BLOCKS:
            if "_down" in block:
                out, size = self.residual_down(out, block, size, channels)
                channels = self.weights[f"{block}/conv1/conv/filters"].shape[3]
            else:
                out = self.residual(out, block)
        out = self.op("ReduceMean", [out], "global_average", axes=[2, 3], keepdims=0)
        return self.op("MatMul", [out, self.constant("fc", self.weights["fc"])], "fc", output=OUTPUT_NAME)


def build_encoder(weights: dict[str, NDArray[np.float32]]) -> onnx.ModelProto:
    """The complete encoder: uint8 images [N, 112, 112, 3] -> float32 descriptors [N, 128].

    Raises KeyError when a weight the architecture needs is missing, ValueError when a
    weight is left over, and onnx's errors when the graph does not check.
    """
    builder = EncoderBuilder(weights)
    builder.network(builder.preprocess(INPUT_NAME))
    unused = set(weights) - {initializer.name for initializer in builder.initializers}
    if unused:
        raise ValueError(f"every weight of the manifest must be used, got unused {sorted(unused)}")
    return builder.model(
        "face_api_face_recognition_net",
        [tensor_info(INPUT_NAME, UINT8, ["N", INPUT_SIZE, INPUT_SIZE, 3])],
        [tensor_info(OUTPUT_NAME, FLOAT, ["N", DESCRIPTOR_SIZE])],
        producer="models/export_encoder.py",
    )


def main() -> None:
    """Command line: convert the tarball given as the first argument into models/encoder.onnx."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tarball", type=Path, help=f"the file `npm pack {PACKAGE}` writes")
    args = parser.parse_args()
    try:
        source = load_weights(args.tarball)
        model = build_encoder(source.weights)
    except (OSError, ValueError, KeyError, tarfile.TarError) as error:
        parser.exit(1, f"Error: {error}\n")
    digest = save(
        model,
        MODELS_DIR / "encoder.onnx",
        command=f"python -m models.export_encoder {args.tarball.name} (make models)",
        source={
            "package": PACKAGE,
            "version": source.version,
            "files": source.files,
            "tarball_sha256": source.tarball_sha256,
            "resize": f"{RESIZE_INTERPOLATION}, {RESIZE_MODE}, {INPUT_SIZE} -> {NETWORK_SIZE}",
            "normalization": f"(rgb - {list(MEAN_RGB)}) / {PIXEL_SCALE:g}",
        },
    )
    print(f"wrote models/encoder.onnx (sha256 {digest})", file=sys.stderr)


if __name__ == "__main__":
    main()
