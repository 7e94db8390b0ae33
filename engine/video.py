"""Video files through PyAV: probing with clear errors, and the H.264 writer with audio copy."""
from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from .errors import InputError, OutputError

VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v"}
# Audio codecs each container takes as-is; anything else is transcoded to AAC.
COPYABLE_AUDIO = {
    ".mp4": {"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"},
    ".m4v": {"aac", "mp3", "ac3", "eac3", "alac"},
    ".mov": {"aac", "mp3", "ac3", "alac", "pcm_s16le", "pcm_s24le", "pcm_f32le"},
    ".mkv": {"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac", "vorbis", "pcm_s16le", "pcm_s24le", "pcm_f32le"},
}


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    width: int
    height: int
    fps: Fraction
    frames: int  # container's count; 0 when unknown
    duration_s: float
    has_audio: bool
    audio_codec: str | None


def open_container(path: str | Path) -> av.container.InputContainer:
    path = Path(path)
    if not path.exists():
        raise InputError(f"file not found: {path}")
    if path.is_dir():
        raise InputError(f"{path} is a folder, not a video")
    if path.stat().st_size == 0:
        raise InputError(f"{path} is empty (0 bytes)")
    try:
        container = av.open(str(path), mode="r")
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise InputError(f"{path.name} is not a readable video ({_short(exc)})") from None
    if not container.streams.video:
        container.close()
        raise InputError(f"{path.name} has no video stream")
    return container


def probe(path: str | Path) -> VideoInfo:
    """Open, check and describe a video; decodes the first frame so truncated files fail here."""
    path = Path(path)
    container = open_container(path)
    try:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or Fraction(30)
        try:
            first = next(container.decode(stream), None)
        except (av.error.FFmpegError, ValueError) as exc:
            raise InputError(f"{path.name} cannot be decoded ({_short(exc)})") from None
        if first is None:
            raise InputError(f"{path.name} contains no decodable video frames (empty or truncated)")
        audio = container.streams.audio[0] if container.streams.audio else None
        duration = float(container.duration / av.time_base) if container.duration else 0.0
        return VideoInfo(path, first.width, first.height, Fraction(rate), int(stream.frames or 0), duration,
                         audio is not None, audio.codec_context.name if audio else None)
    finally:
        container.close()


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]


class VideoWriter:
    """H.264 (yuv420p; yuv444p for odd sizes) at the source's frame rate, audio copied when the
    container allows it, else transcoded to AAC. Writes to a hidden temp file; ``commit`` renames
    it into place, ``abort`` deletes it: a file with the final name is always complete."""

    def __init__(self, output: Path, width: int, height: int, fps: Fraction, *, crf: int = 18,
                 audio_from: av.audio.stream.AudioStream | None = None, time_base: Fraction | None = None) -> None:
        from .atomic import temp_path_for

        self.output = output
        suffix = output.suffix.lower()
        if suffix not in VIDEO_SUFFIXES - {".avi", ".webm"}:
            raise OutputError(f"cannot write video as {suffix or 'no extension'}; use .mp4, .mov, .mkv or .m4v")
        self.tmp = temp_path_for(output)
        try:
            self.container = av.open(str(self.tmp), mode="w")
        except (av.error.FFmpegError, OSError) as exc:
            raise OutputError(f"cannot create {output}: {_short(exc)}") from None
        self.stream = self.container.add_stream("libx264", rate=fps)
        self.stream.width, self.stream.height = width, height
        odd = width % 2 or height % 2
        self.stream.pix_fmt = "yuv444p" if odd else "yuv420p"
        self.stream.options = {"crf": str(crf), "preset": "veryfast"}
        if time_base is not None:
            self.stream.codec_context.time_base = time_base
        self.audio_in = audio_from
        self.audio_out = None
        self.audio_copied = False
        self._resampler = None
        if audio_from is not None:
            name = audio_from.codec_context.name
            if name in COPYABLE_AUDIO.get(suffix, set()):
                self.audio_out = self.container.add_stream_from_template(audio_from)
                self.audio_copied = True
            else:
                self.audio_out = self.container.add_stream("aac", rate=audio_from.codec_context.sample_rate or 48000)
        self.frames = 0

    def write(self, rgb: np.ndarray, pts: int | None = None, time_base: Fraction | None = None) -> None:
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        if pts is not None:
            frame.pts, frame.time_base = pts, time_base
        self._mux(self.stream.encode(frame))
        self.frames += 1

    def write_audio_packet(self, packet: av.Packet) -> None:
        if self.audio_out is None or packet.dts is None:
            return
        if self.audio_copied:
            packet.stream = self.audio_out
            self._mux([packet])
        else:
            for frame in packet.decode():
                frame.pts = None
                self._mux(self.audio_out.encode(frame))

    def _mux(self, packets) -> None:
        try:
            self.container.mux(packets)
        except OSError as exc:
            raise OutputError(f"writing {self.output.name} failed: {exc.strerror or exc}") from None

    def commit(self) -> Path:
        self._mux(self.stream.encode(None))
        if self.audio_out is not None and not self.audio_copied:
            self._mux(self.audio_out.encode(None))
        self.container.close()
        os.replace(self.tmp, self.output)
        return self.output

    def abort(self) -> None:
        try:
            self.container.close()
        except Exception:  # closing a half-written container may itself fail; the file goes anyway
            pass
        self.tmp.unlink(missing_ok=True)
