"""Interleaved A/B timing of two fast-net ONNX files (same input, same threads, alternating rounds, so
machine drift hits both alike). For graph-level changes that should not change the outputs.

    python bench/graph_ab.py A.onnx B.onnx [--size 480x270] [--threads 2] [--rounds 10] [--runs 8]
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np
import onnxruntime as ort


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs=2)
    p.add_argument("--size", default="480x270")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--runs", type=int, default=8, help="session.run calls per round")
    args = p.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    x = np.random.default_rng(0).random((1, 3, h + (-h) % 4, w + (-w) % 4), dtype=np.float32)
    sessions, feeds = [], []
    for path in args.models:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = args.threads
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        s = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        n = s.get_inputs()[1].shape[1]
        weights = np.zeros((1, n), np.float32)
        weights[0, 0] = 1.0
        feed = {"image": x, "style_weights": weights}
        for _ in range(3):
            s.run(None, feed)
        sessions.append(s)
        feeds.append(feed)
    a, b = (s.run(None, f)[0] for s, f in zip(sessions, feeds))
    times: list[list[float]] = [[], []]
    for _ in range(args.rounds):
        for k, (s, f) in enumerate(zip(sessions, feeds)):
            t0 = time.perf_counter()
            for _ in range(args.runs):
                s.run(None, f)
            times[k].append((time.perf_counter() - t0) / args.runs)
    print(f"# {platform.node()} {platform.machine()}, {os.cpu_count()} cores, onnxruntime {ort.__version__}, "
          f"{time.strftime('%Y-%m-%d')}; `python bench/graph_ab.py {' '.join(sys.argv[1:])}`")
    for path, t in zip(args.models, times):
        print(f"{path}: median {1000 * np.median(t):.1f} ms ({1 / np.median(t):.1f} fps) at {w}x{h}, {args.threads} threads")
    print(f"B/A time {np.median(times[1]) / np.median(times[0]):.3f}; outputs differ by at most {np.abs(a - b).max():.2e}"
          " (same weights expected for a graph-only change)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
