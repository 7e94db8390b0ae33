"""The live loop: capture thread -> one-slot mailbox (newest frame wins) -> model thread -> one-slot
handoff -> finishing thread -> sinks.

A slow stylizer never builds a backlog: the capture thread overwrites the waiting frame and counts a drop,
so latency stays about one frame period plus one pass through the two stages. The model thread runs the
processor's first half (resize, the net) and the finishing thread the second (smoothing, colour, strength,
upscaling to the frame's size, display and virtual camera), so on a 2-core CPU frame N is finished and
shown while frame N+1 is in the net; the handoff holds one frame and the model thread waits for it to be
taken (no frame is dropped between the stages, and they stay one frame apart). Per-stage times go into one
Stats record (exponential moving averages), read by the GUI and the CLI.
"""
from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, replace
from typing import Callable, Generic, TypeVar

from .errors import OutputError, StyleCastError
from .sinks import Sink
from .sources import Frame, FrameSource
from .processor import FrameProcessor

T = TypeVar("T")
EMA = 0.1  # weight of the newest sample in the moving averages


class Mailbox(Generic[T]):
    """A one-slot mailbox: ``put`` replaces what is waiting (returns True if it dropped something)."""

    def __init__(self) -> None:
        self._item: T | None = None
        self._closed = False
        self._cond = threading.Condition()

    def put(self, item: T) -> bool:
        with self._cond:
            dropped = self._item is not None
            self._item = item
            self._cond.notify()
            return dropped

    def get(self, timeout: float | None = None) -> T | None:
        """The waiting item, or None when closed (or on timeout)."""
        with self._cond:
            if self._item is None and not self._closed:
                self._cond.wait(timeout)
            item, self._item = self._item, None
            return item

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


@dataclass(frozen=True)
class Stats:
    frames_captured: int = 0
    frames_processed: int = 0
    frames_dropped: int = 0
    capture_ms: float = 0.0  # time the source took to deliver a frame
    preprocess_ms: float = 0.0
    inference_ms: float = 0.0
    postprocess_ms: float = 0.0
    smoothing_ms: float = 0.0  # parts of postprocess_ms
    colour_ms: float = 0.0
    upscale_ms: float = 0.0
    sink_ms: float = 0.0
    latency_ms: float = 0.0  # capture -> all sinks written
    output_fps: float = 0.0
    provider: str = ""
    process_size: tuple[int, int] = (0, 0)  # (width, height) the newest frame was stylized at
    auto_resolution: bool = False  # process_size was picked to hold the frame rate
    target_fps: float = 0.0  # the rate auto resolution holds


def _ema(old: float, new: float, first: bool) -> float:
    return new if first else old + EMA * (new - old)


class LivePipeline:
    """Runs a source through a processor into sinks on two worker threads.

    ``on_error(exc)`` is called once if the source, the stylizer or a sink fails; the pipeline
    then stops itself. ``stop()`` is safe to call from any thread, more than once.
    """

    def __init__(self, source: FrameSource, processor: FrameProcessor, sinks: list[Sink],
                 on_error: Callable[[BaseException], None] | None = None,
                 on_finished: Callable[[], None] | None = None, max_frames: int | None = None) -> None:
        self.source, self.processor, self.sinks = source, processor, list(sinks)
        self.on_error, self.on_finished = on_error, on_finished
        self.max_frames = max_frames
        self._mailbox: Mailbox[Frame] = Mailbox()
        self._handoff: queue.Queue = queue.Queue(maxsize=1)  # model thread -> finishing thread
        self._stop = threading.Event()
        self._stats = Stats(provider=processor.stylizer.session_info.active)
        self._stats_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._sinks_lock = threading.Lock()  # held while a frame is written, so a removed sink gets no more
        self.error: BaseException | None = None
        self._last_out: float | None = None

    # -- control -------------------------------------------------------------------------
    def start(self) -> None:
        self.processor.reset()
        self.source.open()  # fail here, on the caller's thread, for "no camera" and bad files
        self.processor.set_target_fps(getattr(self.source, "fps", None))
        self._threads = [
            threading.Thread(target=self._capture_loop, name="stylecast-capture", daemon=True),
            threading.Thread(target=self._model_loop, name="stylecast-inference", daemon=True),
            threading.Thread(target=self._finish_loop, name="stylecast-finish", daemon=True),
        ]
        for t in self._threads:
            t.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._mailbox.close()
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the pipeline ends by itself (source exhausted, max_frames, error)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for t in self._threads:
            t.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    @property
    def stats(self) -> Stats:
        with self._stats_lock:
            return self._stats

    def add_sink(self, sink: Sink) -> None:
        with self._sinks_lock:
            self.sinks = [*self.sinks, sink]

    def remove_sink(self, sink: Sink, ok: bool = True) -> None:
        """Detach a sink (e.g. stop recording) and finish it; the pipeline keeps running."""
        with self._sinks_lock:
            self.sinks = [s for s in self.sinks if s is not sink]
        sink.close(ok)

    # -- workers -------------------------------------------------------------------------
    def _fail(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc
            if self.on_error:
                self.on_error(exc)
        self._stop.set()
        self._mailbox.close()

    def _capture_loop(self) -> None:
        try:
            while not self._stop.is_set():
                t0 = time.perf_counter()
                frame = self.source.read()
                if frame is None:
                    break
                dropped = self._mailbox.put(frame)
                with self._stats_lock:
                    s = self._stats
                    self._stats = replace(s, frames_captured=s.frames_captured + 1,
                                          frames_dropped=s.frames_dropped + int(dropped),
                                          capture_ms=_ema(s.capture_ms, (time.perf_counter() - t0) * 1e3, s.frames_captured == 0))
        except BaseException as exc:  # report every failure of the source to the owner
            self._fail(exc)
        finally:
            self.source.close()
            self._mailbox.close()

    def _pass_on(self, item) -> bool:
        """Hand an item to the finishing thread, waiting while it holds the previous one; False once stopped."""
        while not self._stop.is_set():
            try:
                self._handoff.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _model_loop(self) -> None:
        try:
            while not self._stop.is_set():
                frame = self._mailbox.get(timeout=0.5)
                if frame is None:
                    if self._mailbox.closed:
                        break
                    continue
                if not self._pass_on((frame, self.processor.stylize_small(frame.image, frame.captured_at))):
                    break
        except BaseException as exc:
            self._fail(exc)
        finally:
            self._pass_on_end()

    def _pass_on_end(self) -> None:
        """Tell the finishing thread no more frames come (it also watches the stop flag)."""
        try:
            self._handoff.put(None, timeout=0 if self._stop.is_set() else 1.0)
        except queue.Full:  # the finishing thread stops on its own (stop flag, or this thread's end)
            pass

    def _finish_loop(self) -> None:
        ok = False
        try:
            while True:
                try:
                    got = self._handoff.get(timeout=0.5)
                except queue.Empty:
                    if self._stop.is_set() or not self._threads[1].is_alive():
                        break
                    continue
                if got is None or self._stop.is_set():
                    break
                frame, item = got
                image, times = self.processor.finish(item)
                self.processor.record_busy(times, item.settings, item.stylizer)
                t0 = time.perf_counter()
                with self._sinks_lock:
                    for sink in self.sinks:
                        sink.write(image, frame)
                now = time.perf_counter()
                self._record(times, item.settings, (now - t0) * 1e3, (now - frame.captured_at) * 1e3, now)
                if self.max_frames is not None and self._stats.frames_processed >= self.max_frames:
                    break
            ok = self.error is None
        except BaseException as exc:
            self._fail(exc)
        finally:
            self._stop.set()
            self._mailbox.close()
            self._close_sinks(ok)
            if self.on_finished:
                self.on_finished()

    def _close_sinks(self, ok: bool) -> None:
        with self._sinks_lock:
            sinks, self.sinks = self.sinks, []
        for sink in sinks:  # every sink is closed (a recording finished or discarded) whatever the others do
            try:
                sink.close(ok and self.error is None)
            except StyleCastError as exc:
                self._fail(exc)
            except OSError as exc:  # a sink that let a raw disk error through: still one sentence
                self._fail(OutputError(f"writing the output failed: {exc.strerror or exc}"))

    def _record(self, times, settings, sink_ms: float, latency_ms: float, now: float) -> None:
        with self._stats_lock:
            s = self._stats
            first = s.frames_processed == 0
            fps = s.output_fps
            if self._last_out is not None and now > self._last_out:
                fps = _ema(fps, 1.0 / (now - self._last_out), s.output_fps == 0)
            self._last_out = now
            self._stats = replace(
                s, frames_processed=s.frames_processed + 1, output_fps=fps,
                preprocess_ms=_ema(s.preprocess_ms, times.preprocess_ms, first),
                inference_ms=_ema(s.inference_ms, times.inference_ms, first),
                postprocess_ms=_ema(s.postprocess_ms, times.postprocess_ms, first),
                smoothing_ms=_ema(s.smoothing_ms, times.smoothing_ms, first),
                colour_ms=_ema(s.colour_ms, times.colour_ms, first),
                upscale_ms=_ema(s.upscale_ms, times.upscale_ms, first),
                process_size=times.process_size, auto_resolution=settings.auto_resolution,
                target_fps=self.processor.auto.target_fps,
                sink_ms=_ema(s.sink_ms, sink_ms, first), latency_ms=_ema(s.latency_ms, latency_ms, first))
