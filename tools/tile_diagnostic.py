"""Is a fast net's pattern set by the size of its training crops? Stylize a photo whole and as separate
tiles of the training crop size, side by side (photo | whole | tiles), one row per style.

    python tools/tile_diagnostic.py assets/models/mid8.onnx "assets/samples/pedestrians.mp4#40" \
        --styles wave night_cafe kandinsky --size 320 --tile 160 --out runs/mid8_tiles.jpg

If every tile carries its own blotches at the density of the whole image, the blotches are what the loss
asks of each crop (each crop's Gram must hold the painting's whole palette), not something the net fails
to learn. (The light-layout loss, `--layout-weight`, is what removed mid8's blotches.)
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from engine.errors import StyleCastError  # noqa: E402
from engine.processor import FrameProcessor, StyleSettings  # noqa: E402
from engine.stylizers import load_stylizer  # noqa: E402
from quality import load_photo  # noqa: E402


def stylize(stylizer, rgb: np.ndarray, style: str) -> np.ndarray:
    return FrameProcessor(stylizer, StyleSettings(mix={style: 1.0}, process_height=rgb.shape[0])).process(rgb)[0]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model")
    p.add_argument("photo", help="an image, or a video frame as clip.mp4#N")
    p.add_argument("--styles", nargs="+", required=True)
    p.add_argument("--size", type=int, default=320, help="side of the centre square taken from the photo, px")
    p.add_argument("--tile", type=int, default=160, help="tile side, px (the training crop size)")
    p.add_argument("--out", required=True, help=".jpg or .png")
    args = p.parse_args(argv)
    try:
        stylizer = load_stylizer(args.model, "cpu")
        photo = load_photo(args.photo, args.size)
        unknown = [s for s in args.styles if s not in stylizer.style_names()]
        if unknown:
            raise ValueError(f"{Path(args.model).name} has no style {', '.join(unknown)} "
                             f"(it has {', '.join(stylizer.style_names())})")
        if args.tile < 16:
            raise ValueError("--tile must be at least 16 px")
        if Path(args.out).suffix.lower() not in (".jpg", ".jpeg", ".png"):
            raise ValueError(f"--out must end in .jpg or .png, not {Path(args.out).name}")
    except (StyleCastError, OSError, ValueError, SystemExit) as exc:  # load_photo exits on a missing frame
        print(f"tile_diagnostic: {exc}", file=sys.stderr)
        return 2
    h, w = photo.shape[:2]
    rows = []
    for style in args.styles:
        tiled = np.zeros_like(photo)
        for y in range(0, h, args.tile):
            for x in range(0, w, args.tile):
                tile = np.ascontiguousarray(photo[y:y + args.tile, x:x + args.tile])
                tiled[y:y + args.tile, x:x + args.tile] = stylize(stylizer, tile, style)
        rows.append(np.concatenate([photo, stylize(stylizer, photo, style), tiled], axis=1))
    sheet = cv2.cvtColor(np.concatenate(rows, axis=0), cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(args.out, sheet, [cv2.IMWRITE_JPEG_QUALITY, 88]):
        print(f"tile_diagnostic: could not write {args.out}", file=sys.stderr)
        return 2
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
