"""Video files through PyAV: probing with clear errors, and the H.264 writer with audio copy."""
from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator, Sequence

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
class Orientation:
    """How a decoded picture turns upright: transposed (a quarter turn's swap of rows and columns),
    then mirrored left-right and/or top-bottom. The eight combinations are the eight ways a camera
    can be held, mirrored or not.

    StyleCast applies it rather than copying it: every frame is turned before it is stylized, and
    outputs carry no rotation. So an output is upright in every player (also those that ignore
    rotation metadata, and in AVI, which has none), the stylizer sees faces and horizons the right
    way up, and sizes mean what the viewer sees (VideoInfo.width/height, the processing height)."""

    transpose: bool = False
    flip_x: bool = False
    flip_y: bool = False

    @property
    def identity(self) -> bool:
        return not (self.transpose or self.flip_x or self.flip_y)

    def size(self, width: int, height: int) -> tuple[int, int]:
        """The displayed (width, height) of a picture decoded at ``width`` x ``height``."""
        return (height, width) if self.transpose else (width, height)

    def apply(self, rgb: np.ndarray) -> np.ndarray:
        if self.identity:
            return rgb
        out = rgb.transpose(1, 0, 2) if self.transpose else rgb
        if self.flip_x:
            out = out[:, ::-1]
        if self.flip_y:
            out = out[::-1]
        return np.ascontiguousarray(out)

    @classmethod
    def from_display_matrix(cls, m: np.ndarray) -> "Orientation":
        """From FFmpeg's 3x3 display matrix (row-major int32: a source pixel (x, y) shows at
        (a*x + c*y, b*x + d*y), a = m[0], b = m[1], c = m[3], d = m[4]). Angles that are not a
        multiple of 90 degrees (which cameras do not write) go to the nearest quarter turn."""
        a, b, c, d = (float(m[i]) for i in (0, 1, 3, 4))
        if abs(b) + abs(c) > abs(a) + abs(d):  # x' follows y: a quarter turn
            return cls(True, c < 0, b < 0)
        return cls(False, a < 0, d < 0)

    @classmethod
    def from_rotate_tag(cls, degrees: float) -> "Orientation":
        """From the older ``rotate`` stream tag: degrees clockwise, to the nearest quarter turn."""
        quarter = round(degrees / 90) % 4
        return (cls(), cls(True, True, False), cls(False, True, True), cls(True, False, True))[quarter]


UPRIGHT = Orientation()


def orientation_of(frame: av.VideoFrame, stream: av.video.stream.VideoStream) -> Orientation:
    """The clip's orientation, from its first decoded frame: the display matrix FFmpeg attaches to
    every frame (from an MP4/MOV track header, Matroska's projection pose, or the bitstream), else the
    stream's ``rotate`` tag (written by older tools; Matroska keeps it as a plain tag)."""
    matrix = frame.side_data.get("DISPLAYMATRIX")
    if matrix is not None:
        values = np.frombuffer(bytes(matrix), dtype=np.int32)
        if values.size == 9 and values.any():
            return Orientation.from_display_matrix(values)
    tag = next((v for k, v in stream.metadata.items() if k.lower() == "rotate"), None)
    try:
        return Orientation.from_rotate_tag(float(tag)) if tag is not None else UPRIGHT
    except ValueError:  # a tag that is not a number says nothing about the picture
        return UPRIGHT


def frame_rgb(frame: av.VideoFrame, orientation: Orientation) -> np.ndarray:
    """A decoded frame as upright RGB (uint8 H x W x 3), the one conversion every reader uses."""
    return orientation.apply(frame.to_ndarray(format="rgb24"))


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    width: int  # as displayed: after the clip's orientation (a portrait phone clip is taller than wide)
    height: int
    fps: Fraction  # the average rate; a variable-rate clip's frames keep their own timestamps
    frames: int  # container's count; 0 when unknown
    duration_s: float
    has_audio: bool
    audio_codec: str | None  # the first audio track's ("unknown" when FFmpeg cannot decode it)
    orientation: Orientation = UPRIGHT  # how decoded frames turn upright (frame_rgb applies it)
    video_s: float = 0.0  # the video stream's own length when the file says (else the clip's); 0 unknown


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


def presentation_times(container: av.container.InputContainer) -> list[int] | None:
    """For a container that stores no presentation times (AVI): every video packet's timestamp,
    sorted, so the k-th decoded frame gets the k-th (the decoder's own guesses come out of order
    when the clip has B-frames). None for containers whose frames carry their real times. Reads the
    packets only (no decoding), then seeks back to the start."""
    if container.format.name != "avi":
        return None
    stream = container.streams.video[0]
    times = sorted(p.pts if p.pts is not None else p.dts for p in container.demux(stream)
                   if p.pts is not None or p.dts is not None)
    container.seek(0, stream=stream)
    return times


def probe(path: str | Path) -> VideoInfo:
    """Open, check and describe a video; decodes the first frame so truncated files fail here."""
    path = Path(path)
    container = open_container(path)
    try:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or Fraction(30)
        first = next(VideoDecoder(container, path.name).read())  # raises InputError when nothing decodes
        orientation = orientation_of(first, stream)
        width, height = orientation.size(first.width, first.height)
        audio = list(container.streams.audio)
        duration = float(container.duration / av.time_base) if container.duration else 0.0
        return VideoInfo(path, width, height, Fraction(rate), int(stream.frames or 0), duration,
                         bool(audio), audio_codec_name(audio[0]) if audio else None, orientation,
                         _video_length(stream) or duration)
    finally:
        container.close()


def _video_length(stream: av.video.stream.VideoStream) -> float:
    """Seconds of video the file declares for this stream: its duration (MP4, MOV, AVI) or the
    per-track DURATION tag Matroska writers add; 0 when neither is there."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    tag = next((v for k, v in stream.metadata.items() if k.upper() == "DURATION"), "")
    parts = tag.split(":")
    try:
        return float(int(parts[0]) * 3600 + int(parts[1]) * 60 + float(parts[2])) if len(parts) == 3 else 0.0
    except ValueError:
        return 0.0


def audio_codec_name(stream: av.audio.stream.AudioStream) -> str:
    """The codec's canonical name ("mp3"), not the decoder's ("mp3float"); "unknown" for a codec
    FFmpeg cannot decode."""
    context = stream.codec_context
    return context.codec.canonical_name if context is not None else "unknown"


class VideoDecoder:
    """The one rule for damaged video, used by probe, the file source and render: while nothing has
    decoded yet the file is unusable (InputError); after the first frame a packet that fails to
    decode is skipped (``skipped``) and a read error ends the stream like EOF (``read_error``)."""

    def __init__(self, container: av.container.InputContainer, name: str) -> None:
        self.container, self.name = container, name
        self.stream = container.streams.video[0]
        self.stream.thread_type = "AUTO"
        # read now: PyAV 18 refuses a stream's attributes once its container is closed, and reached_s is
        # asked after a render has closed its input
        self.time_base, self.start_time = self.stream.time_base, self.stream.start_time
        self.decoded = 0
        self.skipped = 0
        self.read_error: str | None = None
        self.first_pts: int | None = None  # the earliest frame time seen (stream time base)
        self.end_pts: int | None = None  # the latest frame time plus that frame's duration: how far the video got

    def reached_s(self) -> float | None:
        """Seconds of video decoded, from the stream's start to the end of its latest frame."""
        if self.end_pts is None or not self.time_base:
            return None
        start = self.start_time if self.start_time is not None else self.first_pts
        return float((self.end_pts - min(start, self.first_pts)) * self.time_base)

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
        for frame in frames:
            pts = frame.pts if frame.pts is not None else frame.dts
            if pts is not None:
                self.first_pts = pts if self.first_pts is None else min(self.first_pts, pts)
                end = pts + (frame.duration or 0)
                self.end_pts = end if self.end_pts is None else max(self.end_pts, end)
        return frames

    def _damaged(self, exc: BaseException) -> None:
        if self.decoded == 0:
            raise InputError(f"{self.name} cannot be decoded ({_short(exc)})") from None


def _encoder_rate(codec: str, rate: int) -> int:
    """``rate`` when the encoder takes it, else the nearest rate it does (AAC stops at 96 kHz, MP3 at
    48 kHz): the encoder resamples."""
    rates = av.Codec(codec, "w").audio_rates
    if not rates or rate in rates:
        return rate
    return min(rates, key=lambda r: (abs(r - rate), -r))


def _short(exc: BaseException) -> str:
    """FFmpeg's own sentence ("Invalid data found when processing input"), without its errno."""
    strerror = getattr(exc, "strerror", None)
    if isinstance(strerror, str) and strerror.strip():
        return strerror.strip()[:160]
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]


@dataclass
class AudioTrack:
    """One source audio track in the output: ``copied`` packet for packet, or decoded and transcoded."""

    source: av.audio.stream.AudioStream
    out: av.stream.Stream
    copied: bool


class VideoWriter:
    """H.264 (yuv420p; yuv444p for odd sizes) at the source's frame rate, and every audio track of
    ``audio_from``, each copied when the container allows its codec (COPYABLE_AUDIO), else
    transcoded (TRANSCODE_AUDIO), in the source's order with its language and title. A track FFmpeg
    cannot decode can be neither: it is left out and ``dropped`` names it. Writes to the
    temp_path_for(output) sibling; ``commit`` renames it into place, ``abort`` deletes it: a file
    with the final name is always complete. AVI has no per-frame timestamps, so there frames get
    consecutive ones at ``fps`` whatever the source's were."""

    def __init__(self, output: Path, width: int, height: int, fps: Fraction, *, crf: int = 18,
                 audio_from: av.audio.stream.AudioStream | Sequence[av.audio.stream.AudioStream] | None = None,
                 time_base: Fraction | None = None) -> None:
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
            self.tmp.unlink(missing_ok=True)
            raise OutputError(f"cannot create {output}: {_short(exc)}") from None
        try:
            self._video_stream(width, height, fps, crf, time_base)
        except (av.error.FFmpegError, ValueError) as exc:
            self.abort()
            raise OutputError(f"cannot encode {output.name} at {width}x{height}: {_short(exc)}") from None
        if audio_from is None or isinstance(audio_from, av.stream.Stream):
            sources = [] if audio_from is None else [audio_from]
        else:
            sources = list(audio_from)
        self.tracks: dict[int, AudioTrack] = {}  # by the source stream's index
        self.dropped: list[str] = []  # "audio track 2 (fra, unknown codec)"
        try:
            for number, source in enumerate(sources, 1):
                track = self._add_track(source, suffix)
                if track is None:
                    language = source.metadata.get("language")
                    self.dropped.append(f"audio track {number} ({language + ', ' if language else ''}"
                                        f"{audio_codec_name(source)} codec)")
                else:
                    self.tracks[source.index] = track
        except DECODE_ERRORS as exc:
            self.abort()
            raise OutputError(f"cannot set up the audio of {output.name}: {_short(exc)}") from None
        self.frames = 0
        self._last_pts: int | None = None
        self.committed = False

    def _video_stream(self, width: int, height: int, fps: Fraction, crf: int, time_base: Fraction | None) -> None:
        self.stream = self.container.add_stream("libx264", rate=fps)
        self.stream.width, self.stream.height = width, height
        odd = width % 2 or height % 2
        self.stream.pix_fmt = "yuv444p" if odd else "yuv420p"
        self.stream.options = {"crf": str(crf), "preset": "veryfast",
                               # AVI stores no presentation times: B-frames would be shown out of order by
                               # readers that take the file's times (FFmpeg's among them)
                               **({"bf": "0"} if self.constant_rate else {})}
        if time_base is not None and not self.constant_rate:
            self.stream.codec_context.time_base = time_base

    def _add_track(self, source: av.audio.stream.AudioStream, suffix: str) -> AudioTrack | None:
        if source.codec_context is None:  # a codec FFmpeg does not know: no decoder, and no muxer takes it
            return None
        if audio_codec_name(source) in COPYABLE_AUDIO[suffix]:
            track = AudioTrack(source, self.container.add_stream_from_template(source), True)
        else:
            codec = TRANSCODE_AUDIO.get(suffix, "aac")
            rate = _encoder_rate(codec, source.codec_context.sample_rate or 48000)
            track = AudioTrack(source, self.container.add_stream(codec, rate=rate), False)
        for key in ("language", "title"):  # which track is which language survives the render
            if source.metadata.get(key):
                track.out.metadata[key] = source.metadata[key]
        track.out.disposition = source.disposition
        return track

    @property
    def audio_copied(self) -> bool:
        """The first audio track is copied bit for bit."""
        return bool(self.tracks) and next(iter(self.tracks.values())).copied

    @property
    def audio_outcomes(self) -> tuple[str, ...]:
        """Each kept audio track, in the output's order: "copied" or "transcoded"."""
        return tuple("copied" if t.copied else "transcoded" for t in self.tracks.values())

    @property
    def dropped_note(self) -> str | None:
        """One sentence naming the audio tracks left out, or None."""
        if not self.dropped:
            return None
        one = len(self.dropped) == 1
        return (f"{', '.join(self.dropped)} left out: FFmpeg cannot decode {'it' if one else 'them'}, "
                f"so {'it' if one else 'they'} can be neither copied nor converted")

    def write(self, rgb: np.ndarray, pts: int | None = None, time_base: Fraction | None = None) -> None:
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        if pts is not None and not self.constant_rate:
            if self._last_pts is not None and pts <= self._last_pts:  # a damaged or guessed timestamp: keep order
                pts = self._last_pts + 1
            frame.pts, frame.time_base = pts, time_base
            self._last_pts = pts
        else:
            frame.pts, frame.time_base = self.frames, 1 / self.fps
        self._mux(self.stream.encode(frame))
        self.frames += 1

    def write_audio_packet(self, packet: av.Packet) -> None:
        """A packet of any source audio track (packets of tracks left out are ignored)."""
        track = self.tracks.get(packet.stream.index)
        if track is None or packet.dts is None:
            return
        if track.copied:
            packet.stream = track.out
            self._mux([packet])
        else:
            try:
                frames = packet.decode()
            except DECODE_ERRORS:  # a damaged audio packet: a moment of silence, not a failed render
                return
            for frame in frames:
                frame.pts = None
                self._mux(track.out.encode(frame))

    def _mux(self, packets) -> None:
        try:
            self.container.mux(packets)
        except OSError as exc:
            raise OutputError(f"writing {self.output.name} failed: {exc.strerror or exc}") from None
        except av.error.FFmpegError as exc:  # the muxer refused a packet: one sentence, not a traceback
            raise OutputError(f"writing {self.output.name} failed: {_short(exc)}") from None

    def commit(self) -> Path:
        try:
            self._mux(self.stream.encode(None))
            for track in self.tracks.values():
                if not track.copied:
                    self._mux(track.out.encode(None))
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
