"""Clip -> clip rendering: every frame, the source's size and frame rate, the audio copied.

Demuxes video and audio packets together so the output interleaves like the input. Writes
to a hidden temp file and renames at the end: a cancelled or failed render leaves nothing
that looks finished, and the input is never the output.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import av

from .errors import Cancelled, InputError, OutputError
from .frames import check_output_path
from .stylizers import FrameProcessor
from .video import VideoWriter, _short, open_container, probe


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
    frames: int
    audio: str  # "copied", "transcoded" or "none"
    seconds: float


def render_video(src: str | Path, dst: str | Path, processor: FrameProcessor, *,
                 progress: Callable[[RenderProgress], None] | None = None,
                 cancel: threading.Event | None = None, crf: int = 18) -> RenderResult:
    src, dst = Path(src), Path(dst)
    info = probe(src)  # clear errors for missing/empty/corrupt/truncated input, before any output exists
    check_output_path(dst, [src])
    container = open_container(src)
    processor.reset()  # temporal smoothing starts afresh with each clip
    writer: VideoWriter | None = None
    done, start = 0, time.perf_counter()
    total = info.frames or round(info.duration_s * float(info.fps))
    try:
        vstream = container.streams.video[0]
        vstream.thread_type = "AUTO"
        astream = container.streams.audio[0] if container.streams.audio else None
        writer = VideoWriter(dst, info.width, info.height, info.fps, crf=crf, audio_from=astream,
                             time_base=vstream.time_base)
        streams = [vstream] + ([astream] if astream is not None else [])
        for packet in container.demux(streams):
            if cancel is not None and cancel.is_set():
                raise Cancelled(f"render of {src.name} cancelled; no output written")
            if packet.stream.type == "audio":
                writer.write_audio_packet(packet)
                continue
            try:
                frames = packet.decode()
            except (av.error.FFmpegError, ValueError) as exc:
                if done == 0:
                    raise InputError(f"{src.name} cannot be decoded ({_short(exc)})") from None
                continue  # a damaged packet mid-file: skip it, keep the rest
            for frame in frames:
                out, _ = processor.process(frame.to_ndarray(format="rgb24"))
                writer.write(out, frame.pts, vstream.time_base)
                done += 1
                if progress:
                    progress(RenderProgress(done, max(total, done), time.perf_counter() - start))
        if done == 0:
            raise InputError(f"{src.name} contains no decodable video frames")
        audio = "none" if astream is None else ("copied" if writer.audio_copied else "transcoded")
        writer.commit()
        writer = None
        return RenderResult(dst, done, audio, time.perf_counter() - start)
    except OSError as exc:
        raise OutputError(f"writing {dst} failed: {exc.strerror or exc}") from None
    finally:
        if writer is not None:
            writer.abort()
        container.close()
