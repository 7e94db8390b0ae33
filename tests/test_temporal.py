"""Temporal smoothing and the warping-error metric on synthetic clips with known motion."""
from __future__ import annotations

import numpy as np
import pytest

from engine.temporal import TemporalSmoother, deviation_from_per_frame, warping_error


def textured(h=96, w=128, seed=0):
    rng = np.random.default_rng(seed)
    import cv2

    base = (rng.random((h // 8, w // 8 + 8, 3)) * 255).astype(np.uint8)
    return cv2.resize(base, ((w // 8 + 8) * 8, h), interpolation=cv2.INTER_CUBIC)


def panning_clip(n=8, step=2):
    wide = textured()
    return [np.ascontiguousarray(wide[:, i * step:i * step + 96]) for i in range(n)]


def flicker(frames, amount=60, seed=1):
    rng = np.random.default_rng(seed)
    out = []
    for f in frames:
        noise = rng.integers(-amount, amount + 1, size=(1, 1, 3))  # per-frame colour jump: flicker
        out.append(np.clip(f.astype(int) + noise, 0, 255).astype(np.uint8))
    return out


def test_metric_near_zero_for_consistent_output_and_large_for_flicker():
    clip = panning_clip()
    consistent = [255 - f for f in clip]  # a "stylization" that moves exactly with the content
    assert warping_error(clip, consistent) < 0.002
    assert warping_error(clip, flicker(consistent)) > 10 * warping_error(clip, consistent)


def test_smoother_reduces_warping_error_on_a_panning_clip():
    clip = panning_clip(12)
    per_frame = flicker([255 - f for f in clip])
    smoother = TemporalSmoother()
    smoothed = [smoother.apply(c, s, 0.8) for c, s in zip(clip, per_frame)]
    before, after = warping_error(clip, per_frame), warping_error(clip, smoothed)
    assert after < 0.5 * before
    assert 0 < deviation_from_per_frame(smoothed, per_frame) < 0.2


def test_smoothing_off_is_identity_and_scene_cut_resets():
    clip = panning_clip(3)
    out = [255 - f for f in clip]
    s = TemporalSmoother()
    assert all(np.array_equal(s.apply(c, o, 0.0), o) for c, o in zip(clip, out))
    s = TemporalSmoother()
    s.apply(clip[0], out[0], 1.0)
    cut = np.zeros_like(clip[1])
    fresh = np.full_like(out[1], 77)
    assert np.array_equal(s.apply(cut, fresh, 1.0), fresh)  # new scene: no ghost of the old one


def test_style_change_crossfades():
    clip = panning_clip(4, step=0)
    s = TemporalSmoother()
    old, new = np.zeros_like(clip[0]), np.full_like(clip[0], 200)
    s.apply(clip[0], old, 0.0)
    s.style_changed()
    first = s.apply(clip[1], new, 0.0)
    assert 0 < first.mean() < 200  # between the old and the new look
    for c in clip[2:]:
        last = s.apply(c, new, 0.0)
    assert last.mean() > first.mean()


def test_render_with_smoothing(tiny_fast_model, clip_with_audio, tmp_path):
    from engine.render import render_video
    from engine.stylizers import FrameProcessor, StyleSettings, load_stylizer

    processor = FrameProcessor(load_stylizer(tiny_fast_model, "cpu"), StyleSettings(smoothing=0.8))
    assert render_video(clip_with_audio, tmp_path / "o.mp4", processor).frames == 24


def test_metric_needs_matching_frames():
    with pytest.raises(ValueError):
        warping_error([np.zeros((8, 8, 3), np.uint8)], [np.zeros((8, 8, 3), np.uint8)])
