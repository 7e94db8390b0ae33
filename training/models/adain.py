"""AdaIN arbitrary style transfer (Huang & Belongie, ICCV 2017; seeds 000 and 004).

encoder  f = our VGG-16 up to relu4_1 (fixed)
AdaIN(x, y) = sigma(y) * (x - mu(x)) / sigma(x) + mu(y)        (per channel, over space)
t = (1 - alpha) * f(c) + alpha * AdaIN(f(c), f(s))            (content-style trade-off)
output = g(t), g a decoder that mirrors the encoder with nearest upsample + conv.

Style interpolation: AdaIN is linear in (mu(y), sigma(y)), so mixing K styles with weights w_k
is AdaIN with sum_k w_k mu_k and sum_k w_k sigma_k. That is why the exported stylize graph
takes (mean, std) rather than a style image.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
import torch.nn.functional as F

from .vgg import VGG16Features, calc_mean_std

ENCODER_LAYER = "relu4_1"


@dataclass
class AdaINConfig:
    """Decoder shape. Stored in every checkpoint and ONNX file."""

    width_divisor: int = 1  # 1 = the paper's decoder (256-128-64); 2 or 4 for a lighter one

    def __post_init__(self) -> None:
        if self.width_divisor not in (1, 2, 4, 8):
            raise ValueError(f"width_divisor must be 1, 2, 4 or 8, got {self.width_divisor}")

    def to_dict(self) -> dict:
        return asdict(self)


def adaptive_instance_normalization(content: torch.Tensor, style_mean: torch.Tensor, style_std: torch.Tensor) -> torch.Tensor:
    """AdaIN on content features (B x C x H x W) with target statistics (B x C x 1 x 1 each)."""
    c_mean, c_std = calc_mean_std(content)
    return style_std * (content - c_mean) / c_std + style_mean


class _Conv(nn.Module):
    def __init__(self, c_in: int, c_out: int, relu: bool = True) -> None:
        super().__init__()
        self.pad = nn.ReflectionPad2d(1)
        self.conv = nn.Conv2d(c_in, c_out, 3)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(self.pad(x))
        return F.relu(x) if self.relu else x


class AdaINDecoder(nn.Module):
    """Mirror of VGG-16 up to relu4_1: 512 -> 3 channels, three x2 nearest upsamplings."""

    def __init__(self, config: AdaINConfig) -> None:
        super().__init__()
        self.config = config
        d = config.width_divisor
        c256, c128, c64 = 256 // d, 128 // d, 64 // d
        self.stage4 = nn.Sequential(_Conv(512, c256))  # 1/8 res
        self.stage3 = nn.Sequential(_Conv(c256, c256), _Conv(c256, c256), _Conv(c256, c128))  # 1/4
        self.stage2 = nn.Sequential(_Conv(c128, c128), _Conv(c128, c64))  # 1/2
        self.stage1 = nn.Sequential(_Conv(c64, c64), _Conv(c64, 3, relu=False))  # full

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        x = self.stage4(t)
        x = self.stage3(F.interpolate(x, scale_factor=2.0, mode="nearest"))
        x = self.stage2(F.interpolate(x, scale_factor=2.0, mode="nearest"))
        x = self.stage1(F.interpolate(x, scale_factor=2.0, mode="nearest"))
        return x  # RGB, roughly [0, 1]; clamp at inference only, so training keeps gradients


class AdaINNet(nn.Module):
    """Encoder (fixed VGG-16) + decoder. ``forward`` returns the stylized image in [0, 1]."""

    def __init__(self, encoder: VGG16Features, decoder: AdaINDecoder) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def encode(self, image: torch.Tensor) -> torch.Tensor:
        return self.encoder(image, [ENCODER_LAYER])[ENCODER_LAYER]

    def style_stats(self, style: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return calc_mean_std(self.encode(style))

    def stylize(self, content: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, alpha: torch.Tensor | float = 1.0) -> torch.Tensor:
        f = self.encode(content)
        t = adaptive_instance_normalization(f, mean, std)
        t = alpha * t + (1 - alpha) * f
        return self.decoder(t).clamp(0.0, 1.0)


class StyleStatsGraph(nn.Module):
    """Export wrapper: style image (1 x 3 x H x W) -> (mean, std), each 1 x 512 x 1 x 1."""

    def __init__(self, net: AdaINNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, style: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.net.style_stats(style)


class StylizeGraph(nn.Module):
    """Export wrapper: (content, mean, std, alpha[1]) -> stylized image."""

    def __init__(self, net: AdaINNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, content: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        return self.net.stylize(content, mean, std, alpha.reshape(1, 1, 1, 1))
