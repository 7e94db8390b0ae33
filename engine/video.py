"""Video files through PyAV: probing with clear errors, and the H.264 writer with audio copy."""
from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import numpy as np

from .atomic import temp_path_for
from .errors import InputError, OutputError
from .frames import check_input_file

VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v"}  # what StyleCast reads
WRITABLE_VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".m4v", ".avi")  # what VideoWriter writes (H.264)


def stylized_name(source: Path, folder: Path) -> Path:
    """Where a batch render of ``source`` goes in ``folder``: same container when we can write it, else .mp4."""
    suffix = source.suffix.lower() if source.suffix.lower() in WRITABLE_VIDEO_SUFFIXES else ".mp4"
    return folder / f"{source.stem}_stylized{suffix}"
# Audio codecs (canonical names, e.g. "mp3" whatever the decoder is called) each container carries
# bit for bit. Measured with PyAV 18 (FFmpeg 8) by muxing copied packets, reading them back byte-identical
# and decoding them (tests/test_engine_render.py re-checks every entry, and that the rest is refused).
COPYABLE_AUDIO = {
    ".mp4": {"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"},
    ".m4v": {"aac", "ac3", "alac"},
    ".mov": {"aac", "mp3", "ac3", "eac3", "alac", "pcm_s16le", "pcm_s24le", "pcm_f32le"},
    ".mkv": {"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac", "vorbis", "pcm_s16le", "pcm_s24le", "pcm_f32le"},
    ".avi": {"aac", "mp3", "ac3", "eac3", "flac", "pcm_s16le", "pcm_s24le", "pcm_f32le"},
}
# FFmpeg muxes these as well, but vorbis only under codec tags of its own that most players refuse,
# and PCM in MP4 (ISO 23003-5 'ipcm', which few players read) only when mono: transcoded instead.
NOT_COPIED_AUDIO = {".mp4": {"vorbis", "pcm_s16le", "pcm_s24le", "pcm_f32le"}, ".avi": {"vorbis"}}
# What other audio is transcoded to: AAC, except MP3 in AVI (the combination every AVI player knows).
TRANSCODE_AUDIO = {".avi": "mp3"}
DECODE_ERRORS = (av.error.FFmpegError, ValueError)


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
    path = check_input_file(path, "a video")
    try:
        container = av.open(str(path), mode="r")
    except (*DECODE_ERRORS, OSError) as exc:
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
        first = next(VideoDecoder(container, path.name).read())  # raises InputError when nothing decodes
        audio = container.streams.audio[0] if container.streams.audio else None
        duration = float(container.duration / av.time_base) if container.duration else 0.0
        return VideoInfo(path, first.width, first.height, Fraction(rate), int(stream.frames or 0), duration,
                         audio is not None, audio_codec_name(audio) if audio else None)
    finally:
        container.close()


def audio_codec_name(stream: av.audio.stream.AudioStream) -> str:
    """The codec's canonical name ("mp3"), not the decoder's ("mp3float")."""
    return stream.codec_context.codec.canonical_name


class VideoDecoder:
    """The one rule for damaged video, used by probe, the file source and render: while nothing has
    decoded yet the file is unusable (InputError); after the first frame a packet that fails to
    decode is skipped (``skipped``) and a read error ends the stream like EOF (``read_error``)."""

    def __init__(self, container: av.container.InputContainer, name: str) -> None:
        self.container, self.name = container, name
        self.stream = container.streams.video[0]
        self.stream.thread_type = "AUTO"
        self.decoded = 0
        self.skipped = 0
        self.read_error: str | None = None

    def read(self, *extra: av.stream.Stream) -> Iterator[av.VideoFrame | av.Packet]:
        """Decoded video frames, and the packets of the ``extra`` streams, in file order."""
        packets = self.container.demux([self.stream, *extra])
        while True:
            try:
                packet = next(packets)
            except StopIteration:  # the demuxer ended with flush packets: the decoder is drained
                break
            except DECODE_ERRORS as exc:
                self._damaged(exc)
                self.read_error = _short(exc)
                yield from self._decode(None)  # frames still inside the decoder
                break
            if packet.stream.index != self.stream.index:
                yield packet
                continue
            yield from self._decode(packet)
        if self.decoded == 0:
            raise InputError(f"{self.name} contains no decodable video frames (empty or truncated)")

    def _decode(self, packet: av.Packet | None) -> list[av.VideoFrame]:
        try:
            frames = packet.decode() if packet is not None else self.stream.codec_context.decode(None)
        except DECODE_ERRORS as exc:
            self._damaged(exc)
            self.skipped += 1
            return []
        self.decoded += len(frames)
        return frames

    def _damaged(self, exc: BaseException) -> None:
        if self.decoded == 0:
            raise InputError(f"{self.name} cannot be decoded ({_short(exc)})") from None


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]


class VideoWriter:
    """H.264 (yuv420p; yuv444p for odd sizes) at the source's frame rate, audio copied when the
    container allows it (COPYABLE_AUDIO), else transcoded (TRANSCODE_AUDIO). Writes to the
    temp_path_for(output) sibling; ``commit`` renames it into place, ``abort`` deletes it: a file
    with the final name is always complete. AVI has no per-frame timestamps, so there frames get
    consecutive ones at ``fps`` whatever the source's were."""

    def __init__(self, output: Path, width: int, height: int, fps: Fraction, *, crf: int = 18,
                 audio_from: av.audio.stream.AudioStream | None = None, time_base: Fraction | None = None) -> None:
        self.output = output
        suffix = output.suffix.lower()
        if suffix not in WRITABLE_VIDEO_SUFFIXES:
            raise OutputError(f"cannot write video as {suffix or 'no extension'}; use {', '.join(WRITABLE_VIDEO_SUFFIXES)}")
        self.fps = Fraction(fps)
        self.constant_rate = suffix == ".avi"
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
        if time_base is not None and not self.constant_rate:
            self.stream.codec_context.time_base = time_base
        self.audio_in = audio_from
        self.audio_out = None
        self.audio_copied = False
        if audio_from is not None:
            if audio_codec_name(audio_from) in COPYABLE_AUDIO[suffix]:
                self.audio_out = self.container.add_stream_from_template(audio_from)
                self.audio_copied = True
            else:
                self.audio_out = self.container.add_stream(TRANSCODE_AUDIO.get(suffix, "aac"),
                                                           rate=audio_from.codec_context.sample_rate or 48000)
        self.frames = 0
        self.committed = False

    def write(self, rgb: np.ndarray, pts: int | None = None, time_base: Fraction | None = None) -> None:
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        if pts is not None and not self.constant_rate:
            frame.pts, frame.time_base = pts, time_base
        else:
            frame.pts, frame.time_base = self.frames, 1 / self.fps
        self._mux(self.stream.encode(frame))
        self.frames += 1

    def write_audio_packet(self, packet: av.Packet) -> None:
        if self.audio_out is None or packet.dts is None:
            return
        if self.audio_copied:
            packet.stream = self.audio_out
            self._mux([packet])
        else:
            try:
                frames = packet.decode()
            except DECODE_ERRORS:  # a damaged audio packet: a moment of silence, not a failed render
                return
            for frame in frames:
                frame.pts = None
                self._mux(self.audio_out.encode(frame))

    def _mux(self, packets) -> None:
        try:
            self.container.mux(packets)
        except OSError as exc:
            raise OutputError(f"writing {self.output.name} failed: {exc.strerror or exc}") from None

    def commit(self) -> Path:
        try:
            self._mux(self.stream.encode(None))
            if self.audio_out is not None and not self.audio_copied:
                self._mux(self.audio_out.encode(None))
            self.container.close()  # writes the index (MP4's moov): a full disk can fail here too
            os.replace(self.tmp, self.output)
        except OSError as exc:  # av.error.OSError included
            self.abort()
            raise OutputError(f"writing {self.output.name} failed: {exc.strerror or exc}") from None
        except BaseException:
            self.abort()
            raise
        self.committed = True
        return self.output

    def abort(self) -> None:
        try:
            self.container.close()
        except Exception:  # closing a half-written container may itself fail; the file goes anyway
            pass
        self.tmp.unlink(missing_ok=True)
