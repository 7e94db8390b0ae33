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
    parser.add_argument("--fp16", action="store_true", help="also write <stem>.fp16.onnx (GPU; norms kept fp32)")
    parser.add_argument("--int8", action="store_true", help="also write <stem>.int8.onnx (CPU; static QDQ)")
    parser.add_argument("--calib", default=None, help="folder of photos for int8 calibration and the PSNR report")
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
    if (args.fp16 or args.int8) and args.family == "fast":
        from pathlib import Path

        from training.data import list_images

        from .optimize import to_fp16, to_int8

        if not args.calib:
            print("error: --fp16/--int8 need --calib FOLDER of photos (for calibration and the PSNR report)", file=sys.stderr)
            return 2
        images = list_images(args.calib)[:16]
        out = Path(args.out)
        for flag, fn, tag in ((args.fp16, to_fp16, "fp16"), (args.int8, to_int8, "int8")):
            if flag:
                v = fn(out, out.with_name(f"{out.stem}.{tag}.onnx"), images)
                print(f"wrote {v.path} ({v.size_bytes / 1e6:.2f} MB), PSNR vs fp32 {v.psnr_db:.1f} dB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
