"""Clip -> clip rendering: every frame, the source's size and frame rate, the audio copied.

Demuxes video and audio packets together so the output interleaves like the input. Writes
to a hidden temp file and renames at the end: a cancelled or failed render leaves nothing
that looks finished, and the input is never the output.
"""
from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import av

from .errors import Cancelled, OutputError
from .frames import check_output_path
from .processor import FrameProcessor
from .video import VideoDecoder, VideoInfo, VideoWriter, open_container, probe


@dataclass(frozen=True)
class RenderProgress:
    frames_done: int
    frames_total: int  # estimate from the container; 0 if unknown
    elapsed_s: float

    @property
    def fraction(self) -> float:
        return min(1.0, self.frames_done / self.frames_total) if self.frames_total else 0.0

    @property
    def eta_s(self) -> float | None:
        if not self.frames_total or not self.frames_done:
            return None
        return self.elapsed_s / self.frames_done * max(0, self.frames_total - self.frames_done)


@dataclass(frozen=True)
class RenderResult:
    output: Path
    frames: int  # written
    audio: str  # "copied", "transcoded" or "none"
    seconds: float
    frames_expected: int = 0  # the container's count (or duration x fps); 0 if unknown
    note: str | None = None  # one line for the user when the clip was not read whole, else None


@contextlib.contextmanager
def clip_output(src: Path, dst: Path, info: VideoInfo, crf: int = 18) -> Iterator[tuple]:
    """The source opened for its streams and the output's writer (the source's size, rate and time
    base; its audio copied or transcoded): yields (container, video stream, audio stream or None,
    writer). The output appears only if the block commits the writer; a disk error is an OutputError.
    Used by the single-machine render and by the Ray driver (engine/farm.py)."""
    container = open_container(src)
    writer: VideoWriter | None = None
    try:
        vstream = container.streams.video[0]
        astream = container.streams.audio[0] if container.streams.audio else None
        writer = VideoWriter(dst, info.width, info.height, info.fps, crf=crf, audio_from=astream,
                             time_base=vstream.time_base)
        yield container, vstream, astream, writer
    except OSError as exc:
        raise OutputError(f"writing {dst} failed: {exc.strerror or exc}") from None
    finally:
        if writer is not None and not writer.committed:
            writer.abort()
        container.close()


def audio_outcome(astream, writer: VideoWriter) -> str:
    return "none" if astream is None else ("copied" if writer.audio_copied else "transcoded")


def render_video(src: str | Path, dst: str | Path, processor: FrameProcessor, *,
                 progress: Callable[[RenderProgress], None] | None = None,
                 cancel: threading.Event | None = None, crf: int = 18) -> RenderResult:
    src, dst = Path(src), Path(dst)
    info = probe(src)  # clear errors for missing/empty/corrupt/truncated input, before any output exists
    check_output_path(dst, [src])
    processor.reset()  # temporal smoothing starts afresh with each clip
    done, start = 0, time.perf_counter()
    total = info.frames or round(info.duration_s * float(info.fps))
    with clip_output(src, dst, info, crf) as (container, vstream, astream, writer):
        decoder = VideoDecoder(container, src.name)  # damaged input: first frame -> InputError, later -> skipped
        for item in decoder.read(*([astream] if astream is not None else [])):
            if cancel is not None and cancel.is_set():
                raise Cancelled(f"render of {src.name} cancelled; no output written")
            if isinstance(item, av.Packet):
                writer.write_audio_packet(item)
                continue
            out, _ = processor.process(item.to_ndarray(format="rgb24"))
            writer.write(out, item.pts, vstream.time_base)
            done += 1
            if progress:
                progress(RenderProgress(done, max(total, done), time.perf_counter() - start))
        audio = audio_outcome(astream, writer)
        writer.commit()
    return RenderResult(dst, done, audio, time.perf_counter() - start, total,
                        _shortfall_note(src.name, done, info.frames, total, decoder))


def _shortfall_note(name: str, done: int, declared: int, estimate: int, decoder: VideoDecoder) -> str | None:
    """Says when the clip gave fewer frames than it declares (a truncated download, a damaged tail).
    A count estimated from the duration is only trusted to within a few frames."""
    if done < (declared or estimate - max(2, estimate // 50)):
        return f"{name} ended after {done} of {declared or estimate} frames; rendered what decoded"
    if decoder.skipped:
        return f"{name}: skipped {decoder.skipped} damaged video packet{'s' if decoder.skipped > 1 else ''}"
    return None
