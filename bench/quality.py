"""Fast net vs Gatys on held-out (photo, painting) pairs, measured with our VGG-16 loss network.

Issue target: the fast net's style loss within 2x of what Gatys reaches in 300 L-BFGS steps at the same
content weight. Gatys runs with the fast net's own training objective, read from the model file's
training config (content layer, style layers, alpha = content weight, beta = style weight; relative
losses), starting from the photo; both outputs are then scored with the same targets (the painting at the output size,
which is what Gatys optimises; the fast net was trained with targets at 384 px, a small handicap).

    python bench/quality.py [--model assets/models/light8.onnx] [--photos a.jpg b.jpg] [--styles starry wave]
                            [--size 256] [--steps 300]
Prints a markdown table; paste it with the command, machine and date into docs/benchmarks.md or the model card.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.modelfile import default_model  # noqa: E402
from engine.stylizers import FrameProcessor, StyleSettings, load_stylizer  # noqa: E402
from training.data import load_rgb  # noqa: E402
from training.gatys import GatysConfig, GatysLoss, resize_longest, run_gatys  # noqa: E402
from training.models.vgg import load_vgg16  # noqa: E402



def square(path: Path, size: int) -> np.ndarray:
    im = load_rgb(path)
    side = min(im.size)
    left, top = (im.width - side) // 2, (im.height - side) // 2
    return np.asarray(im.crop((left, top, left + side, top + side)).resize((size, size)))


def tensor(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(rgb.astype(np.float32) / 255.0).permute(2, 0, 1)[None].contiguous()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None)
    p.add_argument("--photos", nargs="+", default=[str(ROOT / "assets/samples/fruits.jpg")])
    p.add_argument("--styles", nargs="*", default=None, help="built-in style names (default: all)")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--steps", type=int, default=300)
    args = p.parse_args()
    model = args.model or str(default_model("fast").path)
    fast = load_stylizer(model, "cpu")
    meta = {s["name"]: s for s in json.loads((ROOT / "assets/styles/styles.json").read_text())}
    names = args.styles or fast.style_names()
    train = json.loads(fast.info.metadata["training_config"])
    cfg = GatysConfig(content_layers=[train["content_layer"]], style_layers=train["style_layers"],
                      alpha=train["content_weight"], beta=train["style_weight"], steps=args.steps, size=args.size,
                      init="content", coarse_to_fine=False)
    vgg = load_vgg16(None, last_layer="relu5_1").eval()
    print(f"# {platform.node()} {platform.machine()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}; "
          f"`python bench/quality.py {' '.join(sys.argv[1:])}`; model {Path(model).name}; "
          f"alpha {cfg.alpha:g}, beta {cfg.beta:g}, content {cfg.content_layers}, style {cfg.style_layers}")
    print("| photo | style | fast style loss | Gatys style loss (L-BFGS, --steps) | ratio | fast content loss | Gatys content loss | Gatys time |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    ratios = []
    for photo in args.photos:
        c = square(Path(photo), args.size)
        for name in names:
            painting = tensor(np.asarray(load_rgb(ROOT / "assets/styles" / meta[name]["file"], 1024)))
            fast_out = FrameProcessor(fast, StyleSettings(mix={name: 1.0}, process_height=args.size)).process(c)[0]
            t0 = time.perf_counter()
            gatys_out = run_gatys(vgg, tensor(c), [(painting, 1.0)], cfg)
            seconds = time.perf_counter() - t0
            score = GatysLoss(vgg, tensor(c), [(resize_longest(painting, args.size), 1.0)], cfg)  # Gatys' own targets
            with torch.no_grad():
                _, fc, fs = score(tensor(fast_out))
                _, gc, gs = score(gatys_out)
            ratios.append(fs / gs)
            print(f"| {Path(photo).name} | {name} | {fs:.3f} | {gs:.3f} | {fs / gs:.2f}x | {fc:.3f} | {gc:.3f} | {seconds:.0f} s |",
                  flush=True)
    print(f"\nmean ratio {np.mean(ratios):.2f}x, worst {np.max(ratios):.2f}x (target: within 2x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
