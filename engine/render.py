"""Clip -> clip rendering: every frame, the source's size and frame rate, every audio track copied.

Demuxes video and audio packets together so the output interleaves like the input. Frames are
turned upright before stylizing (a phone clip's rotation is applied, not copied: engine/video.py:
Orientation) and keep their own timestamps (a variable frame rate stays variable). Writes to a
hidden temp file and renames at the end: a cancelled or failed render leaves nothing that looks
finished, and the input is never the output.
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
from .video import VideoDecoder, VideoInfo, VideoWriter, frame_rgb, open_container, presentation_times, probe


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
    audio: str  # "copied", "transcoded" or "none"; several tracks: "copied (2 tracks)", "1 copied, 1 transcoded"
    seconds: float
    frames_expected: int = 0  # the container's count (or duration x fps); 0 if unknown
    note: str | None = None  # one line for the user when the clip was not read whole, else None
    audio_tracks: tuple[str, ...] = ()  # each output audio track: "copied" or "transcoded"


@contextlib.contextmanager
def clip_output(src: Path, dst: Path, info: VideoInfo, crf: int = 18) -> Iterator[tuple]:
    """The source opened for its streams and the output's writer (the source's upright size, rate and
    time base; every audio track copied or transcoded): yields (container, video stream, list of audio
    streams, writer). The output appears only if the block commits the writer; a disk error is an
    OutputError. Used by the single-machine render and by the Ray driver (engine/farm.py)."""
    container = open_container(src)
    writer: VideoWriter | None = None
    try:
        vstream = container.streams.video[0]
        astreams = list(container.streams.audio)
        writer = VideoWriter(dst, info.width, info.height, info.fps, crf=crf, audio_from=astreams,
                             time_base=vstream.time_base)
        yield container, vstream, astreams, writer
    except OSError as exc:
        raise OutputError(f"writing {dst} failed: {exc.strerror or exc}") from None
    finally:
        if writer is not None and not writer.committed:
            writer.abort()
        container.close()


def audio_outcome(writer: VideoWriter) -> str:
    """What happened to the audio, in a few words: "none", "copied", "transcoded", "copied (2 tracks)",
    "1 copied, 1 transcoded"."""
    outcomes = writer.audio_outcomes
    if not outcomes:
        return "none"
    if len(set(outcomes)) == 1:
        return outcomes[0] if len(outcomes) == 1 else f"{outcomes[0]} ({len(outcomes)} tracks)"
    return ", ".join(f"{outcomes.count(kind)} {kind}" for kind in ("copied", "transcoded"))


def join_notes(*notes: str | None) -> str | None:
    """The result's one note line from several (None when there is nothing to say)."""
    kept = [n for n in notes if n]
    return "; ".join(kept) if kept else None


def render_video(src: str | Path, dst: str | Path, processor: FrameProcessor, *,
                 progress: Callable[[RenderProgress], None] | None = None,
                 cancel: threading.Event | None = None, crf: int = 18) -> RenderResult:
    src, dst = Path(src), Path(dst)
    info = probe(src)  # clear errors for missing/empty/corrupt/truncated input, before any output exists
    check_output_path(dst, [src])
    processor.reset()  # temporal smoothing starts afresh with each clip
    done, start = 0, time.perf_counter()
    total = info.frames or round(info.video_s * float(info.fps))  # for progress; a variable rate makes it rough
    with clip_output(src, dst, info, crf) as (container, vstream, astreams, writer):
        times = presentation_times(container)  # AVI: the k-th frame gets the k-th timestamp
        decoder = VideoDecoder(container, src.name)  # damaged input: first frame -> InputError, later -> skipped
        for item in decoder.read(*astreams):
            if cancel is not None and cancel.is_set():
                raise Cancelled(f"render of {src.name} cancelled; no output written")
            if isinstance(item, av.Packet):
                writer.write_audio_packet(item)
                continue
            out, _ = processor.process(frame_rgb(item, info.orientation), item.time)
            writer.write(out, times[done] if times and done < len(times) else item.pts, vstream.time_base)
            done += 1
            if progress:
                progress(RenderProgress(done, max(total, done), time.perf_counter() - start))
        writer.commit()
    note = join_notes(_shortfall_note(src.name, done, info, decoder),
                      writer.dropped_note and f"{src.name}: {writer.dropped_note}")
    return RenderResult(dst, done, audio_outcome(writer), time.perf_counter() - start, total, note,
                        writer.audio_outcomes)


def _shortfall_note(name: str, done: int, info: VideoInfo, decoder: VideoDecoder) -> str | None:
    """Says when the video ended before the file says it does (a truncated download, a damaged tail).

    Two witnesses, each used when the file provides it: the container's frame count, and the video's
    declared length against how far the decoded frames reached (to within 2%, at least two frames at
    the average rate). The clip is short when one says so and neither says it is whole. A count made
    up from length x average rate is never used: it is wrong for a variable frame rate, as is a
    container's count of clock ticks (a variable-rate AVI), which time then contradicts."""
    declared, length, reached = info.frames, info.video_s, decoder.reached_s()
    by_count = done < declared if declared else None
    by_time = None
    if length > 0 and reached is not None:
        by_time = reached < length - max(0.02 * length, 2 / float(info.fps or 30))
    if False not in (by_count, by_time) and (by_count or by_time):
        if by_count and (by_time is None or abs(done / declared - reached / length) < 0.1):
            return f"{name} ended after {done} of {declared} frames; rendered what decoded"
        return f"{name} ended after {done} frames ({reached:.1f} of {length:.1f} s); rendered what decoded"
    if decoder.skipped:
        return f"{name}: skipped {decoder.skipped} damaged video packet{'s' if decoder.skipped > 1 else ''}"
    return None
