"""Live pipeline: newest frame wins, drops counted, clean stop, live setting changes, errors reported."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from engine.errors import SourceError
from engine.pipeline import LivePipeline, Mailbox
from engine.sinks import CallbackSink
from engine.sources import CameraSource, Frame, SyntheticSource
from engine.stylizers import FrameProcessor, StyleSettings, load_stylizer


class SlowStylizer:
    """Wraps a real stylizer and sleeps, like a model far too heavy for the frame rate."""

    def __init__(self, inner, delay: float, source: SyntheticSource) -> None:
        self.inner, self.delay, self.source = inner, delay, source
        self.info, self.session_info = inner.info, inner.session_info
        self.lags: list[int] = []

    def style_names(self):
        return self.inner.style_names()

    def stylize(self, rgb, mix, strength):
        self.lags.append(self.source._i)  # frames the source has produced when this one starts
        time.sleep(self.delay)
        return self.inner.stylize(rgb, mix, strength)


def test_mailbox_keeps_only_the_newest():
    box: Mailbox[int] = Mailbox()
    assert box.put(1) is False
    assert box.put(2) is True  # 1 was dropped
    assert box.get(0) == 2
    assert box.get(0.01) is None
    box.close()
    assert box.get() is None


def test_slow_stylizer_drops_frames_and_latency_stays_bounded(tiny_fast_model):
    source = SyntheticSource(64, 48, fps=30, realtime=True)
    slow = SlowStylizer(load_stylizer(tiny_fast_model, "cpu"), 0.1, source)
    out: list[Frame] = []
    pipeline = LivePipeline(source, FrameProcessor(slow), [CallbackSink(lambda img, f: out.append(f))], max_frames=8)
    pipeline.start()
    assert pipeline.wait(20)
    s = pipeline.stats
    assert s.frames_processed == 8
    assert s.frames_dropped > 0  # a 10 fps stylizer on a 30 fps source must drop
    assert s.frames_captured >= s.frames_processed + s.frames_dropped - 1
    # newest frame wins: each frame processed was the newest (or the one before it) at the time
    processed = [f.index for f in out]
    for started_at_count, idx in zip(slow.lags, processed):
        assert started_at_count - idx <= 2
    # indices advance by about delay * fps, not one by one (no backlog)
    assert processed[-1] - processed[0] >= 2 * (len(processed) - 1)


def test_settings_change_applies_on_next_frame(tiny_fast_model):
    stylizer = load_stylizer(tiny_fast_model, "cpu")
    processor = FrameProcessor(stylizer, StyleSettings(mix={"ink": 1}))
    frames = []
    gate = threading.Event()

    def sink(img, f):
        frames.append(img)
        if len(frames) == 3:
            processor.settings = processor.settings.with_(mix={"fire": 1})
            gate.set()

    source = SyntheticSource(32, 32, fps=200, realtime=False)
    source.make = lambda i: np.full((32, 32, 3), 100, np.uint8)  # identical input frames
    pipeline = LivePipeline(source, processor, [CallbackSink(sink)], max_frames=6)
    pipeline.start()
    assert pipeline.wait(20)
    assert np.array_equal(frames[0], frames[2])
    assert not np.array_equal(frames[2], frames[-1])


def test_stop_is_clean_and_idempotent(tiny_fast_model):
    processor = FrameProcessor(load_stylizer(tiny_fast_model, "cpu"))
    pipeline = LivePipeline(SyntheticSource(32, 32, fps=60), processor, [CallbackSink(lambda *a: None)])
    pipeline.start()
    time.sleep(0.2)
    pipeline.stop()
    pipeline.stop()
    assert not pipeline.running
    assert pipeline.stats.frames_processed > 0


class VanishingCamera:
    """Delivers a few frames, then fails the way CameraSource does when unplugged."""

    name, fps = "fake camera", 30.0

    def __init__(self):
        self.i = 0

    def open(self):
        pass

    def read(self):
        self.i += 1
        if self.i > 3:
            raise SourceError("camera 0 stopped delivering frames (unplugged or taken by another app)")
        return Frame(np.zeros((32, 32, 3), np.uint8), self.i, time.perf_counter())

    def close(self):
        pass


def test_camera_that_disappears_reports_error_and_stops(tiny_fast_model):
    errors = []
    pipeline = LivePipeline(VanishingCamera(), FrameProcessor(load_stylizer(tiny_fast_model, "cpu")),
                            [CallbackSink(lambda *a: None)], on_error=errors.append)
    pipeline.start()
    assert pipeline.wait(10)
    assert len(errors) == 1 and "stopped delivering" in str(errors[0])


def test_no_camera_is_a_clear_error():
    with pytest.raises(SourceError, match="no camera"):
        CameraSource(57).open()
