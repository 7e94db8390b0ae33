"""Render at scale on Ray (engine/farm.py) on a local Ray cluster started and stopped by these
tests: the real driver, real tasks in worker processes, real PyAV encoding. Each render is bounded
(short clips, a timeout on the cancel path) and the cluster is shut down at the end."""
from __future__ import annotations

import threading
from pathlib import Path

import av
import numpy as np
import pytest
import ray  # the [ray] extra is part of [dev]: these tests always run

from engine.errors import Cancelled, InputError
from engine.farm import FAULT_ENV, plan_segments, render_on_ray
from engine.processor import StyleSettings
from engine.render import render_video
from engine.setup import build_processor
from tests.bold_models import tiny_bold  # noqa: F401 - a fixture
from tests.media import audio_packets, make_clip

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


@pytest.fixture
def clip(tmp_path) -> Path:
    """2 s at 24 fps with a keyframe every 12 frames and AAC audio: four segments of 0.5 s."""
    return make_clip(tmp_path / "clip.mp4", frames=48, fps=24, size=(96, 64), audio=True, gop=12)


def decoded(path: Path) -> tuple[list[int], list[np.ndarray], tuple]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        frames = [(f.pts, f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]
        facts = (s.codec_context.width, s.codec_context.height, s.average_rate, s.time_base)
    return [p for p, _ in frames], [a for _, a in frames], facts


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != "clip.mp4")


def test_segments_start_at_keyframes_and_cover_every_frame(clip):
    plan = plan_segments(clip, segment_s=0.5, overlap=3)
    assert len(plan.pts) == 48 and plan.pts == sorted(plan.pts)
    assert [(s.start, s.end) for s in plan.segments] == [(0, 12), (12, 24), (24, 36), (36, 48)]
    for s in plan.segments:
        assert s.warm == max(0, s.start - 3) and s.seek_index <= s.warm and s.seek_index % 12 == 0
    whole = plan_segments(clip, segment_s=60)  # longer than the clip: one segment
    assert [(s.start, s.end) for s in whole.segments] == [(0, 48)]


@pytest.mark.parametrize("smoothing", [0.0, 0.6])
def test_ray_render_matches_the_single_machine_render(cluster, clip, tiny_fast_model, tmp_path, smoothing):
    processor = build_processor(StyleSettings(smoothing=smoothing), model=tiny_fast_model, provider="cpu")
    # crf 0: lossless H.264, so a frame differs after decoding only where it differed before encoding.
    # A lossy encode spreads a one-level difference in a few pixels (ONNX Runtime's sums differ in the last
    # bit between a worker's one thread and this process's two) over its neighbours through B-frames and
    # rate control, by an amount that depends on the host: it would test the encoder, not the stitching
    crf = 0
    single = render_video(clip, tmp_path / "single.mp4", processor.snapshot(), crf=crf)
    seen = []
    farm = render_on_ray(clip, tmp_path / "farm.mp4", processor.snapshot(), segment_s=0.5, progress=seen.append,
                         crf=crf)
    assert farm.frames == single.frames == 48 and farm.audio == single.audio == "copied" and farm.note is None
    pts_a, frames_a, facts_a = decoded(single.output)
    pts_b, frames_b, facts_b = decoded(farm.output)
    assert pts_a == pts_b and facts_a == facts_b  # count, timestamps, size, rate, time base
    assert audio_packets(single.output) == audio_packets(farm.output)  # the same audio, bit for bit
    assert seen and seen[-1].frames_done == 48 and seen[-1].frames_total == 48
    diffs = [float(np.abs(a.astype(int) - b.astype(int)).mean()) for a, b in zip(frames_a, frames_b)]
    if smoothing == 0:
        # the same frames, up to the last bit of a few pixels; a stitching error (a lost, doubled or
        # misordered frame) is tens of levels
        assert max(diffs) < 0.5 and sorted(diffs)[len(diffs) // 2] < 0.01, diffs
    else:  # smoothing restarts at each segment after 8 warm-up frames: no seam, the same pixels further on
        starts = (12, 24, 36)
        assert max(diffs) < 1.0, diffs  # no visible seam even at a segment's first frame
        away = [d for i, d in enumerate(diffs) if not any(s <= i < s + 4 for s in starts)]
        assert max(away) < 0.1, diffs
    assert leftovers(tmp_path) == ["farm.mp4", "single.mp4"]


def test_ray_render_with_a_learned_style_and_boldness_matches_the_single_machine_render(cluster, clip, tiny_bold,
                                                                                     tmp_path):
    """The workers have no disk of the driver's: the learned style travels in the model package, the
    boldness in the settings record, and the frames come out as one machine makes them."""
    settings = StyleSettings(mix={"mine": 0.7, "fire": 0.3}, boldness=0.8)
    processor = build_processor(settings, model=tiny_bold.path, provider="cpu", learned=[tiny_bold.learned()])
    single = render_video(clip, tmp_path / "single.mp4", processor.snapshot(), crf=0)
    farm = render_on_ray(clip, tmp_path / "farm.mp4", processor.snapshot(), segment_s=0.5, crf=0)
    faint = render_video(clip, tmp_path / "faint.mp4", processor.derive(settings.with_(boldness=0.0)), crf=0)
    _, frames_a, _ = decoded(single.output)
    _, frames_b, _ = decoded(farm.output)
    _, frames_c, _ = decoded(faint.output)
    diffs = [float(np.abs(a.astype(int) - b.astype(int)).mean()) for a, b in zip(frames_a, frames_b)]
    assert farm.frames == 48 and max(diffs) < 0.5, diffs
    assert min(float(np.abs(b.astype(int) - c.astype(int)).mean()) for b, c in zip(frames_b, frames_c)) > 2


def test_a_killed_worker_is_retried_and_the_render_completes(cluster, clip, tiny_fast_model, tmp_path):
    marker = tmp_path / "killed-once"
    processor = build_processor(StyleSettings(), model=tiny_fast_model, provider="cpu")
    result = render_on_ray(clip, tmp_path / "out.mp4", processor, segment_s=0.5,
                           task_env={FAULT_ENV: f"kill:1:{marker}"})
    assert marker.exists()  # the worker on segment 1 really died (SIGKILL) mid-segment
    assert result.frames == 48 and decoded(result.output)[0] == plan_segments(clip).pts


def test_a_segment_that_fails_for_good_fails_the_clip_and_leaves_nothing(cluster, clip, tiny_fast_model, tmp_path):
    processor = build_processor(StyleSettings(), model=tiny_fast_model, provider="cpu")
    with pytest.raises(InputError, match=r"segment 2 \(1.0-1.5 s\) failed: injected failure"):
        render_on_ray(clip, tmp_path / "out.mp4", processor, segment_s=0.5, task_env={FAULT_ENV: "fail:2"})
    assert leftovers(tmp_path) == []


def test_cancel_stops_every_task_and_leaves_nothing(cluster, clip, tiny_fast_model, tmp_path):
    processor = build_processor(StyleSettings(), model=tiny_fast_model, provider="cpu")
    cancel = threading.Event()
    with pytest.raises(Cancelled, match="no output written"):
        render_on_ray(clip, tmp_path / "out.mp4", processor, segment_s=0.5, cancel=cancel,
                      progress=lambda p: cancel.set())
    assert leftovers(tmp_path) == []


def test_cli_render_on_ray(cluster, clip, tiny_fast_model, tmp_path, capsys):
    from engine.cli import main

    out = tmp_path / "cli.mp4"
    code = main(["render", str(clip), "-o", str(out), "--ray", "--segment-seconds", "0.5", "--model", str(tiny_fast_model),
                 "--provider", "cpu"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "48 frames, audio copied" in captured.out and out.is_file()


def test_without_ray_installed_the_message_names_the_extra(monkeypatch, clip, tiny_fast_model, tmp_path):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)
    processor = build_processor(StyleSettings(), model=tiny_fast_model, provider="cpu")
    with pytest.raises(InputError, match=r'pip install "stylecast\[ray\]"'):
        render_on_ray(clip, tmp_path / "out.mp4", processor)
    assert leftovers(tmp_path) == []


def test_a_worker_keeps_no_copy_of_the_model_files(tiny_fast_model, tmp_path, monkeypatch):
    """A farm worker lives for many renders: the package's files are written only while its sessions load,
    then removed (they used to stay in the temp folder, one copy per package, for the worker's life)."""
    import tempfile

    from engine import farm

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(farm, "_WORKER_MODELS", {})
    package = farm.package_model(build_processor(StyleSettings(mix={"ink": 1.0}, region="background"), model=tiny_fast_model))
    stylizer, segmenter = farm._stylizer_from(package, "cpu")
    assert list(tmp_path.iterdir()) == []
    assert segmenter is not None and stylizer.style_names() == ["ink", "fire"]
    out = stylizer.stylize(np.full((32, 48, 3), 128, np.uint8), {"ink": 1.0}, 1.0)
    assert out.shape == (32, 48, 3) and segmenter.mask(np.full((32, 48, 3), 128, np.uint8)).shape[:2] == (32, 48)
    assert farm._stylizer_from(package, "cpu")[0] is stylizer  # loaded once per worker
