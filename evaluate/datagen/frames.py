"""Video-like frames of a synthetic person: conditions that drift along a track, and the frames they make.

A track is a short video, so its frames are not independent draws. `plan_track` draws
each condition once per track and lets it drift from the first frame to the last: the
head turns (yaw, rendered as the face wrapped on a cylinder: the far side foreshortens,
the near side widens, the nose moves to the side) and tilts (roll); the light changes;
focus wanders; a turning head smears (motion blur grows with the turn between frames); a
hand or an object passes in front of the face for a few frames; an expression rises and
falls (mouth opening, smile, squint); another face slides in front of part of the frame
for a few frames (an overlap). Resolution, sensor noise and JPEG quality belong to the
camera and hold for the whole track. Now and then one frame is very bad (turned far
away, heavily blurred, tiny, far too dark or bright, or half hidden).

Every frame's conditions are a `FrameCondition`, recorded by the writer in
gt/frame_conditions.csv for analysis (never under test/). References are clean-ish
photographs: nearly frontal, small light changes, no occlusion, high JPEG quality.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from contracts.names import IMAGE_SIZE
from evaluate.datagen.geometry import CENTRE, affine_grid, remap

REFERENCE_QUALITY = 95
# The half-width of the head in a 112-pixel chip (dlib's framing, padding 0.25): the cylinder yaw turns.
HEAD_RADIUS_PX = 48.0
# Severe one-frame defects, by name (gt/frame_conditions.csv's `defect`).
DEFECTS = ("turned", "blurred", "dark", "tiny", "hidden")


@dataclass(frozen=True)
class FrameStyle:
    """The strength of each condition: standard deviations, ranges and rates.

    Per track: `yaw_deg` / `roll_deg` spread the head's mean turn and tilt, `*_drift_*` how
    far each moves from the first frame to the last; `jitter_deg` is the frame-to-frame
    wobble. `motion_px` is the blur of a still head, `motion_per_deg` what each degree of
    turn between frames adds. `occlusion_rate`, `expression_rate` and `overlap_rate` are the
    shares of tracks where an object passes, an expression rises and falls, another face
    slides in; `bad_rate` the share of frames with a severe defect.

    Calibrated on `make data PRESET=bench` (seed 0) so that the camera's lasting conditions
    are moderate and the damage is done frame by frame, as in MCS2019 where the mean of the
    frames scored 0.568 and learned aggregators 0.84: see README "Calibration".
    """

    yaw_deg: float = 10.0
    yaw_drift_deg: float = 14.0
    roll_deg: float = 5.0
    roll_drift_deg: float = 4.0
    jitter_deg: float = 1.5
    scale: float = 0.06
    shift_px: float = 3.5
    light: float = 0.15
    light_drift: float = 0.15
    contrast: float = 0.2
    cast: float = 0.07
    defocus_px: float = 0.4
    defocus_drift_px: float = 0.6
    motion_px: float = 1.2
    motion_per_deg: float = 0.35
    low_res: tuple[float, float] = (0.6, 1.0)
    noise: float = 3.0
    jpeg: tuple[int, int] = (50, 90)
    occlusion_rate: float = 0.35
    expression_rate: float = 0.35
    expression_px: float = 4.0
    overlap_rate: float = 0.15
    bad_rate: float = 0.22


@dataclass(frozen=True)
class Occluder:
    """A flat-coloured blob over the face: its box (left, top, right, bottom), colour and shape."""

    box: tuple[float, float, float, float]
    colour: tuple[int, int, int]
    ellipse: bool


@dataclass(frozen=True)
class FrameCondition:
    """Everything that decides one frame, apart from its sensor noise.

    Angles in degrees (yaw positive: the head turns to the image's right), lengths in
    pixels; `expression_px` how far the expression moves the mouth (0: neutral);
    `overlap` in [0, 1] (0: none; how far another face has come in, from `overlap_side`:
    -1 left, 1 right); `occlusion` the share of
    the chip the occluder covers; `defect` one of DEFECTS or "".
    """

    yaw: float
    roll: float
    scale: float
    shift_y: float
    shift_x: float
    gain: float
    contrast: float
    cast: tuple[float, float, float]
    defocus: float
    motion: float
    motion_direction: float
    resolution: float
    noise: float
    quality: int
    expression_px: float
    overlap: float
    overlap_side: int
    occluder: Occluder | None
    defect: str

    @property
    def occlusion(self) -> float:
        """The share of the chip inside the occluder's box, clipped to the chip (0 without one)."""
        if self.occluder is None:
            return 0.0
        left, top, right, bottom = np.clip(self.occluder.box, 0, IMAGE_SIZE)
        return float((right - left) * (bottom - top)) / IMAGE_SIZE**2

    def record(self) -> dict[str, float | int | str]:
        """The condition as one row of gt/frame_conditions.csv (rounded; the occluder as its covered share)."""
        return {
            "yaw": round(self.yaw, 2),
            "roll": round(self.roll, 2),
            "motion_px": round(self.motion, 2),
            "defocus_px": round(self.defocus, 2),
            "gain": round(self.gain, 3),
            "resolution": round(self.resolution, 3),
            "noise": round(self.noise, 2),
            "jpeg_quality": self.quality,
            "occlusion": round(self.occlusion, 3),
            "expression_px": round(self.expression_px, 2),
            "overlap": round(self.overlap, 3),
            "defect": self.defect,
        }


def plan_track(rng: np.random.Generator, style: FrameStyle, frames: int) -> list[FrameCondition]:
    """Draw the conditions of every frame of one track of `frames` frames from `style`.

    Head pose, light and focus move linearly from the first frame to the last plus a
    little wobble; an occluder, an expression and an overlap each span a run of frames.
    Raises ValueError when `frames` is below 2.
    """
    if frames < 2:
        raise ValueError(f"a track must have at least 2 frames, got {frames}")
    time = np.linspace(-0.5, 0.5, frames)
    yaw = rng.normal(0.0, style.yaw_deg) + rng.normal(0.0, style.yaw_drift_deg) * time
    yaw = np.clip(yaw + rng.normal(0.0, style.jitter_deg, frames), -70.0, 70.0)
    roll = rng.normal(0.0, style.roll_deg) + rng.normal(0.0, style.roll_drift_deg) * time
    roll = roll + rng.normal(0.0, style.jitter_deg, frames)
    gain = np.exp(rng.normal(0.0, style.light) + rng.normal(0.0, style.light_drift) * time)
    defocus = np.maximum(rng.exponential(style.defocus_px) + rng.normal(0.0, style.defocus_drift_px) * time, 0.0)
    # The head's turn between neighbouring frames smears the image.
    motion = rng.exponential(style.motion_px, frames) + style.motion_per_deg * np.abs(np.gradient(yaw))
    scale = float(np.exp(rng.normal(0.0, style.scale)))
    shift_y, shift_x = (float(v) for v in rng.normal(0.0, style.shift_px, 2))
    contrast = float(np.exp(rng.normal(0.0, style.contrast)))
    red, green, blue = (float(c) for c in np.exp(rng.normal(0.0, style.cast, 3)))
    resolution = float(rng.uniform(*style.low_res))
    noise = float(rng.exponential(style.noise))
    quality = int(rng.integers(style.jpeg[0], style.jpeg[1] + 1))
    expression = _sometimes_bump(rng, style.expression_rate, frames, (0.4, 1.0))
    overlap = _sometimes_bump(rng, style.overlap_rate, frames, (0.3, 0.7))
    overlap_side = int(rng.choice([-1, 1]))
    occluders = _passing_occluder(rng, frames) if rng.random() < style.occlusion_rate else [None] * frames
    conditions = []
    for frame in range(frames):
        defect = DEFECTS[int(rng.integers(len(DEFECTS)))] if rng.random() < style.bad_rate else ""
        conditions.append(
            FrameCondition(
                yaw=float(yaw[frame]) + (float(rng.choice([-1, 1])) * 40.0 if defect == "turned" else 0.0),
                roll=float(roll[frame]),
                scale=scale,
                shift_y=shift_y,
                shift_x=shift_x,
                gain=float(gain[frame]) * (float(rng.choice([0.25, 2.2])) if defect == "dark" else 1.0),
                contrast=contrast,
                cast=(red, green, blue),
                defocus=float(defocus[frame]) + (float(rng.uniform(3.0, 5.0)) if defect == "blurred" else 0.0),
                motion=float(motion[frame]) * (4.0 if defect == "blurred" else 1.0),
                motion_direction=float(rng.normal(0.0, 0.4)),
                resolution=resolution * (0.15 if defect == "tiny" else 1.0),
                noise=noise,
                quality=quality,
                expression_px=float(expression[frame]) * style.expression_px,
                overlap=float(overlap[frame]),
                overlap_side=overlap_side,
                occluder=_occluder(rng, large=True) if defect == "hidden" else occluders[frame],
                defect=defect,
            )
        )
    return conditions


def render_frame(
    face: np.ndarray, condition: FrameCondition, rng: np.random.Generator, intruder: np.ndarray | None = None
) -> bytes:
    """Return one JPEG frame of `face` (float32 [112, 112, 3]) under `condition`.

    `intruder` is the face that slides in when `condition.overlap` is above 0 (no overlap
    without one); `rng` draws the sensor noise.
    """
    image = _posed(face, condition)
    if intruder is not None and condition.overlap > 0:
        image = _overlapped(image, _posed(intruder, condition), condition.overlap, condition.overlap_side)
    image = _motion_blurred(image, condition.motion, condition.motion_direction)
    picture = Image.fromarray(_lit(image, condition.gain, condition.contrast, condition.cast))
    picture = _resampled(picture, condition.resolution)
    if condition.defocus > 0.3:
        picture = picture.filter(ImageFilter.GaussianBlur(condition.defocus))
    if condition.occluder is not None:
        _occlude(picture, condition.occluder)
    pixels = np.asarray(picture, dtype=np.float32)
    pixels = pixels + rng.standard_normal(pixels.shape, dtype=np.float32) * np.float32(condition.noise)
    quality = max(5, condition.quality - (30 if condition.defect else 0))
    return _jpeg(np.clip(pixels, 0, 255).astype(np.uint8), quality)


def render_reference(face: np.ndarray, rng: np.random.Generator) -> bytes:
    """Return one reference photograph of `face`: nearly frontal, well lit, sharp, high JPEG quality."""
    angle = float(rng.normal(0.0, 2.0))
    scale = float(np.exp(rng.normal(0.0, 0.02)))
    shift_y, shift_x = (float(v) for v in rng.normal(0.0, 1.0, 2))
    gain = float(np.exp(rng.normal(0.0, 0.08)))
    contrast = float(np.exp(rng.normal(0.0, 0.05)))
    image = remap(face, *affine_grid(angle, scale, shift_y, shift_x))
    return _jpeg(_lit(image, gain, contrast, (1.0, 1.0, 1.0)), REFERENCE_QUALITY)


def decode(jpeg: bytes) -> np.ndarray:
    """Return the uint8 [112, 112, 3] RGB pixels of a JPEG, as a participant's decoder sees them."""
    with Image.open(io.BytesIO(jpeg)) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


def yaw_source_columns(columns: np.ndarray, yaw_deg: float) -> np.ndarray:
    """Where each output column samples a frontal face for a head turned by `yaw_deg` (float, same shape).

    The head is a vertical cylinder of radius HEAD_RADIUS_PX about the chip's centre: the
    point at angle phi appears at centre + R sin(phi + yaw). Points turned past the
    visible side clamp to the cylinder's edge, and the background beyond the head moves
    with its edge, so the map is continuous. A yaw of 0 is the identity.
    """
    theta = np.deg2rad(yaw_deg)
    offset = (columns - CENTRE) / HEAD_RADIUS_PX
    inside = np.clip(offset, -1.0, 1.0)
    phi = np.clip(np.arcsin(inside) - theta, -np.pi / 2, np.pi / 2)
    source = CENTRE + HEAD_RADIUS_PX * np.sin(phi)
    return source + (offset - inside) * HEAD_RADIUS_PX


def _posed(face: np.ndarray, condition: FrameCondition) -> np.ndarray:
    # One resampling per frame: the chip's roll, scale and shift, then the turned head, then the expression.
    ys, xs = affine_grid(condition.roll, condition.scale, condition.shift_y, condition.shift_x)
    xs = yaw_source_columns(xs, condition.yaw)
    if condition.expression_px > 0:
        dy, dx = _EXPRESSION_FIELD
        ys, xs = ys + condition.expression_px * dy, xs + condition.expression_px * dx
    return remap(face, ys, xs)


def _expression_field(strength_px: float) -> tuple[np.ndarray, np.ndarray]:
    """The displacement (dy, dx) of an expression of `strength_px`: the mouth opens and widens, the eyes narrow.

    Each output pixel samples the neutral face at (y + dy, x + dx): below the mouth's line
    it samples higher (the jaw drops), beside it more centrally (the mouth widens), and
    around the eyes towards the eye line (a squint).
    """
    ys, xs = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE].astype(np.float64)
    mouth_y, eye_y = 0.78 * IMAGE_SIZE, 0.42 * IMAGE_SIZE
    across = np.exp(-(((xs - CENTRE) / 24.0) ** 2))
    mouth = np.exp(-(((ys - mouth_y) / 12.0) ** 2))
    eyes = np.exp(-(((ys - eye_y) / 6.0) ** 2))
    dy = -strength_px * mouth * np.tanh((ys - mouth_y) / 6.0) * across
    dy += 0.5 * strength_px * eyes * np.tanh((ys - eye_y) / 3.0)
    dx = -0.6 * strength_px * mouth * np.tanh((xs - CENTRE) / 12.0) * across
    return dy, dx


# Linear in the strength: a frame scales this one by its expression_px.
_EXPRESSION_FIELD = _expression_field(1.0)


def _sometimes_bump(rng: np.random.Generator, rate: float, frames: int, peak: tuple[float, float]) -> np.ndarray:
    """With probability `rate`, a rise and fall over a run of 2 to `frames` frames peaking in `peak`; else zeros."""
    if rng.random() >= rate:
        return np.zeros(frames)
    length = int(rng.integers(2, frames + 1))
    start = int(rng.integers(0, frames - length + 1))
    shape = np.zeros(frames)
    shape[start : start + length] = np.sin(np.linspace(0.0, np.pi, length + 2)[1:-1])
    return shape * rng.uniform(*peak)


def _passing_occluder(rng: np.random.Generator, frames: int) -> list[Occluder | None]:
    """An object that moves across the face during a run of 2 to 6 frames; None on the other frames."""
    length = int(rng.integers(2, min(6, frames) + 1))
    start = int(rng.integers(0, frames - length + 1))
    first, last = _occluder(rng, large=False), _occluder(rng, large=False)
    passing: list[Occluder | None] = [None] * frames
    for step in range(length):
        weight = step / (length - 1)
        box = tuple(a + (b - a) * weight for a, b in zip(first.box, last.box, strict=True))
        passing[start + step] = Occluder(box, first.colour, first.ellipse)  # type: ignore[arg-type]
    return passing


def _occluder(rng: np.random.Generator, large: bool) -> Occluder:
    # A hand, a phone or another head: a blob of flat colour over part of the face.
    size = rng.uniform(0.45, 0.7) if large else rng.uniform(0.2, 0.4)
    width, height = IMAGE_SIZE * size * rng.uniform(0.8, 1.4), IMAGE_SIZE * size
    left = rng.uniform(-width / 3, IMAGE_SIZE - 2 * width / 3)
    top = rng.uniform(IMAGE_SIZE * 0.2, IMAGE_SIZE - height / 2)
    colour = tuple(int(c) for c in rng.integers(20, 230, size=3))
    return Occluder((left, top, left + width, top + height), colour, bool(rng.random() < 0.5))  # type: ignore[arg-type]


def _overlapped(image: np.ndarray, intruder: np.ndarray, amount: float, side: int) -> np.ndarray:
    """`image` with `intruder` moved in from `side` by `amount` of the chip's width, in front, with a soft edge."""
    shift = round(side * (1.0 - amount) * IMAGE_SIZE)
    moved = np.roll(intruder, shift, axis=1)
    columns = np.arange(IMAGE_SIZE, dtype=np.float32)
    edge = IMAGE_SIZE - abs(shift) if side < 0 else abs(shift)
    cover = 1.0 / (1.0 + np.exp(-side * (columns - edge) / 3.0))
    cover = cover[None, :, None].astype(np.float32)
    return image * (1 - cover) + moved * cover


def _motion_blurred(image: np.ndarray, length: float, direction: float) -> np.ndarray:
    # The average of the image along a short straight path: the head moved while the shutter was open.
    steps = int(np.ceil(length))
    if steps < 2:
        return image
    pad = steps
    padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    total = np.zeros_like(padded)
    for offset in np.linspace(-length / 2, length / 2, steps):
        shift = (round(offset * np.sin(direction)), round(offset * np.cos(direction)))
        total += np.roll(padded, shift, axis=(0, 1))
    return total[pad:-pad, pad:-pad] / steps


def _lit(image: np.ndarray, gain: float, contrast: float, cast: tuple[float, float, float]) -> np.ndarray:
    mean = image.mean()
    lit = ((image - mean) * contrast + mean) * gain * np.asarray(cast, dtype=np.float32)
    return np.clip(lit, 0, 255).astype(np.uint8)


def _resampled(picture: Image.Image, resolution: float) -> Image.Image:
    side = max(8, round(IMAGE_SIZE * resolution))
    if side >= IMAGE_SIZE:
        return picture
    small = picture.resize((side, side), Image.Resampling.BILINEAR, reducing_gap=None)
    return small.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BICUBIC)


def _occlude(picture: Image.Image, occluder: Occluder) -> None:
    draw = ImageDraw.Draw(picture)
    if occluder.ellipse:
        draw.ellipse(occluder.box, fill=occluder.colour)
    else:
        draw.rectangle(occluder.box, fill=occluder.colour)


def _jpeg(pixels: np.ndarray, quality: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=int(quality))
    return buffer.getvalue()
