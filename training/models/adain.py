"""AdaIN arbitrary style transfer (Huang & Belongie, "Arbitrary Style Transfer in Real-time with Adaptive
Instance Normalization", ICCV 2017).

encoder  f = our VGG-16 up to relu4_1 (fixed)
AdaIN(x, y) = sigma(y) * (x - mu(x)) / sigma(x) + mu(y)        (per channel, over space)
t = (1 - alpha) * f(c) + alpha * AdaIN(f(c), f(s))            (content-style trade-off)
output = g(t), g a decoder that mirrors the encoder with nearest upsample + conv (the paper's; bilinear
upsampling is ``AdaINConfig.upsample``'s other choice).

Skip connections (``AdaINConfig.skip_layers``, after Avatar-Net, Sheng et al. CVPR 2018): the decoder also
gets the photo's relu3_1 / relu2_1 / relu1_1 features, each AdaIN-ed to the style's statistics at that layer,
concatenated at the stage of the same resolution. The photo's structure then reaches the output without
having to be rebuilt from relu4_1 alone (what the plain decoder learns slowly on a CPU budget), and the
style's statistics act at every scale. The style statistics are then the per-layer (mean, std) of every
AdaIN-ed layer, concatenated along channels (shallowest first), so mixing is still one weighted mean.

Style interpolation: AdaIN is linear in (mu(y), sigma(y)), so mixing K styles with weights w_k
is AdaIN with sum_k w_k mu_k and sum_k w_k sigma_k. That is why the exported stylize graph
takes (mean, std) rather than a style image.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn
import torch.nn.functional as F

from .vgg import VGG16Features, calc_mean_std

ENCODER_LAYER = "relu4_1"
SKIP_CHANNELS = {"relu1_1": 64, "relu2_1": 128, "relu3_1": 256}  # the encoder layers a skip can come from
# A skip enters the decoder times this constant: about 1 / the std of the layer's activations on photos with
# our Caffe-scale VGG (31, 48 and 21; relu4_1's is 8.5). Unscaled, the shallow skips, two or three convs from
# the output, start the decoder at ~1000x the losses of the paper's decoder and training stalls there.
SKIP_SCALE = {"relu1_1": 1 / 32, "relu2_1": 1 / 48, "relu3_1": 1 / 24}
ENCODER_CHANNELS = {**SKIP_CHANNELS, ENCODER_LAYER: 512}
UPSAMPLE_MODES = ("nearest", "bilinear")


@dataclass
class AdaINConfig:
    """Decoder shape. Stored in every checkpoint and ONNX file."""

    width_divisor: int = 1  # 1 = the paper's decoder (256-128-64); 2 or 4 for a lighter one
    skip_layers: list[str] = field(default_factory=list)  # [] = the paper's decoder; any of SKIP_CHANNELS
    # x2 upsampling before each decoder stage: "nearest" (the paper's) or "bilinear". Nearest copies every value
    # to a 2x2 block, so a period-2/4/8 dot pattern costs the decoder nothing; the mean/std style loss finds it
    # (adain_skip's grid, docs/models/adain_skip.md). Bilinear makes that pattern something the convs must build.
    upsample: str = "nearest"

    def __post_init__(self) -> None:
        if self.width_divisor not in (1, 2, 4, 8):
            raise ValueError(f"width_divisor must be 1, 2, 4 or 8, got {self.width_divisor}")
        unknown = sorted(set(self.skip_layers) - set(SKIP_CHANNELS))
        if unknown or len(set(self.skip_layers)) != len(self.skip_layers):
            raise ValueError(f"skip_layers must be distinct names among {list(SKIP_CHANNELS)}, got {self.skip_layers}")
        self.skip_layers = sorted(self.skip_layers)  # relu1_1 < relu2_1 < relu3_1: the encoder's order
        if self.upsample not in UPSAMPLE_MODES:
            raise ValueError(f"upsample must be one of {UPSAMPLE_MODES}, got {self.upsample!r}")

    @property
    def stats_layers(self) -> list[str]:
        """The encoder layers whose (mean, std) make up a style's statistics, shallowest first."""
        return [*self.skip_layers, ENCODER_LAYER]

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
    """Mirror of VGG-16 up to relu4_1: 512 -> 3 channels, three x2 upsamplings (``config.upsample``); with skip layers,
    each stage's first conv also reads the (AdaIN-ed) encoder features of its resolution."""

    def __init__(self, config: AdaINConfig) -> None:
        super().__init__()
        self.config = config
        d = config.width_divisor
        c256, c128, c64 = 256 // d, 128 // d, 64 // d

        def extra(layer: str) -> int:
            return SKIP_CHANNELS[layer] if layer in config.skip_layers else 0

        self.stage4 = nn.Sequential(_Conv(512, c256))  # 1/8 res
        self.stage3 = nn.Sequential(_Conv(c256 + extra("relu3_1"), c256), _Conv(c256, c256), _Conv(c256, c128))  # 1/4
        self.stage2 = nn.Sequential(_Conv(c128 + extra("relu2_1"), c128), _Conv(c128, c64))  # 1/2
        self.stage1 = nn.Sequential(_Conv(c64 + extra("relu1_1"), c64), _Conv(c64, 3, relu=False))  # full

    def _upsample(self, x: torch.Tensor) -> torch.Tensor:
        if self.config.upsample == "bilinear":
            return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        return F.interpolate(x, scale_factor=2.0, mode="nearest")

    def forward(self, t: torch.Tensor, skips: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """``t``: the relu4_1 target; ``skips``: the targets of ``config.skip_layers`` (needed when it has any)."""
        x = self.stage4(t)
        for stage, layer in ((self.stage3, "relu3_1"), (self.stage2, "relu2_1"), (self.stage1, "relu1_1")):
            x = self._upsample(x)
            if layer in self.config.skip_layers:
                x = torch.cat([x, skips[layer] * SKIP_SCALE[layer]], dim=1)
            x = stage(x)
        return x  # RGB, roughly [0, 1]; clamp at inference only, so training keeps gradients


def split_stats(stats: torch.Tensor, layers: list[str]) -> dict[str, torch.Tensor]:
    """B x (sum of the layers' channels) x 1 x 1 -> one slice per layer, in ``layers``' order."""
    return dict(zip(layers, torch.split(stats, [ENCODER_CHANNELS[name] for name in layers], dim=1)))


def stats_of(feats: dict[str, torch.Tensor], layers: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """The concatenated per-channel (mean, std) of ``feats`` at ``layers``: a style's statistics."""
    stats = [calc_mean_std(feats[name]) for name in layers]
    return torch.cat([m for m, _ in stats], dim=1), torch.cat([s for _, s in stats], dim=1)


def adain_targets(feats: dict[str, torch.Tensor], mean: torch.Tensor, std: torch.Tensor, layers: list[str],
                  alpha: torch.Tensor | float = 1.0) -> dict[str, torch.Tensor]:
    """AdaIN of each layer's features with its slice of the concatenated statistics, blended with the
    photo's own features by ``alpha`` (the paper's content-style trade-off)."""
    means, stds = split_stats(mean, layers), split_stats(std, layers)
    out = {}
    for name in layers:
        t = adaptive_instance_normalization(feats[name], means[name], stds[name])
        out[name] = alpha * t + (1 - alpha) * feats[name]
    return out


class AdaINNet(nn.Module):
    """Encoder (fixed VGG-16) + decoder. ``forward`` returns the stylized image in [0, 1]."""

    def __init__(self, encoder: VGG16Features, decoder: AdaINDecoder) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    @property
    def stats_layers(self) -> list[str]:
        return self.decoder.config.stats_layers

    def style_stats(self, style: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, std), each B x C x 1 x 1: C = 512 for the paper's decoder, more with skip layers."""
        return stats_of(self.encoder(style, self.stats_layers), self.stats_layers)

    def decode(self, targets: dict[str, torch.Tensor]) -> torch.Tensor:
        """The decoder on per-layer targets (relu4_1 and the skip layers)."""
        return self.decoder(targets[ENCODER_LAYER], targets)

    def stylize(self, content: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, alpha: torch.Tensor | float = 1.0) -> torch.Tensor:
        feats = self.encoder(content, self.stats_layers)
        return self.decode(adain_targets(feats, mean, std, self.stats_layers, alpha)).clamp(0.0, 1.0)


class StyleStatsGraph(nn.Module):
    """Export wrapper: style image (1 x 3 x H x W) -> (mean, std), each 1 x C x 1 x 1 (``style_stats``)."""

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
