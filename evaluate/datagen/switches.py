"""Failures of real video that span frames or tracks: identity switches and train label noise.

A face tracker sometimes jumps to another face for a few frames (two people cross, a
detection is lost and picked up on a neighbour), so a track holds a short run of frames
of someone else; and a few train tracks carry the wrong person's label, as any labelled
set of thousands of videos does. Both are drawn from generators of their own, so a track
without a switch has the same frames as before switches existed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class VideoStyle:
    """How often tracks switch identity and train labels are wrong.

    `switch_rate`: the share of tracks that hold a run of another person's frames;
    `switch_frames`: the shortest and longest run (consecutive frames); `label_noise`: the
    share of train tracks labelled with another train person.
    """

    switch_rate: float = 0.45
    switch_frames: tuple[int, int] = (1, 3)
    label_noise: float = 0.02

    def __post_init__(self) -> None:
        """Raise ValueError when a rate is outside [0, 1] or the run lengths are not 1 <= low <= high."""
        for name in ("switch_rate", "label_noise"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        low, high = self.switch_frames
        if not 1 <= low <= high:
            raise ValueError(f"switch_frames must be (low, high) with 1 <= low <= high, got {self.switch_frames}")


def draw_switch(rng: np.random.Generator, style: VideoStyle, frames: int) -> range:
    """Return the frames of a track of `frames` frames taken by another person: a run, or an empty range.

    The run is at most `frames - 1` long, so at least one frame shows the track's own person.
    """
    if rng.random() >= style.switch_rate:
        return range(0)
    low, high = style.switch_frames
    length = int(rng.integers(low, high + 1))
    length = min(length, frames - 1)
    start = int(rng.integers(0, frames - length + 1))
    return range(start, start + length)


def noisy_labels(persons: np.ndarray, rng: np.random.Generator, rate: float) -> np.ndarray:
    """Return a copy of the per-track `persons` where a share `rate` of tracks got another person's id.

    The wrong id is drawn among the other persons of `persons`; with a single person
    nothing changes.
    """
    noisy = persons.copy()
    choices = np.unique(persons)
    if choices.size < 2:
        return noisy
    flipped = np.flatnonzero(rng.random(persons.size) < rate)
    for index in flipped:
        others = choices[choices != persons[index]]
        noisy[index] = others[rng.integers(others.size)]
    return noisy
