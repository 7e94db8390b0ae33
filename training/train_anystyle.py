"""Train the style-prediction network and its fast net (training/models/anystyle.py).

Each step takes one painting: a random crop of it goes through the predictor, the predicted code stylizes a
batch of photo crops, and the fast-net objective (relative content and Gram losses against the whole painting,
as for the built-in styles) trains the predictor, the norm rows and, slowly, the convolutions. A built-in
painting also has its own row as a target (``anchor_weight``), so it predicts the built-in style. The net
starts from a shipped fast checkpoint (``init_from``): the eight built-in rows, then basis rows drawn around
their mean. Paintings in ``holdout_styles`` are never trained on: the sheets and held-out losses show how the
prediction does on a painting it has not seen.
"""
from __future__ import annotations

import random
from pathlib import Path

import torch
import torch.nn.functional as F

from .checkpoint import lineage, read_checkpoint, total_steps
from .common import pick_device
from .config import GRAD_CLIP, AnyStyleTrainConfig
from .data import ImageFolderStream, list_images, load_rgb, random_crop, save_contact_sheet, style_image, to_pil, to_tensor
from .loop import TrainLoop
from .losses import content_loss, gram_style_terms, layout_loss
from .models.anystyle import AnyStyleConfig, AnyStyleNet, style_statistics
from .models.transformer import FastNetConfig
from .models.vgg import LAYER_ORDER, load_vgg16
from .train_fast import autocast_for, load_holdout, resolve_amp, style_targets


class Painting:
    """A training or held-out painting: its Gram targets, a cached copy for random crops, its built-in row."""

    def __init__(self, path: Path, grams: dict, row: int | None, side: int) -> None:
        self.path, self.grams, self.row = path, grams, row
        self.image = load_rgb(path, 2 * side)


def model_config(cfg: AnyStyleTrainConfig) -> AnyStyleConfig:
    blob = read_checkpoint(cfg.init_from)
    if blob["family"] != "fast":
        raise ValueError(f"--init-from {cfg.init_from}: a {blob['family']!r} checkpoint, not a fast net")
    base = FastNetConfig(**blob["config"])
    names = list(base.style_names) + [f"basis{i:02d}" for i in range(cfg.n_basis)]
    return AnyStyleConfig(net={**base.to_dict(), "style_names": names}, n_builtin=base.n_styles,
                          hidden=cfg.hidden, style_size=cfg.style_size)


def init_weights(model: AnyStyleNet, path: str) -> int:
    """The fast checkpoint's weights; its rows first, then basis rows that start as random mixes of them (each
    layer's rows mixed with the same weights, so every basis row starts as a look the net can already make)."""
    blob = read_checkpoint(path)
    state = dict(blob["model"])
    n, extra_rows = model.config.n_builtin, model.config.n_rows - model.config.n_builtin
    mixes = torch.distributions.Dirichlet(torch.full((n,), 0.5)).sample((extra_rows,)) if n > 1 else torch.ones(extra_rows, 1)
    for key, value in list(state.items()):
        if key.endswith((".gamma", ".beta")):
            state[key] = torch.cat([value, mixes @ value[:n]])
    model.net.load_state_dict(state)
    return total_steps(blob)


@torch.no_grad()
def standardise(model: AnyStyleNet, vgg, paintings: list[Painting], side: int, rng: random.Random) -> None:
    """Set the predictor's input standardisation from crops of the training paintings."""
    device = model.stats_mean.device
    stats = torch.cat([style_statistics(vgg, to_tensor(random_crop(p.image, side, rng, (0.5, 1.0)))[None].to(device))
                       for p in paintings for _ in range(4)])
    model.stats_mean.copy_(stats.mean(0))
    model.stats_std.copy_(stats.std(0).clamp_min(1e-3))


class AnyStyleStep:
    def __init__(self, cfg: AnyStyleTrainConfig, model: AnyStyleNet, vgg, paintings: list[Painting],
                 data: ImageFolderStream, opt: torch.optim.Optimizer, amp: str, seed: int) -> None:
        self.cfg, self.model, self.vgg, self.paintings, self.data, self.opt, self.amp = \
            cfg, model, vgg, paintings, data, opt, amp
        self.rng = random.Random(seed)
        self.layers = sorted(set(cfg.style_layers) | {cfg.content_layer}, key=LAYER_ORDER.index)
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.device = next(model.parameters()).device

    def __call__(self, step: int) -> dict[str, float] | None:
        cfg, model = self.cfg, self.model
        painting = self.rng.choice(self.paintings)
        crop = to_tensor(random_crop(painting.image, cfg.style_size, self.rng, (0.5, 1.0)))[None].to(self.device)
        with torch.no_grad():
            stats = style_statistics(self.vgg, crop)
        code = model.predict(stats)
        x = self.data.next_batch().to(self.device)
        with autocast_for(self.amp, self.device):
            out = model(x, code.expand(x.shape[0], -1))
            f_out = self.vgg(out, self.layers)
            with torch.no_grad():
                f_x = self.vgg(x, [cfg.content_layer])[cfg.content_layer]
        f_out = {k: v.float() for k, v in f_out.items()}
        lc = content_loss(f_out[cfg.content_layer], f_x.float())
        terms = gram_style_terms({k: f_out[k] for k in cfg.style_layers}, painting.grams)
        ls = sum(terms.values())
        weighted = sum(w * terms[k] for k, w in zip(cfg.style_layers, cfg.style_layer_weights))
        ll = layout_loss(out.float(), x)
        la = code.new_zeros(())
        if painting.row is not None:
            target = F.one_hot(torch.tensor(painting.row), model.config.n_rows).float().to(self.device)
            la = F.mse_loss(code[0], target)
        loss = cfg.content_weight * lc + cfg.style_weight * weighted + cfg.layout_weight * ll + cfg.anchor_weight * la
        self.opt.zero_grad(set_to_none=True)
        if not torch.isfinite(loss):
            return None
        loss.backward()
        if not torch.isfinite(torch.nn.utils.clip_grad_norm_(self.params, GRAD_CLIP)):
            self.opt.zero_grad(set_to_none=True)
            return None
        self.opt.step()
        return {"content": lc.item(), "style": ls.item(), "layout": ll.item(), "anchor": la.item()}


@torch.no_grad()
def evaluate(model: AnyStyleNet, vgg, holdout: list[torch.Tensor], paintings: list[Painting], cfg) -> dict[str, float]:
    """Mean content and style loss of the held-out photos under the held-out paintings' predicted codes."""
    c = s = 0.0
    device = model.stats_mean.device
    for p in paintings:
        code = model.predict(style_statistics(vgg, style_image(p.path, cfg.style_size).to(device)))
        for x in holdout:
            x = x[None].to(device)
            out = model(x, code)
            f = vgg(out, sorted(set(cfg.style_layers) | {cfg.content_layer}, key=LAYER_ORDER.index))
            c += content_loss(f[cfg.content_layer], vgg(x, [cfg.content_layer])[cfg.content_layer]).item()
            s += sum(gram_style_terms({k: f[k] for k in cfg.style_layers}, p.grams).values()).item()
    n = max(1, len(paintings) * len(holdout))
    return {"content": c / n, "style": s / n}


@torch.no_grad()
def sheet(model: AnyStyleNet, vgg, holdout: list[torch.Tensor], paintings: list[Painting], cfg, path: Path) -> Path:
    """Rows: held-out photos; columns: the photo, then each held-out (then a few training) painting's prediction."""
    was = model.training
    model.eval()
    rows = [[to_pil(torch.ones(3, 8, 8))] + [load_rgb(p.path, 160) for p in paintings]]
    device = model.stats_mean.device
    codes = [model.predict(style_statistics(vgg, style_image(p.path, cfg.style_size).to(device))) for p in paintings]
    for x in holdout:
        rows.append([to_pil(x)] + [to_pil(model(x[None].to(device), code)[0]) for code in codes])
    model.train(was)
    return save_contact_sheet(rows, path)


def load_paintings(cfg: AnyStyleTrainConfig, vgg, device) -> tuple[list[Painting], list[Painting]]:
    held = {Path(p).resolve() for p in cfg.holdout_styles}
    builtin = [Path(p) for p in cfg.builtin_images]
    others = [p for p in list_images(cfg.style_dir) if p.resolve() not in held] if cfg.style_dir else []
    paths = builtin + others
    grams = style_targets(vgg, [str(p) for p in paths], cfg.style_layers, cfg.style_size, device)
    train = [Painting(p, g, i if i < len(builtin) else None, cfg.style_size) for i, (p, g) in enumerate(zip(paths, grams))]
    hgrams = style_targets(vgg, list(cfg.holdout_styles), cfg.style_layers, cfg.style_size, device)
    held_out = [Painting(Path(p), g, None, cfg.style_size) for p, g in zip(cfg.holdout_styles, hgrams)]
    return train, held_out


def train_anystyle(cfg: AnyStyleTrainConfig, log=print) -> Path:
    if not cfg.init_from:
        raise ValueError("give --init-from: the fast checkpoint the net starts from")
    device = pick_device(cfg.device)
    torch.manual_seed(cfg.seed)
    layers = sorted(set(cfg.style_layers) | {cfg.content_layer, "relu4_1"}, key=LAYER_ORDER.index)
    vgg = load_vgg16(cfg.vgg_weights or None, last_layer=max(layers, key=LAYER_ORDER.index)).to(device)
    model = AnyStyleNet(model_config(cfg)).to(device)
    rows = [p for n, p in model.net.named_parameters() if n.endswith((".gamma", ".beta"))]
    convs = [p for n, p in model.net.named_parameters() if not n.endswith((".gamma", ".beta"))]
    if not cfg.tune_builtin_rows:
        for p in rows:  # the built-in styles' rows get no gradient (Adam then leaves them exactly as they are)
            p.register_hook(lambda grad, n=model.config.n_builtin: torch.cat([torch.zeros_like(grad[:n]), grad[n:]]))
    groups = [{"params": list(model.head.parameters()), "lr": cfg.lr}, {"params": rows, "lr": cfg.rows_lr}]
    if cfg.net_lr > 0:
        groups.append({"params": convs, "lr": cfg.net_lr})
    else:
        for p in convs:
            p.requires_grad_(False)
    opt = torch.optim.Adam(groups)
    loop = TrainLoop(cfg, "anystyle", model, model.config, opt, log=log,
                     loss_network=Path(cfg.vgg_weights).name if cfg.vgg_weights else "vgg16-hed")
    paintings, held_out = load_paintings(cfg, vgg, device)
    if loop.step == 0:
        steps_before = init_weights(model, cfg.init_from)  # after torch.manual_seed(cfg.seed)
        standardise(model, vgg, paintings, cfg.style_size, random.Random(cfg.seed))
    data = ImageFolderStream(cfg.content_dir, cfg.image_size, cfg.batch_size, seed=cfg.seed + loop.step)
    holdout = load_holdout(cfg.holdout or [str(p) for p in list_images(cfg.content_dir)[:4]], cfg.holdout_size)
    shown = held_out + paintings[:2]
    log(f"any-style net on {device}: {len(paintings)} training paintings ({model.config.n_builtin} built-in), "
        f"{len(held_out)} held out, {len(data)} photos")
    if loop.step == 0:
        loop.history.append({"step": 0, "heldout": evaluate(model.eval(), vgg, holdout, held_out, cfg),
                             **lineage(cfg.init_from, steps_before)})
    model.train()
    amp = resolve_amp(cfg.amp, device)
    log(f"mixed precision: {amp}")
    step_fn = AnyStyleStep(cfg, model, vgg, paintings, data, opt, amp, cfg.seed + loop.step)
    keys = ("content", "style", "layout", "anchor")
    loop.run(step_fn, sample=lambda path: sheet(model, vgg, holdout, shown, cfg, path), log_keys=keys,
             progress_keys=keys, max_skipped=200)
    heldout = evaluate(model.eval(), vgg, holdout, held_out, cfg)
    return loop.finish({"heldout": heldout}, summary=f"; held-out {loop.history[0].get('heldout')} -> {heldout}")
