"""Train a style-prediction network for a shipped fast net (training/models/anystyle.py).

A fresh run first fits the head to the built-in paintings' own rows (a regression on crops of them). Then each
step gives every photo of the batch a painting of its own, as it is or with its colours turned (a hue rotation
and a saturation change, so the predictor learns palettes it has not seen as paintings): a random crop of the
painting goes through the predictor, the predicted code at the step's boldness stylizes the photo, and the fast
net's own objectives (read from its checkpoint's training config: relative content and Gram losses against the
whole painting, the bold end's at its larger painting size) train the predictor. The fast net is frozen: its built-in styles stay as
shipped and the prediction is a style code for it, like a learned style. A built-in painting as it is also has
its own rows as a target (``anchor_weight``). Paintings in ``holdout_styles`` are never trained on: the sheets
and held-out losses show how the prediction does on a painting it has not seen.
"""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .checkpoint import lineage, read_checkpoint, total_steps
from .common import finite_update, pick_device
from .config import GRAD_CLIP, AnyStyleTrainConfig, FastTrainConfig
from .distil_anystyle import DistilStep, check_settings, load_teacher, teacher_picture
from .data import (ImageFolderStream, list_images, load_rgb, random_crop, save_contact_sheet, style_image, to_pil,
                   to_tensor)
from .gatys import style_grams
from .loop import TrainLoop
from .losses import content_loss, gram_style_terms
from .models.anystyle import AnyStyleConfig, AnyStyleNet, style_statistics
from .models.transformer import FastNetConfig
from .models.vgg import LAYER_ORDER, load_vgg16
from .train_fast import FastStep, autocast_for, load_holdout, resolve_amp, shipped_objectives

_YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], np.float32)


def turn_colours(im: Image.Image, degrees: float, saturation: float) -> Image.Image:
    """The painting with its hues turned by ``degrees`` and its chroma scaled (YIQ), brightness kept."""
    a = np.radians(degrees)
    turn = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]], np.float32)
    turn[1:, 1:] *= saturation
    m = np.linalg.inv(_YIQ) @ turn @ _YIQ
    rgb = np.asarray(im, np.float32) @ m.T
    return Image.fromarray(np.clip(rgb + 0.5, 0, 255).astype(np.uint8))


class Painting:
    """A training or held-out painting: its image (for crops), its colour variants' Gram targets (made on first
    use, then kept), and its built-in style's index when it is one."""

    def __init__(self, path: Path, row: int | None, side: int, variants: int, seed: int) -> None:
        self.path, self.row = path, row
        self.image = load_rgb(path, 2 * side)
        rng = random.Random(f"{seed}:{path.name}")
        self.turns = [(0.0, 1.0)] + [(rng.uniform(40, 320), rng.uniform(0.6, 1.3)) for _ in range(variants)]
        self._images: dict[int, Image.Image] = {0: self.image}
        self._targets: dict[tuple[int, int], dict] = {}

    def draw(self, rng: random.Random) -> int:
        """A colouring to train on: half the draws the painting as it is (0), else one of its turned copies."""
        return 0 if rng.random() < 0.5 or len(self.turns) == 1 else rng.randint(1, len(self.turns) - 1)

    def variant(self, k: int) -> Image.Image:
        if k not in self._images:
            self._images[k] = turn_colours(self.image, *self.turns[k])
        return self._images[k]

    def targets(self, vgg, k: int, layers: list[str], side: int, device) -> dict:
        if (k, side) not in self._targets:
            if k == 0:  # as the fast net's own targets were made (data.style_image)
                image = style_image(self.path, side)
            else:
                im = self.variant(k).copy()
                im.thumbnail((side, side), Image.LANCZOS)
                image = to_tensor(im)[None]
            self._targets[(k, side)] = style_grams(vgg, [(image.to(device), 1.0)], layers, shift=0.0)
        return self._targets[(k, side)]


def model_config(cfg: AnyStyleTrainConfig) -> AnyStyleConfig:
    blob = read_checkpoint(cfg.init_from)
    if blob["family"] != "fast":
        raise ValueError(f"--init-from {cfg.init_from}: a {blob['family']!r} checkpoint, not a fast net")
    return AnyStyleConfig(net=FastNetConfig(**blob["config"]).to_dict(), hidden=cfg.hidden, style_size=cfg.style_size)


def init_weights(model: AnyStyleNet, path: str) -> int:
    """The fast checkpoint's weights, exactly; the code's centre and scale from its built-in rows."""
    blob = read_checkpoint(path)
    model.net.load_state_dict(blob["model"])
    model.centre_codes()
    return total_steps(blob)


@torch.no_grad()
def standardise(model: AnyStyleNet, vgg, paintings: list[Painting], side: int, rng: random.Random) -> None:
    """Set the predictor's input standardisation from crops of the training paintings and their variants."""
    device = model.stats_mean.device
    stats = torch.cat([style_statistics(vgg, to_tensor(random_crop(p.variant(k), side, rng, (0.5, 1.0)))[None].to(device))
                       for p in paintings for k in range(len(p.turns)) for _ in range(2)])
    model.stats_mean.copy_(stats.mean(0))
    model.stats_std.copy_(stats.std(0).clamp_min(1e-3))


def prefit_anchors(model: AnyStyleNet, vgg, paintings: list[Painting], side: int, steps: int, seed: int) -> float:
    """Before the first step: fit the head to the built-in paintings' own rows from crops of them (a regression,
    seconds), so the prediction starts as a map between the net's own styles instead of their mean look."""
    anchored = [p for p in paintings if p.row is not None]
    if not anchored or steps <= 0:
        return 0.0
    rng = random.Random(seed)
    device = model.stats_mean.device
    with torch.no_grad():
        stats = torch.cat([style_statistics(vgg, to_tensor(random_crop(p.image, side, rng, (0.5, 1.0)))[None].to(device))
                           for p in anchored for _ in range(8)])
        targets = model.builtin_codes().float()[[p.row for p in anchored for _ in range(8)]].to(device)
    opt = torch.optim.Adam(model.head.parameters(), lr=1e-3)
    for _ in range(steps):
        loss = (((model.predict(stats) - targets) / model.code_scale) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return loss.item()


class AnyStyleStep:
    """One update of the predictor: one boldness, a batch of photos, a painting (maybe colour-turned) for each."""

    def __init__(self, cfg: AnyStyleTrainConfig, model: AnyStyleNet, vgg, paintings: list[Painting],
                 data: ImageFolderStream, opt: torch.optim.Optimizer, amp: str, loop: TrainLoop, fast: FastTrainConfig) -> None:
        self.cfg, self.model, self.vgg, self.paintings, self.data, self.opt, self.amp = \
            cfg, model, vgg, paintings, data, opt, amp
        self.fast = fast
        self.rng = random.Random(cfg.seed + loop.step)
        self.device = next(model.parameters()).device
        self.params = [p for p in model.head.parameters()]
        # the fast net's objective, fed this step's targets (FastStep.objective: (1 - b) faithful + b bold)
        self.objective = FastStep(fast, model.net, vgg, [{}], data, opt, amp, loop, [{}] if model.config.ends == 2 else None)
        with torch.no_grad():
            self.anchors = model.builtin_codes().float().to(self.device)

    def _painting(self) -> tuple[Painting, int, torch.Tensor]:
        p = self.rng.choice(self.paintings)
        k = p.draw(self.rng)
        crop = to_tensor(random_crop(p.variant(k), self.cfg.style_size, self.rng, (0.5, 1.0)))[None].to(self.device)
        with torch.no_grad():
            stats = style_statistics(self.vgg, crop)
        return p, k, stats

    def __call__(self, step: int) -> dict[str, float] | None:
        """Each photo of the batch gets a painting of its own (the head learns from as many paintings a step)."""
        model = self.model
        x = self.data.next_batch().to(self.device)
        draws = [self._painting() for _ in range(x.shape[0])]
        codes = model.predict(torch.cat([stats for _, _, stats in draws]))
        b = self.objective.boldness()  # the fast net's own draw (0 without bold rows)
        with autocast_for(self.amp, self.device):
            out = model(x, model.code_at(codes, b))
            f_out = self.objective.output_features(out)
            with torch.no_grad():
                f_x = self.vgg(x, self.objective.content_layers)
        f_out = {name: v.float() for name, v in f_out.items()}
        loss, parts = self._objective(draws, f_out, {k: v.float() for k, v in f_x.items()}, out.float(), x, b)
        anchored = [i for i, (p, k, _) in enumerate(draws) if p.row is not None and k == 0]
        anchor = codes.new_zeros(())
        if anchored:
            rows = self.anchors[[draws[i][0].row for i in anchored]]
            anchor = (((codes[anchored] - rows) / model.code_scale) ** 2).mean()
        loss = loss + self.cfg.anchor_weight * anchor
        if not finite_update(self.opt, loss, self.params, GRAD_CLIP):
            return None
        return {**{k: v.item() for k, v in parts.items()}, "anchor": anchor.item(), "boldness": b}

    def _objective(self, draws, f_out: dict, f_x: dict, out: torch.Tensor, x: torch.Tensor, b: float):
        """The mean over the batch of each photo's objective against its own painting's targets."""
        fast, n = self.fast, len(draws)
        layers = list(fast.style_layers)
        total, parts = out.new_zeros(()), {}
        for i, (p, k, _) in enumerate(draws):
            self.objective.targets = [p.targets(self.vgg, k, layers, fast.style_size, self.device)]
            if self.objective.bold_targets is not None:
                self.objective.bold_targets = [p.targets(self.vgg, k, layers, fast.bold_style_size, self.device)]
            one, terms = self.objective.objective({name: v[i:i + 1] for name, v in f_out.items()},
                                                  {name: v[i:i + 1] for name, v in f_x.items()},
                                                  out[i:i + 1], x[i:i + 1], 0, b)
            total = total + one / n
            for key in ("content", "style", "bold_style", "layout"):
                if key in terms:
                    parts[key] = parts.get(key, 0.0) + terms[key].detach() / n
        return total, parts


@torch.no_grad()
def evaluate(model: AnyStyleNet, vgg, holdout: list[torch.Tensor], paintings: list[Painting], fast: FastTrainConfig,
             boldness: float = 0.0) -> dict[str, float]:
    """Mean content and style loss of the held-out photos under the held-out paintings' predicted codes."""
    c = s = 0.0
    device = model.stats_mean.device
    layers = sorted(set(fast.style_layers) | {fast.content_layer}, key=LAYER_ORDER.index)
    for p in paintings:
        code = model.code_at(model.predict(style_statistics(vgg, style_image(p.path, model.config.style_size).to(device))), boldness)
        grams = p.targets(vgg, 0, list(fast.style_layers), fast.style_size, device)
        for x in holdout:
            x = x[None].to(device)
            f = vgg(model(x, code), layers)
            c += content_loss(f[fast.content_layer], vgg(x, [fast.content_layer])[fast.content_layer]).item()
            s += sum(gram_style_terms({k: f[k] for k in fast.style_layers}, grams).values()).item()
    n = max(1, len(paintings) * len(holdout))
    return {"content": c / n, "style": s / n}


@torch.no_grad()
def sheet(model: AnyStyleNet, vgg, holdout: list[torch.Tensor], paintings: list[Painting], path: Path,
          teacher=None, alphas: list[float] = (1.0,)) -> Path:
    """Rows: held-out photos; columns: the photo, then for each held-out (then a few training) painting the
    prediction at the faithful and the bold end, and with a teacher its pictures at both ends after them."""
    was = model.training
    model.eval()
    ends = sorted({0.0, float(model.config.ends - 1)})
    per = len(ends) * (2 if teacher is not None else 1)
    rows = [[to_pil(torch.ones(3, 8, 8))] + [im for p in paintings for im in [load_rgb(p.path, 160)] * per]]
    device = model.stats_mean.device
    styles = [style_image(p.path, model.config.style_size).to(device) for p in paintings]
    codes = [model.predict(style_statistics(vgg, s)) for s in styles]
    for x in holdout:
        x = x[None].to(device)
        row = [to_pil(x[0])]
        for style, code in zip(styles, codes):
            row += [to_pil(model(x, model.code_at(code, b))[0]) for b in ends]
            if teacher is not None:
                row += [to_pil(teacher_picture(teacher, vgg, x, style, (1 - b) * alphas[0] + b * alphas[-1]))
                        for b in ends]
        rows.append(row)
    model.train(was)
    return save_contact_sheet(rows, path)


def load_paintings(cfg: AnyStyleTrainConfig) -> tuple[list[Painting], list[Painting]]:
    held = {Path(p).resolve() for p in cfg.holdout_styles}
    builtin = [Path(p) for p in cfg.builtin_images]
    others = [p for p in list_images(cfg.style_dir) if p.resolve() not in held] if cfg.style_dir else []
    train = [Painting(p, i if i < len(builtin) else None, cfg.style_size, cfg.colour_variants, cfg.seed)
             for i, p in enumerate(builtin + others)]
    held_out = [Painting(Path(p), None, cfg.style_size, 0, cfg.seed) for p in cfg.holdout_styles]
    return train, held_out


def train_anystyle(cfg: AnyStyleTrainConfig, log=print) -> Path:
    if not cfg.init_from:
        raise ValueError("give --init-from: the fast checkpoint the prediction is for")
    check_settings(cfg)
    device = pick_device(cfg.device)
    torch.manual_seed(cfg.seed)
    fast = shipped_objectives(read_checkpoint(cfg.init_from))
    layers = sorted(set(fast.style_layers) | {fast.content_layer, "relu4_1"}, key=LAYER_ORDER.index)
    vgg = load_vgg16(cfg.vgg_weights or None, last_layer=max(layers, key=LAYER_ORDER.index)).to(device)
    model = AnyStyleNet(model_config(cfg)).to(device)
    teacher = load_teacher(cfg.teacher, vgg) if cfg.teacher else None
    for p in model.net.parameters():  # the fast net stays exactly as shipped, unless it learns from a teacher
        p.requires_grad_(bool(teacher and cfg.train_net))
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=cfg.lr)
    loop = TrainLoop(cfg, "anystyle", model, model.config, opt, log=log,
                     loss_network=Path(cfg.vgg_weights).name if cfg.vgg_weights else "vgg16-hed")
    paintings, held_out = load_paintings(cfg)
    if loop.step == 0:
        steps_before = init_weights(model, cfg.init_from)  # after torch.manual_seed(cfg.seed)
        standardise(model, vgg, paintings, cfg.style_size, random.Random(cfg.seed))
        fit = prefit_anchors(model, vgg, paintings, cfg.style_size, cfg.prefit_steps, cfg.seed)
        log(f"head fitted to the built-in styles' rows: {fit:.4f} (normalised squared error)")
    data = ImageFolderStream(cfg.content_dir, cfg.image_size, cfg.batch_size, seed=cfg.seed + loop.step)
    holdout = load_holdout(cfg.holdout or [str(p) for p in list_images(cfg.content_dir)[:4]], cfg.holdout_size)
    shown = held_out + paintings[:2]
    log(f"style prediction for a fast net on {device}: {len(paintings)} training paintings "
        f"({len(cfg.builtin_images)} built-in) x {cfg.colour_variants + 1} colourings, {len(held_out)} held out, "
        f"{len(data)} photos")
    if loop.step == 0:
        loop.history.append({"step": 0, "heldout": evaluate(model.eval(), vgg, holdout, held_out, fast),
                             **lineage(cfg.init_from, steps_before)})
    model.train()
    amp = resolve_amp(cfg.amp, device)
    log(f"mixed precision: {amp}")
    if teacher is None:
        step_fn = AnyStyleStep(cfg, model, vgg, paintings, data, opt, amp, loop, fast)
        keys = ("content", "style", "bold_style", "anchor")
    else:
        step_fn = DistilStep(cfg, model, vgg, teacher, paintings, data, opt, amp, loop.step)
        keys = ("pixel", "features", "statistics")
    loop.run(step_fn, sample=lambda path: sheet(model, vgg, holdout, shown, path, teacher=teacher,
                                                alphas=cfg.teacher_alphas),
             log_keys=keys, progress_keys=keys, max_skipped=200)
    heldout = evaluate(model.eval(), vgg, holdout, held_out, fast)
    return loop.finish({"heldout": heldout}, summary=f"; held-out {loop.history[0].get('heldout')} -> {heldout}")
