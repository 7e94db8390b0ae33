"""Person and background: what region modes cost per frame, and how they look.

    python bench/regions.py [--out docs/models/regions] [--photos a.jpg b.png ...] [--runs 30]

1. Cost, median of --runs frames each, whole frame and region frames in turn, on this machine: the built-in fast net on the whole frame, and with the
   background styled (the person kept): segmentation (the model at its own size, the mask back to the
   processing size, feathered, steadied) and the blend included, at 480x270 and at 1280x720 processing,
   through FrameProcessor.process (one thread: model and finishing one after the other).
2. A sheet per photo (with --out): the photo, the whole frame styled, the background only, the person only,
   and the two in different styles (background starry, person wave).
Photos: frame 40 of the sample clip, the corpus's cv_messi5.jpg and the Mona Lisa when the corpus is built
(`python -m training corpus`), scikit-image's astronaut when it is installed, and any --photos.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.frames import load_image, save_image  # noqa: E402
from engine.processor import FrameProcessor, StyleSettings  # noqa: E402
from engine.setup import open_segmenter, open_stylizer  # noqa: E402
from bench.clips import read_clip  # noqa: E402

MODES = [("whole frame", dict(region="all")), ("background only", dict(region="background")),
         ("person only", dict(region="person")), ("background starry, person wave", dict(region="background",
                                                                                           person_mix={"wave": 1.0}))]


def photos(extra: list[str]) -> list[tuple[str, np.ndarray]]:
    out = [("sample clip, frame 40", read_clip(str(ROOT / "assets" / "samples" / "pedestrians.mp4"), 576, 41)[40])]
    for p in ("cache/corpus/content/cv_messi5.jpg", "cache/corpus/styles/monalisa.png"):
        if (ROOT / p).is_file():
            out.append((Path(p).stem, load_image(ROOT / p)))
    try:
        from skimage import data
        out.append(("astronaut", data.astronaut()))
    except ImportError:
        pass
    return out + [(Path(p).stem, load_image(p)) for p in extra]


def costs(stylizer, segmenter, frame: np.ndarray, height: int, runs: int) -> tuple[float, float]:
    """Median ms per frame, whole frame and background only, the two measured in turn (frame by frame), so a
    change in the machine's load touches both alike."""
    whole = FrameProcessor(stylizer, StyleSettings(mix={"starry": 1.0}, process_height=height))
    region = FrameProcessor(stylizer, StyleSettings(mix={"starry": 1.0}, process_height=height, region="background"),
                            segmenter)
    times: dict[int, list[float]] = {0: [], 1: []}
    for i in range(2 * runs + 2):
        processor = (whole, region)[i % 2]
        t0 = time.perf_counter()
        processor.process(frame)
        if i >= 2:  # the first of each: allocation
            times[i % 2].append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times[0]), statistics.median(times[1])


def sheet(stylizer, segmenter, name: str, rgb: np.ndarray) -> np.ndarray:
    cells = [("photo", rgb)]
    for label, extra in MODES:
        settings = StyleSettings(mix={"starry": 1.0}, **extra)
        segmenter.reset()
        cells.append((label, FrameProcessor(stylizer, settings, segmenter).process(rgb)[0]))
    row = []
    for label, img in cells:
        h, w = img.shape[:2]
        cell = cv2.resize(img, (360, round(h * 360 / w)), interpolation=cv2.INTER_AREA)
        bar = np.full((22, 360, 3), 255, np.uint8)
        cv2.putText(bar, label, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        row.append(np.vstack([bar, cell]))
    return np.hstack(row)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, help="folder for the sheets (JPEG)")
    ap.add_argument("--photos", nargs="*", default=[])
    ap.add_argument("--runs", type=int, default=30)
    args = ap.parse_args()
    stylizer, segmenter = open_stylizer(None, "fast", "cpu"), open_segmenter(None, "cpu")
    frame = cv2.resize(photos([])[0][1], (1280, 720), interpolation=cv2.INTER_LINEAR)
    print(f"# `python bench/regions.py`: {stylizer.info.name} + {segmenter.info.name}, {time.strftime('%Y-%m-%d')}, "
          f"median of {args.runs} frames, one thread of calls\n")
    print("| processing size | whole frame, ms | background only, ms | region / whole |\n|---|---:|---:|---:|")
    for height in (270, 720):
        whole, region = costs(stylizer, segmenter, frame, height, args.runs)
        print(f"| {round(1280 * height / 720)}x{height} | {whole:.1f} | {region:.1f} | {region / whole:.2f} |")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        for name, rgb in photos(args.photos):
            path = save_image(args.out / f"{name.split(',')[0].replace(' ', '_')}.jpg", sheet(stylizer, segmenter, name, rgb))
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
