"""The small AdaIN model (training/models/adain_small.py) taught by a big one.

Each step draws photos and, for each, a style image (a training painting or, with ``photo_styles``, a training
photo) and an alpha (half the pairs at 1, the rest anywhere in [0.2, 1]). The big AdaIN model's picture of that
triple is the target: the small model's picture is scored by pixel L1 plus the L1 of the pictures' fine detail
(each minus its 3x3 blur, at full and half size), so the strokes are learned and not averaged away. With
``hint_weight`` the small encoder's features, through 1x1 heads, also learn the big encoder's VGG features of
the same resolution, on photos and style images alike: the small model's style statistics then describe what
the big one's do. ``statistics_weight`` and ``perceptual_weight`` compare the pictures in the big encoder's
features (its texture, which the L1 terms average away); ``painting_weight`` compares the small model's picture
with the style image itself, AdaIN's own style loss, on the pairs at full strength.
"""
from __future__ import annotations

import random
from pathlib import Path

import torch
import torch.nn.functional as F

from .checkpoint import file_sha256, read_checkpoint, total_steps
from .common import finite_update, pick_device
from .config import GRAD_CLIP, AdaINSmallTrainConfig
from .data import ImageFolderStream, list_images, save_contact_sheet, to_pil
from .distil_anystyle import feature_distance, load_teacher, statistics_distance
from .loop import TrainLoop
from .models.adain import AdaINNet, adain_targets, stats_of
from .models.adain_small import HINT_LAYERS, AdaINSmallConfig, AdaINSmallNet
from .models.vgg import load_vgg16
from .train_adain import encoder_layers
from .train_fast import autocast_for, load_holdout, resolve_amp

TEXTURE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")  # the statistics distance may read these
PERCEPTUAL_LAYERS = ("relu2_1", "relu3_1")


def detail(x: torch.Tensor) -> list[torch.Tensor]:
    """A picture's fine detail at full and half size: each minus its 3x3 box blur."""
    out = []
    for level in (x, F.avg_pool2d(x, 2)):
        blur = F.avg_pool2d(F.pad(level, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
        out.append(level - blur)
    return out


def hint_distance(guess: dict[str, torch.Tensor], ref: dict[str, torch.Tensor]) -> torch.Tensor:
    """Sum over the hint layers of the mean squared difference, each over the reference's mean square."""
    return sum(F.mse_loss(guess[k].float(), ref[k]) / ref[k].pow(2).mean().clamp_min(1e-6) for k in HINT_LAYERS)


class StyleCrops:
    """Batches of style crops: training paintings (not the held-out ones), and training photos ``photo_styles``
    of the time."""

    def __init__(self, cfg: AdaINSmallTrainConfig, seed: int) -> None:
        self.paintings = ImageFolderStream(cfg.style_dir, cfg.image_size, 1, seed=seed)
        held = {Path(p).resolve() for p in cfg.holdout_styles}  # never trained on: the sheets judge on them
        self.paintings.paths = [p for p in self.paintings.paths if p.resolve() not in held]
        if not self.paintings.paths:
            raise ValueError(f"--style-dir {cfg.style_dir} has no paintings besides --holdout-styles")
        self.photos = ImageFolderStream(cfg.content_dir, cfg.image_size, 1, seed=seed + 1)
        self.share, self.n = cfg.photo_styles, cfg.batch_size
        self.rng = random.Random(seed + 2)

    def next_batch(self) -> torch.Tensor:
        return torch.cat([(self.photos if self.rng.random() < self.share else self.paintings).next_batch()
                          for _ in range(self.n)])


class DistilAdaINStep:
    """One update of the small model against the big model's pictures."""

    def __init__(self, cfg: AdaINSmallTrainConfig, net: AdaINSmallNet, teacher: AdaINNet, opt, amp: str,
                 step: int) -> None:
        self.cfg, self.net, self.teacher, self.opt, self.amp = cfg, net, teacher, opt, amp
        self.device = next(net.parameters()).device
        self.contents = ImageFolderStream(cfg.content_dir, cfg.image_size, cfg.batch_size, seed=cfg.seed + step)
        self.styles = StyleCrops(cfg, cfg.seed + step + 7)
        self.rng = random.Random(cfg.seed + step + 11)

    def alphas(self, n: int) -> torch.Tensor:
        a = [1.0 if self.rng.random() < 0.5 else self.rng.uniform(0.2, 1.0) for _ in range(n)]
        return torch.tensor(a, device=self.device).view(n, 1, 1, 1)

    @torch.no_grad()
    def teach(self, x: torch.Tensor, s: torch.Tensor, alpha: torch.Tensor) -> tuple[torch.Tensor, dict, dict]:
        """The big model's picture, and its encoder's features of the photos and of the style images."""
        layers = self.teacher.stats_layers
        wanted = encoder_layers(layers, list(HINT_LAYERS))  # the hints read all four, whatever the teacher's skips
        with autocast_for(self.amp, self.device):
            fx = {k: v.float() for k, v in self.teacher.encoder(x, wanted).items()}
            fs = {k: v.float() for k, v in self.teacher.encoder(s, wanted).items()}
            target = self.teacher.decode(adain_targets(fx, *stats_of(fs, layers), layers, alpha))
        return target.float().clamp(0.0, 1.0), fx, fs

    def texture(self, out: torch.Tensor, target: torch.Tensor, fs: dict | None = None,
                alpha: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """How far the small model's picture is from the big one's in the big encoder's features: per-channel
        mean and spread (AdaIN's style loss) and the features themselves; with the style images' features
        ``fs``, also the statistics' distance to the style image's own on the pairs at full strength."""
        layers = sorted(set(self.cfg.texture_layers) | set(PERCEPTUAL_LAYERS))
        with torch.no_grad(), autocast_for(self.amp, self.device):
            f_ref = {k: v.float() for k, v in self.teacher.encoder(target, layers).items()}
        with autocast_for(self.amp, self.device):
            f_out = {k: v.float() for k, v in self.teacher.encoder(out, layers).items()}
        parts = {"statistics": statistics_distance(f_out, f_ref, self.cfg.texture_layers),
                 "perceptual": feature_distance(f_out, f_ref, PERCEPTUAL_LAYERS)}
        if fs is not None and alpha is not None:
            full = alpha.flatten() >= 1.0
            parts["painting"] = statistics_distance({k: f_out[k][full] for k in self.cfg.texture_layers},
                                                    {k: fs[k][full] for k in self.cfg.texture_layers},
                                                    self.cfg.texture_layers) if full.any() else out.new_zeros(())
        return parts

    def __call__(self, step: int) -> dict[str, float] | None:
        cfg, net = self.cfg, self.net
        for group in self.opt.param_groups:
            group["lr"] = cfg.lr / (1.0 + cfg.lr_decay * step)
        x, s = self.contents.next_batch().to(self.device), self.styles.next_batch().to(self.device)
        alpha = self.alphas(x.shape[0])
        target, fx, fs = self.teach(x, s, alpha)
        with autocast_for(self.amp, self.device):
            hx, hs = [h.float() for h in net.encode(x)], [h.float() for h in net.encode(s)]
            mean, std = stats_of(dict(enumerate(hs)), list(range(4)))
            out = net.decode(net.targets(hx, mean, std, alpha)).float()
        parts = {"pixel": F.l1_loss(out, target),
                 "detail": sum(F.l1_loss(a, b) for a, b in zip(detail(out), detail(target)))}
        loss = cfg.pixel_weight * parts["pixel"] + cfg.detail_weight * parts["detail"]
        if cfg.statistics_weight > 0 or cfg.perceptual_weight > 0 or cfg.painting_weight > 0:
            parts.update(self.texture(out, target, fs if cfg.painting_weight > 0 else None, alpha))
            loss = loss + cfg.statistics_weight * parts["statistics"] + cfg.perceptual_weight * parts["perceptual"]
            loss = loss + cfg.painting_weight * parts.get("painting", 0.0)
        if cfg.hint_weight > 0:
            parts["hint"] = hint_distance(net.hint_features(hx), fx) + hint_distance(net.hint_features(hs), fs)
            loss = loss + cfg.hint_weight * parts["hint"]
        if not finite_update(self.opt, loss, list(net.parameters()), GRAD_CLIP):
            return None
        return {k: v.item() for k, v in parts.items()}


def small_model_config(cfg: AdaINSmallTrainConfig) -> AdaINSmallConfig:
    """The net's shape a run of ``cfg`` trains (the recipes check shipped checkpoints against it)."""
    return AdaINSmallConfig(widths=list(cfg.widths), res_blocks=cfg.res_blocks,
                            decoder_activation=cfg.decoder_activation)


def init_small_from(net: AdaINSmallNet, path: str) -> int:
    """``net``'s weights from another small AdaIN checkpoint of the same widths and residual blocks; returns the
    training steps behind them."""
    blob = read_checkpoint(path)
    if blob["family"] != "adain-small":
        raise ValueError(f"--init-from {path}: a {blob['family']!r} checkpoint, not a small AdaIN model")
    theirs = AdaINSmallConfig(**blob["config"])
    if (theirs.widths, theirs.res_blocks) != (net.config.widths, net.config.res_blocks):
        raise ValueError(f"--init-from {path}: widths {theirs.widths} and {theirs.res_blocks} residual blocks, "
                         f"this run has {net.config.widths} and {net.config.res_blocks}")
    net.load_state_dict(blob["model"])
    return total_steps(blob)


def restart_deep_decoder(net: AdaINSmallNet, opt: torch.optim.Optimizer) -> None:
    """New weights for the decoder below full resolution (dec2-dec4), with their optimizer state forgotten."""
    for stage in (net.dec2, net.dec3, net.dec4):
        for module in stage.modules():
            if isinstance(module, torch.nn.Conv2d):
                module.reset_parameters()
        for p in stage.parameters():
            opt.state.pop(p, None)


@torch.no_grad()
def deep_path_alive(net: AdaINSmallNet, seed: int = 0) -> int:
    """How many of the channels the decoder's lower resolutions hand to its full-resolution stage vary at all
    on random photos and style images (a dead ReLU gives a constant 0): 0 means the picture comes from the
    full-resolution level alone, a colour grade of the photo."""
    was_training = net.training
    net.eval()
    g = torch.Generator().manual_seed(seed)
    device = next(net.parameters()).device
    x, s = (torch.rand(2, 3, 64, 64, generator=g).to(device) for _ in range(2))
    handed = net.lower(net.targets(net.encode(x), *net.style_stats(s), 1.0))
    net.train(was_training)
    return int((handed.amax(dim=(0, 2, 3)) - handed.amin(dim=(0, 2, 3)) > 1e-6).sum())


@torch.no_grad()
def heldout(net: AdaINSmallNet, teacher: AdaINNet, photos: list, styles: list, sheet: Path | None = None) -> float:
    """Mean pixel L1 to the big model's pictures over held-out photo x style pairs at alpha 1; with ``sheet``,
    also a contact sheet: each photo, then the big and the small model's picture for each style."""
    device = next(net.parameters()).device
    rows = [[to_pil(torch.ones(3, 8, 8))] + [to_pil(s) for s in styles for _ in (0, 1)]]
    total = 0.0
    for c in photos:
        x, row = c[None].to(device), [to_pil(c)]
        for s in styles:
            big = teacher.stylize(x, *teacher.style_stats(s[None].to(device)), 1.0)
            small = net.stylize(x, *net.style_stats(s[None].to(device)), 1.0)
            total += F.l1_loss(small, big).item()
            row += [to_pil(big[0]), to_pil(small[0])]
        rows.append(row)
    if sheet is not None:
        save_contact_sheet(rows, sheet)
    return total / (len(photos) * len(styles))


def train_adain_small(cfg: AdaINSmallTrainConfig, log=print) -> Path:
    if not cfg.teacher:
        raise ValueError("--teacher is needed: the AdaIN checkpoint the small model learns from")
    if not cfg.texture_layers or not set(cfg.texture_layers) <= set(TEXTURE_LAYERS):
        raise ValueError(f"texture_layers must be some of {', '.join(TEXTURE_LAYERS)} (got {cfg.texture_layers})")
    device = pick_device(cfg.device)
    torch.manual_seed(cfg.seed)
    teacher = load_teacher(cfg.teacher, load_vgg16(cfg.vgg_weights or None, last_layer="relu4_1")).to(device)
    model_cfg = small_model_config(cfg)
    net = AdaINSmallNet(model_cfg).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    loop = TrainLoop(cfg, "adain-small", net, model_cfg, opt, log=log, teacher_sha256=file_sha256(cfg.teacher))
    started_from_weights = loop.step > 0
    if cfg.init_from and loop.step == 0:
        before = init_small_from(net, cfg.init_from)
        loop.history.append({"step": 0, "init_from": cfg.init_from, "steps_before": before})
        started_from_weights = True
    amp = resolve_amp(cfg.amp, device)
    photos = load_holdout(cfg.holdout or [str(p) for p in list_images(cfg.content_dir)[:4]])
    styles = load_holdout(cfg.holdout_styles or [str(p) for p in list_images(cfg.style_dir)[:4]], 128)
    log(f"small AdaIN model (widths {model_cfg.widths}) taught by {cfg.teacher} on {device}, amp {amp}")
    if loop.step == 0:
        loop.history.append({"step": 0, "heldout": heldout(net, teacher, photos, styles)})
    if cfg.fresh_decoder and started_from_weights and not any(h.get("fresh_decoder") for h in loop.history):
        restart_deep_decoder(net, opt)
        loop.history.append({"step": loop.step, "fresh_decoder": True})
        log(f"decoder stages below full resolution started again at step {loop.step}")
    log(f"deep path: {deep_path_alive(net)} of {net.config.widths[0]} channels reach the last stage")
    step = DistilAdaINStep(cfg, net, teacher, opt, amp, loop.step)
    net.train()

    def sample(path: Path) -> None:
        net.eval()
        loop.history.append({"step": loop.step, "heldout": heldout(net, teacher, photos, styles, path),
                             "deep_alive": deep_path_alive(net)})
        net.train()

    loop.run(step, sample=sample, progress_keys=("pixel", "detail", "statistics"))
    net.eval()
    score = heldout(net, teacher, photos, styles)
    first = loop.history[0].get("heldout")
    return loop.finish({"heldout": score}, summary=f"; held-out L1 to the big model {first} -> {score}")
