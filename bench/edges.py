"""Lines along the frame edges: how far the outer pixels of FrameProcessor's output stray from what the
net gives those pixels when they are far from its input's edges (a 64 px mirrored margin, cropped), for
the padding the processor uses (a mirrored margin of EDGE_MARGIN_CELLS pad multiples on every side) and
for bottom/right padding to the pad multiple only (as the processor padded before).

    python bench/edges.py [--model assets/models/mid8.int8.onnx] [--clip assets/samples/pedestrians.mp4]
                          [--heights 270,180,144,360,0] [--frame 0] [--png /tmp/ghost/edges.png]
                          [--style-image assets/styles/starry.jpg (an AdaIN model)]

Per height: mean |output - reference| (grey levels) over the outer 2 px ring, the worst single row or
column among the outer 4 px, and the interior (16 px in) for scale. ``--png``: the corners at the first
height, 6x, nearest neighbour: bottom/right padding above, the processor's margin below.
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

from engine.frames import fit_size, pad_to_multiple, pad_with_margin  # noqa: E402
from engine.processor import EDGE_MARGIN_CELLS, StyleSettings  # noqa: E402
from engine.setup import build_processor  # noqa: E402
from engine.sources import VideoFileSource  # noqa: E402

REFERENCE_MARGIN = 64


def edge_errors(out: np.ndarray, ref: np.ndarray) -> tuple[float, float, float]:
    """(outer 2 px ring, worst row/column of the outer 4 px, interior) mean |out - ref| in grey levels."""
    d = np.abs(out.astype(np.float32) - ref.astype(np.float32)).mean(axis=2)
    ring = np.concatenate([d[:2].ravel(), d[-2:].ravel(), d[2:-2, :2].ravel(), d[2:-2, -2:].ravel()])
    lines = np.concatenate([d[:4].mean(axis=1), d[-4:].mean(axis=1), d[:, :4].mean(axis=0), d[:, -4:].mean(axis=0)])
    return float(ring.mean()), float(lines.max()), float(d[16:-16, 16:-16].mean())


def corners(img: np.ndarray, zoom: int = 6) -> np.ndarray:
    parts = [img[:24, :32], img[:24, -32:], img[-24:, :32], img[-24:, -32:]]
    big = [cv2.resize(p, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST) for p in parts]
    gap = np.full((big[0].shape[0], 6, 3), 255, np.uint8)
    return np.concatenate([big[0], gap, big[1], gap, big[2], gap, big[3]], axis=1)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="assets/models/mid8.int8.onnx")
    p.add_argument("--clip", default="assets/samples/pedestrians.mp4")
    p.add_argument("--heights", default="270,180,144,360,0", help="processing heights; 0 = the clip's own")
    p.add_argument("--style-image", default=None, help="for an AdaIN model")
    p.add_argument("--frame", type=int, default=0)
    p.add_argument("--png", default=None)
    args = p.parse_args()
    source = VideoFileSource(args.clip)
    for _ in range(args.frame + 1):
        frame = source.read().image
    source.close()
    print(f"# {platform.node()} {platform.machine()}, {time.strftime('%Y-%m-%d')}; model {Path(args.model).name}, "
          f"frame {args.frame} of {Path(args.clip).name}; grey levels against a {REFERENCE_MARGIN} px mirrored margin")
    print("| size | outer 2 px, bottom/right pad | worst edge line | interior | outer 2 px, margin | worst edge line "
          "| interior |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    sheet = None
    for height in (int(x) for x in args.heights.split(",")):
        processor = build_processor(StyleSettings(process_height=height or None), model=args.model, provider="cpu",
                                    style_images={args.style_image: 1.0} if args.style_image else None)
        stylizer, mix = processor.stylizer, processor.settings.mix
        h, w = frame.shape[:2]
        pw, ph = fit_size(w, h, height or None)
        small = cv2.resize(frame, (pw, ph), interpolation=cv2.INTER_AREA) if (pw, ph) != (w, h) else frame
        k = stylizer.info.pad_multiple
        old = stylizer.stylize(pad_to_multiple(small, k)[0], mix, 1.0)[:ph, :pw]
        new = processor.process(small)[0]
        padded, (top, left, _, _) = pad_with_margin(small, k, REFERENCE_MARGIN)
        ref = stylizer.stylize(padded, mix, 1.0)[top:top + ph, left:left + pw]
        (o_ring, o_line, o_inner), (n_ring, n_line, n_inner) = edge_errors(old, ref), edge_errors(new, ref)
        print(f"| {pw}x{ph} | {o_ring:.1f} | {o_line:.1f} | {o_inner:.1f} | {n_ring:.1f} | {n_line:.1f} "
              f"| {n_inner:.1f} |", flush=True)
        if args.png and sheet is None:
            sheet = np.concatenate([corners(old), np.full((6, corners(old).shape[1], 3), 255, np.uint8), corners(new)])
            cv2.imwrite(args.png, cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
            print(f"# corners at {pw}x{ph}: bottom/right padding above, {EDGE_MARGIN_CELLS * k} px margin below "
                  f"-> {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
