"""Resampling a face image through a coordinate map: smooth random warps and small affine moves."""

from __future__ import annotations

import numpy as np

from contracts.names import IMAGE_SIZE

# The chip's centre, in pixel coordinates: what rotations, scales and the head's turn pivot on.
CENTRE = (IMAGE_SIZE - 1) / 2.0


def identity_grid(size: int = IMAGE_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Return the pixel coordinates (ys, xs) of a size x size image, each float64 [size, size]."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    return ys, xs


def affine_grid(angle_deg: float, scale: float, shift_y: float, shift_x: float) -> tuple[np.ndarray, np.ndarray]:
    """Return where each output pixel samples the input for a rotation, scale and shift about the centre.

    A positive `scale` above 1 enlarges the face; shifts are in pixels of the output.
    """
    theta = np.deg2rad(angle_deg)
    cos, sin = np.cos(theta) / scale, np.sin(theta) / scale
    # A row vector and a column vector broadcast to the full grid: no coordinate grid is built.
    pixels = np.arange(IMAGE_SIZE, dtype=np.float64)
    dy, dx = (pixels - CENTRE - shift_y)[:, None], (pixels - CENTRE - shift_x)[None, :]
    return CENTRE + cos * dy - sin * dx, CENTRE + sin * dy + cos * dx


def smooth_field(rng: np.random.Generator, amplitude: float, cells: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Return a smooth random displacement (dy, dx), each float64 [112, 112], of about `amplitude` pixels.

    Random offsets on a coarse (cells+1) x (cells+1) grid, interpolated bilinearly: the face's
    features move by a few pixels each, as between the faces of two different people.
    """
    coarse = rng.normal(0.0, amplitude, size=(2, cells + 1, cells + 1))
    position = np.linspace(0.0, cells, IMAGE_SIZE)
    low = np.minimum(position.astype(np.int64), cells - 1)
    frac = position - low
    rows = coarse[:, low, :] * (1 - frac)[None, :, None] + coarse[:, low + 1, :] * frac[None, :, None]
    field = rows[:, :, low] * (1 - frac)[None, None, :] + rows[:, :, low + 1] * frac[None, None, :]
    return field[0], field[1]


def remap(image: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Sample float `image` [H, W, C] at (ys, xs) bilinearly; coordinates outside mirror back inside.

    Mirroring rather than a flat border keeps a moved face free of black wedges, like a
    crop taken from a larger frame. Works in float32 on the flattened image: four gathers,
    each moving a pixel's channels as one item. Returns float32 [*ys.shape, C].
    """
    height, width = image.shape[:2]
    ys, xs = _mirror(ys.astype(np.float32), height), _mirror(xs.astype(np.float32), width)
    y0 = np.minimum(ys.astype(np.int32), height - 2)
    x0 = np.minimum(xs.astype(np.int32), width - 2)
    fy, fx = (ys - y0.astype(np.float32))[..., None], (xs - x0.astype(np.float32))[..., None]
    flat = np.ascontiguousarray(image, dtype=np.float32).reshape(height * width, -1)
    channels = flat.shape[1]
    # Each pixel's channels as one opaque item: one gather per corner instead of one per channel.
    pixels = flat.view(f"V{flat.itemsize * channels}").ravel()

    def gather(index: np.ndarray) -> np.ndarray:
        return np.take(pixels, index).view(np.float32).reshape(*index.shape, channels)

    corner = y0 * width + x0
    top_left, top_right = gather(corner), gather(corner + 1)
    bottom_left, bottom_right = gather(corner + width), gather(corner + width + 1)
    top = top_left + (top_right - top_left) * fx
    bottom = bottom_left + (bottom_right - bottom_left) * fx
    return top + (bottom - top) * fy


def _mirror(coords: np.ndarray, size: int) -> np.ndarray:
    # Fold onto [0, size - 1]: reflect about the nearest multiple of the period 2 * (size - 1).
    period = np.float32(2 * (size - 1))
    return np.abs(coords - period * np.floor(coords / period + np.float32(0.5)))
