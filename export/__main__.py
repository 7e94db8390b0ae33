"""python -m export fast|adain CHECKPOINT OUT.onnx"""
from __future__ import annotations

import argparse
import sys

from training.checkpoint import CheckpointError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m export", description="Export a StyleCast checkpoint to ONNX.")
    parser.add_argument("family", choices=["fast", "adain"])
    parser.add_argument("checkpoint")
    parser.add_argument("out", help="output .onnx path (AdaIN also writes <stem>.stats.onnx)")
    parser.add_argument("--vgg", default=None, help="VGG-16 weights for AdaIN's encoder (default: the shipped ones)")
    parser.add_argument("--no-check", action="store_true", help="skip the ONNX Runtime vs PyTorch parity check")
    args = parser.parse_args(argv)
    from .onnx_export import export_adain, export_fast

    try:
        if args.family == "fast":
            result = export_fast(args.checkpoint, args.out, check=not args.no_check)
        else:
            result = export_adain(args.checkpoint, args.out, vgg_weights=args.vgg, check=not args.no_check)
    except (CheckpointError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for p in result.paths:
        print(f"wrote {p}")
    if not args.no_check:
        print(f"parity vs PyTorch at odd sizes: max abs difference {result.parity_max_abs:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
