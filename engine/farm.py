"""Render at scale on Ray: a clip cut into segments at keyframes, each segment a Ray task, the
driver stitching the frames and the source's audio into one output (`stylecast render --ray`).

    plan_segments   one pass over the video packets (no decoding): presentation-order timestamps and
                    keyframes -> segments of about ``segment_s`` seconds that start at keyframes
    _render_segment the task: the segment's packets (remuxed by the driver, shipped through the
                    object store with the model files, style-image statistics and learned styles, so
                    workers need no shared disk) are decoded
                    from the keyframe before the segment and turned upright as the driver's probe of
                    the whole clip says (engine/video.py: Orientation); ``overlap`` frames before its
                    start run through the processor only to warm up the temporal smoother (so no seam
                    shows), the segment's frames come back PNG-compressed (lossless)
    render_on_ray   the driver: submits a bounded window of tasks, reports progress with an ETA from
                    a progress actor, writes the frames in order with the source's timestamps through
                    the same VideoWriter as a single-machine render, copies every audio track, and
                    renames the temp file only when every segment arrived

The output has the frame count, rate, size, timestamps and audio packets of `render_video`'s; pixels
are identical away from segment starts (and everywhere when smoothing is off), because the final
encode sees the same frames. Ray gives the fault tolerance: a worker that dies is retried
(``max_retries``); a segment that fails for good fails the clip with its message and no output.
Ctrl-C / ``cancel`` cancels every task and leaves nothing behind.

Fault injection for tests (``STYLECAST_RAY_FAULT`` in the workers' environment):
``kill:SEG:MARKER`` makes the first worker to start segment SEG kill itself (SIGKILL) after its first
frame unless MARKER exists (it creates it first); ``fail:SEG`` makes segment SEG fail with an InputError.
"""
from __future__ import annotations

import hashlib
import io
import os
import shutil
import signal
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import av
import cv2
import numpy as np

from .errors import Cancelled, InputError, OutputError, StyleCastError
from .frames import check_output_path
from .learned import LearnedStyle
from .processor import FrameProcessor, StyleSettings
from .segment import PersonSegmenter
from .render import RenderProgress, RenderResult, audio_outcome, clip_output, join_notes
from .video import UPRIGHT, Orientation, VideoDecoder, frame_rgb, open_container, probe

SEGMENT_S = 4.0  # seconds of video per task (a few hundred frames: small results, fine-grained retries)
OVERLAP = 8  # frames run before a segment to warm up temporal smoothing (only when smoothing is on)
MAX_RETRIES = 3  # a worker that dies is replaced and its segment run again, this many times
FAULT_ENV = "STYLECAST_RAY_FAULT"


def _ray():
    try:
        import ray
    except ImportError:
        raise InputError('rendering on Ray needs the ray extra: pip install "stylecast[ray]"') from None
    return ray


# -- the plan -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Segment:
    index: int
    start: int  # first frame kept (presentation order)
    end: int  # one past the last frame kept
    warm: int  # first frame processed (start - overlap, or start)
    seek_index: int  # the keyframe at or before ``warm``: the first frame the segment's packets decode to
    seek_pts: int  # its pts: where the segment's packets begin
    stop_pts: int | None  # pts of the keyframe where its packets end (None: the end of the clip)

    @property
    def frames(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class Plan:
    pts: list[int]  # every video frame's pts, presentation order
    segments: list[Segment]


def plan_segments(src: str | Path, segment_s: float = SEGMENT_S, overlap: int = OVERLAP) -> Plan:
    """Segments of about ``segment_s`` seconds starting at keyframes, from the packets alone."""
    container = open_container(src)
    try:
        stream = container.streams.video[0]
        rate = float(stream.average_rate or stream.guessed_rate or 30)
        pts, keys = [], []
        for packet in container.demux(stream):
            if packet.pts is None:
                continue
            pts.append(packet.pts)
            if packet.is_keyframe:
                keys.append(packet.pts)
    finally:
        container.close()
    pts.sort()
    if not pts:
        raise InputError(f"{Path(src).name} contains no video packets")
    index = {p: i for i, p in enumerate(pts)}
    key_idx = sorted(index[k] for k in set(keys) if k in index) or [0]
    if key_idx[0] != 0:
        key_idx.insert(0, 0)
    target = max(1, round(segment_s * rate))
    starts = [0]
    for k in key_idx[1:]:
        if k - starts[-1] >= target and len(pts) - k >= max(1, target // 4):  # no tiny last segment
            starts.append(k)
    segments = []
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(pts)
        warm = max(0, start - overlap)
        seek_idx = max(k for k in key_idx if k <= warm)
        after = [k for k in key_idx if k >= end]
        stop = pts[after[1]] if len(after) > 1 else None  # one GOP past the end: open GOPs keep every frame
        segments.append(Segment(n, start, end, warm, seek_idx, pts[seek_idx], stop))
    return Plan(pts, segments)


def cut_chunk(src: str | Path, seg: Segment) -> bytes:
    """The segment's video packets, stream-copied into an in-memory Matroska file."""
    container = open_container(src)
    buf = io.BytesIO()
    try:
        stream = container.streams.video[0]
        container.seek(seg.seek_pts, stream=stream, backward=True, any_frame=False)
        with av.open(buf, "w", format="matroska") as out:
            ostream = out.add_stream_from_template(stream)
            started = False
            for packet in container.demux(stream):
                if packet.dts is None and packet.pts is None:
                    continue
                if not started:  # the seek lands on a keyframe at or before the one asked for
                    if not (packet.is_keyframe and packet.pts is not None and packet.pts >= seg.seek_pts):
                        continue
                    started = True
                if seg.stop_pts is not None and packet.is_keyframe and packet.pts is not None and packet.pts >= seg.stop_pts:
                    break
                packet.stream = ostream
                out.mux(packet)
    finally:
        container.close()
    return buf.getvalue()


# -- what travels to workers ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelPackage:
    """A stylizer as bytes: the model file(s), a style-image model's style vectors and a fast net's learned
    styles (no shared disk)."""

    files: dict[str, bytes]
    main: str
    styles: dict[str, tuple[np.ndarray, ...]]
    digest: str
    segmentation: str | None = None  # the person-segmentation model's file name among ``files`` (region modes)
    learned: tuple[LearnedStyle, ...] = ()  # their rows and metadata (no thumbnail, no path)


def package_model(processor: FrameProcessor) -> ModelPackage:
    stylizer = processor.stylizer
    if stylizer is None:
        raise InputError("no model loaded")
    info = stylizer.info
    files = {info.path.name: info.path.read_bytes()}
    if info.companion is not None:
        files[info.companion.name] = info.companion.read_bytes()
    styles = stylizer.style_stats() if hasattr(stylizer, "style_stats") else {}
    learned = tuple(replace(style, thumbnail=None, path=None) for style in getattr(stylizer, "learned_styles", list)())
    segmentation = None
    if processor.segmenter is not None and processor.settings.region != "all":
        segmentation = processor.segmenter.info.path.name
        files[segmentation] = processor.segmenter.info.path.read_bytes()
    h = hashlib.sha256(b"".join(files[k] for k in sorted(files)))
    for name in sorted(styles):  # the styles too: a worker keeps its stylizer between renders of one cluster
        h.update(name.encode())
        for vector in styles[name]:
            h.update(np.ascontiguousarray(vector, np.float32).tobytes())
    for style in learned:
        h.update(style.name.encode())
        h.update(style.faithful.tobytes() + style.bold.tobytes())
    return ModelPackage(files, info.path.name, styles, h.hexdigest()[:16], segmentation, learned)


_WORKER_MODELS: dict[tuple[str, str], object] = {}


def _stylizer_from(package: ModelPackage, provider: str):
    """The package's stylizer and person segmenter (or None), loaded once per worker process. The files go to
    a private temp dir only while the sessions load it: a worker that lives for many renders keeps no copies."""
    from .stylizers import load_stylizer

    key = (package.digest, provider)
    if key not in _WORKER_MODELS:
        folder = Path(tempfile.mkdtemp(prefix=f"stylecast-{package.digest}-"))
        try:
            for name, data in package.files.items():
                (folder / name).write_bytes(data)
            stylizer = load_stylizer(folder / package.main, provider, threads=1)
            for name, vectors in package.styles.items():
                stylizer.add_style_stats(name, *vectors)
            for style in package.learned:
                stylizer.add_learned(style)
            segmenter = PersonSegmenter(folder / package.segmentation, provider) if package.segmentation else None
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        _WORKER_MODELS[key] = (stylizer, segmenter)
    return _WORKER_MODELS[key]


def _fault(segment: int) -> tuple[str, str | None] | None:
    spec = os.environ.get(FAULT_ENV, "")
    parts = spec.split(":", 2)
    if len(parts) >= 2 and parts[1].isdigit() and int(parts[1]) == segment:
        return parts[0], parts[2] if len(parts) > 2 else None
    return None


def _render_segment(seg: Segment, chunk: bytes, package: ModelPackage, settings: dict, provider: str,
                    name: str, progress, orientation: Orientation = UPRIGHT) -> tuple[int, list[bytes]]:
    """A Ray task: decode the chunk, turn its frames upright (``orientation``: the whole clip's, from
    the driver's probe), run warm-up and kept frames through a fresh processor, return the kept
    frames as PNG bytes (lossless), in order."""
    fault = _fault(seg.index)
    if fault and fault[0] == "fail":
        raise InputError(f"injected failure in segment {seg.index}")
    stylizer, segmenter = _stylizer_from(package, provider)
    record = StyleSettings.from_dict(settings)
    processor = FrameProcessor(stylizer, record, segmenter)
    processor.reset()  # temporal smoothing and the mask history start afresh at every segment
    key_pts = _first_keyframe_pts(chunk)
    container = av.open(io.BytesIO(chunk), "r", format="matroska")
    kept: list[bytes] = []
    try:
        decoder = VideoDecoder(container, f"{name} segment {seg.index}")
        position = seg.seek_index - 1
        for frame in decoder.read():
            if frame.pts is not None and frame.pts < key_pts:
                continue  # leading pictures of an open GOP, before the keyframe: the previous segment's
            position += 1
            if position < seg.warm:
                continue  # decoded only to reach the warm-up frames
            if position >= seg.end:
                break
            out, _ = processor.process(frame_rgb(frame, orientation), frame.time)
            if position >= seg.start:
                ok, png = cv2.imencode(".png", cv2.cvtColor(out, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 1])
                if not ok:
                    raise OutputError(f"could not encode a frame of segment {seg.index}")
                kept.append(png.tobytes())
                if progress is not None and (len(kept) % 4 == 0 or position == seg.end - 1):
                    progress.report.remote(seg.index, len(kept))
            if fault and fault[0] == "kill" and fault[1] and not Path(fault[1]).exists():
                Path(fault[1]).touch()
                os.kill(os.getpid(), signal.SIGKILL)  # a worker dying mid-segment
    finally:
        container.close()
    return seg.index, kept


def _first_keyframe_pts(chunk: bytes) -> int:
    with av.open(io.BytesIO(chunk), "r", format="matroska") as container:
        for packet in container.demux(container.streams.video[0]):
            if packet.is_keyframe and packet.pts is not None:
                return packet.pts
    raise InputError("a segment has no keyframe")


# -- the driver ----------------------------------------------------------------------------------------
def _init_ray(address: str | None) -> None:
    ray = _ray()
    if ray.is_initialized():
        return
    kwargs = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        if address in (None, "", "local"):
            ray.init(**kwargs)
        else:  # a cluster: ship the engine's code with the tasks (dependencies must be installed there)
            ray.init(address=address, runtime_env={"py_modules": [str(Path(__file__).resolve().parent)]}, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise InputError(f"cannot connect to the Ray cluster at {address}: {str(exc).splitlines()[0][:200]}") from None


def _progress_actor():
    ray = _ray()

    @ray.remote(num_cpus=0)
    class Progress:
        """Frames done per segment; a retried segment restarts its count instead of adding to it."""

        def __init__(self) -> None:
            self.done: dict[int, int] = {}

        def report(self, segment: int, frames: int) -> None:
            self.done[segment] = frames

        def total(self) -> int:
            return sum(self.done.values())

    return Progress.remote()


def _task_error(exc: BaseException, seg: Segment, fps: float) -> StyleCastError:
    ray = _ray()
    where = f"segment {seg.index} ({seg.start / fps:.1f}-{seg.end / fps:.1f} s)"
    cause = getattr(exc, "cause", None)
    if isinstance(cause, StyleCastError):
        return type(cause)(f"{where} failed: {cause}")
    if isinstance(exc, (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError)):
        return OutputError(f"{where}: its worker died {MAX_RETRIES + 1} times; the render was stopped, no output written")
    return OutputError(f"{where} failed: {str(exc).strip().splitlines()[-1][:200]}")


def _segment_launcher(ray, src: Path, info, processor: FrameProcessor, provider: str,
                      task_env: dict[str, str] | None):
    """Put the model and the settings in the object store once and start the progress actor; return
    the actor and a function that cuts one segment's packets and submits its task."""
    package = ray.put(package_model(processor))
    settings = processor.settings.to_dict()
    tracker = _progress_actor()
    task = ray.remote(num_cpus=1, max_retries=MAX_RETRIES, retry_exceptions=False)(_render_segment)
    if task_env:
        task = task.options(runtime_env={"env_vars": dict(task_env)})

    def launch(seg: Segment):
        chunk = ray.put(cut_chunk(src, seg))
        return task.remote(seg, chunk, package, settings, provider, src.name, tracker, info.orientation)

    return tracker, launch


def _png_rgb(png: bytes) -> np.ndarray:
    return cv2.cvtColor(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


class _SegmentTasks:
    """The segments' tasks seen from the driver: at most ``window`` in flight, their frames read back
    in presentation order with the source's timestamps."""

    def __init__(self, ray, src: Path, plan: Plan, launch: Callable[[Segment], object], tracker, window: int) -> None:
        self.ray, self.src, self.plan, self.launch, self.tracker, self.window = ray, src, plan, launch, tracker, window
        self.pending: dict[int, object] = {}
        self.next_submit = 0
        self.last_report = 0.0

    def submit_more(self) -> None:
        while self.next_submit < len(self.plan.segments) and len(self.pending) < self.window:
            seg = self.plan.segments[self.next_submit]
            self.pending[seg.index] = self.launch(seg)
            self.next_submit += 1

    def frames(self, fps: float, cancel: threading.Event | None, progress: Callable[[RenderProgress], None] | None,
               start: float):
        """(pts, RGB frame) of every segment in order; a failed segment raises its error."""
        for seg in self.plan.segments:
            self.submit_more()
            ref = self.pending[seg.index]
            self._wait(ref, cancel, progress, start)
            try:
                _, pngs = self.ray.get(ref)
            except self.ray.exceptions.RayError as exc:
                raise _task_error(exc, seg, fps) from None
            del self.pending[seg.index]
            for k, png in enumerate(pngs):
                yield self.plan.pts[seg.start + k], _png_rgb(png)

    def _wait(self, ref, cancel: threading.Event | None, progress: Callable[[RenderProgress], None] | None,
              start: float) -> None:
        """Until the task is done: stop on ``cancel``, report the frames done every quarter second."""
        while True:
            if cancel is not None and cancel.is_set():
                raise Cancelled(f"render of {self.src.name} cancelled; no output written")
            ready, _ = self.ray.wait([ref], timeout=0.25)
            now = time.perf_counter()
            if progress is not None and now - self.last_report > 0.25:
                self.last_report = now
                progress(RenderProgress(self.ray.get(self.tracker.total.remote()), len(self.plan.pts), now - start))
            if ready:
                return

    def cancel_pending(self) -> None:
        for ref in self.pending.values():
            self.ray.cancel(ref, force=True)


def _write_clip(src: Path, dst: Path, info, crf: int, produced, total: int, start: float,
                progress: Callable[[RenderProgress], None] | None) -> RenderResult:
    """Write the ``produced`` frames with the source's timestamps and audio packets, interleaved as in
    the source, through the single-machine render's writer; the output appears only when complete."""
    done = 0
    with clip_output(src, dst, info, crf) as (container, vstream, astreams, writer):
        for packet in container.demux(vstream, *astreams):
            if packet.stream.index == vstream.index:
                if packet.pts is None:
                    continue
                item = next(produced, None)  # one output frame per video packet keeps audio interleaved
                if item is not None:
                    writer.write(item[1], item[0], vstream.time_base)
                    done += 1
            else:
                writer.write_audio_packet(packet)
        for pts, rgb in produced:
            writer.write(rgb, pts, vstream.time_base)
            done += 1
        if progress is not None:
            progress(RenderProgress(done, total, time.perf_counter() - start))
        writer.commit()
    lost = None if done == total else f"{src.name}: {done} of {total} frames rendered (damaged segments)"
    note = join_notes(lost, writer.dropped_note and f"{src.name}: {writer.dropped_note}")
    return RenderResult(dst, done, audio_outcome(writer), time.perf_counter() - start, total, note,
                        writer.audio_outcomes)


def render_on_ray(src: str | Path, dst: str | Path, processor: FrameProcessor, *, address: str | None = None,
                  progress: Callable[[RenderProgress], None] | None = None, cancel: threading.Event | None = None,
                  segment_s: float = SEGMENT_S, overlap: int = OVERLAP, window: int | None = None,
                  provider: str = "cpu", crf: int = 18, task_env: dict[str, str] | None = None) -> RenderResult:
    """Render ``src`` to ``dst`` on a Ray cluster (None/'local': one started on this machine).
    ``task_env``: environment variables for the workers (thread settings, fault injection in tests)."""
    src, dst = Path(src), Path(dst)
    info = probe(src)
    check_output_path(dst, [src])
    _init_ray(address)
    ray = _ray()
    plan = plan_segments(src, segment_s, overlap if processor.settings.smoothing > 0 else 0)
    tracker, launch = _segment_launcher(ray, src, info, processor, provider, task_env)
    window = window or max(2, 2 * int(ray.cluster_resources().get("CPU", 2)))
    tasks = _SegmentTasks(ray, src, plan, launch, tracker, window)
    start = time.perf_counter()
    try:
        produced = tasks.frames(float(info.fps), cancel, progress, start)
        return _write_clip(src, dst, info, crf, produced, len(plan.pts), start, progress)
    except KeyboardInterrupt:
        raise Cancelled(f"render of {src.name} cancelled; no output written") from None
    finally:
        tasks.cancel_pending()
