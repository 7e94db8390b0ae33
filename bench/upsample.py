"""Stylize small, show sharp: guided upsampling (engine/upsample.py) against a plain bilinear resize.

Measures
  1. time: the stylized picture at 320x180 and 480x270 brought to 1280x720, median of --runs calls each,
     guided_upsample (coefficients at the small size included) against cv2.resize INTER_LINEAR of the
     uint8 picture (what the live pipeline did before). Printed as a markdown table.
  2. looks: one sheet (JPEG) per photo, stylized with the default fast net on the CPU: "stylized at full
     size", "stylized small + plain resize", "stylized small + guided upsampling" (and any --variants),
     an overview row (the whole pictures, downscaled) and rows of 2x zoomed details (nearest neighbour).

    python bench/upsample.py --out docs/models/upsampling [--runs 50] [--style starry] [--height 180]
                             [--radius R --eps E] [--variants 2:0.01,1:0.001] [--no-sheets]

Photos: animal faces from cache/corpus/content (1920x1080, brought to 1280x720), frame 40 of
assets/samples/pedestrians.mp4 at its own 768x576, and scikit-image's astronaut when it is installed.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import cpu_name  # noqa: E402
from engine.frames import fit_size, load_image, pad_with_margin, save_image  # noqa: E402
from engine.processor import EDGE_MARGIN_CELLS  # noqa: E402
from engine.setup import open_stylizer  # noqa: E402
from engine.upsample import DEFAULT_EPS, DEFAULT_RADIUS, guided_upsample  # noqa: E402

FULL = (1280, 720)
TIMING_SIZES = ((320, 180), (480, 270))
CELL_WIDTH = 640
# name, source, details (x, y of a 320x180 window at the photo's full size), shown 2x
PHOTOS = (
    ("macaque", "corpus:gc_erase_macaque.jpg", ((620, 250), (840, 130))),
    ("red_panda", "corpus:gc_erase_red_panda.jpg", ((470, 230), (560, 430))),
    ("pedestrians", "clip:assets/samples/pedestrians.mp4:40", ((330, 150), (300, 40))),
    ("astronaut", "astronaut", ((560, 120), (470, 380))),
)
DETAIL = (320, 180)


def to_720p(rgb: np.ndarray) -> np.ndarray:
    """Centre crop to 16:9, then INTER_AREA to 1280x720."""
    h, w = rgb.shape[:2]
    cw, ch = min(w, h * 16 // 9), min(h, w * 9 // 16)
    x, y = (w - cw) // 2, (h - ch) // 2
    return cv2.resize(rgb[y:y + ch, x:x + cw], FULL, interpolation=cv2.INTER_AREA)


def load_photo(source: str) -> np.ndarray | None:
    """RGB uint8; None when the photo is not on this machine."""
    if source.startswith("corpus:"):
        path = ROOT / "cache/corpus/content" / source.split(":", 1)[1]
        return to_720p(load_image(path)) if path.is_file() else None
    if source.startswith("clip:"):
        _, clip, index = source.split(":")
        capture = cv2.VideoCapture(str(ROOT / clip))
        capture.set(cv2.CAP_PROP_POS_FRAMES, int(index))
        ok, bgr = capture.read()
        capture.release()
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) if ok else None
    if source == "astronaut":
        try:
            from skimage import data  # type: ignore[import-not-found]
        except ImportError:
            return None
        return to_720p(np.ascontiguousarray(data.astronaut()))
    raise ValueError(f"unknown photo source {source!r}")


def stylize(stylizer, rgb: np.ndarray, mix: dict[str, float]) -> np.ndarray:
    """As FrameProcessor does: a mirrored margin of EDGE_MARGIN_CELLS pad multiples, cropped back."""
    k = stylizer.info.pad_multiple
    padded, (top, left, h, w) = pad_with_margin(rgb, k, EDGE_MARGIN_CELLS * k)
    out = stylizer.stylize(padded, mix, 1.0)[top:top + h, left:left + w]
    return stylizer.apply_strength(np.ascontiguousarray(out), rgb, 1.0)


def median_ms(fn, runs: int) -> float:
    fn()  # warm-up: work arrays, OpenCV's thread pool
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def timing_table(photo: np.ndarray, runs: int, radius: int, eps: float) -> None:
    print(f"# `{' '.join(['python', *sys.argv])}`")
    print(f"# {cpu_name()}, {platform.machine()}, OpenCV {cv2.__version__} ({cv2.getNumThreads()} threads), "
          f"{time.strftime('%Y-%m-%d')}; median of {runs} runs; radius {radius}, eps {eps:g}")
    print()
    print("| stylized size -> shown size | plain resize (INTER_LINEAR) | guided upsampling | difference |")
    print("|---|---:|---:|---:|")
    for size in TIMING_SIZES:
        small = cv2.resize(photo, size, interpolation=cv2.INTER_AREA)
        low = cv2.GaussianBlur(small, (0, 0), 1.0)  # a stand-in for the stylized picture: timing only
        plain = median_ms(lambda: cv2.resize(low, FULL, interpolation=cv2.INTER_LINEAR), runs)
        guided = median_ms(lambda: guided_upsample(low, small, photo, radius, eps), runs)
        print(f"| {size[0]}x{size[1]} -> {FULL[0]}x{FULL[1]} | {plain:.2f} ms | {guided:.2f} ms "
              f"| +{guided - plain:.2f} ms |")
    print()


def labelled(image: np.ndarray, text: str, width: int = CELL_WIDTH) -> np.ndarray:
    """``image`` on a white cell ``width`` wide with a caption strip above."""
    cell = np.full((image.shape[0] + 28, width, 3), 255, np.uint8)
    cell[28:, :image.shape[1]] = image[:, :width]
    cv2.putText(cell, text, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    return cell


def sheet(columns: dict[str, np.ndarray], details: tuple[tuple[int, int], ...]) -> np.ndarray:
    """Overview row (each picture CELL_WIDTH wide), then one row of 2x details per (x, y)."""
    rows = [_row(columns, lambda name: name, _overview)]
    for at in details:
        rows.append(_row(columns, lambda name, at=at: f"{name.split(' (')[0]}: 2x at {at[0]},{at[1]}",
                         lambda img, at=at: _detail(img, at)))
    gap = np.full((6, rows[0].shape[1], 3), 255, np.uint8)
    return np.concatenate([part for row in rows for part in (row, gap)][:-1])


def _row(columns: dict[str, np.ndarray], caption, picture, gap: int = 6) -> np.ndarray:
    cells = [labelled(picture(img), caption(name)) for name, img in columns.items()]
    height = max(c.shape[0] for c in cells)
    cells = [np.pad(c, ((0, height - c.shape[0]), (0, gap), (0, 0)), constant_values=255) for c in cells]
    return np.concatenate(cells, axis=1)[:, :-gap]


def _overview(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    return cv2.resize(img, (CELL_WIDTH, round(h * CELL_WIDTH / w)), interpolation=cv2.INTER_AREA)


def _detail(img: np.ndarray, at: tuple[int, int]) -> np.ndarray:
    h, w = img.shape[:2]
    x, y = min(at[0], w - DETAIL[0]), min(at[1], h - DETAIL[1])
    crop = img[y:y + DETAIL[1], x:x + DETAIL[0]]
    return cv2.resize(crop, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)


def photo_sheet(stylizer, photo: np.ndarray, details, args) -> np.ndarray:
    mix = {args.style: 1.0}
    h, w = photo.shape[:2]
    pw, ph = fit_size(w, h, args.height)
    small = cv2.resize(photo, (pw, ph), interpolation=cv2.INTER_AREA)
    low = stylize(stylizer, small, mix)
    columns = {
        f"stylized at full size ({w}x{h})": stylize(stylizer, photo, mix),
        f"stylized at {pw}x{ph} + plain resize": cv2.resize(low, (w, h), interpolation=cv2.INTER_LINEAR),
        f"stylized at {pw}x{ph} + guided (r {args.radius}, eps {args.eps:g})":
            guided_upsample(low, small, photo, args.radius, args.eps),
    }
    for radius, eps in args.variants:
        columns[f"guided r {radius}, eps {eps:g}"] = guided_upsample(low, small, photo, radius, eps)
    return sheet(columns, details)


def parse_variants(text: str) -> list[tuple[int, float]]:
    out = []
    for item in filter(None, text.split(",")):
        radius, eps = item.split(":")
        out.append((int(radius), float(eps)))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="docs/models/upsampling", help="folder for the sheet PNGs")
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--style", default="starry")
    p.add_argument("--height", type=int, default=180, help="processing height of the sheets")
    p.add_argument("--radius", type=int, default=DEFAULT_RADIUS)
    p.add_argument("--eps", type=float, default=DEFAULT_EPS)
    p.add_argument("--variants", type=parse_variants, default=[], help="more guided columns: r:eps,r:eps")
    p.add_argument("--only", default="", help="comma-separated photo names (default: all)")
    p.add_argument("--no-sheets", action="store_true")
    p.add_argument("--no-timing", action="store_true")
    args = p.parse_args()
    photos = [(name, load_photo(source), details) for name, source, details in PHOTOS
              if not args.only or name in args.only.split(",")]
    if not args.no_timing:
        first = next((img for _, img, _ in photos if img is not None and img.shape[1] == FULL[0]), None)
        timing_table(first if first is not None else to_720p(np.random.default_rng(0).integers(
            0, 256, (720, 1280, 3), np.uint8)), args.runs, args.radius, args.eps)
    if args.no_sheets:
        return 0
    stylizer = open_stylizer(None, "fast", "cpu")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, photo, details in photos:
        if photo is None:
            print(f"# {name}: not on this machine, skipped")
            continue
        path = save_image(out / f"{name}.jpg", photo_sheet(stylizer, photo, details, args))
        print(f"# {name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
