"""Interleaved A/B timing of two stylize graphs, fast nets or AdaIN models (same input, same threads,
alternating rounds, so machine drift hits both alike). For graph-level changes that should not change the outputs.

    python bench/graph_ab.py A.onnx B.onnx [--size 480x270] [--threads 2] [--rounds 10] [--runs 8]
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time

from pathlib import Path

import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: bench/ is not installed

from engine.errors import ModelError  # noqa: E402
from engine.sessions import make_session  # noqa: E402


def parse_size(text: str) -> tuple[int, int]:
    """'480x270' -> (480, 270); ValueError otherwise."""
    w, h = (int(v) for v in text.lower().split("x"))
    if w <= 0 or h <= 0:
        raise ValueError(text)
    return w, h


def model_feed(session: ort.InferenceSession, width: int, height: int) -> dict[str, np.ndarray]:
    """Inputs for a stylize graph: a random frame padded as the engine pads it. A fast net: style 0 (and an empty
    style code where the graph takes one). An AdaIN model: flat style statistics at full strength (the kernels'
    time does not hang on the values)."""
    inputs = {i.name: i for i in session.get_inputs()}
    rng = np.random.default_rng(0)
    if list(inputs)[:2] == ["image", "style_weights"]:
        weights = np.zeros((1, inputs["style_weights"].shape[1]), np.float32)
        weights[0, 0] = 1.0
        feed = {"image": _frame(rng, width, height, 4), "style_weights": weights}
        if "style_code" in inputs:  # a net that takes learned styles: none in the mix
            feed["style_code"] = np.zeros((1, inputs["style_code"].shape[1]), np.float32)
        return feed
    if sorted(inputs) == ["alpha", "content", "mean", "std"]:
        channels = inputs["mean"].shape[1]
        return {"content": _frame(rng, width, height, 8), "mean": np.full((1, channels, 1, 1), 0.5, np.float32),
                "std": np.ones((1, channels, 1, 1), np.float32), "alpha": np.ones(1, np.float32)}
    raise ValueError(f"not a fast-net or AdaIN stylize graph (inputs {list(inputs)})")


def _frame(rng: np.random.Generator, width: int, height: int, multiple: int) -> np.ndarray:
    return rng.random((1, 3, height + (-height) % multiple, width + (-width) % multiple), dtype=np.float32)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs=2)
    p.add_argument("--size", default="480x270")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--runs", type=int, default=8, help="session.run calls per round")
    args = p.parse_args()
    try:
        w, h = parse_size(args.size)
    except ValueError:
        p.error(f"--size wants WIDTHxHEIGHT, like 480x270 (got {args.size!r})")
    sessions, feeds = [], []
    for path in args.models:
        try:  # the engine's own session settings (all graph optimisations, so NCHWc on x86), on the CPU
            s, _ = make_session(path, "cpu", args.threads)
            feed = model_feed(s, w, h)
        except (ModelError, ValueError) as exc:
            print(f"graph_ab: {path}: {exc}", file=sys.stderr)
            return 2
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
