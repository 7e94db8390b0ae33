"""Flicker benchmark: warping error with and without temporal smoothing, its deviation from the
per-frame stylization, and the smoother's extra time per frame.

    python bench/temporal.py [--model assets/models/light8.onnx] [--clip assets/samples/pedestrians.mp4 | pan]
                             [--height 270] [--smooth 0.8] [--frames 60]
``--clip pan`` is a synthetic camera pan (3 px a frame) across the sample photo at 480 x height.
Prints a markdown table; paste it with the command, machine and date into docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.modelfile import default_model  # noqa: E402
from bench.clips import panning_clip, read_clip  # noqa: E402
from engine.frames import load_image  # noqa: E402
from engine.processor import FrameProcessor, StyleSettings  # noqa: E402
from engine.stylizers import load_stylizer  # noqa: E402
from engine.temporal import TemporalSmoother  # noqa: E402
from bench.flicker import deviation_from_per_frame, warping_error  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default=None)
    p.add_argument("--clip", default="assets/samples/pedestrians.mp4")
    p.add_argument("--height", type=int, default=270)
    p.add_argument("--smooth", type=float, default=0.8)
    p.add_argument("--frames", type=int, default=60)
    args = p.parse_args()
    model = args.model or str(default_model("fast").path)
    stylizer = load_stylizer(model, "cpu")
    if args.clip == "pan":
        inputs = panning_clip(load_image(ROOT / "assets/samples/fruits.jpg"), round(args.height * 16 / 9) // 2 * 2,
                              args.height, args.frames)
    else:
        inputs = read_clip(args.clip, args.height, args.frames)
    print(f"# {platform.node()} {platform.machine()}, {time.strftime('%Y-%m-%d')}; model {Path(model).name}, "
          f"{len(inputs)} frames of {Path(args.clip).name} at {inputs[0].shape[1]}x{inputs[0].shape[0]}, smoothing {args.smooth}")
    print("| style | warping error per-frame | warping error smoothed | change | deviation from per-frame | smoother ms/frame |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in stylizer.style_names():
        per_frame = [FrameProcessor(stylizer, StyleSettings(mix={name: 1.0})).process(x)[0] for x in inputs]
        smoother = TemporalSmoother()
        t0 = time.perf_counter()
        smoothed = [smoother.apply(x, y, args.smooth) for x, y in zip(inputs, per_frame)]
        ms = (time.perf_counter() - t0) * 1e3 / len(inputs)
        e0, e1 = warping_error(inputs, per_frame), warping_error(inputs, smoothed)
        print(f"| {name} | {e0:.5f} | {e1:.5f} | {100 * (e1 - e0) / e0:+.0f}% | "
              f"{deviation_from_per_frame(smoothed, per_frame):.4f} | {ms:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
