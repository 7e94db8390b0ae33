"""Where a stylize graph's time goes (a fast net or an AdaIN model): ONNX Runtime's own profiler, per node and
per operator type.

Runs a fast-net file (inputs ``image`` and ``style_weights``) or an AdaIN stylize graph at one frame size with
the engine's session settings (all graph optimisations, so the NCHWc layout ORT picks on x86 is what is timed), and prints each
node's time per frame, its share, and for convolutions the work done (MACs from the profiled shapes) and the
rate (GMAC/s). The rate is the point: it shows which layers run far below the CPU's best (full-resolution
convolutions with few channels, a 3-channel output) and so where a next net design should move its work.

    python bench/op_profile.py assets/models/mid8.onnx [--size 480x270] [--threads 2] [--runs 20] [--top 20]
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: bench/ is not installed

from bench.graph_ab import model_feed, parse_size  # noqa: E402
from engine.errors import ModelError  # noqa: E402
from engine.sessions import make_session  # noqa: E402


def conv_macs(args: dict) -> int:
    """Multiply-accumulates of one profiled Conv from its shapes (output elements x C_in/groups x kernel), as
    the kernel runs them: ORT's NCHWc layout pads channel counts to its block (8 on AVX2), so a 3-channel
    output conv is timed doing the work of 8 and its useful rate is lower than the GMAC/s shown."""
    out = next(iter(args["output_type_shape"][0].values()))
    weight = next(iter(args["input_type_shape"][1].values()))
    per_output = int(np.prod(weight[1:]))  # C_in / groups x kh x kw
    return int(np.prod(out)) * per_output


def profile(model: str, width: int, height: int, threads: int, runs: int) -> tuple[list[dict], float]:
    """(rows, wall ms per frame): one row per node with its mean kernel time per frame."""
    with tempfile.TemporaryDirectory() as folder:
        # the engine's own session settings, profiler on (ModelError / ValueError for a bad file, see main)
        session, _ = make_session(model, "cpu", threads, profile_prefix=str(Path(folder) / "ort"))
        feed = model_feed(session, width, height)
        warmup = 3
        for _ in range(warmup):
            session.run(None, feed)
        t0 = time.perf_counter()
        for _ in range(runs):
            session.run(None, feed)
        wall = (time.perf_counter() - t0) / runs * 1000
        events = json.loads(Path(session.end_profiling()).read_text())
    times: dict[str, list[float]] = collections.defaultdict(list)
    info: dict[str, dict] = {}
    for e in events:
        if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time"):
            continue
        node = e["name"][: -len("_kernel_time")]
        times[node].append(e["dur"] / 1000)
        info[node] = e["args"]
    rows = []
    for node, calls in times.items():
        timed_calls = calls[warmup:] or calls  # the warm-up runs are profiled too: leave them out
        args = info[node]
        row = dict(node=node, op=args["op_name"], ms=sum(timed_calls) / len(timed_calls),
                   shape="x".join(str(d) for d in next(iter(args["output_type_shape"][0].values()), [])))
        if args["op_name"] == "Conv":
            row["macs"] = conv_macs(args)
        rows.append(row)
    rows.sort(key=lambda r: -r["ms"])
    return rows, wall


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model")
    p.add_argument("--size", default="480x270", help="frame WxH; padded to a multiple of 4 as the engine pads")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--top", type=int, default=20, help="nodes listed (every operator type is summed)")
    args = p.parse_args(argv)
    if not Path(args.model).is_file():
        print(f"op_profile: no such model file: {args.model}", file=sys.stderr)
        return 2
    try:
        w, h = parse_size(args.size)
    except ValueError:
        p.error(f"--size wants WIDTHxHEIGHT, like 480x270 (got {args.size!r})")
    try:
        rows, wall = profile(args.model, w, h, args.threads, args.runs)
    except (ModelError, ValueError) as exc:
        print(f"op_profile: {args.model}: {exc}", file=sys.stderr)
        return 2
    kernel = sum(r["ms"] for r in rows)
    print(f"# {platform.node()} {platform.machine()}, {os.cpu_count()} cores, onnxruntime {ort.__version__}, "
          f"{time.strftime('%Y-%m-%d')}; `python bench/op_profile.py {' '.join(sys.argv[1:] if argv is None else argv)}`")
    print(f"{args.model} at {w}x{h}, {args.threads} threads: {wall:.1f} ms per frame wall "
          f"(profiling on), {kernel:.1f} ms in kernels\n")
    print("| op | share | ms / frame |\n|---|---:|---:|")
    by_op: dict[str, float] = collections.defaultdict(float)
    for r in rows:
        by_op[r["op"]] += r["ms"]
    for op, ms in sorted(by_op.items(), key=lambda kv: -kv[1]):
        print(f"| {op} | {100 * ms / kernel:.1f}% | {ms:.2f} |")
    print("\n(MMAC as run: NCHWc pads channels to its block, see the output shapes)")
    print("\n| node | op | output | ms / frame | share | MMAC | GMAC/s |\n|---|---|---|---:|---:|---:|---:|")
    for r in rows[: args.top]:
        rate = f"{r['macs'] / r['ms'] / 1e6:.1f}" if "macs" in r and r["ms"] > 0 else ""
        macs = f"{r['macs'] / 1e6:.0f}" if "macs" in r else ""
        print(f"| {r['node']} | {r['op']} | {r['shape']} | {r['ms']:.2f} | {100 * r['ms'] / kernel:.1f}% "
              f"| {macs} | {rate} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
