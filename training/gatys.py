"""Gatys et al. optimisation-based style transfer, with the seeds' options (000, 001, 002).

minimise  alpha * L_content(x, c) + beta * sum_l w_l * L_style_l(x, S)   over the pixels x
L_content on relu4_2 (Gatys' conv4_2 exists in VGG-16 too); L_style on relu1_1 ... relu5_1
(the VGG-19 choice maps one to one). Style mixture: the target Gram of each layer is the
weighted mean of the styles' Grams. Novak & Nikulin's activation shift (s = -1) computes
Grams of (F + s), which keeps sparse, mostly-zero feature maps from giving near-zero Grams.
L-BFGS (default) or Adam; start from the content or from noise; coarse-to-fine for large sizes;
colour preservation by luminance transfer. Losses are the relative ones of training/losses.py,
so alpha and beta are the weights of comparable numbers.
"""
from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from .losses import content_loss
from .models.vgg import LAYER_ORDER, VGG16Features, gram_matrix

PRESETS = {
    "default": {"alpha": 1.0, "beta": 10.0},
    "daytime": {"alpha": 1000.0, "beta": 10.0},  # content-heavy, for day -> night photos (X. Li, "Neural Style Transfer")
}


@dataclass
class GatysConfig:
    content_layers: list[str] = field(default_factory=lambda: ["relu4_2"])
    style_layers: list[str] = field(default_factory=lambda: ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"])
    layer_weights: list[float] = field(default_factory=list)  # per style layer; empty = all 1
    alpha: float = 1.0  # content weight
    beta: float = 10.0  # style weight
    optimizer: str = "lbfgs"  # lbfgs | adam
    steps: int = 300
    lr: float = 0.02  # Adam only; L-BFGS takes unit steps (no line search), one iteration per step
    init: str = "content"  # content | noise
    size: int = 512  # longest side of the output
    shift: float = 0.0  # Novak & Nikulin activation shift; -1 in their paper
    preserve_colors: bool = False
    coarse_to_fine: bool = True  # above 512 px: solve at half size first
    seed: int = 0

    def __post_init__(self) -> None:
        if self.optimizer not in ("lbfgs", "adam"):
            raise ValueError(f"optimizer must be lbfgs or adam, got {self.optimizer!r}")
        if self.init not in ("content", "noise"):
            raise ValueError(f"init must be content or noise, got {self.init!r}")
        if self.layer_weights and len(self.layer_weights) != len(self.style_layers):
            raise ValueError("layer_weights needs one weight per style layer")
        for name in [*self.content_layers, *self.style_layers]:
            if name not in LAYER_ORDER:
                raise ValueError(f"unknown VGG-16 layer {name!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def preset(cls, name: str, **overrides) -> "GatysConfig":
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})


def style_grams(vgg: VGG16Features, styles: list[tuple[torch.Tensor, float]], layers: list[str], shift: float) -> dict[str, torch.Tensor]:
    """Weighted mean of each style's Gram matrices per layer (the style-mixture target)."""
    total = sum(w for _, w in styles)
    if total <= 0:
        raise ValueError("style weights must sum to more than zero")
    targets: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for image, weight in styles:
            feats = vgg(image, layers)
            for name in layers:
                g = gram_matrix(feats[name] + shift) * (weight / total)
                targets[name] = targets[name] + g if name in targets else g
    return targets


def luminance_transfer(stylized: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Keep the content's colours: YIQ, take Y from the stylized image, I and Q from the content."""
    m = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], device=stylized.device)
    to_yiq = lambda x: torch.einsum("ij,bjhw->bihw", m, x)  # noqa: E731
    s, c = to_yiq(stylized), to_yiq(content)
    mixed = torch.cat([s[:, :1], c[:, 1:]], dim=1)
    return torch.einsum("ij,bjhw->bihw", torch.linalg.inv(m), mixed).clamp(0, 1)


class GatysLoss:
    def __init__(self, vgg: VGG16Features, content: torch.Tensor, styles: list[tuple[torch.Tensor, float]], cfg: GatysConfig) -> None:
        self.vgg, self.cfg = vgg, cfg
        self.layers = sorted(set(cfg.content_layers) | set(cfg.style_layers), key=LAYER_ORDER.index)
        with torch.no_grad():
            self.content_targets = vgg(content, cfg.content_layers)
        self.grams = style_grams(vgg, styles, cfg.style_layers, cfg.shift)
        self.weights = dict(zip(cfg.style_layers, cfg.layer_weights or [1.0] * len(cfg.style_layers)))

    def _style_term(self, feats: dict, n: str) -> torch.Tensor:
        target = self.grams[n]
        return F.mse_loss(gram_matrix(feats[n] + self.cfg.shift), target) / target.pow(2).mean().clamp_min(1e-12)

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, float, float]:
        feats = self.vgg(x, self.layers)
        lc = sum(content_loss(feats[n], self.content_targets[n]) for n in self.cfg.content_layers)
        ls = x.new_zeros(())
        for n in self.cfg.style_layers:
            ls = ls + self.weights[n] * self._style_term(feats, n)
        return self.cfg.alpha * lc + self.cfg.beta * ls, float(lc.detach()), float(ls.detach())

    @torch.no_grad()
    def measure(self, x: torch.Tensor) -> tuple[float, float, dict[str, float]]:
        """What ``__call__`` reports (content loss, weighted style loss) and each style layer's relative Gram
        loss, unweighted (where a style loss comes from), from one pass of the loss network."""
        feats = self.vgg(x, self.layers)
        lc = sum(float(content_loss(feats[n], self.content_targets[n])) for n in self.cfg.content_layers)
        terms = {n: float(self._style_term(feats, n)) for n in self.cfg.style_layers}
        return lc, sum(self.weights[n] * t for n, t in terms.items()), terms

    def style_terms(self, x: torch.Tensor) -> dict[str, float]:
        """Each style layer's relative Gram loss, unweighted."""
        return self.measure(x)[2]


def resize_longest(x: torch.Tensor, size: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    scale = size / max(h, w)
    return F.interpolate(x, size=(max(8, round(h * scale)), max(8, round(w * scale))), mode="bilinear",
                         align_corners=False, antialias=True)


ProgressFn = Callable[[int, int, float, torch.Tensor], None]  # step, total, loss, current image


def run_gatys(vgg: VGG16Features, content: torch.Tensor, styles: list[tuple[torch.Tensor, float]], cfg: GatysConfig,
              progress: ProgressFn | None = None, cancel: threading.Event | None = None,
              history: list | None = None) -> torch.Tensor:
    """content: 1 x 3 x H x W in [0, 1]; styles: [(1 x 3 x h x w, weight)]. Returns 1 x 3 x H' x W'."""
    device = next(vgg.parameters()).device
    content = resize_longest(content.to(device), cfg.size)
    styles = [(resize_longest(s.to(device), cfg.size), w) for s, w in styles]
    start = None
    stages = [(cfg.size, cfg.steps)]
    if cfg.coarse_to_fine and cfg.size > 512:
        stages = [(cfg.size // 2, cfg.steps // 2), (cfg.size, cfg.steps - cfg.steps // 2)]
    done, total = 0, sum(s for _, s in stages)
    for size, steps in stages:
        c = resize_longest(content, size)
        loss_fn = GatysLoss(vgg, c, [(resize_longest(s, size), w) for s, w in styles], cfg)
        if start is not None:
            x0 = F.interpolate(start, size=c.shape[-2:], mode="bilinear", align_corners=False)
        elif cfg.init == "noise":
            x0 = torch.rand(c.shape, generator=torch.Generator().manual_seed(cfg.seed)).to(device)
        else:
            x0 = c.clone()
        x = x0.detach().clone().requires_grad_(True)
        start = _optimise(x, loss_fn, steps, cfg, done, total, progress, cancel, history)
        done += steps
        if cancel is not None and cancel.is_set():
            break
    out = start.detach()
    if cfg.preserve_colors:
        out = luminance_transfer(out, resize_longest(content, out.shape[-1] if out.shape[-1] >= out.shape[-2] else out.shape[-2]))
    return out.clamp(0, 1)


def _optimise(x, loss_fn, steps, cfg, offset, total, progress, cancel, history) -> torch.Tensor:
    step = 0
    last = {"loss": 0.0}

    def evaluate():
        nonlocal step
        optimizer.zero_grad(set_to_none=True)
        loss, lc, ls = loss_fn(x)
        loss.backward()
        last.update(loss=float(loss.detach()), content=lc, style=ls)
        return loss

    if cfg.optimizer == "lbfgs":
        optimizer = torch.optim.LBFGS([x], lr=1.0, max_iter=1, history_size=50)
    else:
        optimizer = torch.optim.Adam([x], lr=cfg.lr)
    while step < steps:
        if cancel is not None and cancel.is_set():
            break
        optimizer.step(evaluate)
        if cfg.optimizer == "adam":  # projecting inside L-BFGS breaks its curvature pairs; it is clamped at the end
            with torch.no_grad():
                x.clamp_(0, 1)
        step += 1
        if history is not None:
            history.append({"step": offset + step, **last})
        if progress is not None:
            progress(offset + step, total, last["loss"], x.detach().clamp(0, 1))
    return x.detach().clamp(0, 1)


def _check_outputs(out: Path, inputs: list, preview: str | None) -> None:
    """The output's folder exists, and neither the output nor the preview overwrites an input."""
    from engine.atomic import check_not_input

    if not out.parent.is_dir():
        raise FileNotFoundError(f"output folder does not exist: {out.parent}")
    check_not_input(out, inputs)
    if preview:
        check_not_input(preview, [*inputs, out])


def _load_images(content_path: str, styles: dict[str, float], size: int) -> tuple[torch.Tensor, list]:
    """The content at its own size (up to 4096 px) and the weighted style images at the working size."""
    from .data import load_rgb, style_image, to_tensor

    for p in [content_path, *styles]:
        if not Path(p).is_file():
            raise FileNotFoundError(f"file not found: {p}")
    content = to_tensor(load_rgb(content_path, 4096))[None]
    # at the working size, as the fast nets' trainer reads them (training.data.style_image): same targets
    return content, [(style_image(p, size), w) for p, w in styles.items()]


def _progress_reporter(content: torch.Tensor, cfg: GatysConfig, inputs: list, json_progress: bool,
                       preview: str | None, preview_every: int) -> Callable[[int, int, float, torch.Tensor], None]:
    """The ``progress`` callback of `gatys_file`: a JSON line or a stderr status line per step, and the
    preview image written when due (see `gatys_file`)."""
    from engine.atomic import atomic_path

    from .data import to_pil

    last_preview = time.monotonic()
    colours: dict[tuple, torch.Tensor] = {}

    def report(step: int, total: int, loss: float, image: torch.Tensor) -> None:
        nonlocal last_preview
        msg = {"step": step, "total": total, "loss": round(loss, 5)}
        if preview and (step % preview_every == 0 or step == total or time.monotonic() - last_preview >= 1.0):
            if cfg.preserve_colors:
                shape = tuple(image.shape[-2:])
                if shape not in colours:  # the content at this stage's size, resized once
                    colours[shape] = F.interpolate(content.to(image.device), size=shape, mode="bilinear",
                                                   align_corners=False, antialias=True)
                image = luminance_transfer(image, colours[shape])
            with atomic_path(preview, inputs) as tmp:
                to_pil(image[0]).save(tmp, format="PNG")
            last_preview = time.monotonic()
            msg["preview"] = preview
        if json_progress:
            print(json.dumps(msg), flush=True)
        elif step % 10 == 0 or step == total:
            print(f"\rstep {step}/{total} loss {loss:.4g}   ", end="", file=sys.stderr, flush=True)

    return report


def gatys_file(content_path: str, styles: dict[str, float], out_path: str, cfg: GatysConfig, *, device: str = "auto",
               vgg_weights: str | None = None, json_progress: bool = False, preview: str | None = None,
               preview_every: int = 10) -> str:
    """File-level entry point used by `python -m training gatys`, `stylecast gatys` and the Studio tab.

    With ``json_progress`` every step prints one JSON line ({"step", "total", "loss"[, "preview"]});
    the preview image is written atomically to ``preview`` every ``preview_every`` steps, and after any
    step that ends more than a second after the last preview, so a job stopped by killing it (the Studio
    tab's Stop keeps the newest preview) never loses more than about a second of work. The line naming
    the preview is printed only once the file is complete. With ``preserve_colors`` the preview has the
    content's colours too, as the result will.
    """
    from engine.atomic import atomic_path

    from .common import pick_device
    from .data import to_pil
    from .models.vgg import load_vgg16

    out = Path(out_path)
    inputs = [content_path, *styles, vgg_weights]
    _check_outputs(out, inputs, preview)
    dev = pick_device(device)
    deepest = max([*cfg.content_layers, *cfg.style_layers], key=LAYER_ORDER.index)
    vgg = load_vgg16(vgg_weights, last_layer=deepest).to(dev)
    content, style_list = _load_images(content_path, styles, cfg.size)
    report = _progress_reporter(content, cfg, inputs, json_progress, preview, preview_every)
    result = run_gatys(vgg, content, style_list, cfg, progress=report)
    with atomic_path(out, inputs) as tmp:
        to_pil(result[0]).save(tmp, format=None if out.suffix else "PNG")
    if not json_progress:
        print(file=sys.stderr)
    return str(out)
