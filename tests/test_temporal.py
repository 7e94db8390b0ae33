"""Temporal smoothing (engine/temporal.py) and the warping-error metric (bench/flicker.py) on synthetic
clips with known motion, and end to end: `stylecast render --smooth` on a flickering clip."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.flicker import deviation_from_per_frame, warping_error
from engine.temporal import TemporalSmoother


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
    from engine.processor import FrameProcessor, StyleSettings
    from engine.stylizers import load_stylizer

    processor = FrameProcessor(load_stylizer(tiny_fast_model, "cpu"), StyleSettings(smoothing=0.8))
    assert render_video(clip_with_audio, tmp_path / "o.mp4", processor).frames == 24


LIGHT8 = Path(__file__).resolve().parents[1] / "assets" / "models" / "light8.onnx"


def _write_lossless_clip(path, frames, fps=24):
    import av

    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps, options={"qp": "0"})  # lossless: the noise survives
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv444p"
        for f in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        out.mux(stream.encode(None))
    return path


def _read_clip(path):
    import av

    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def test_cli_smoothing_reduces_flicker_of_a_static_noisy_clip(tmp_path):
    """A static scene with fresh sensor noise in every frame: the per-frame stylization turns the noise into
    flicker; `render --smooth 0.8` must cut the warping error clearly against `--smooth 0`, without washing
    the style out."""
    import cv2

    from engine.cli import main

    h, w, n = 96, 128, 16
    y, x = np.mgrid[0:h, 0:w]
    rng = np.random.default_rng(3)
    texture = cv2.GaussianBlur(rng.random((h, w, 3)).astype(np.float32) * 255, (0, 0), 4)
    scene = np.stack([x * 255 / w, y * 255 / h, 255 - x * 255 / w], 2) * 0.6 + (texture - texture.mean()) * 3 + 50
    frames = [np.clip(scene + rng.normal(0, 6, scene.shape), 0, 255).astype(np.uint8) for _ in range(n)]
    src = _write_lossless_clip(tmp_path / "noisy.mp4", frames)
    inputs = _read_clip(src)
    assert len(inputs) == n
    outputs = {}
    for smooth in ("0", "0.8"):
        dst = tmp_path / f"out_{smooth}.mp4"
        assert main(["render", str(src), "-o", str(dst), "--model", str(LIGHT8), "--style", "starry",
                     "--smooth", smooth, "-q"]) == 0
        outputs[smooth] = _read_clip(dst)
        assert len(outputs[smooth]) == n
    raw, smoothed = warping_error(inputs, outputs["0"]), warping_error(inputs, outputs["0.8"])
    assert raw > 2 * warping_error(inputs, inputs)  # the stylization amplifies the noise: the clip flickers
    assert smoothed < 0.5 * raw, (raw, smoothed)  # measured: about -80 %
    assert deviation_from_per_frame(outputs["0.8"], outputs["0"]) < 0.08  # still the per-frame look...
    stylized = np.mean([np.abs(o.astype(np.float32) - i).mean() for o, i in zip(outputs["0.8"], inputs)])
    assert stylized > 20  # ...which is far from the input


def test_engine_does_not_import_bench_and_the_metric_lives_in_bench():
    """bench/ may import engine/, never the other way round; the run-time module keeps only the smoother."""
    import subprocess
    import sys

    code = ("import pkgutil, importlib, sys, engine\n"
            "for m in pkgutil.iter_modules(engine.__path__):\n"
            "    if m.name != '__main__':  # that one runs the CLI\n"
            "        importlib.import_module('engine.' + m.name)\n"
            "print(sorted(k for k in sys.modules if k == 'bench' or k.startswith('bench.')))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[1])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
    import engine.temporal

    assert not hasattr(engine.temporal, "warping_error") and hasattr(engine.temporal, "TemporalSmoother")


def test_metric_needs_matching_frames():
    with pytest.raises(ValueError):
        warping_error([np.zeros((8, 8, 3), np.uint8)], [np.zeros((8, 8, 3), np.uint8)])


# -- smoothing that never ghosts: frames far apart, objects that jump, content entering at an edge ------------
def _square_scene(background, top_left, colour, side=20):
    frame = background.copy()
    y, x = top_left
    frame[y:y + side, x:x + side] = colour
    return frame


def _same_brightness_colour(background):
    """A saturated colour as bright as the background's mean: a brightness-only check cannot tell them apart."""
    import cv2

    grey = float(cv2.cvtColor(background, cv2.COLOR_RGB2GRAY).mean())
    return (230, int(round((grey - 0.299 * 230 - 0.114 * 40) / 0.587)), 40)


@pytest.mark.parametrize("kind", ["bright", "same brightness, other colour"])
def test_an_object_that_jumps_far_leaves_no_ghost(kind):
    """A square jumps 80 px between two frames (a slow preview of a walking person). Where it was and where
    it is now, the output is the fresh stylization (no see-through copy of the old picture); on the still
    background the smoother keeps smoothing (the stylization's colour jump is damped there)."""
    background = (textured()[:, :128].astype(np.float32) * 0.3 + 90).astype(np.uint8)
    colour = (255, 255, 255) if kind == "bright" else _same_brightness_colour(background)
    old, new = (38, 10), (38, 90)
    frames = [_square_scene(background, old, colour), _square_scene(background, new, colour)]
    jump = 20  # the stylization of the second frame is 20 levels brighter everywhere: flicker to smooth
    stylized = [255 - frames[0], np.clip(255 - frames[1].astype(int) + jump, 0, 255).astype(np.uint8)]
    s = TemporalSmoother()
    s.apply(frames[0], stylized[0], 0.8)
    out = s.apply(frames[1], stylized[1], 0.8)
    diff = np.abs(out.astype(int) - stylized[1]).max(axis=2)
    for y, x in (old, new):  # at most the damped flicker, never the square's old look (~130 levels away)
        assert diff[y:y + 20, x:x + 20].max() <= jump + 2, (kind, (y, x), diff[y:y + 20, x:x + 20].max())
    still = np.ones(diff.shape, bool)
    for y, x in (old, new):
        still[max(0, y - 8):y + 28, max(0, x - 8):x + 28] = False
    assert diff[still].mean() > 0.5 * jump  # smoothing is on where nothing moved


def test_content_entering_at_an_edge_takes_no_streak_from_the_border():
    """A pan brings new content in at the right edge, and the stylization has a magenta line along that edge
    (a net's border response). Pixels whose history lies outside the previous frame take the fresh
    stylization: no streak of the border line smeared inwards."""
    wide = textured(96, 200)
    frames = [np.ascontiguousarray(wide[:, i * 4:i * 4 + 128]) for i in range(6)]

    def stylize(frame):
        out = 255 - frame
        out[:, -1] = (255, 0, 255)
        return out

    per_frame = [stylize(f) for f in frames]
    s = TemporalSmoother()
    smoothed = [s.apply(c, o, 0.8) for c, o in zip(frames, per_frame)]
    near_edge = np.abs(smoothed[-1][:, -9:-1].astype(int) - per_frame[-1][:, -9:-1]).mean()
    assert near_edge < 8, near_edge  # a streak of the line: ~35
    assert warping_error(frames, smoothed) <= warping_error(frames, per_frame)


def _noisy_static_clip(n=6, h=72, w=96, seed=5):
    """A still scene, and per-frame "stylizations" of it that flicker with fresh noise in every frame."""
    rng = np.random.default_rng(seed)
    scene = textured(h, w)[:, :w]
    stylized = [np.clip(255 - scene.astype(int) + rng.integers(-40, 41, size=scene.shape), 0, 255).astype(np.uint8)
                for _ in range(n)]
    return [scene.copy() for _ in range(n)], stylized


def test_a_long_gap_between_frames_starts_afresh_and_a_short_one_smooths():
    frames, stylized = _noisy_static_clip(2)

    def second(dt):
        s = TemporalSmoother()
        s.apply(frames[0], stylized[0], 0.8, dt)
        return np.abs(s.apply(frames[1], stylized[1], 0.8, dt).astype(int) - stylized[1]).mean()

    short, slow, too_old = second(1 / 30), second(1.0), second(3.0)
    assert too_old == 0  # the previous frame is 3 s old: the fresh stylization as it is
    assert short > slow > 0  # 1 fps still smooths, less than 30 fps does
    assert second(None) == short  # no time given: as a short gap


def test_smoothing_at_a_low_frame_rate_still_reduces_flicker_of_a_slow_drift():
    """A texture drifting 1 px per frame, seen at 1.7 fps: the warp holds, so smoothing still steadies it."""
    clip = panning_clip(10, step=1)
    per_frame = flicker([255 - f for f in clip], amount=40)
    s = TemporalSmoother()
    smoothed = [s.apply(c, o, 0.8, 0.6) for c, o in zip(clip, per_frame)]
    assert warping_error(clip, smoothed) < 0.6 * warping_error(clip, per_frame)
    change = [np.abs(b.astype(int) - a).mean() for a, b in zip(smoothed, smoothed[1:])]
    change_raw = [np.abs(b.astype(int) - a).mean() for a, b in zip(per_frame, per_frame[1:])]
    assert np.mean(change) < 0.7 * np.mean(change_raw)


def test_processor_tells_the_smoother_the_time_between_frames(tiny_fast_model):
    """FrameProcessor.process(frame, time_s): frames 3 s apart are not blended, frames 1/30 s apart are."""
    from engine.processor import FrameProcessor, StyleSettings
    from engine.stylizers import load_stylizer

    stylizer = load_stylizer(tiny_fast_model, "cpu")
    rng = np.random.default_rng(2)
    scene = textured(64, 96)[:, :96]
    frames = [np.clip(scene.astype(int) + rng.integers(-25, 26, size=scene.shape), 0, 255).astype(np.uint8)
              for _ in range(2)]
    plain = FrameProcessor(stylizer, StyleSettings(mix={"ink": 1.0})).process(frames[1])[0]
    outputs = {}
    for gap in (1 / 30, 3.0):
        p = FrameProcessor(stylizer, StyleSettings(mix={"ink": 1.0}, smoothing=0.8))
        p.process(frames[0], time_s=10.0)
        outputs[gap] = p.process(frames[1], time_s=10.0 + gap)[0]
    assert np.array_equal(outputs[3.0], plain)
    assert not np.array_equal(outputs[1 / 30], plain)


def test_ghosting_measure_sees_a_see_through_copy_of_the_previous_frame():
    """bench/ghosting.py: the per-frame output scores 0; a plain blend with the previous output (no motion
    compensation) leaves the jumped square's old look behind and scores high, mostly in visible pixels."""
    from bench.ghosting import ghosting

    background = (textured()[:, :128].astype(np.float32) * 0.3 + 90).astype(np.uint8)
    frames = [_square_scene(background, top_left, (255, 255, 255)) for top_left in ((38, 10), (38, 90))]
    per_frame = [255 - f for f in frames]
    blended = [per_frame[0], (0.7 * per_frame[0] + 0.3 * per_frame[1]).astype(np.uint8)]
    assert ghosting(frames, per_frame, per_frame) == (0.0, 0.0)
    mean, visible = ghosting(frames, blended, per_frame)
    assert mean > 0.2 and visible > 0.5
