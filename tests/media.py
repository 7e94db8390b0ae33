"""Generated test media: H.264 clips with an AAC (or PCM) sine track, written with PyAV."""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np


def make_clip(path: Path, frames: int = 24, fps: int = 24, size: tuple[int, int] = (96, 64), audio: bool = True,
              audio_codec: str = "aac", sample_rate: int = 44100) -> Path:
    w, h = size
    out = av.open(str(path), "w")
    vs = out.add_stream("libx264", rate=fps)
    vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
    ast = None
    if audio:
        ast = out.add_stream(audio_codec, rate=sample_rate)
        ast.layout = "mono"
    y, x = np.mgrid[0:h, 0:w]
    for i in range(frames):
        img = np.stack([(x * 3 + i * 4) % 256, (y * 3) % 256, np.full_like(x, (i * 9) % 256)], axis=2).astype(np.uint8)
        for p in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
            out.mux(p)
    if ast is not None:
        fmt = ast.codec_context.format.name
        chunk = 1024
        n_chunks = int(frames / fps * sample_rate / chunk) + 1
        for k in range(n_chunks):
            t = (np.arange(chunk) + k * chunk) / sample_rate
            s = 0.3 * np.sin(2 * np.pi * 440 * t)
            data = (s * 32767).astype(np.int16)[None] if fmt.startswith("s16") else s.astype(np.float32)[None]
            frame = av.AudioFrame.from_ndarray(data, format=fmt, layout="mono")
            frame.sample_rate, frame.pts = sample_rate, k * chunk
            for p in ast.encode(frame):
                out.mux(p)
        for p in ast.encode(None):
            out.mux(p)
    for p in vs.encode(None):
        out.mux(p)
    out.close()
    return path


def audio_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as c:
        stream = c.streams.audio[0]
        return [bytes(p) for p in c.demux(stream) if p.size]


def video_facts(path: Path) -> tuple:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        n = sum(1 for _ in c.decode(v))
        return v.average_rate, v.width, v.height, n
