"""python -m export fast|adain|adain-small|anystyle CHECKPOINT OUT.onnx
python -m export segmentation MODEL.tflite OUT.onnx   (MediaPipe's Selfie Segmentation; training/selfie_convert.py)"""
from __future__ import annotations

import argparse
import sys

from training.checkpoint import CheckpointError


def _flags_refused(args: argparse.Namespace) -> str | None:
    """Why these flags do not go with this family, or None."""
    if args.family == "segmentation" and (args.fp16 or args.int8):
        return "--fp16/--int8 are for fast nets and style-prediction models (and --int8 for AdaIN models)"
    if args.family in ("adain", "adain-small") and args.fp16:
        return "an AdaIN model takes --int8 (CPUs), not --fp16"
    if args.family == "segmentation" and args.vgg:
        return "--vgg is for AdaIN and style-prediction models"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m export", description="Export a StyleCast checkpoint to ONNX.")
    parser.add_argument("family", choices=["fast", "adain", "adain-small", "anystyle", "segmentation"],
                        help="fast: a multi-style net; adain: an AdaIN decoder; adain-small: the small AdaIN model "
                             "(adain takes it too); anystyle: a style-prediction net; "
                             "segmentation: MediaPipe's Selfie Segmentation, from its .tflite file")
    parser.add_argument("checkpoint", help="the checkpoint (.pt), or for segmentation the .tflite file")
    parser.add_argument("out", help="output .onnx path (adain, adain-small and anystyle also write <stem>.stats.onnx)")
    parser.add_argument("--vgg", default=None, help="VGG-16 weights for AdaIN's encoder (default: the shipped ones)")
    parser.add_argument("--no-check", action="store_true", help="skip the ONNX Runtime vs PyTorch parity check")
    parser.add_argument("--fp16", action="store_true", help="also write <stem>.fp16.onnx (GPU; norms kept fp32)")
    parser.add_argument("--int8", action="store_true", help="also write <stem>.int8.onnx (CPU; static QDQ)")
    parser.add_argument("--calib", default=None, help="folder of photos for int8 calibration and the PSNR report")
    args = parser.parse_args(argv)
    from .onnx_export import export_adain, export_anystyle, export_fast, export_segmentation

    variants = [tag for tag, flag in (("fp16", args.fp16), ("int8", args.int8)) if flag]
    refused = _flags_refused(args)
    if refused:
        print(f"error: {refused}", file=sys.stderr)
        return 2
    calib: list = []
    check: list = []
    if variants:  # the photos are checked before anything is written
        from training.data import list_images

        if not args.calib:
            print("error: --fp16/--int8 need --calib FOLDER of photos (for calibration and the PSNR report)", file=sys.stderr)
            return 2
        try:
            images = list_images(args.calib)
        except (FileNotFoundError, ValueError) as exc:
            print(f"error: --calib: {exc}", file=sys.stderr)
            return 2
        # calibrate on the first 16 photos, report PSNR on up to 8 others (on the same ones if there are none)
        calib, check = images[:16], images[16:24]
    from pathlib import Path

    from engine.atomic import check_not_input
    from engine.errors import StyleCastError

    out = Path(args.out)
    written = [out, out.with_name(f"{out.stem}.stats.onnx"), *(out.with_name(f"{out.stem}.{t}.onnx") for t in variants)]
    if args.family == "segmentation":
        written = [out]
    try:  # every file this export writes, checked against what it reads before anything is written
        for path in written:
            check_not_input(path, [args.checkpoint, args.vgg, *calib, *check])
    except StyleCastError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        if args.family == "fast":
            result = export_fast(args.checkpoint, args.out, check=not args.no_check)
        elif args.family == "segmentation":
            result = export_segmentation(args.checkpoint, args.out, check=not args.no_check)
        else:
            export = export_anystyle if args.family == "anystyle" else export_adain
            result = export(args.checkpoint, args.out, vgg_weights=args.vgg, check=not args.no_check)
    except (CheckpointError, FileNotFoundError, ModuleNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for p in result.paths:
        print(f"wrote {p}")
    if not args.no_check:
        sizes = "the model's own size and 96x176" if args.family == "segmentation" else "odd sizes"
        print(f"parity vs PyTorch at {sizes}: max abs difference {result.parity_max_abs:.2e}")
    if variants:
        from .optimize import to_fp16, to_int8

        where = f"on {len(check)} photos not used for calibration" if check else "on the calibration photos"
        for tag in variants:
            fn = to_fp16 if tag == "fp16" else to_int8
            target = out.with_name(f"{out.stem}.{tag}.onnx")
            target.unlink(missing_ok=True)  # never leave an older checkpoint's variant beside the new model
            try:
                v = fn(out, target, calib, check or None)
            except (StyleCastError, OSError, ValueError, RuntimeError) as exc:
                print(f"error: the {tag} variant of {out.name} failed ({exc}); {out.name} itself was written",
                      file=sys.stderr)
                return 2
            print(f"wrote {v.path} ({v.size_bytes / 1e6:.2f} MB), PSNR vs fp32 {v.psnr_db:.1f} dB {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
