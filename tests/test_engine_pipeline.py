"""Live pipeline: newest frame wins, drops counted, clean stop, live setting changes, errors reported."""
from __future__ import annotations

import importlib.util
import sys
import threading
import time
import types

import numpy as np
import pytest

from engine.errors import OutputError, SourceError
from engine.pipeline import LivePipeline, Mailbox
from engine.sinks import CallbackSink, VirtualCameraSink
from engine.sources import CameraSource, Frame, SyntheticSource
from engine.processor import FrameProcessor, StyleSettings
from engine.stylizers import load_stylizer


class LockstepStylizer:
    """Wraps a real stylizer that is "too slow" by construction, not by a clock: while it works on a
    frame, the camera delivers exactly ``burst`` more (a 10 fps model on a 30 fps camera is burst 3).
    No sleep races a real-time source, so the test means the same on any CPU, however loaded."""

    def __init__(self, inner, source: "GatedSource", burst: int) -> None:
        self.inner, self.source, self.burst = inner, source, burst
        self.info, self.session_info = inner.info, inner.session_info
        self.pipeline: LivePipeline | None = None
        self.lags: list[int] = []

    def __getattr__(self, name):  # the rest of the Stylizer protocol (apply_strength, family, ...) as the real one
        return getattr(self.inner, name)

    def style_names(self):
        return self.inner.style_names()

    def stylize(self, rgb, mix, strength, boldness=0.0):
        self.lags.append(self.source._i)  # frames the source has produced when this one starts
        target = self.pipeline.stats.frames_captured + self.burst
        for _ in range(self.burst):
            self.source.permits.release()
        deadline = time.monotonic() + 20
        while self.pipeline.stats.frames_captured < target:  # wait for the frames to be in the mailbox
            assert time.monotonic() < deadline, "the source stopped delivering"
            time.sleep(0.001)
        return self.inner.stylize(rgb, mix, strength, boldness)


class GatedSource(SyntheticSource):
    """A synthetic camera that delivers a frame only when given a permit (the first one is free)."""

    def __init__(self) -> None:
        super().__init__(64, 48, fps=30, realtime=False)
        self.permits = threading.Semaphore(1)
        self.stopped = threading.Event()  # the pipeline's stop: a camera driver returns then too

    def read(self):
        while not self.permits.acquire(timeout=0.05):
            if self.stopped.is_set():
                return None
        return super().read()


def test_mailbox_keeps_only_the_newest():
    box: Mailbox[int] = Mailbox()
    assert box.put(1) is False
    assert box.put(2) is True  # 1 was dropped
    assert box.get(0) == 2
    assert box.get(0.01) is None
    box.close()
    assert box.get() is None


def test_slow_stylizer_drops_frames_and_latency_stays_bounded(tiny_fast_model):
    source = GatedSource()
    slow = LockstepStylizer(load_stylizer(tiny_fast_model, "cpu"), source, burst=3)
    out: list[Frame] = []
    pipeline = LivePipeline(source, FrameProcessor(slow), [CallbackSink(lambda img, f: out.append(f))], max_frames=8)
    slow.pipeline, source.stopped = pipeline, pipeline._stop
    pipeline.start()
    assert pipeline.wait(60)
    s = pipeline.stats
    assert s.frames_processed == 8
    # newest frame wins: of each burst of 3 the last is processed, the 2 before it are dropped (no backlog)
    processed = [f.index for f in out]
    assert processed == [0, 3, 6, 9, 12, 15, 18, 21]
    assert s.frames_dropped >= 2 * 7
    # each frame processed was the newest at the time it started; the model stage runs at most one frame
    # ahead of the finishing stage (it may have started a ninth when the eighth was shown)
    assert [lag - 1 for lag in slow.lags[:len(processed)]] == processed
    assert len(slow.lags) <= len(processed) + 1


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
    deadline = time.monotonic() + 30
    while pipeline.stats.frames_processed == 0 and time.monotonic() < deadline:  # a frame out, however slow the host
        time.sleep(0.01)
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


# ---- virtual camera -----------------------------------------------------------------------------
INSTALL_HINT = 'pip install "stylecast[vcam]"'


def _frame(h=48, w=64, value=90):
    return np.full((h, w, 3), value, np.uint8), Frame(np.zeros((h, w, 3), np.uint8), 0, time.perf_counter())


def test_virtual_camera_without_pyvirtualcam_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyvirtualcam", None)  # makes `import pyvirtualcam` fail, installed or not
    with pytest.raises(OutputError, match="needs pyvirtualcam") as info:
        VirtualCameraSink(30.0)
    assert INSTALL_HINT in str(info.value)


class FakeCamera:
    """Stands in for pyvirtualcam.Camera: records how it was opened and what it was sent."""

    opened: list["FakeCamera"] = []

    def __init__(self, width, height, fps, device=None):
        self.width, self.height, self.fps, self.device = width, height, fps, device
        self.sent: list[np.ndarray] = []
        self.closed = False
        FakeCamera.opened.append(self)

    def send(self, frame):
        self.sent.append(frame.copy())

    def close(self):
        self.closed = True


def test_virtual_camera_sink_opens_the_device_at_the_frame_size_and_sends_every_frame(monkeypatch):
    FakeCamera.opened = []
    monkeypatch.setitem(sys.modules, "pyvirtualcam", types.SimpleNamespace(Camera=FakeCamera))
    sink = VirtualCameraSink(25.0, device="/dev/video9")
    assert FakeCamera.opened == []  # opened lazily: the size comes with the first frame
    for v in (10, 20, 30):
        sink.write(*_frame(value=v))
    assert len(FakeCamera.opened) == 1
    cam = FakeCamera.opened[0]
    assert (cam.width, cam.height, cam.fps, cam.device) == (64, 48, 25.0, "/dev/video9")
    assert [int(f[0, 0, 0]) for f in cam.sent] == [10, 20, 30] and cam.sent[0].shape == (48, 64, 3)
    sink.close()
    assert cam.closed and sink.cam is None


def test_virtual_camera_without_a_device_is_a_clear_error(monkeypatch):
    def no_device(**kwargs):
        raise RuntimeError("'v4l2loopback' backend: No v4l2 loopback device found")

    monkeypatch.setitem(sys.modules, "pyvirtualcam", types.SimpleNamespace(Camera=no_device))
    sink = VirtualCameraSink(30.0)
    with pytest.raises(OutputError, match="no virtual camera device") as info:
        sink.write(*_frame())
    assert "v4l2loopback" in str(info.value) and "No v4l2 loopback device found" in str(info.value)
    sink.close()  # nothing was opened: closing is a no-op, not a crash


def _vcam_device_available() -> bool:
    import pyvirtualcam

    try:
        cam = pyvirtualcam.Camera(width=64, height=48, fps=30)
    except RuntimeError:
        return False
    cam.close()
    return True


def test_virtual_camera_with_this_machines_pyvirtualcam():
    """The real optional extra, whichever way this machine has it: not installed -> the install hint;
    installed without a backend device -> the clear no-device error; with a device -> frames go out."""
    if importlib.util.find_spec("pyvirtualcam") is None:
        with pytest.raises(OutputError) as info:
            VirtualCameraSink(30.0)
        assert INSTALL_HINT in str(info.value)
        return
    sink = VirtualCameraSink(30.0)
    if not _vcam_device_available():
        with pytest.raises(OutputError, match="no virtual camera device"):
            sink.write(*_frame())
        assert sink.cam is None
        return
    try:
        sink.write(*_frame())
        sink.write(*_frame())
        assert (sink.cam.width, sink.cam.height) == (64, 48)
        assert sink.cam.frames_sent == 2
    finally:
        sink.close()
    assert sink.cam is None


# -- frame edges: a net's border response stays out of the picture at every processing size ------------------
MAGENTA = (255, 0, 255)


class EdgeMarkingStylizer:
    """A stand-in net that, like real ones, answers differently at its input's edges: the identity, except
    that the outer two rows and columns of whatever it is given come out magenta. ``marks=False``: the plain
    identity (what the picture should look like)."""

    family = "fast"

    def __init__(self, multiple: int = 4, marks: bool = True) -> None:
        self.info = types.SimpleNamespace(pad_multiple=multiple, min_side=8)
        self.marks, self.shapes = marks, []

    def style_names(self):
        return ["plain"]

    def stylize(self, rgb, mix, strength, boldness=0.0):
        self.shapes.append(rgb.shape[:2])
        out = rgb.copy()
        if self.marks:
            out[:2], out[-2:], out[:, :2], out[:, -2:] = MAGENTA, MAGENTA, MAGENTA, MAGENTA
        return out

    def apply_strength(self, stylized, original, strength):
        return stylized


@pytest.mark.parametrize("height", [270, 180, 144, 360, None])
@pytest.mark.parametrize("multiple", [4, 8])
def test_no_lines_along_the_frame_edges_at_any_processing_size(height, multiple):
    """A 768x576 frame (the sample clip's size) at the Live tab's resolutions and native: the net always gets
    sides that divide by its multiple, and its edge response is cropped away with the mirrored margin, so
    the output equals what a net without one gives, to the last pixel."""
    y, x = np.mgrid[0:576, 0:768]
    frame = np.stack([x * 255 // 767, y * 255 // 575, np.full_like(x, 60)], axis=2).astype(np.uint8)
    net = EdgeMarkingStylizer(multiple)
    out = FrameProcessor(net, StyleSettings(process_height=height)).process(frame)[0]
    plain = EdgeMarkingStylizer(multiple, marks=False)
    expected = FrameProcessor(plain, StyleSettings(process_height=height)).process(frame)[0]
    assert out.shape == frame.shape
    assert all(h % multiple == 0 and w % multiple == 0 for h, w in net.shapes)
    assert np.array_equal(out, expected), np.abs(out.astype(int) - expected).max(axis=2).nonzero()
    if height is None:
        assert np.array_equal(out, frame)  # the picture is cropped back from exactly where it was put


def test_pad_with_margin_mirrors_every_side_and_keeps_the_picture_on_the_grid():
    from engine.frames import pad_with_margin

    rng = np.random.default_rng(0)
    for h, w, multiple, margin in ((270, 360, 4, 8), (135, 241, 8, 16), (5, 3, 4, 8), (64, 64, 4, 0), (17, 9, 1, 3)):
        rgb = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        padded, (top, left, ph, pw) = pad_with_margin(rgb, multiple, margin)
        assert (ph, pw) == (h, w) and top == left and top >= margin and top % multiple == 0
        assert padded.shape[0] % multiple == 0 and padded.shape[1] % multiple == 0
        assert padded.shape[0] - top - h < top + multiple and padded.shape[1] - left - w < left + multiple
        assert np.array_equal(padded[top:top + h, left:left + w], rgb)
        if top > 1 and h > 1:  # mirrored, not repeated: the row above the picture is the picture's second row
            assert np.array_equal(padded[top - 1, left:left + w], rgb[1])


def test_a_frame_taken_while_model_and_styles_switch_uses_the_models_first_style(tiny_fast_model, tiny_adain_model,
                                                                                 photo):
    """The session replaces the model, then the settings: a frame read between the two must not stop
    the preview (and with it a recording) on "unknown style"."""
    from engine.frames import load_image

    processor = FrameProcessor(load_stylizer(tiny_fast_model, "cpu"), StyleSettings(mix={"mine": 1.0}))
    out, _ = processor.process(np.full((32, 32, 3), 120, np.uint8))
    assert out.shape == (32, 32, 3)
    adain = load_stylizer(tiny_adain_model, "cpu")
    adain.add_style("mine", load_image(photo))
    live = FrameProcessor(adain, StyleSettings(mix={"mine": 1.0}))
    render = live.snapshot()
    adain.remove_style("mine")  # removed from the live gallery while a render holds its snapshot
    out, _ = render.process(np.full((32, 32, 3), 120, np.uint8))
    assert out.shape == (32, 32, 3)


def test_frames_too_small_for_optical_flow_are_not_smoothed(tiny_fast_model):
    processor = FrameProcessor(load_stylizer(tiny_fast_model, "cpu"), StyleSettings(smoothing=0.5))
    for shape in [(1, 1, 3), (2, 3, 3), (11, 11, 3), (12, 5, 3)]:
        for i in range(3):
            out, _ = processor.process(np.full(shape, 40 * i, np.uint8))
            assert out.shape == shape


class CostlyStylizer:
    """A real stylizer whose time is a cost model on a clock of the test's own: ``ms_per_kpx`` milliseconds per
    thousand pixels, so auto resolution is tested the same on any CPU, however loaded."""

    def __init__(self, inner, clock: list[float], ms_per_kpx: float) -> None:
        self.inner, self.clock, self.ms_per_kpx = inner, clock, ms_per_kpx
        self.heights: list[int] = []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def stylize(self, rgb, mix, strength, boldness=0.0):
        self.heights.append(rgb.shape[0])
        self.clock[0] += self.ms_per_kpx * rgb.shape[0] * rgb.shape[1] / 1e6  # seconds
        return self.inner.stylize(rgb, mix, strength, boldness)


@pytest.mark.parametrize("ms_per_kpx, source, expected", [
    (0.3, (640, 360), 200),  # from 288p (144 % of a 30 fps frame) down to 200p (72 %, the largest under 80 %)
    (0.1, (1280, 720), 320),  # a faster model climbs from 288p to 320p (59 %); 360p would be 74 %, over 70 %
    (0.001, (284, 160), 160),  # a tiny model never goes above the source's own height
])
def test_auto_resolution_converges_on_a_slow_stylizer(tiny_fast_model, ms_per_kpx, source, expected):
    clock = [0.0]
    slow = CostlyStylizer(load_stylizer(tiny_fast_model, "cpu"), clock, ms_per_kpx)
    processor = FrameProcessor(slow, StyleSettings(auto_resolution=True))
    processor.clock = lambda: clock[0]
    frame = SyntheticSource(*source).make(0)
    sizes = [processor.process(frame)[1].process_size for _ in range(300)]
    assert all(h <= source[1] and w <= source[0] for w, h in sizes)
    assert {h for _, h in sizes[-100:]} == {expected}  # settled
    assert processor.process(frame)[0].shape == frame.shape  # shown at the source's size


def test_a_render_never_uses_auto_resolution(tiny_fast_model):
    """A file is processed at one size: StyleSettings' default is a fixed size, and so is every render's."""
    assert not StyleSettings().auto_resolution


def test_switching_models_goes_back_to_the_size_each_one_held(tiny_fast_model, tiny_adain_model):
    """A streamer switches between a built-in style (the fast net) and a style image (a model ~12x its cost):
    each model keeps its own auto resolution, so the first frame after a switch is at the size that model
    held, not at the other model's size."""
    clock = [0.0]
    fast = CostlyStylizer(load_stylizer(tiny_fast_model, "cpu"), clock, 0.1)
    adain = load_stylizer(tiny_adain_model, "cpu")
    style = adain.add_style("postcard", np.full((64, 64, 3), 90, np.uint8))
    heavy = CostlyStylizer(adain, clock, 0.6)
    processor = FrameProcessor(fast, StyleSettings(auto_resolution=True, mix={"ink": 1.0}))
    processor.clock = lambda: clock[0]
    frame = SyntheticSource(1280, 720).make(0)

    def use(stylizer, mix: dict, frames: int) -> list[int]:
        processor.stylizer, processor.settings = stylizer, StyleSettings(auto_resolution=True, mix=mix)
        return [processor.process(frame)[1].process_size[1] for _ in range(frames)]

    fast_settled = use(fast, {"ink": 1.0}, 300)[-1]
    heavy_run = use(heavy, {style: 1.0}, 300)
    heavy_settled = heavy_run[-1]
    assert heavy_settled < fast_settled and heavy_run[0] != fast_settled  # its own start, not the fast net's size
    assert use(fast, {"ink": 1.0}, 1) == [fast_settled]  # straight back to the size it held
    assert use(heavy, {style: 1.0}, 1) == [heavy_settled]
    processor.reset()  # a new live session starts every model over
    assert use(fast, {"ink": 1.0}, 1) == [heavy_run[0]]
