"""Train a fast multi-style net (Johnson perceptual losses + Dumoulin CIN).

One style per step, round robin, so every style sees the same number of updates. Checkpoints
(model, optimizer, step, loss history, both configs) go to ``out_dir/last.pt`` atomically; a
rerun with the same out_dir resumes from there, so a CPU run can be continued on a GPU.
"""
from __future__ import annotations

import contextlib
import dataclasses
import random
from pathlib import Path

import torch
import torch.nn.functional as F

from .checkpoint import lineage, read_checkpoint, total_steps
from .common import finite_update, pick_device
from .config import BOLD_ENDS, GRAD_CLIP, TEMPORAL_NOISE, TEMPORAL_SHIFT, FastTrainConfig
from .data import ImageFolderStream, list_images, load_rgb, save_contact_sheet, style_image, to_pil, to_tensor
from .gatys import style_grams
from .loop import TrainLoop
from .losses import content_loss, gram_style_loss, gram_style_terms, layout_loss, shifted_frame_loss, total_variation
from .models.transformer import FastNetConfig, TransformerNet
from .models.vgg import LAYER_ORDER, VGG16Features, load_vgg16


def _deepest(layers: list[str]) -> str:
    return max(layers, key=LAYER_ORDER.index)


def style_targets(vgg: VGG16Features, paths: list[str], layers: list[str], size: int, device) -> list[dict[str, torch.Tensor]]:
    """Gram targets per style image, per layer (1 x C x C each): Gatys' own targets for that one painting
    (``gatys.style_grams`` on ``data.style_image``), so a fast net and Gatys optimise the same objective."""
    return [style_grams(vgg, [(style_image(p, size).to(device), 1.0)], layers, shift=0.0) for p in paths]


def load_holdout(paths: list[str], size: int = 256) -> list[torch.Tensor]:
    """Held-out photos: centre square crop at ``size`` (fixed, so numbers compare across runs)."""
    out = []
    for p in paths:
        im = load_rgb(p)
        side = min(im.size)
        left, top = (im.width - side) // 2, (im.height - side) // 2
        out.append(to_tensor(im.crop((left, top, left + side, top + side)).resize((size, size))))
    return out


@torch.no_grad()
def evaluate_fast(net: TransformerNet, vgg: VGG16Features, holdout: list[torch.Tensor], targets: list[dict],
                  content_layer: str, style_layers: list[str], boldness: float = 0.0) -> dict[str, float]:
    """Mean content, style and layout loss over held-out photos x styles at one boldness (the numbers in the
    model card; layout: ``layout_loss`` at its default 8 px blocks, whatever the run trained with; 0 = the
    photo's light layout kept, 2 = unrelated, 4 = inverted)."""
    device = next(net.parameters()).device
    c_total = s_total = l_total = 0.0
    n = 0
    for x in holdout:
        x = x[None].to(device)
        fx = vgg(x, [content_layer])[content_layer]
        for idx, grams in enumerate(targets):
            out = net(x, net.one_hot(idx, 1, boldness).to(device))
            f = vgg(out, sorted(set(style_layers) | {content_layer}))
            c_total += content_loss(f[content_layer], fx).item()
            s_total += gram_style_loss({k: f[k] for k in style_layers}, grams).item()
            l_total += layout_loss(out, x).item()
            n += 1
    return {"content": c_total / n, "style": s_total / n, "layout": l_total / n}


@torch.no_grad()
def sample_sheet(net: TransformerNet, holdout: list[torch.Tensor], path: Path, style_thumbs: list | None = None) -> Path:
    """Rows: held-out photos; columns: the photo, then every style. Optional first row: the style images."""
    device = next(net.parameters()).device
    was_training = net.training
    net.eval()
    rows = []
    if style_thumbs:
        rows.append([to_pil(torch.ones(3, 8, 8))] + style_thumbs)
    ends = (0.0, 1.0) if net.config.bold else (0.0,)  # with bold rows: each style faithful, then bold
    if style_thumbs and net.config.bold:
        rows[-1] = [rows[-1][0]] + [t for t in style_thumbs for _ in ends]
    for x in holdout:
        row = [to_pil(x)]
        for idx in range(net.config.n_styles):
            for b in ends:
                row.append(to_pil(net(x[None].to(device), net.one_hot(idx, 1, b).to(device))[0]))
        rows.append(row)
    net.train(was_training)
    return save_contact_sheet(rows, path)


def cpu_has_native_bf16() -> bool:
    """True when this CPU computes bf16 in hardware (AVX-512 BF16 or AMX). Without it PyTorch emulates
    bf16 and a training step is ~20x *slower* than fp32 (measured on an AVX2-only EPYC, 2026-11-23)."""
    # PyTorch's own dispatch level first: below AVX-512 (an AVX2-only CPU, or ATEN_CPU_CAPABILITY=avx2)
    # its kernels emulate bf16 whatever the CPU's flags say
    if not torch.backends.cpu.get_cpu_capability().startswith(("AVX512", "AMX")):
        return False
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_amp(amp: str, device: torch.device) -> str:
    """'auto' -> 'bf16' on CUDA or on a CPU with native bf16, else 'none'."""
    if amp != "auto":
        return amp
    return "bf16" if device.type == "cuda" or cpu_has_native_bf16() else "none"


def autocast_for(amp: str, device: torch.device):
    """A fresh autocast context for ``amp`` ("none" | "bf16"). Only the forward passes run inside it:
    features are cast back to fp32 before Gram matrices and losses, which run outside."""
    if amp == "none":
        return contextlib.nullcontext()
    if amp == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    raise ValueError(f"unknown amp mode {amp!r} (choose none or bf16)")


class FastStep:
    """One update of the fast net: one style per batch (round robin), perceptual losses, optional
    light-layout and shifted-frame temporal losses. Returns the values to log, or None for a
    non-finite loss or gradient (the weights are not touched; the loop moves on to the next style)."""

    def __init__(self, cfg: FastTrainConfig, net: TransformerNet, vgg: VGG16Features, targets: list[dict],
                 data: ImageFolderStream, opt: torch.optim.Optimizer, amp: str, loop: TrainLoop,
                 bold_targets: list[dict] | None = None) -> None:
        self.cfg, self.net, self.vgg, self.targets, self.data, self.opt, self.amp, self.loop = \
            cfg, net, vgg, targets, data, opt, amp, loop
        self.bold_targets = bold_targets
        self.device = next(net.parameters()).device
        self.content_layers = sorted({cfg.content_layer, cfg.bold_content_layer or cfg.content_layer}
                                     if bold_targets is not None else {cfg.content_layer}, key=LAYER_ORDER.index)
        self.layers = sorted(set(cfg.style_layers) | set(self.content_layers), key=LAYER_ORDER.index)
        self.coarse_scales = [s for s in cfg.bold_style_scales if s > 1] if bold_targets is not None else []
        self.shift_rng = random.Random(cfg.seed + 7 + loop.step)
        self.bold_rng = random.Random(cfg.seed + 11 + loop.step)

    def boldness(self) -> float:
        """This step's boldness: 0 without bold rows; else the ends (config.BOLD_ENDS) or uniform between."""
        if self.bold_targets is None:
            return 0.0
        r = self.bold_rng.random()
        return 0.0 if r < BOLD_ENDS[0] else 1.0 if r < BOLD_ENDS[0] + BOLD_ENDS[1] else self.bold_rng.random()

    def objective(self, f_out: dict, f_x: dict, out: torch.Tensor, x: torch.Tensor, idx: int,
                  b: float) -> tuple[torch.Tensor, dict]:
        """(1 - b) x the faithful objective + b x the bold one (content, Gram, layout; TV is the faithful end's).
        The logged content loss is the faithful end's layer's, so runs compare on it."""
        cfg = self.cfg
        lc = content_loss(f_out[cfg.content_layer], f_x[cfg.content_layer])
        bold_layer = cfg.bold_content_layer or cfg.content_layer
        lc_bold = lc if bold_layer == cfg.content_layer else content_loss(f_out[bold_layer], f_x[bold_layer])
        ll = layout_loss(out, x)  # logged in every run, so runs compare on it
        parts = {"content": lc, "tv": total_variation(out), "layout": ll}
        loss = lc.new_zeros(())
        for bold, end, targets, cw, lc_end, lw in (
                (False, 1.0 - b, self.targets, cfg.content_weight, lc, cfg.layout_weight),
                (True, b, self.bold_targets, cfg.bold_content_weight, lc_bold, cfg.bold_layout_weight)):
            if targets is None:
                continue
            terms = gram_style_terms({k: f_out[k] for k in cfg.style_layers}, targets[idx])
            ls = sum(terms.values())  # logged: the unweighted loss, comparable across runs
            weights = cfg.style_layer_weights or [1.0] * len(cfg.style_layers)
            trained = sum(w * terms[k] for k, w in zip(cfg.style_layers, weights))
            if bold:
                for s in self.coarse_scales:  # the same painting's Grams, matched by the pooled output
                    coarse = gram_style_terms({k: f_out[f"{k}@{s}"] for k in cfg.style_layers}, targets[idx])
                    trained = trained + sum(w * coarse[k] for k, w in zip(cfg.style_layers, weights))
                    parts["bold_coarse"] = parts.get("bold_coarse", 0.0) + sum(coarse.values())
            loss = loss + end * (cw * lc_end + cfg.style_weight * trained + lw * ll)
            parts["bold_style" if bold else "style"] = ls
        return loss + (1.0 - b) * cfg.tv_weight * parts["tv"], parts

    def output_features(self, out: torch.Tensor) -> dict[str, torch.Tensor]:
        """The loss network's features of the output; with coarse bold scales also those of the output
        average-pooled by each, keyed ``layer@scale``."""
        f = self.vgg(out, self.layers)
        for s in self.coarse_scales:
            f.update({f"{k}@{s}": v for k, v in self.vgg(F.avg_pool2d(out, s), self.cfg.style_layers).items()})
        return f

    def losses(self, x: torch.Tensor, w: torch.Tensor, idx: int, b: float = 0.0) -> tuple[torch.Tensor, dict]:
        cfg = self.cfg
        with autocast_for(self.amp, self.device):
            out = self.net(x, w)
            f_out = self.output_features(out)
            with torch.no_grad():
                f_x = self.vgg(x, self.content_layers)
        f_out = {k: v.float() for k, v in f_out.items()}
        out = out.float()
        loss, parts = self.objective(f_out, {k: v.float() for k, v in f_x.items()}, out, x, idx, b)
        lt = loss.new_zeros(())
        if cfg.temporal_weight > 0:
            m = TEMPORAL_SHIFT
            shift = (self.shift_rng.randint(0, m), self.shift_rng.randint(0, m))
            noise = torch.randn_like(x) * TEMPORAL_NOISE
            with autocast_for(self.amp, self.device):
                lt = shifted_frame_loss(lambda f: self.net(f, w).float(), x, out, shift, m, noise)
            loss = loss + cfg.temporal_weight * lt.float()
        return loss, {**parts, "temporal": lt}

    def __call__(self, step: int) -> dict[str, float] | None:
        x = self.data.next_batch().to(self.device)
        idx = (step + self.loop.skipped) % len(self.targets)  # a skipped batch moves on to the next style, never stalls
        b = self.boldness()
        w = self.net.one_hot(idx, x.shape[0], b).to(self.device)
        loss, parts = self.losses(x, w, idx, b)
        if not finite_update(self.opt, loss, [p for p in self.net.parameters() if p.requires_grad], GRAD_CLIP):
            return None  # a skipped batch: the weights are as they were
        return {k: v.item() for k, v in parts.items()}


def shipped_objectives(blob: dict, **overrides) -> FastTrainConfig:
    """A fast checkpoint's own training config (the objectives its rows were trained with), with ``overrides``:
    what learn-style and the style-prediction trainer train new rows and codes with."""
    known = {f.name for f in dataclasses.fields(FastTrainConfig)}
    shipped = {k: v for k, v in (blob.get("train_config") or {}).items() if k in known}
    return FastTrainConfig(**{**shipped, "bold_style_size": shipped.get("bold_style_size") or 512, **overrides})


def _style_names(cfg: FastTrainConfig) -> list[str]:
    if not cfg.style_images:
        raise ValueError("give at least one style image")
    names = cfg.style_names or [Path(p).stem for p in cfg.style_images]
    if len(names) != len(cfg.style_images):
        raise ValueError("style_names must match style_images one to one")
    if len(set(names)) != len(names):
        raise ValueError(f"style names must differ (got {names}; name them with --style-names)")
    if cfg.style_layer_weights and len(cfg.style_layer_weights) != len(cfg.style_layers):
        raise ValueError(f"style_layer_weights needs one weight per style layer ({', '.join(cfg.style_layers)})")
    if cfg.layout_weight < 0 or cfg.temporal_weight < 0:
        raise ValueError("layout_weight and temporal_weight must be >= 0")
    if not cfg.bold_style_scales or any(int(s) != s or s < 1 for s in cfg.bold_style_scales):
        raise ValueError(f"bold_style_scales must be whole numbers >= 1 (got {cfg.bold_style_scales})")
    return names


def _amp_mode(cfg: FastTrainConfig, device: torch.device, log) -> str:
    amp = resolve_amp(cfg.amp, device)
    autocast_for(amp, device)  # an unknown mode fails here, before the first step
    if amp == "bf16" and device.type == "cpu" and not cpu_has_native_bf16():
        log("warning: this CPU has no native bf16 (no AVX-512 BF16/AMX): bf16 steps will be much slower than fp32")
    log(f"mixed precision: {amp}")
    return amp


def fast_net_config(cfg: FastTrainConfig, names: list[str]) -> FastNetConfig:
    """The net a run trains: the width preset for these styles, with the run's skips."""
    preset = FastNetConfig.preset(cfg.width, names)
    return FastNetConfig(**{**preset.to_dict(), "skips": cfg.skips or preset.skips, "bold": cfg.bold_style_size > 0})


def init_weights(net: TransformerNet, path: str, log=print) -> int:
    """Fine-tuning start: another fast checkpoint's weights, loaded strictly. Its config may differ only in
    having fewer skips than this net (the added skips' gains start at 0, so the net computes the source's
    function at step 0). Every style of this run must be one of the checkpoint's, by name: its CIN rows are
    picked by name (so a net for fewer styles can start from a multi-style one), never by position, or a row
    would carry another painting's affine."""
    blob = read_checkpoint(path)
    if blob["family"] != "fast":
        raise ValueError(f"--init-from {path}: a {blob['family']!r} checkpoint, not a fast net")
    theirs = FastNetConfig(**blob["config"])
    ours = net.config.style_names
    if len(set(theirs.style_names)) != len(theirs.style_names):
        raise ValueError(f"--init-from {path}: its style names repeat ({theirs.style_names})")
    missing = [n for n in ours if n not in theirs.style_names]
    if missing:
        raise ValueError(f"--init-from {path}: styles {ours} are not a subset of its {theirs.style_names}")
    if theirs.dilation != net.config.dilation:  # no parameters, so the weights would load into another function
        raise ValueError(f"--init-from {path}: its residual blocks are dilated {list(theirs.dilation)}, this net's are not")
    if theirs.bold and not net.config.bold:
        raise ValueError(f"--init-from {path}: it has bold rows; train with --bold-style-size to keep them")
    picked = [theirs.style_names.index(n) for n in ours]
    # a net given bold rows starts them as copies of the faithful ones (boldness then changes nothing yet)
    bold = [len(theirs.style_names) + i if theirs.bold else i for i in picked] if net.config.bold else []
    rows = torch.tensor(picked + bold)
    state = {k: (v[rows] if k.endswith((".gamma", ".beta")) else v) for k, v in blob["model"].items()}
    if theirs.n_skips > net.config.n_skips:
        raise ValueError(f"--init-from {path}: it has skips {theirs.skips!r} and this net {net.config.skips or 'none'!r}; "
                         "skips can be added, not dropped")
    opened = range(theirs.n_skips, net.config.n_skips)
    for j in opened:  # the net's own gains, 0 from construction: closed skips
        state.update({k: v for k, v in net.state_dict().items() if k.startswith(f"skips.{j}.")})
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        raise ValueError(f"--init-from {path}: its weights do not fit this net ({str(exc).splitlines()[0]})") from None
    subset = "" if ours == theirs.style_names else f", styles {ours} of its {len(theirs.style_names)}"
    subset += f", skips added (closed): {theirs.skips or 'none'} -> {net.config.skips}" if len(opened) else ""
    log(f"initialised from {path} (step {blob.get('step', 0)}, {total_steps(blob)} in all{subset})")
    return total_steps(blob)


def _optimizer(cfg: FastTrainConfig, net: TransformerNet) -> torch.optim.Adam:
    """Adam over the shared weights (cfg.lr) and the norm rows and skip gains (x cfg.cin_lr_mult); with
    freeze_shared, the rows only (the shared weights stop needing gradients)."""
    def fast(name: str) -> bool:  # the CIN affines, and the skips' gains (few numbers that start closed)
        return name.endswith((".gamma", ".beta")) or (name.startswith("skips.") and not cfg.freeze_shared)

    rows = [p for n, p in net.named_parameters() if fast(n)]
    shared = [p for n, p in net.named_parameters() if not fast(n)]
    if cfg.freeze_shared:
        for p in shared:
            p.requires_grad_(False)
        return torch.optim.Adam([{"params": rows, "lr": cfg.lr * cfg.cin_lr_mult}])
    return torch.optim.Adam([{"params": shared, "lr": cfg.lr}, {"params": rows, "lr": cfg.lr * cfg.cin_lr_mult}])


def _evaluator(cfg: FastTrainConfig, net: TransformerNet, vgg: VGG16Features, holdout: list, targets: list,
               bold_targets: list | None):
    """The held-out numbers: at boldness 0 against the faithful targets; with bold rows also at 1 (bold_*)."""
    def evaluate() -> dict[str, float]:
        net.eval()
        found = evaluate_fast(net, vgg, holdout, targets, cfg.content_layer, cfg.style_layers)
        if bold_targets is not None:
            bold = evaluate_fast(net, vgg, holdout, bold_targets, cfg.content_layer, cfg.style_layers, 1.0)
            found.update({f"bold_{k}": v for k, v in bold.items()})
        return found
    return evaluate


def train_fast(cfg: FastTrainConfig, log=print) -> Path:
    names = _style_names(cfg)
    device = pick_device(cfg.device)
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    layers = sorted(set(cfg.style_layers) | {cfg.content_layer, cfg.bold_content_layer or cfg.content_layer},
                    key=LAYER_ORDER.index)
    vgg = load_vgg16(cfg.vgg_weights or None, last_layer=_deepest(layers)).to(device)
    targets = style_targets(vgg, cfg.style_images, cfg.style_layers, cfg.style_size, device)
    bold_targets = (style_targets(vgg, cfg.style_images, cfg.style_layers, cfg.bold_style_size, device)
                    if cfg.bold_style_size > 0 else None)
    model_cfg = fast_net_config(cfg, names)
    net = TransformerNet(model_cfg).to(device)
    if cfg.freeze_shared and not cfg.init_from:
        raise ValueError("freeze_shared trains a net's norm rows only: give --init-from, the net whose weights stay")
    opt = _optimizer(cfg, net)
    loop = TrainLoop(cfg, "fast", net, model_cfg, opt, log=log,
                     loss_network=Path(cfg.vgg_weights).name if cfg.vgg_weights else "vgg16-hed")

    steps_before = init_weights(net, cfg.init_from, log) if loop.step == 0 and cfg.init_from else 0
    data = ImageFolderStream(cfg.content_dir, cfg.image_size, cfg.batch_size, seed=cfg.seed + loop.step)
    holdout = load_holdout(cfg.holdout or [str(p) for p in list_images(cfg.content_dir)[:4]], cfg.holdout_size)
    thumbs = [load_rgb(p, 160) for p in cfg.style_images]
    log(f"fast net '{cfg.width}' ({len(names)} styles{', bold rows' if model_cfg.bold else ''}) on {device}: "
        f"{len(data)} content images, {sum(p.numel() for p in net.parameters() if p.requires_grad)} trained parameters")
    evaluate = _evaluator(cfg, net, vgg, holdout, targets, bold_targets)
    if loop.step == 0:  # the lineage of a fine-tuning run stays in its first entry (training.checkpoint.total_steps)
        loop.history.append({"step": 0, "heldout": evaluate(), **lineage(cfg.init_from, steps_before)})
    net.train()
    step_fn = FastStep(cfg, net, vgg, targets, data, opt, _amp_mode(cfg, device, log), loop, bold_targets)
    keys = ("content", "style", "tv", "layout") + (("bold_style",) if bold_targets is not None else ()) \
        + (("bold_coarse",) if step_fn.coarse_scales else ())
    loop.run(step_fn, sample=lambda path: sample_sheet(net, holdout, path, thumbs),
             log_keys=keys + ("temporal",), progress_keys=keys, max_skipped=200)
    heldout = evaluate()
    return loop.finish({"heldout": heldout}, {"skipped_batches": loop.skipped, "flat_crops_redrawn": data.flat_redraws},
                       summary=f"; held-out {loop.history[0].get('heldout')} -> {heldout}")
