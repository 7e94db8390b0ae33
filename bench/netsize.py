"""Size the CPU live net by measurement: model-only fps of candidate fast-net shapes at 480x270.

Each candidate is built untrained (speed does not depend on the weights), exported with the same
exporter as a trained model, and timed with ONNX Runtime on the CPU provider (session.run back to
back, intra-op threads = all cores), the way `stylecast bench` times model files.

    python bench/netsize.py [--seconds 4] [--size 480x270]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from export.onnx_export import _export  # noqa: E402
from training.models.transformer import FastNetConfig, TransformerNet, macs_per_pixel  # noqa: E402

CANDIDATES = {
    "light (8-16-32, 4 res, 7x7)": dict(channels=(8, 16, 32), n_residual=4, outer_kernel=7),
    "mid (8-24-64, 4 res, 5x5)": dict(channels=(8, 24, 64), n_residual=4, outer_kernel=5),
    "12-24-48, 4 res, 5x5": dict(channels=(12, 24, 48), n_residual=4, outer_kernel=5),
    "12-32-64, 3 res, 5x5": dict(channels=(12, 32, 64), n_residual=3, outer_kernel=5),
    "16-32-64, 3 res, 5x5": dict(channels=(16, 32, 64), n_residual=3, outer_kernel=5),
    "16-32-64, 3 res, 9x9": dict(channels=(16, 32, 64), n_residual=3, outer_kernel=9),
    "16-32-64, 4 res, 5x5": dict(channels=(16, 32, 64), n_residual=4, outer_kernel=5),
    "12-24-64, 4 res, 5x5": dict(channels=(12, 24, 64), n_residual=4, outer_kernel=5),
    "16-32-96, 3 res, 5x5": dict(channels=(16, 32, 96), n_residual=3, outer_kernel=5),
    "full (32-64-128, 5 res, 9x9)": dict(channels=(32, 64, 128), n_residual=5, outer_kernel=9),
}


def time_candidate(shape: dict, size: tuple[int, int], seconds: float, n_styles: int = 8) -> float:
    cfg = FastNetConfig(style_names=[f"s{i}" for i in range(n_styles)], **shape)
    net = TransformerNet(cfg).eval()
    w, h = size
    x = torch.rand(1, 3, h, w)
    sw = net.one_hot(0)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "net.onnx"
        _export(net, (x, sw), path, ["image", "style_weights"], ["output"],
                {"image": {2: "h", 3: "w"}, "output": {2: "h", 3: "w"}})
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = os.cpu_count() or 1
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    feed = {"image": x.numpy(), "style_weights": sw.numpy().astype(np.float32)}
    for _ in range(3):
        sess.run(None, feed)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        sess.run(None, feed)
        n += 1
    return n / (time.perf_counter() - t0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--size", default="480x270")
    args = ap.parse_args(argv)
    size = tuple(int(v) for v in args.size.lower().split("x"))
    print(f"| shape | MACs/px | fps at {args.size} |\n|---|---:|---:|")
    for name, shape in CANDIDATES.items():
        macs = macs_per_pixel(FastNetConfig(**shape))
        fps = time_candidate(shape, size, args.seconds)
        print(f"| {name} | {macs:,.0f} | {fps:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
