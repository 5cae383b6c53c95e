"""The frames of a track: drifting conditions, the turned head, the resampler, identity search, and gt's record."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from contracts.names import FRAMES_PER_TRACK, GT_DIR, TEST_DIR, TRACKS_FILE, TRAIN_DIR
from evaluate.datagen.frames import (
    DEFECTS,
    HEAD_RADIUS_PX,
    FrameStyle,
    decode,
    plan_track,
    render_frame,
    yaw_source_columns,
)
from evaluate.datagen.geometry import CENTRE, remap
from evaluate.datagen.identities import nearest_distances
from evaluate.datagen.presets import PRESETS
from evaluate.datagen.writer import FRAME_CONDITIONS_FILE, generate


def tracks(style: FrameStyle, count: int = 200, seed: int = 0) -> list[list]:
    return [plan_track(np.random.default_rng([seed, i]), style, FRAMES_PER_TRACK) for i in range(count)]


def test_remap_matches_scipy_bilinear_with_mirrored_borders() -> None:
    rng = np.random.default_rng(7)
    image = rng.uniform(0, 255, (112, 112, 3)).astype(np.float32)
    ys, xs = rng.uniform(-60, 170, (2, 40, 50))
    ours = remap(image, ys, xs)
    # scipy's "mirror" reflects about the edge samples (d c b | a b c d | c b a), as remap does.
    reference = np.stack(
        [ndimage.map_coordinates(image[..., c].astype(np.float64), [ys, xs], order=1, mode="mirror") for c in range(3)],
        axis=-1,
    )
    assert ours.dtype == np.float32 and ours.shape == (40, 50, 3)
    np.testing.assert_allclose(ours, reference, atol=0.02)


def test_a_head_turned_by_zero_is_the_identity_and_a_turn_moves_the_nose_sideways() -> None:
    columns = np.arange(112, dtype=np.float64)
    np.testing.assert_allclose(yaw_source_columns(columns, 0.0), columns, atol=1e-9)
    turned = yaw_source_columns(columns, 20.0)
    # The output's centre column shows a point from the other side of the face: the nose moved right.
    assert turned[56] < CENTRE - 0.3 * HEAD_RADIUS_PX * np.sin(np.deg2rad(20))
    assert np.all(np.diff(turned) >= -1e-9), "the map must not fold the image"
    mirrored = yaw_source_columns(columns, -20.0)
    np.testing.assert_allclose(mirrored[::-1], 2 * CENTRE - turned, atol=1e-9)


def test_pose_light_and_focus_drift_along_a_track_instead_of_jumping() -> None:
    planned = tracks(FrameStyle(bad_rate=0.0))
    yaw = np.array([[c.yaw for c in track] for track in planned])
    steps = np.abs(np.diff(yaw, axis=1))
    # Neighbouring frames are close; the track's ends are further apart: a drift, not independent draws.
    assert np.median(steps) < 0.3 * np.median(np.abs(yaw[:, -1] - yaw[:, 0]))
    independent = np.random.default_rng(0).permutation(yaw.ravel()).reshape(yaw.shape)
    assert np.median(steps) < 0.3 * np.median(np.abs(np.diff(independent, axis=1)))
    # Motion blur follows the turn between frames.
    motion = np.array([[c.motion for c in track] for track in planned])
    turn = np.abs(np.gradient(yaw, axis=1))
    assert np.corrcoef(turn.ravel(), motion.ravel())[0, 1] > 0.3


def test_an_occluder_passes_over_a_run_of_frames_and_an_expression_rises_and_falls() -> None:
    style = FrameStyle(occlusion_rate=1.0, expression_rate=1.0, overlap_rate=1.0, bad_rate=0.0)
    for track in tracks(style, count=50):
        occluded = [c.occluder is not None for c in track]
        first, last = occluded.index(True), len(occluded) - occluded[::-1].index(True)
        assert all(occluded[first:last]) and 2 <= last - first <= 6
        for values in ([c.expression_px for c in track], [c.overlap for c in track]):
            shown = np.flatnonzero(values)
            assert shown.size >= 2 and np.all(np.diff(shown) == 1)
            peak = int(np.argmax(values))
            assert np.all(np.diff(values[: peak + 1]) >= 0) and np.all(np.diff(values[peak:]) <= 0)


def test_the_expression_strength_follows_the_style() -> None:
    mild, strong = (
        max(
            c.expression_px
            for track in tracks(FrameStyle(expression_rate=1.0, expression_px=px), count=20)
            for c in track
        )
        for px in (2.0, 8.0)
    )
    assert 0 < mild <= 2.0 and mild * 4 == pytest.approx(strong)


def test_without_any_condition_rate_no_track_has_them() -> None:
    style = FrameStyle(occlusion_rate=0.0, expression_rate=0.0, overlap_rate=0.0, bad_rate=0.0)
    for track in tracks(style, count=30):
        assert all(c.occluder is None and c.expression_px == 0 and c.overlap == 0 and not c.defect for c in track)


def test_severe_defects_hit_about_their_share_of_frames() -> None:
    defects = [c.defect for track in tracks(FrameStyle(bad_rate=0.2), count=300) for c in track]
    assert 0.17 < np.mean([d != "" for d in defects]) < 0.23
    assert {d for d in defects if d} == set(DEFECTS)


def test_an_overlapping_face_changes_the_frame_only_on_its_side() -> None:
    rng = np.random.default_rng(3)
    face = rng.uniform(60, 200, (112, 112, 3)).astype(np.float32)
    intruder = np.zeros_like(face)
    base = dataclasses.replace(
        plan_track(np.random.default_rng(1), FrameStyle(bad_rate=0.0, expression_rate=0.0), FRAMES_PER_TRACK)[0],
        occluder=None,
        noise=0.0,
        quality=95,
        defocus=0.0,
        motion=0.0,
        resolution=1.0,
    )
    alone = decode(render_frame(face, base, np.random.default_rng(0))).astype(np.float32)
    overlapped = dataclasses.replace(base, overlap=0.5, overlap_side=1)
    covered = decode(render_frame(face, overlapped, np.random.default_rng(0), intruder)).astype(np.float32)
    difference = np.abs(covered - alone).mean(axis=(0, 2))
    # The far side moves only with the exposure (the frame's mean light changes); the near side is covered.
    assert difference[-40:].mean() > 40 and difference[:40].mean() < 0.2 * difference[-40:].mean()


def test_frame_conditions_are_recorded_in_gt_for_every_frame_and_never_under_test(tmp_path: Path) -> None:
    out = tmp_path / "data"
    generate(out, PRESETS["tiny"], seed=2, progress=False)
    conditions = pd.read_csv(out / GT_DIR / FRAME_CONDITIONS_FILE, keep_default_na=False)
    test_tracks = pd.read_csv(out / TEST_DIR / TRACKS_FILE)
    train_tracks = pd.read_csv(out / TRAIN_DIR / TRACKS_FILE)
    assert len(conditions) == len(test_tracks) + len(train_tracks)
    assert set(conditions.part) == {"train", "public", "private"}
    test_rows = conditions[conditions.part != "train"]
    assert set(zip(test_rows.track_id, test_rows.frame, strict=True)) == set(
        zip(test_tracks.track_id, test_tracks.frame, strict=True)
    )
    assert {"yaw", "roll", "motion_px", "occlusion", "expression_px", "overlap", "defect"} <= set(conditions.columns)
    assert set(conditions.defect) <= {"", *DEFECTS}
    assert not any(FRAME_CONDITIONS_FILE in p.name for p in (out / TEST_DIR).rglob("*"))


def test_nearest_distances_match_every_difference_computed_in_full() -> None:
    rng = np.random.default_rng(11)
    candidates, kept = rng.normal(size=(6, 128)), rng.normal(size=(300, 128))
    kept /= np.linalg.norm(kept, axis=1, keepdims=True)
    reference = np.min(np.linalg.norm(candidates[:, None, :] - kept[None, :, :], axis=2), axis=1)
    np.testing.assert_allclose(nearest_distances(candidates, kept), reference, rtol=1e-10)
    assert nearest_distances(kept[:3], kept).max() < 1e-6
