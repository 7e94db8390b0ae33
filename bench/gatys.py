"""Gatys timing: wall time of N L-BFGS steps at a given size, on CPU or CUDA (issue target: 300 steps at
512x512 in at most 15 s on an H100). torch + numpy + Pillow only, so it runs on the GPU box as is.

    python bench/gatys.py [--size 512] [--steps 300] [--device cuda] [--content assets/samples/fruits.jpg]
                          [--style assets/styles/starry.jpg]
Prints one markdown row; paste it with the command, machine and date into docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.common import pick_device  # noqa: E402
from training.data import load_rgb, to_tensor  # noqa: E402
from training.gatys import GatysConfig, run_gatys  # noqa: E402
from training.models.vgg import load_vgg16  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--content", default="assets/samples/fruits.jpg")
    p.add_argument("--style", default="assets/styles/starry.jpg")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--device", default="auto")
    args = p.parse_args()
    device = pick_device(args.device)
    cfg = GatysConfig(size=args.size, steps=args.steps, coarse_to_fine=False)
    vgg = load_vgg16(None, last_layer="relu5_1").to(device)
    # a square crop, so "512" means 512x512 as in the target
    content = load_rgb(args.content)
    side = min(content.size)
    content = content.crop((0, 0, side, side))
    c = to_tensor(content)[None]
    s = to_tensor(load_rgb(args.style, 1024))[None]
    run_gatys(vgg, c, [(s, 1.0)], GatysConfig(size=64, steps=3))  # warm-up: cuDNN autotune, allocator
    if device.type == "cuda":
        torch.cuda.synchronize()
    history: list = []
    t0 = time.perf_counter()
    out = run_gatys(vgg, c, [(s, 1.0)], cfg, history=history)
    if device.type == "cuda":
        torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    print("| device | size | L-BFGS steps | wall | per step | final loss |")
    print("|---|---|---|---|---|---|")
    print(f"| {name} | {out.shape[-1]}x{out.shape[-2]} | {args.steps} | {wall:.1f} s | {1000 * wall / args.steps:.0f} ms "
          f"| {history[-1]['loss']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
