"""Extract the real faces of face-api's demo photographs as dlib face chips.

Usage: ``python assets/extract_faces.py TARBALL [--out assets/faces]`` where TARBALL is the
file ``npm pack @vladmandic/face-api`` writes. For every face that dlib's frontal (HOG)
detector or its CNN (MMOD) detector finds in ``package/demo/sample*.jpg`` (see
:func:`detect` for how the two are combined), the 5-point
shape predictor places the landmarks and ``dlib.get_face_chip(..., padding=0.25)`` cuts
two aligned chips: 150x150 (what dlib's recognition network eats) and 112x112 (the
framing of the challenge's track images). ``faces.csv`` records where each face came from.

The output depends only on the tarball and the dlib build: detections are merged and
ordered by position, and PNG encoding is deterministic.
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

import dlib
import face_recognition_models
import numpy as np
from numpy.typing import NDArray
from PIL import Image

PHOTO_PATTERN = re.compile(r"^package/demo/(sample\d+)\.jpg$")
CHIP_PADDING = 0.25
CHIP_SIZES = (150, 112)
# A face seen by both detectors overlaps far more than this; distinct faces never do here.
SAME_FACE_IOU = 0.3
# One upsampling lets the HOG detector see the smaller faces of these 1920-pixel-wide photos.
HOG_UPSAMPLE = 1
# HOG scores of the real faces here reach down to 0.26, its one false positive (a round
# logo in sample1) scores 0.13: below this, a HOG detection counts only if the CNN agrees.
HOG_CONFIDENT_SCORE = 0.5
CNN_UPSAMPLE = 0
CSV_COLUMNS = (
    "face_id",
    "photo",
    "detector",
    "left",
    "top",
    "right",
    "bottom",
    *(f"{axis}{i}" for i in range(5) for axis in ("x", "y")),
)


@dataclass(frozen=True)
class Face:
    """One detected face: where it is and which detectors found it (``hog``, ``cnn`` or ``hog+cnn``)."""

    photo: str
    detector: str
    box: dlib.rectangle


def read_photos(tarball: Path) -> dict[str, NDArray[np.uint8]]:
    """Read the demo photographs from the face-api tarball.

    Returns a dict from photo name (``sample1``) to an RGB uint8 array, sorted by name.
    Raises ValueError when the tarball holds no ``package/demo/sample*.jpg``.
    """
    photos: dict[str, NDArray[np.uint8]] = {}
    with tarfile.open(tarball, "r:gz") as archive:
        for member in archive.getmembers():
            match = PHOTO_PATTERN.match(member.name)
            if match is None or not member.isfile():
                continue
            data = archive.extractfile(member)
            assert data is not None  # a regular file always has content
            photos[match.group(1)] = np.asarray(Image.open(io.BytesIO(data.read())).convert("RGB"))
    if not photos:
        raise ValueError(f"tarball must hold package/demo/sample*.jpg (npm pack @vladmandic/face-api), got {tarball}")
    return dict(sorted(photos.items(), key=lambda item: int(item[0].removeprefix("sample"))))


def iou(a: dlib.rectangle, b: dlib.rectangle) -> float:
    """Intersection over union of two dlib rectangles (0.0 when they do not overlap)."""
    inter = a.intersect(b)
    inter_area = inter.area() if inter.width() > 0 and inter.height() > 0 else 0
    union = a.area() + b.area() - inter_area
    return inter_area / union if union > 0 else 0.0


def detect(photo: str, image: NDArray[np.uint8]) -> list[Face]:
    """Find the faces of one photograph with both of dlib's detectors.

    A face is kept when the CNN finds it, or when the HOG detector finds it with a score
    of at least ``HOG_CONFIDENT_SCORE``; the box is the HOG one when HOG found the face.
    The result is ordered left to right, then top to bottom.
    """
    hog = dlib.get_frontal_face_detector()
    cnn = dlib.cnn_face_detection_model_v1(face_recognition_models.cnn_face_detector_model_location())
    cnn_boxes = [detection.rect for detection in cnn(image, CNN_UPSAMPLE)]
    faces: list[Face] = []
    hog_boxes, scores, _ = hog.run(image, HOG_UPSAMPLE, 0.0)
    for box, score in zip(hog_boxes, scores, strict=True):
        confirmed = any(iou(box, other) > SAME_FACE_IOU for other in cnn_boxes)
        if confirmed or score >= HOG_CONFIDENT_SCORE:
            faces.append(Face(photo, "hog+cnn" if confirmed else "hog", box))
    for box in cnn_boxes:
        if all(iou(box, face.box) <= SAME_FACE_IOU for face in faces):
            faces.append(Face(photo, "cnn", box))
    return sorted(faces, key=lambda face: (face.box.left(), face.box.top()))


def extract(tarball: Path, out_dir: Path) -> int:
    """Write the chips of every face and ``faces.csv`` into ``out_dir``.

    Returns the number of faces written. Raises ValueError from :func:`read_photos`.
    """
    predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_five_point_model_location())
    out_dir.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, object]] = []
    for photo, image in read_photos(tarball).items():
        for index, face in enumerate(detect(photo, image)):
            face_id = f"{photo}_{index}"
            shape = predictor(image, face.box)
            for size in CHIP_SIZES:
                chip = dlib.get_face_chip(image, shape, size=size, padding=CHIP_PADDING)
                Image.fromarray(chip).save(out_dir / f"{face_id}_{size}.png", optimize=True)
            box = face.box
            row: dict[str, object] = {
                "face_id": face_id,
                "photo": f"demo/{photo}.jpg",
                "detector": face.detector,
                "left": box.left(),
                "top": box.top(),
                "right": box.right(),
                "bottom": box.bottom(),
            }
            for i in range(shape.num_parts):
                row[f"x{i}"] = shape.part(i).x
                row[f"y{i}"] = shape.part(i).y
            rows.append(row)
    with open(out_dir / "faces.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


def main() -> None:
    """Command line: extract the faces of the tarball given as the first argument."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tarball", type=Path, help="the file `npm pack @vladmandic/face-api` writes")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "faces", help="output folder")
    args = parser.parse_args()
    try:
        count = extract(args.tarball, args.out)
    except (OSError, ValueError, tarfile.TarError) as error:
        parser.exit(1, f"Error: {error}\n")
    print(f"wrote {count} faces to {args.out}")


if __name__ == "__main__":
    main()
