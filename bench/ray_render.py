"""Render the same clips single-process and on a local Ray cluster; throughput, overhead, and the
scaling the measured costs predict for a real cluster (docs/render-farm.md).

    python -m bench.ray_render [--clips N] [--seconds 24] [--segment-seconds 4] [--cpus 2] [--size 270]

The clips are the sample clip (768x576, 10 fps) looped to ``--seconds`` with a keyframe every 2 s
and a sine-wave AAC track, so a clip splits into segments and carries audio like real footage.
Numbers go to docs/benchmarks.md ("Render on Ray") with command, machine and date.
"""
from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np

SAMPLE = Path(__file__).resolve().parent.parent / "assets" / "samples" / "pedestrians.mp4"


def make_footage(path: Path, seconds: float, gop_s: float = 2.0) -> Path:
    """The sample clip looped to ``seconds``, H.264 with a keyframe every ``gop_s``, AAC audio."""
    with av.open(str(SAMPLE)) as src:
        stream = src.streams.video[0]
        fps = int(stream.average_rate)
        frames = [f.to_ndarray(format="rgb24") for f in src.decode(video=0)]
    n = int(seconds * fps)
    out = av.open(str(path), "w")
    vs = out.add_stream("libx264", rate=fps)
    vs.width, vs.height, vs.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
    vs.codec_context.gop_size = int(gop_s * fps)
    vs.codec_context.options = {"keyint_min": str(int(gop_s * fps)), "sc_threshold": "0", "preset": "veryfast"}
    aus = out.add_stream("aac", rate=44100)
    aus.layout = "mono"
    for i in range(n):
        k = i % (2 * len(frames))  # forwards then backwards: no jump at the loop point
        img = frames[k] if k < len(frames) else frames[2 * len(frames) - 1 - k]
        out.mux(vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
    chunk, sr = 1024, 44100
    for k in range(int(seconds * sr / chunk) + 1):
        t = (np.arange(chunk) + k * chunk) / sr
        frame = av.AudioFrame.from_ndarray((0.2 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)[None], format="fltp",
                                           layout="mono")
        frame.sample_rate, frame.pts = sr, k * chunk
        out.mux(aus.encode(frame))
    out.mux(aus.encode(None))
    out.mux(vs.encode(None))
    out.close()
    return path


def driver_fps(path: Path) -> float:
    """What the driver alone sustains per frame: PNG decode of a worker's frame + the final H.264 encode."""
    from engine.video import VideoWriter, probe

    info = probe(path)
    with av.open(str(path)) as src:
        frames = [f.to_ndarray(format="rgb24") for f in src.decode(video=0)][:120]
    pngs = [cv2.imencode(".png", cv2.cvtColor(f, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 1])[1].tobytes()
            for f in frames]
    out = Path(tempfile.mkdtemp()) / "driver.mp4"
    t0 = time.perf_counter()
    writer = VideoWriter(out, info.width, info.height, info.fps)
    for png in pngs:
        writer.write(cv2.cvtColor(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB))
    writer.commit()
    return len(pngs) / (time.perf_counter() - t0)


def main() -> None:
    import ray

    from engine.farm import render_on_ray
    from engine.processor import StyleSettings
    from engine.render import render_video
    from engine.setup import build_processor

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clips", type=int, default=2)
    p.add_argument("--seconds", type=float, default=24.0)
    p.add_argument("--segment-seconds", type=float, default=4.0)
    p.add_argument("--cpus", type=int, default=os.cpu_count() or 2)
    p.add_argument("--size", type=int, default=270, help="processing height")
    p.add_argument("--model", help="default: the built-in CPU net")
    args = p.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="stylecast-ray-bench-"))
    clips = [make_footage(folder / f"clip{i}.mp4", args.seconds) for i in range(args.clips)]
    processor = build_processor(StyleSettings(process_height=args.size), model=args.model, provider="cpu")
    frames = 0
    t0 = time.perf_counter()
    for c in clips:
        frames += render_video(c, folder / f"{c.stem}_single.mp4", processor.snapshot()).frames
    single = time.perf_counter() - t0

    t0 = time.perf_counter()
    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
    init = time.perf_counter() - t0
    t0 = time.perf_counter()
    segments = 0
    for c in clips:
        from engine.farm import plan_segments

        segments += len(plan_segments(c, args.segment_seconds).segments)
        render_on_ray(c, folder / f"{c.stem}_ray.mp4", processor.snapshot(), segment_s=args.segment_seconds)
    farm = time.perf_counter() - t0
    ray.shutdown()
    drv = driver_fps(clips[0])

    per_frame_single = single / frames  # one process, ONNX Runtime on all cores
    per_segment = farm * args.cpus / segments  # worker-seconds per segment on this machine
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; {time.strftime('%Y-%m-%d')}; "
          f"model {processor.stylizer.info.name} at {args.size}p; {args.clips} clips x {args.seconds:g} s "
          f"(768x576, 10 fps, AAC), {frames} frames, {segments} segments of {args.segment_seconds:g} s")
    print(f"single process: {single:.1f} s, {frames / single:.2f} fps ({per_frame_single * 1e3:.0f} ms/frame)")
    print(f"Ray, {args.cpus} workers: init {init:.1f} s, render {farm:.1f} s, {frames / farm:.2f} fps "
          f"(x{single / farm:.2f} vs single process); {per_segment:.1f} worker-s per segment")
    print(f"driver alone (PNG decode + H.264 encode): {drv:.0f} fps")


if __name__ == "__main__":
    main()
