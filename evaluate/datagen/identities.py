"""Synthetic identities: new faces morphed from a few real aligned chips.

Twenty-odd real faces are far too few people for a challenge of hundreds. Each synthetic
person is made from three real chips: every face region (eyes and brows, nose and
cheeks, mouth and chin) takes its own random blend of the three, so a person may have
one face's eyes and another's mouth; a smooth random warp then moves the features by a
few pixels (the geometry that face encoders key on), and a skin-tone shift and a random
mirror image finish the face. The chips are already aligned on five landmarks, so a
pixel blend keeps eyes on eyes. The encoder then sees each person as a distinct face:
close to its parents, far from people made of other parents.

Random blends of the same few faces sometimes come out as near twins, and one pair of
twins decides the hardest negative pair of a subset. So `pick_identities` draws several
candidates for each new person and keeps the one whose encoder descriptor lies farthest
from every person kept so far (Mitchell's best-candidate sampling): the people spread
out in descriptor space without a hard threshold that could fail on a large preset.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from contracts.names import IMAGE_SIZE
from evaluate.datagen.geometry import identity_grid, remap, smooth_field

# Rows (as a fraction of the chip) where the eye, nose and mouth regions meet, and how soft the seams are.
_SEAMS = (0.47, 0.67)
_SEAM_SOFTNESS_PX = 5.0


@dataclass(frozen=True)
class IdentityStyle:
    """How far synthetic people are from their parents and from one another.

    `parents`: real chips mixed per person; `concentration`: Dirichlet concentration of the
    blend weights (small: one parent dominates each region); `warp_px`: amplitude of the
    smooth feature warp; `tone`: standard deviation of the log colour gains (skin tone); `candidates`: faces drawn
    per person, of which the most distinct is kept.
    """

    parents: int = 3
    concentration: float = 0.6
    warp_px: float = 4.0
    tone: float = 0.08
    candidates: int = 6


def region_masks() -> np.ndarray:
    """Return the soft masks of the three face regions, float32 [3, 112, 1, 1], summing to 1 on every row."""
    rows = np.arange(IMAGE_SIZE, dtype=np.float64)
    steps = [1.0 / (1.0 + np.exp(-(rows - seam * IMAGE_SIZE) / _SEAM_SOFTNESS_PX)) for seam in _SEAMS]
    masks = np.stack([1.0 - steps[0], steps[0] - steps[1], steps[1]])
    return masks[:, :, None, None].astype(np.float32)


def make_identity(chips: np.ndarray, rng: np.random.Generator, style: IdentityStyle) -> np.ndarray:
    """Return the clean face of one new person, float32 [112, 112, 3] in [0, 255].

    `chips` is float32 [K, 112, 112, 3] with K >= style.parents; `rng` decides everything,
    so the same generator state gives the same person. Raises ValueError when there are
    fewer chips than parents.
    """
    if chips.shape[0] < style.parents:
        raise ValueError(f"chips must hold at least {style.parents} faces (style.parents), got {chips.shape[0]}")
    chosen = chips[rng.choice(chips.shape[0], size=style.parents, replace=False)]
    weights = rng.dirichlet(np.full(style.parents, style.concentration), size=len(_SEAMS) + 1)
    masks = region_masks()
    face = np.zeros((IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.float32)
    for region in range(masks.shape[0]):
        blend = np.tensordot(weights[region].astype(np.float32), chosen, axes=1)
        face += masks[region] * blend
    ys, xs = identity_grid()
    dy, dx = smooth_field(rng, style.warp_px)
    face = remap(face, ys + dy, xs + dx)
    gains = np.exp(rng.normal(0.0, style.tone, size=3)).astype(np.float32)
    face = np.clip(face * gains, 0.0, 255.0)
    return face[:, ::-1].copy() if rng.random() < 0.5 else face


def nearest_distances(candidates: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """Return each of `candidates` [C, D]' Euclidean distance to its nearest row of `kept` [K, D], as [C].

    Through one matrix product (|a|^2 + |b|^2 - 2 a.b, clipped at 0), not the [C, K, D]
    differences: at mcs2019's 5,235 persons the search grows with persons squared.
    """
    squared = (candidates**2).sum(axis=1)[:, None] + (kept**2).sum(axis=1)[None, :] - 2.0 * candidates @ kept.T
    return np.sqrt(np.maximum(squared.min(axis=1), 0.0))


def pick_identities(
    chips: np.ndarray,
    count: int,
    key: Sequence[int],
    style: IdentityStyle,
    embed: Callable[[np.ndarray], np.ndarray],
) -> Iterator[np.ndarray]:
    """Yield `count` faces (float32 [112, 112, 3]), each the most distinct of `style.candidates` draws.

    `embed` maps uint8 [N, 112, 112, 3] images to descriptors [N, D]; distinctness is the
    Euclidean distance between L2-normalized descriptors to the nearest face kept before.
    Candidate j of person i comes from the generator seeded (*key, i, j), so the faces depend
    on `key` only.
    """
    kept = np.empty((0, 0))
    for person in range(count):
        faces = [make_identity(chips, np.random.default_rng([*key, person, j]), style) for j in range(style.candidates)]
        descriptors = embed(np.stack(faces).round().astype(np.uint8)).astype(np.float64)
        descriptors /= np.linalg.norm(descriptors, axis=1, keepdims=True)
        if person == 0:
            kept = np.empty((count, descriptors.shape[1]))
            best = 0
        else:
            best = int(np.argmax(nearest_distances(descriptors, kept[:person])))
        kept[person] = descriptors[best]
        yield faces[best]
