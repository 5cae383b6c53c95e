"""models/encoder.onnx: its signature and manifest, and its fidelity to dlib's own network on real faces.

The faces are assets/faces (dlib chips of face-api's demo photographs, see
assets/extract_faces.py). The reference is dlib's ``face_recognition_model_v1`` on the
150x150 chips; the ONNX encoder sees the 112x112 chips of the same faces, as it will in a
run. To tell resize error from conversion error, a test-only copy of the encoder whose
resize matrices are the 150x150 identity sees the 150 chips. The resize itself (two matrix
products) is checked against ONNX Runtime's own cubic Resize on random images.

Reached with the committed model (22 faces, 231 pairs): cosine to dlib per face at least
0.9971 (mean 0.9989) from the 112 chips, 0.99949 from the 150 chips; pairwise distances
correlate at 0.9927 and 0.9988, and differ by at most 0.033 and 0.012.
"""

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper
from PIL import Image

from models.export_encoder import (
    INPUT_NAME,
    OUTPUT_NAME,
    RESIZE_COLUMNS,
    RESIZE_ROWS,
    build_encoder,
    cubic_resize,
    dequantize,
    resize_matrix,
    with_resize_node,
)
from models.onnx_export import FLOAT, OPSET, GraphBuilder, tensor_info

MODELS = Path(__file__).resolve().parent.parent / "models"
FACES = Path(__file__).resolve().parent.parent / "assets" / "faces"
# dlib's threshold: two descriptors closer than this are the same person.
SAME_PERSON_DISTANCE = 0.6


def face_ids() -> list[str]:
    with open(FACES / "faces.csv", newline="") as handle:
        return [row["face_id"] for row in csv.DictReader(handle)]


def chips(size: int) -> np.ndarray:
    return np.stack([np.asarray(Image.open(FACES / f"{face_id}_{size}.png")) for face_id in face_ids()])


def session(model: onnx.ModelProto) -> ort.InferenceSession:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def pairwise_distances(x: np.ndarray) -> np.ndarray:
    distances = np.linalg.norm(x[:, None, :] - x[None, :, :], axis=-1)
    return distances[np.triu_indices(len(x), k=1)]


@pytest.fixture(scope="module")
def encoder() -> onnx.ModelProto:
    return onnx.load(MODELS / "encoder.onnx")


@pytest.fixture(scope="module")
def dlib_descriptors() -> np.ndarray:
    dlib = pytest.importorskip("dlib", reason="dlib (dlib-bin, requirements/dev.txt) is the fidelity reference")
    models = pytest.importorskip("face_recognition_models", reason="face-recognition-models holds dlib's network")
    network = dlib.face_recognition_model_v1(models.face_recognition_model_location())
    return np.array([np.array(network.compute_face_descriptor(chip)) for chip in chips(150)])


@pytest.fixture(scope="module")
def onnx_descriptors_112(encoder) -> np.ndarray:
    return session(encoder).run([OUTPUT_NAME], {INPUT_NAME: chips(112)})[0]


@pytest.fixture(scope="module")
def onnx_descriptors_150(encoder) -> np.ndarray:
    at_150 = onnx.ModelProto()
    at_150.CopyFrom(encoder)
    for axis in (1, 2):
        at_150.graph.input[0].type.tensor_type.shape.dim[axis].dim_value = 150
    identity = np.eye(150, dtype=np.float32)
    for initializer in at_150.graph.initializer:
        if initializer.name in (RESIZE_ROWS, RESIZE_COLUMNS):
            initializer.CopyFrom(numpy_helper.from_array(identity, initializer.name))
    return session(at_150).run([OUTPUT_NAME], {INPUT_NAME: chips(150)})[0]


def test_manifest_matches_the_committed_models():
    manifest = json.loads((MODELS / "manifest.json").read_text())
    assert set(manifest) == {path.name for path in MODELS.glob("*.onnx")}, "record every model: run make check-models"
    for name, entry in manifest.items():
        data = (MODELS / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], f"{name} changed: record it with make check-models"
        model = onnx.load_from_string(data)
        assert entry["ir_version"] == model.ir_version
        assert entry["opset"] == model.opset_import[0].version


@pytest.mark.parametrize("name", ["encoder.onnx", "aggregator.onnx"])
def test_models_stay_within_what_onnxruntime_1_16_loads(name):
    model = onnx.load(MODELS / name)
    assert model.ir_version <= 9
    assert [(opset.domain, opset.version) for opset in model.opset_import] == [("", OPSET)]
    assert OPSET <= 19
    onnx.checker.check_model(model, full_check=True)


def test_encoder_signature(encoder):
    runtime = session(encoder)
    [images] = runtime.get_inputs()
    [descriptors] = runtime.get_outputs()
    assert (images.name, images.type, images.shape) == (INPUT_NAME, "tensor(uint8)", ["N", 112, 112, 3])
    assert (descriptors.name, descriptors.type, descriptors.shape) == (OUTPUT_NAME, "tensor(float)", ["N", 128])


@pytest.mark.parametrize("batch", [1, 3])
def test_encoder_output_does_not_depend_on_the_batch(encoder, onnx_descriptors_112, batch):
    result = session(encoder).run([OUTPUT_NAME], {INPUT_NAME: chips(112)[:batch]})[0]
    assert result.shape == (batch, 128)
    assert result.dtype == np.float32
    np.testing.assert_allclose(result, onnx_descriptors_112[:batch], atol=1e-5)


def test_committed_encoder_is_what_the_exporter_builds(encoder):
    # The weights, read back from the committed file into face-api's layouts, rebuild the same bytes.
    weights = {}
    for initializer in encoder.graph.initializer:
        value, name = onnx.numpy_helper.to_array(initializer), initializer.name
        if name.endswith("/filters"):
            weights[name] = value.transpose(2, 3, 1, 0)
        elif name.endswith(("/bias", "/weights", "/biases")):
            weights[name] = value.reshape(-1)
        elif name == "fc":
            weights[name] = value
    rebuilt = build_encoder(weights)
    assert rebuilt.SerializeToString() == encoder.SerializeToString()


def onnx_resize(images: np.ndarray, size: int) -> np.ndarray:
    """ONNX Runtime's own Resize (cubic, corner-aligned) of float32 NCHW `images` to size x size."""
    builder = GraphBuilder()
    cubic_resize(builder, "x", size, "resize", output="y")
    model = builder.model(
        "resize",
        [tensor_info("x", FLOAT, list(images.shape))],
        [tensor_info("y", FLOAT, [*images.shape[:2], size, size])],
        producer="tests/test_encoder.py",
    )
    return session(model).run(None, {"x": images})[0]


@pytest.mark.parametrize(("size_in", "size_out"), [(112, 150), (7, 11), (150, 112)])
def test_resize_matrices_match_onnx_cubic_resize(size_in, size_out):
    images = np.random.default_rng([size_in, size_out]).uniform(0, 255, (2, 3, size_in, size_in)).astype(np.float32)
    weights = resize_matrix(size_in, size_out)
    ours = weights @ images @ weights.T
    reference = onnx_resize(images, size_out)
    # Within float32 rounding of 255-scale pixels: the two sum the same four taps in another order.
    np.testing.assert_allclose(ours, reference, rtol=0, atol=5e-3)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-6)


def test_encoder_with_the_resize_node_gives_the_same_descriptors(encoder, onnx_descriptors_112):
    reference = with_resize_node(encoder)
    assert [node.op_type for node in reference.graph.node].count("Resize") == 1
    assert not {RESIZE_ROWS, RESIZE_COLUMNS} & {tensor.name for tensor in reference.graph.initializer}
    descriptors = session(reference).run([OUTPUT_NAME], {INPUT_NAME: chips(112)})[0]
    # Measured: 1.1e-6 at most; the two resizes sum the same four taps in another order.
    np.testing.assert_allclose(descriptors, onnx_descriptors_112, rtol=0, atol=1e-5)


def test_resize_node_variant_needs_the_resize_matrices(encoder):
    with_node = with_resize_node(encoder)
    with pytest.raises(ValueError, match="encoder must resize with one MatMul on preprocess/resize_columns"):
        with_resize_node(with_node)


def test_resize_matrices_refuse_sizes_below_two():
    with pytest.raises(ValueError, match="at least 2"):
        resize_matrix(1, 150)


def test_dequantize_follows_tensorflow_js():
    spec = {
        "name": "w",
        "shape": [2, 2],
        "dtype": "float32",
        "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1.0},
    }
    np.testing.assert_array_equal(dequantize(spec, bytes([0, 1, 2, 255])), [[-1.0, -0.5], [0.0, 126.5]])
    plain = {"name": "b", "shape": [2], "dtype": "float32"}
    np.testing.assert_array_equal(dequantize(plain, np.array([1.5, -2.0], "<f4").tobytes()), [1.5, -2.0])
    float16 = {**spec, "quantization": {"dtype": "float16", "scale": 0.5, "min": -1.0}}
    with pytest.raises(ValueError, match="weight w must be quantized to uint8 or uint16, got float16"):
        dequantize(float16, b"")


def test_there_are_real_faces_to_test_on():
    assert len(face_ids()) >= 20
    for face_id in face_ids():
        for size in (112, 150):
            with Image.open(FACES / f"{face_id}_{size}.png") as chip:
                assert (chip.size, chip.mode) == ((size, size), "RGB")


def test_each_face_agrees_with_dlib_from_the_112_chips(onnx_descriptors_112, dlib_descriptors):
    similarity = cosine(onnx_descriptors_112, dlib_descriptors)
    assert similarity.min() > 0.995, f"worst face {face_ids()[similarity.argmin()]}: cosine {similarity.min():.5f}"
    assert similarity.mean() > 0.998


def test_each_face_agrees_with_dlib_from_the_150_chips(onnx_descriptors_150, dlib_descriptors):
    # What is left here is the conversion (face-api's uint8-quantized weights), not the resize.
    similarity = cosine(onnx_descriptors_150, dlib_descriptors)
    assert similarity.min() > 0.999, f"worst face {face_ids()[similarity.argmin()]}: cosine {similarity.min():.5f}"


@pytest.mark.parametrize(
    ("descriptors", "min_correlation", "max_difference"),
    [("onnx_descriptors_112", 0.99, 0.05), ("onnx_descriptors_150", 0.995, 0.02)],
)
def test_distances_between_faces_agree_with_dlib(
    request, dlib_descriptors, descriptors, min_correlation, max_difference
):
    ours = pairwise_distances(request.getfixturevalue(descriptors))
    reference = pairwise_distances(dlib_descriptors)
    assert np.corrcoef(ours, reference)[0, 1] > min_correlation
    assert np.abs(ours - reference).max() < max_difference
    # Same-person decisions may flip only for pairs that dlib itself puts within the tolerance of the threshold.
    clear = np.abs(reference - SAME_PERSON_DISTANCE) > max_difference
    assert clear.sum() > 0.8 * len(reference)
    np.testing.assert_array_equal(ours[clear] < SAME_PERSON_DISTANCE, reference[clear] < SAME_PERSON_DISTANCE)
    assert (reference < SAME_PERSON_DISTANCE).any() and (reference >= SAME_PERSON_DISTANCE).any()
