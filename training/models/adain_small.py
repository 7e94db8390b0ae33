"""A small AdaIN model for live style images, taught by the big one.

The AdaIN model (training/models/adain.py) spends 316k multiply-adds per pixel, two thirds of them (204k) in the
VGG-16 encoder; on a 2-core CPU that is 4 frames a second at 480x270 even in
int8. This model keeps AdaIN's design (Huang & Belongie, "Arbitrary Style Transfer in Real-time with Adaptive
Instance Normalization", ICCV 2017) with the decoder skips of Avatar-Net (Sheng et al., CVPR 2018), at the
widths of a fast net:

encoder   16 ch at full res, 32 at 1/2, 64 at 1/4, 128 at 1/8 (its own, learned; the statistics layers h1..h4)
AdaIN     each h_k AdaIN-ed to the style image's statistics of the same layer, blended with h_k by alpha
decoder   from 1/8 up, bilinear x2, each stage also reading the AdaIN-ed features of its resolution

A style's statistics are the per-channel (mean, std) of this model's own encoder on the style image (240 + 240
numbers), so mixing styles stays one weighted mean and the statistics graph is about 11k multiply-adds per
pixel. Trained by distillation (training/distil_adain.py): the picture of the big AdaIN model for the
same photo, style image and alpha is the target, after Wang et al., "Collaborative Distillation for
Ultra-Resolution Universal Style Transfer" (CVPR 2020), who shrink the VGG encoder of universal style transfer
to a quarter of its channels; here the decoder shrinks too. During training, 1x1 heads (``hints``) also ask
each h_k for the big model's VGG features of that resolution, so the small statistics carry what the big
ones do; the heads are not exported.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn
import torch.nn.functional as F

from .adain import ENCODER_CHANNELS, adaptive_instance_normalization
from .vgg import calc_mean_std

HINT_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")  # the big model's layer at each of h1..h4's resolutions


@dataclass
class AdaINSmallConfig:
    """Shape of the small AdaIN model. Stored in every checkpoint and ONNX file."""

    widths: list[int] = field(default_factory=lambda: [16, 32, 64, 128])  # h1..h4 channels
    res_blocks: int = 1  # residual blocks at 1/4 resolution in the decoder
    # the decoder's activations: "relu", or "leaky" (LeakyReLU 0.2), which cannot die: with ReLU the stages
    # below full resolution of a model trained at lr 1e-3 stopped reaching the picture (a colour grade)
    decoder_activation: str = "relu"

    def __post_init__(self) -> None:
        if self.decoder_activation not in ("relu", "leaky"):
            raise ValueError(f"decoder_activation must be relu or leaky, got {self.decoder_activation!r}")
        if len(self.widths) != 4 or any(w < 4 for w in self.widths):
            raise ValueError(f"widths must be 4 channel counts of at least 4, got {self.widths}")
        if not 0 <= self.res_blocks <= 4:
            raise ValueError(f"res_blocks must be 0..4, got {self.res_blocks}")

    @property
    def stats_channels(self) -> int:
        return sum(self.widths)

    def to_dict(self) -> dict:
        return asdict(self)


def _conv(c_in: int, c_out: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, padding_mode="reflect")


def _act(kind: str) -> nn.Module:
    return nn.LeakyReLU(0.2) if kind == "leaky" else nn.ReLU()


class _Residual(nn.Module):
    def __init__(self, c: int, kind: str = "relu") -> None:
        super().__init__()
        self.a, self.act, self.b = _conv(c, c), _act(kind), _conv(c, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.b(self.act(self.a(x)))


def _up(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


class AdaINSmallNet(nn.Module):
    """``encode`` -> four feature maps; ``stylize(content, mean, std, alpha)`` -> RGB in [0, 1]."""

    def __init__(self, config: AdaINSmallConfig) -> None:
        super().__init__()
        self.config = config
        c1, c2, c3, c4 = config.widths
        self.enc = nn.ModuleList([
            nn.Sequential(_conv(3, c1), nn.ReLU()),
            nn.Sequential(_conv(c1, c2, 2), nn.ReLU(), _conv(c2, c2), nn.ReLU()),
            nn.Sequential(_conv(c2, c3, 2), nn.ReLU(), _conv(c3, c3), nn.ReLU()),
            nn.Sequential(_conv(c3, c4, 2), nn.ReLU(), _conv(c4, c4), nn.ReLU()),
        ])
        k = config.decoder_activation
        self.dec4 = nn.Sequential(_conv(c4, c4), _act(k), _conv(c4, c3), _act(k))
        self.dec3 = nn.Sequential(_conv(2 * c3, c3), _act(k), *[_Residual(c3, k) for _ in range(config.res_blocks)],
                                  _conv(c3, c2), _act(k))
        self.dec2 = nn.Sequential(_conv(2 * c2, c2), _act(k), _conv(c2, c1), _act(k))
        self.dec1 = nn.Sequential(_conv(2 * c1, c1), _act(k), _conv(c1, 3))
        # training only: each h_k's guess at the big model's VGG features of its resolution
        self.hints = nn.ModuleList([nn.Conv2d(w, ENCODER_CHANNELS[name], 1)
                                    for w, name in zip(config.widths, HINT_LAYERS)])

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for stage in self.enc:
            x = stage(x)
            feats.append(x)
        return feats

    def style_stats(self, style: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, std), each B x sum(widths) x 1 x 1, shallowest layer first."""
        stats = [calc_mean_std(h) for h in self.encode(style)]
        return torch.cat([m for m, _ in stats], dim=1), torch.cat([s for _, s in stats], dim=1)

    def targets(self, feats: list[torch.Tensor], mean: torch.Tensor, std: torch.Tensor,
                alpha: torch.Tensor | float) -> list[torch.Tensor]:
        widths = self.config.widths
        out = []
        for h, m, s in zip(feats, torch.split(mean, widths, dim=1), torch.split(std, widths, dim=1)):
            out.append(alpha * adaptive_instance_normalization(h, m, s) + (1 - alpha) * h)
        return out

    def lower(self, t: list[torch.Tensor]) -> torch.Tensor:
        """What the decoder's lower resolutions (1/8 to 1/2) hand to its full-resolution stage."""
        x = self.dec4(t[3])
        x = self.dec3(torch.cat([_up(x), t[2]], dim=1))
        return self.dec2(torch.cat([_up(x), t[1]], dim=1))

    def decode(self, t: list[torch.Tensor]) -> torch.Tensor:
        return self.dec1(torch.cat([_up(self.lower(t)), t[0]], dim=1))

    def stylize(self, content: torch.Tensor, mean: torch.Tensor, std: torch.Tensor,
                alpha: torch.Tensor | float = 1.0) -> torch.Tensor:
        return self.decode(self.targets(self.encode(content), mean, std, alpha)).clamp(0.0, 1.0)

    def hint_features(self, feats: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        return {name: head(h) for name, head, h in zip(HINT_LAYERS, self.hints, feats)}


def macs_per_pixel(config: AdaINSmallConfig) -> float:
    """Multiply-adds per input pixel of the stylize graph's convolutions (the hint heads are not exported)."""
    c1, c2, c3, c4 = config.widths
    k = 9
    enc = k * (3 * c1 + c1 * c2 / 4 + c2 * c2 / 4 + c2 * c3 / 16 + c3 * c3 / 16 + c3 * c4 / 64 + c4 * c4 / 64)
    dec = k * (c4 * c4 / 64 + c4 * c3 / 64 + (2 * c3 * c3 + 2 * config.res_blocks * c3 * c3 + c3 * c2) / 16
               + (2 * c2 * c2 + c2 * c1) / 4 + 2 * c1 * c1 + c1 * 3)
    return enc + dec
