"""Fast net vs Gatys on held-out (photo, painting) pairs, measured with our VGG-16 loss network.

Issue target: the fast net's style loss within 2x of what Gatys reaches in 300 L-BFGS steps at the same
content weight. Gatys runs with the fast net's own training objective, read from the model file's
training config (content layer, style layers, alpha = content weight, beta = style weight; relative
losses), starting from the photo; both outputs are then scored with the same targets (the painting at the output size,
which is what Gatys optimises; the fast nets computed theirs at their --style-size, 320 px for light8/full8: a small handicap).

    python bench/quality.py [--model assets/models/light8.onnx assets/models/full8.onnx] [--photos a.jpg b.jpg]
                            [--styles starry wave] [--pairing all|cycle] [--size 256] [--steps 300]
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

OBJECTIVE = ("content_layer", "style_layers", "content_weight", "style_weight")


def square(path: Path, size: int) -> np.ndarray:
    im = load_rgb(path)
    side = min(im.size)
    left, top = (im.width - side) // 2, (im.height - side) // 2
    return np.asarray(im.crop((left, top, left + side, top + side)).resize((size, size)))


def tensor(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(rgb.astype(np.float32) / 255.0).permute(2, 0, 1)[None].contiguous()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", nargs="+", default=None,
                   help="fast net(s) scored against the same Gatys result; all must share the training objective")
    p.add_argument("--photos", nargs="+", default=[str(ROOT / "assets/samples/fruits.jpg")])
    p.add_argument("--styles", nargs="*", default=None, help="built-in style names (default: all)")
    p.add_argument("--pairing", choices=("all", "cycle"), default="all",
                   help="all: every photo with every style; cycle: style i with photo i mod len(photos)")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--steps", type=int, default=300)
    args = p.parse_args()
    paths = args.model or [str(default_model("fast", "cpu").path)]
    nets = [load_stylizer(m, "cpu") for m in paths]
    not_fast = [Path(m).name for m, n in zip(paths, nets) if n.info.family != "fast"]
    if not_fast:
        p.error(f"only fast nets have a fixed training objective to compare with Gatys: {', '.join(not_fast)}")
    objectives = [{k: json.loads(n.info.metadata["training_config"])[k] for k in OBJECTIVE} for n in nets]
    if any(o != objectives[0] for o in objectives):
        p.error("the models were trained with different objectives; score them in separate runs")
    meta = {s["name"]: s for s in json.loads((ROOT / "assets/styles/styles.json").read_text())}
    names = args.styles or nets[0].style_names()
    if args.pairing == "all":
        pairs = [(photo, name) for photo in args.photos for name in names]
    else:
        pairs = [(args.photos[i % len(args.photos)], name) for i, name in enumerate(names)]
    train = objectives[0]
    cfg = GatysConfig(content_layers=[train["content_layer"]], style_layers=train["style_layers"],
                      alpha=train["content_weight"], beta=train["style_weight"], steps=args.steps, size=args.size,
                      init="content", coarse_to_fine=False)
    vgg = load_vgg16(None, last_layer="relu5_1").eval()
    labels = [Path(m).stem for m in paths]
    print(f"# {platform.node()} {platform.machine()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}; "
          f"`python bench/quality.py {' '.join(sys.argv[1:])}`; models {', '.join(labels)}; "
          f"alpha {cfg.alpha:g}, beta {cfg.beta:g}, content {cfg.content_layers}, style {cfg.style_layers}")
    head = "| photo | style | Gatys style | Gatys content | " + " | ".join(f"{l} style | ratio | {l} content" for l in labels) + " | Gatys time |"
    print(head)
    print("|---|---|" + "---:|" * (head.count("|") - 3))
    ratios: list[list[float]] = [[] for _ in labels]
    for photo, name in pairs:
        c = square(Path(photo), args.size)
        painting = tensor(np.asarray(load_rgb(ROOT / "assets/styles" / meta[name]["file"], 1024)))
        t0 = time.perf_counter()
        gatys_out = run_gatys(vgg, tensor(c), [(painting, 1.0)], cfg)
        seconds = time.perf_counter() - t0
        score = GatysLoss(vgg, tensor(c), [(resize_longest(painting, args.size), 1.0)], cfg)  # Gatys' own targets
        with torch.no_grad():
            _, gc, gs = score(gatys_out)
        cells = []
        for k, net in enumerate(nets):
            out = FrameProcessor(net, StyleSettings(mix={name: 1.0}, process_height=args.size)).process(c)[0]
            with torch.no_grad():
                _, fc, fs = score(tensor(out))
            ratios[k].append(fs / gs)
            cells.append(f"{fs:.3f} | {fs / gs:.2f}x | {fc:.3f}")
        print(f"| {Path(photo).name} | {name} | {gs:.3f} | {gc:.3f} | {' | '.join(cells)} | {seconds:.0f} s |", flush=True)
    print()
    for label, r in zip(labels, ratios):
        print(f"{label}: mean ratio {np.mean(r):.2f}x, median {np.median(r):.2f}x, worst {np.max(r):.2f}x "
              f"over {len(r)} pairs (target: within 2x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
