"""Smoothing at low frame rates: flicker (warping error, bench/flicker.py) and ghosting, with and without
temporal smoothing, on a clip thinned to every ``--step``-th frame (a live preview that keeps up with
only one frame in ``step`` sees frames that far apart; the smoother is told the real time gap).

    python bench/ghosting.py [--model assets/models/full8.onnx] [--clip assets/samples/pedestrians.mp4]
                             [--height 0 (native)] [--step 6] [--frames 14] [--smooth 0.7] [--style starry]
                             [--png /tmp/ghost/side_by_side.png]

Ghosting: where the input changed at a pixel between two processed frames (something moved in or out),
the mean absolute difference (0..1) between the smoothed output and the per-frame stylization of the same
frame; and the share of those pixels where it exceeds 25/255 (a copy of what was there before, visible).
A smoother that backs off where motion leaves warping unreliable scores ~0 there and still lowers the
warping error elsewhere. Prints a markdown table; paste it with the command, CPU and date into
docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.flicker import deviation_from_per_frame, warping_error  # noqa: E402
from engine.processor import FrameProcessor, StyleSettings  # noqa: E402
from engine.sources import VideoFileSource  # noqa: E402
from engine.stylizers import load_stylizer  # noqa: E402
from engine.temporal import TemporalSmoother  # noqa: E402

CHANGE_LEVEL = 30.0  # grey levels (after a light blur): the input changed here between the two frames
VISIBLE_GHOST = 25.0  # grey levels of smoothed vs per-frame output: a ghost one can see


def moving_mask(cur: np.ndarray, prev: np.ndarray) -> np.ndarray:
    """True where the input changed in place between two frames (an object arrived or left), H x W bool."""
    diff = cv2.GaussianBlur(cur.astype(np.float32) - prev.astype(np.float32), (5, 5), 0)
    return np.abs(diff).max(axis=2) > CHANGE_LEVEL


def ghosting(inputs: list[np.ndarray], smoothed: list[np.ndarray], per_frame: list[np.ndarray]) -> tuple[float, float]:
    """(mean |smoothed - per-frame| in 0..1, share of pixels above VISIBLE_GHOST), over the pixels whose
    input changed in place since the previous frame, pooled over the clip."""
    total, visible, count = 0.0, 0, 0
    for t in range(1, len(inputs)):
        mask = moving_mask(inputs[t], inputs[t - 1])
        diff = np.abs(smoothed[t].astype(np.float32) - per_frame[t].astype(np.float32)).mean(axis=2)[mask]
        total += float(diff.sum())
        visible += int((diff > VISIBLE_GHOST).sum())
        count += diff.size
    return total / max(1, count) / 255, visible / max(1, count)


def read_every(path: str, step: int, frames: int, height: int | None) -> tuple[list[np.ndarray], float]:
    """Every ``step``-th frame of a clip (``frames`` of them) at ``height`` (None: as stored), and the clip's rate."""
    source = VideoFileSource(path)
    fps, out, i = float(source.fps), [], 0
    while len(out) < frames:
        f = source.read()
        if f is None:
            break
        if i % step == 0:
            image = f.image
            if height:
                h, w = image.shape[:2]
                image = cv2.resize(image, (round(w * height / h) // 2 * 2, height), interpolation=cv2.INTER_AREA)
            out.append(image)
        i += 1
    source.close()
    return out, fps


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="assets/models/full8.onnx")
    p.add_argument("--clip", default="assets/samples/pedestrians.mp4")
    p.add_argument("--height", type=int, default=0, help="processing height; 0 = the clip's own")
    p.add_argument("--step", type=int, default=6, help="keep every step-th frame (10 fps clip, 6: ~1.7 fps)")
    p.add_argument("--frames", type=int, default=14)
    p.add_argument("--smooth", type=float, default=0.7)
    p.add_argument("--style", default="starry")
    p.add_argument("--png", default=None, help="write input | per-frame | smoothed of the frame with most ghosting")
    args = p.parse_args()
    stylizer = load_stylizer(args.model, "cpu")
    inputs, fps = read_every(args.clip, args.step, args.frames, args.height or None)
    gap = args.step / fps
    processor = FrameProcessor(stylizer, StyleSettings(mix={args.style: 1.0}))
    per_frame = [processor.process(x)[0] for x in inputs]
    smoother = TemporalSmoother()
    t0 = time.perf_counter()
    smoothed = [smoother.apply(x, y, args.smooth, gap) for x, y in zip(inputs, per_frame)]
    ms = (time.perf_counter() - t0) * 1e3 / len(inputs)
    e0, e1 = warping_error(inputs, per_frame), warping_error(inputs, smoothed)
    g, share = ghosting(inputs, smoothed, per_frame)
    h, w = inputs[0].shape[:2]
    print(f"# {platform.node()} {platform.machine()}, {time.strftime('%Y-%m-%d')}; model {Path(args.model).name} "
          f"({args.style}), {len(inputs)} frames of {Path(args.clip).name} at {w}x{h}, every {args.step}. frame "
          f"({fps / args.step:.2f} fps, gap {gap:.2f} s), smoothing {args.smooth}")
    print("| warping error per-frame | warping error smoothed | change | ghosting | visible ghost pixels "
          "| deviation from per-frame | smoother ms/frame |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {e0:.5f} | {e1:.5f} | {100 * (e1 - e0) / e0:+.0f}% | {g:.4f} | {100 * share:.2f}% | "
          f"{deviation_from_per_frame(smoothed, per_frame):.4f} | {ms:.1f} |")
    if args.png:
        worst = max(range(1, len(inputs)), key=lambda t: ghosting(inputs[t - 1:t + 1], smoothed[t - 1:t + 1],
                                                                   per_frame[t - 1:t + 1])[1])
        sheet = np.concatenate([inputs[worst], per_frame[worst], smoothed[worst]], axis=1)
        cv2.imwrite(args.png, cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
        print(f"# frame {worst} (input | per-frame | smoothed) -> {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
