"""Style prediction taught by an AdaIN model: the fast net and its predictor learn to give, for any style image,
the picture the AdaIN decoder gives for it.

Trained on the fast net's own objective, a predictor shared by every painting learns the paintings' common
optimum long before it learns to tell them apart (docs/training.md). An AdaIN model (Huang & Belongie, "Arbitrary
Style Transfer in Real-time with Adaptive Instance Normalization", ICCV 2017) already tells them apart: it
stylizes with any image's statistics. So each step here asks the student (the fast net with the predicted code)
for the AdaIN model's own output on the same photo and style image, pixel for pixel (L1) and in the loss
network's features (relu1_2, relu2_2, relu3_3, each divided by the teacher's mean square) and, with
``statistics_weight``, in the per-channel mean and spread of the features at relu1_1-relu4_1 (AdaIN's own style
loss, against the teacher's picture: a pixel loss alone averages colours and texture into a greyer picture).
The style images are the training paintings, their colour-turned copies and, with ``photo_styles``, training
photos (any image is a style image to AdaIN, so the student meets far more palettes and textures than the corpus
has paintings).

The faithful end learns the teacher at ``teacher_alphas[0]`` (AdaIN's content-style trade-off), the bold end at
``teacher_alphas[1]``; a step's boldness picks the mix of both. With ``train_net`` the fast net's convolutions
learn too: the model is then its own net (its ``code_id`` changes), no longer a code for the shipped one.
"""
from __future__ import annotations

import random

import torch
import torch.nn.functional as F

from .checkpoint import build_from_checkpoint, read_checkpoint
from .common import finite_update
from .config import GRAD_CLIP, AnyStyleTrainConfig
from .data import ImageFolderStream, list_images, load_rgb, random_crop, to_tensor
from .models.adain import AdaINNet, stats_of
from .models.anystyle import STATS_LAYERS, AnyStyleNet, statistics_of
from .models.vgg import calc_mean_std
from .train_fast import autocast_for

DISTIL_LAYERS = ("relu1_2", "relu2_2", "relu3_3")


def check_settings(cfg: AnyStyleTrainConfig) -> None:
    """The teacher's settings make sense together, or one clear error before anything loads."""
    if cfg.train_net and not cfg.teacher:
        raise ValueError("--train-net needs --teacher: without one the fast net stays as shipped")
    if cfg.teacher and not (1 <= len(cfg.teacher_alphas) <= 2 and all(0.0 <= a <= 1.0 for a in cfg.teacher_alphas)):
        raise ValueError(f"--teacher-alphas takes one or two values between 0 and 1 (faithful, bold), "
                         f"got {cfg.teacher_alphas}")


def load_teacher(path: str, vgg) -> AdaINNet:
    """The AdaIN model (its decoder from ``path``, its encoder the loss network: the same VGG-16), frozen."""
    blob = read_checkpoint(path)
    if blob["family"] != "adain":
        raise ValueError(f"--teacher {path}: a {blob['family']!r} checkpoint, not an AdaIN decoder")
    teacher = AdaINNet(vgg, build_from_checkpoint(blob))
    if set(teacher.stats_layers) - set(STATS_LAYERS):
        raise ValueError(f"--teacher {path}: its statistics ({teacher.stats_layers}) are not among {STATS_LAYERS}")
    for p in teacher.decoder.parameters():
        p.requires_grad_(False)
    return teacher.eval()


def feature_distance(f_out: dict, f_ref: dict, layers=DISTIL_LAYERS) -> torch.Tensor:
    """Sum over ``layers`` of the mean squared difference, each divided by the reference's mean square."""
    total = 0.0
    for name in layers:
        ref = f_ref[name]
        total = total + F.mse_loss(f_out[name], ref) / ref.pow(2).mean().clamp_min(1e-6)
    return total


def statistics_distance(f_out: dict, f_ref: dict, layers=STATS_LAYERS) -> torch.Tensor:
    """Sum over ``layers`` of the squared difference of the per-channel means and standard deviations (AdaIN's
    style loss), each divided by the reference's: the teacher's colour strength and texture energy, which a pixel
    loss alone averages away into a greyer, softer picture."""
    total = 0.0
    for name in layers:
        m_out, s_out = calc_mean_std(f_out[name])
        m_ref, s_ref = calc_mean_std(f_ref[name])
        scale = (m_ref.pow(2).mean() + s_ref.pow(2).mean()).clamp_min(1e-6)
        total = total + (F.mse_loss(m_out, m_ref) + F.mse_loss(s_out, s_ref)) / scale
    return total


class DistilStep:
    """One update of the student: a batch of photos, a style image for each, the teacher's pictures as targets."""

    def __init__(self, cfg: AnyStyleTrainConfig, model: AnyStyleNet, vgg, teacher: AdaINNet, paintings: list,
                 data: ImageFolderStream, opt: torch.optim.Optimizer, amp: str, step: int) -> None:
        self.cfg, self.model, self.vgg, self.teacher, self.paintings, self.data, self.opt, self.amp = \
            cfg, model, vgg, teacher, paintings, data, opt, amp
        self.rng = random.Random(cfg.seed + step)
        self.device = next(model.parameters()).device
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.photos = list_images(cfg.content_dir) if cfg.photo_styles > 0 else []

    def boldness(self) -> float:
        """Half the steps at one end or the other, the rest anywhere between (0 without bold rows)."""
        if self.model.config.ends == 1:
            return 0.0
        r = self.rng.random()
        return 0.0 if r < 0.3 else 1.0 if r < 0.6 else self.rng.random()

    def _style_crop(self):
        cfg = self.cfg
        if self.photos and self.rng.random() < cfg.photo_styles:
            image = load_rgb(self.rng.choice(self.photos), 2 * cfg.style_size)
        else:
            p = self.rng.choice(self.paintings)
            image = p.variant(p.draw(self.rng))
        return to_tensor(random_crop(image, cfg.style_size, self.rng, (0.5, 1.0)))

    @torch.no_grad()
    def styles(self, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """n style crops (one loss-network pass) -> the predictor's statistics and the teacher's (mean, std)."""
        crops = torch.stack([self._style_crop() for _ in range(n)]).to(self.device)
        feats = {k: v.float() for k, v in self.vgg(crops, STATS_LAYERS).items()}
        return (statistics_of(feats), *stats_of(feats, self.teacher.stats_layers))

    def __call__(self, step: int) -> dict[str, float] | None:
        model, cfg = self.model, self.cfg
        x = self.data.next_batch().to(self.device)
        stats, mean, std = self.styles(x.shape[0])
        b = self.boldness()
        alpha = (1.0 - b) * cfg.teacher_alphas[0] + b * cfg.teacher_alphas[-1]
        layers = list(DISTIL_LAYERS) + (list(STATS_LAYERS) if cfg.statistics_weight > 0 else [])
        with torch.no_grad(), autocast_for(self.amp, self.device):
            target = self.teacher.stylize(x, mean, std, alpha).float()
            f_ref = {k: v.float() for k, v in self.vgg(target, layers).items()}
        with autocast_for(self.amp, self.device):
            out = model(x, model.code_at(model.predict(stats), b))
            f_out = {k: v.float() for k, v in self.vgg(out, layers).items()}
        parts = {"pixel": F.l1_loss(out.float(), target), "features": feature_distance(f_out, f_ref)}
        loss = parts["pixel"] + cfg.feature_weight * parts["features"]
        if cfg.statistics_weight > 0:
            parts["statistics"] = statistics_distance(f_out, f_ref)
            loss = loss + cfg.statistics_weight * parts["statistics"]
        if not finite_update(self.opt, loss, self.params, GRAD_CLIP):
            return None
        return {**{k: v.item() for k, v in parts.items()}, "boldness": b}


@torch.no_grad()
def teacher_picture(teacher: AdaINNet, vgg, x: torch.Tensor, style: torch.Tensor, alpha: float) -> torch.Tensor:
    """The teacher's picture of one held-out photo with one style image (for the sample sheets)."""
    mean, std = stats_of(vgg(style, teacher.stats_layers), teacher.stats_layers)
    return teacher.stylize(x, mean, std, alpha)[0]
