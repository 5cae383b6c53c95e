"""Video-like frames of a synthetic person: pose, blur, noise, resolution, light, occlusion, JPEG.

A track is a short video: its frames share conditions drawn once per track (head pose,
lighting, camera sharpness, resolution, compression) and vary around them frame to frame
(jitter, motion blur, an occluding hand); now and then a frame is very bad (heavily
blurred, tiny, dark, turned away or half hidden). The mean of a track's frame
descriptors is pulled by its bad frames, so an aggregator that weighs frames by quality
has room to do better. References are clean-ish photographs: small pose and light
changes, no occlusion, high JPEG quality.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from contracts.names import IMAGE_SIZE
from evaluate.datagen.geometry import affine_grid, remap

REFERENCE_QUALITY = 95


@dataclass(frozen=True)
class FrameStyle:
    """The strength of each degradation (standard deviations, ranges and rates)."""

    # Calibrated on data/demo (seed 0) so the mean-and-L2 baseline reaches TPR@1e-5 of about
    # 0.56 public, as MCS2019's did (0.568); see README "Calibration".
    pose_deg: float = 6.9
    jitter_deg: float = 4.3
    scale: float = 0.076
    shift_px: float = 4.3
    light: float = 0.192
    contrast: float = 0.315
    cast: float = 0.086
    defocus_px: float = 0.69
    motion_px: float = 2.8
    low_res: tuple[float, float] = (0.37, 0.82)
    noise: float = 5.6
    jpeg: tuple[int, int] = (27, 77)
    occlusion_rate: float = 0.201
    bad_rate: float = 0.159


@dataclass(frozen=True)
class TrackCondition:
    """What the frames of one track share: pose, light, sharpness, resolution, noise and compression."""

    angle: float
    scale: float
    shift_y: float
    shift_x: float
    gain: float
    contrast: float
    cast: tuple[float, float, float]
    defocus: float
    resolution: float
    noise: float
    quality: int


def draw_condition(rng: np.random.Generator, style: FrameStyle) -> TrackCondition:
    """Draw the shared conditions of one track from `style`."""
    low, high = style.low_res
    return TrackCondition(
        angle=float(rng.normal(0.0, style.pose_deg)),
        scale=float(np.exp(rng.normal(0.0, style.scale))),
        shift_y=float(rng.normal(0.0, style.shift_px)),
        shift_x=float(rng.normal(0.0, style.shift_px)),
        gain=float(np.exp(rng.normal(0.0, style.light))),
        contrast=float(np.exp(rng.normal(0.0, style.contrast))),
        cast=(
            float(np.exp(rng.normal(0.0, style.cast))),
            float(np.exp(rng.normal(0.0, style.cast))),
            float(np.exp(rng.normal(0.0, style.cast))),
        ),
        defocus=float(rng.exponential(style.defocus_px)),
        resolution=float(rng.uniform(low, high)),
        noise=float(rng.exponential(style.noise)),
        quality=int(rng.integers(style.jpeg[0], style.jpeg[1] + 1)),
    )


def render_frame(face: np.ndarray, condition: TrackCondition, rng: np.random.Generator, style: FrameStyle) -> bytes:
    """Return one JPEG frame of `face` (float32 [112, 112, 3]) under the track's `condition`.

    `rng` draws the frame's own jitter, motion blur, occlusion and, with probability
    `style.bad_rate`, one severe defect.
    """
    bad = int(rng.integers(5)) if rng.random() < style.bad_rate else -1
    angle = condition.angle + rng.normal(0.0, style.jitter_deg) + (rng.choice([-1, 1]) * 25.0 if bad == 0 else 0.0)
    motion = rng.exponential(style.motion_px) * (1.0 if bad != 1 else 4.0)
    image = _moved(face, condition, angle, motion, float(rng.uniform(0, np.pi)), rng)
    gain = condition.gain * (rng.choice([0.25, 2.2]) if bad == 2 else np.exp(rng.normal(0.0, 0.08)))
    image = _lit(image, gain, condition.contrast, condition.cast)
    picture = Image.fromarray(image)
    resolution = condition.resolution * (0.15 if bad == 3 else 1.0)
    picture = _resampled(picture, resolution)
    defocus = condition.defocus + (rng.uniform(3.0, 5.0) if bad == 1 else rng.exponential(0.3))
    if defocus > 0.3:
        picture = picture.filter(ImageFilter.GaussianBlur(defocus))
    if bad == 4 or rng.random() < style.occlusion_rate:
        _occlude(picture, rng, large=bad == 4)
    pixels = np.asarray(picture, dtype=np.float32)
    pixels = pixels + rng.normal(0.0, condition.noise, size=pixels.shape).astype(np.float32)
    quality = max(5, condition.quality - (30 if bad >= 0 else 0))
    return _jpeg(np.clip(pixels, 0, 255).astype(np.uint8), quality)


def render_reference(face: np.ndarray, rng: np.random.Generator) -> bytes:
    """Return one reference photograph of `face`: nearly frontal, well lit, sharp, high JPEG quality."""
    condition = TrackCondition(
        angle=float(rng.normal(0.0, 2.0)),
        scale=float(np.exp(rng.normal(0.0, 0.02))),
        shift_y=float(rng.normal(0.0, 1.0)),
        shift_x=float(rng.normal(0.0, 1.0)),
        gain=float(np.exp(rng.normal(0.0, 0.08))),
        contrast=float(np.exp(rng.normal(0.0, 0.05))),
        cast=(1.0, 1.0, 1.0),
        defocus=0.0,
        resolution=1.0,
        noise=0.0,
        quality=REFERENCE_QUALITY,
    )
    image = _moved(face, condition, condition.angle, 0.0, 0.0, rng)
    return _jpeg(_lit(image, condition.gain, condition.contrast, condition.cast), REFERENCE_QUALITY)


def decode(jpeg: bytes) -> np.ndarray:
    """Return the uint8 [112, 112, 3] RGB pixels of a JPEG, as a participant's decoder sees them."""
    with Image.open(io.BytesIO(jpeg)) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


def _moved(
    face: np.ndarray, condition: TrackCondition, angle: float, motion: float, direction: float, rng: np.random.Generator
) -> np.ndarray:
    shift_y = condition.shift_y + rng.normal(0.0, 1.0)
    shift_x = condition.shift_x + rng.normal(0.0, 1.0)
    moved = remap(face, *affine_grid(angle, condition.scale, shift_y, shift_x))
    return _motion_blurred(moved, motion, direction)


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


def _occlude(picture: Image.Image, rng: np.random.Generator, large: bool) -> None:
    # A hand, a phone or another head: a blob of flat colour over part of the face.
    size = rng.uniform(0.45, 0.7) if large else rng.uniform(0.2, 0.4)
    width, height = IMAGE_SIZE * size * rng.uniform(0.8, 1.4), IMAGE_SIZE * size
    left = rng.uniform(-width / 3, IMAGE_SIZE - 2 * width / 3)
    top = rng.uniform(IMAGE_SIZE * 0.2, IMAGE_SIZE - height / 2)
    colour = tuple(int(c) for c in rng.integers(20, 230, size=3))
    box = (left, top, left + width, top + height)
    draw = ImageDraw.Draw(picture)
    if rng.random() < 0.5:
        draw.ellipse(box, fill=colour)
    else:
        draw.rectangle(box, fill=colour)


def _jpeg(pixels: np.ndarray, quality: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=int(quality))
    return buffer.getvalue()
