"""Generated test media: H.264 clips with a sine track in any audio codec FFmpeg encodes, written with PyAV."""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np


def make_clip(path: Path, frames: int = 24, fps: int = 24, size: tuple[int, int] = (96, 64), audio: bool = True,
              audio_codec: str = "aac", sample_rate: int = 44100, layout: str = "mono", faststart: bool = False,
              gop: int | None = None) -> Path:
    """``faststart`` puts an MP4's index first, so a file cut short still declares every frame;
    ``gop`` sets the keyframe interval (segments of a render on Ray start at keyframes)."""
    w, h = size
    out = av.open(str(path), "w", options={"movflags": "faststart"} if faststart else {})
    vs = out.add_stream("libx264", rate=fps)
    vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
    if gop is not None:
        vs.codec_context.gop_size = gop
        vs.codec_context.options = {"keyint_min": str(gop), "sc_threshold": "0"}
    ast = None
    if audio:
        ast = out.add_stream(audio_codec, rate=sample_rate)
        ast.layout = layout
        if ast.codec_context.codec.experimental:  # FFmpeg's own vorbis encoder
            ast.codec_context.options = {"strict": "experimental"}
    y, x = np.mgrid[0:h, 0:w]
    for i in range(frames):
        img = np.stack([(x * 3 + i * 4) % 256, (y * 3) % 256, np.full_like(x, (i * 9) % 256)], axis=2).astype(np.uint8)
        for p in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
            out.mux(p)
    if ast is not None:
        fmt = ast.codec_context.format
        channels = ast.codec_context.layout.nb_channels
        chunk = 1024
        n_chunks = int(frames / fps * sample_rate / chunk) + 1
        for k in range(n_chunks):
            t = (np.arange(chunk) + k * chunk) / sample_rate
            data = _samples(0.3 * np.sin(2 * np.pi * 440 * t), fmt, channels)
            frame = av.AudioFrame.from_ndarray(data, format=fmt.name, layout=layout)
            frame.sample_rate, frame.pts = sample_rate, k * chunk
            for p in ast.encode(frame):
                out.mux(p)
        for p in ast.encode(None):
            out.mux(p)
    for p in vs.encode(None):
        out.mux(p)
    out.close()
    return path


def _samples(s: np.ndarray, fmt: av.AudioFormat, channels: int) -> np.ndarray:
    """Mono float samples in [-1, 1] as the array from_ndarray wants for ``fmt`` (planar or packed)."""
    kind = fmt.name.rstrip("p")
    if kind in ("s16", "s32"):
        bits = 16 if kind == "s16" else 32
        s = (s * (2 ** (bits - 1) - 1)).astype(np.int16 if bits == 16 else np.int32)
    else:
        s = s.astype(np.float64 if kind == "dbl" else np.float32)
    return np.tile(s[None], (channels, 1)) if fmt.is_planar else np.repeat(s, channels)[None]


def truncate(src: Path, dst: Path, keep: float) -> Path:
    """The first ``keep`` (0..1) of a file's bytes: an interrupted download or copy."""
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * keep)])
    return dst


def damage_packet(src: Path, dst: Path, index: int) -> Path:
    """A copy of ``src`` (every stream remuxed as is) whose ``index``-th video packet is zeros: a bad sector."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        streams = {s.index: out.add_stream_from_template(s) for s in inp.streams if s.type in ("video", "audio")}
        k = 0
        for packet in inp.demux(*(inp.streams[i] for i in streams)):
            if not packet.size:
                continue
            target = streams[packet.stream.index]
            if packet.stream.type == "video":
                if k == index:
                    bad = av.Packet(bytes(packet.size))
                    bad.pts, bad.dts, bad.time_base = packet.pts, packet.dts, packet.time_base
                    packet = bad
                k += 1
            packet.stream = target
            out.mux(packet)
    return dst


def audio_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as c:
        stream = c.streams.audio[0]
        return [bytes(p) for p in c.demux(stream) if p.size]


def video_facts(path: Path) -> tuple:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        n = sum(1 for _ in c.decode(v))
        return v.average_rate, v.width, v.height, n
