"""Any painting at the fast net's speed: a style-prediction network in front of a shipped fast net.

Sources:
- G. Ghiasi, H. Lee, M. Kudlur, V. Dumoulin, J. Shlens, "Exploring the structure of a real-time, arbitrary
  neural artistic stylization network", BMVC 2017: a network predicts the conditional-instance-norm parameters
  of a Johnson-style transformer net from the style image.
- V. Dumoulin, J. Shlens, M. Kudlur, "A Learned Representation for Artistic Style", ICLR 2017: the norm
  parameters carry the style; mixing styles is mixing them.

Here the fast net is a shipped one, frozen (its convolutions and its built-in rows stay exactly as shipped), and
the prediction is a style code for it: every norm's gamma and beta (``TransformerNet(image, weights, code)``),
the same thing a learned style (training/learn_style.py) optimises for one painting. With bold rows the
prediction is two codes, faithful and bold, which the engine mixes by the boldness control as it mixes a
built-in style's rows. The prediction runs once per style image: the loss network's statistics (per-channel mean
and log standard deviation at relu1_1, relu2_1, relu3_1, relu4_1), standardised, through a two-layer MLP whose
output is scaled per number by the spread of the built-in styles' rows around their mean (where it starts).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from .transformer import FastNetConfig, TransformerNet
from .vgg import VGG16Features, calc_mean_std

STATS_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
STATS_CHANNELS = 64 + 128 + 256 + 512


@dataclass
class AnyStyleConfig:
    """The fast net it predicts for (a FastNetConfig as a dict) and the predictor's shape. Stored in every
    checkpoint and ONNX file."""

    net: dict = field(default_factory=dict)
    hidden: int = 256  # the predictor's hidden width
    style_size: int = 256  # longest side of a style image when its statistics are taken, px

    def __post_init__(self) -> None:
        self.net = FastNetConfig(**self.net).to_dict()  # validates

    @property
    def ends(self) -> int:
        """Codes per painting: 2 (faithful, bold) for a net with bold rows, else 1."""
        return 2 if self.net.get("bold") else 1

    def to_dict(self) -> dict:
        return asdict(self)


def style_statistics(vgg: VGG16Features, style: torch.Tensor) -> torch.Tensor:
    """B x 3 x H x W in [0, 1] -> B x (2 * 960): per-channel mean and log std at STATS_LAYERS."""
    return statistics_of(vgg(style, STATS_LAYERS))


def statistics_of(feats: dict[str, torch.Tensor]) -> torch.Tensor:
    """``style_statistics`` from the loss network's features at STATS_LAYERS, already taken."""
    parts = []
    for name in STATS_LAYERS:
        mean, std = calc_mean_std(feats[name].float())
        parts += [mean.flatten(1), std.flatten(1).log()]
    return torch.cat(parts, dim=1)


class AnyStyleNet(nn.Module):
    """``predict(stats)``: style statistics -> codes (B x ends * code_size, faithful then bold);
    ``code_at(codes, b)``: one code at boldness b; ``forward(image, code)``: the fast net with that code."""

    def __init__(self, config: AnyStyleConfig) -> None:
        super().__init__()
        self.config = config
        self.net = TransformerNet(FastNetConfig(**config.net))
        width = config.ends * self.net.code_size
        self.head = nn.Sequential(nn.Linear(2 * STATS_CHANNELS, config.hidden), nn.ReLU(),
                                  nn.Linear(config.hidden, width))
        # standardisation of the statistics (set from the training paintings at the start of a run), and the
        # code's centre and per-number scale (the built-in rows' mean and spread, set from the fast net)
        self.register_buffer("stats_mean", torch.zeros(2 * STATS_CHANNELS))
        self.register_buffer("stats_std", torch.ones(2 * STATS_CHANNELS))
        self.register_buffer("code_mean", torch.zeros(width))
        self.register_buffer("code_scale", torch.ones(width))
        with torch.no_grad():  # start at the centre: the mean of the built-in styles
            self.head[2].weight.mul_(0.01)
            self.head[2].bias.zero_()

    def builtin_codes(self) -> torch.Tensor:
        """n_styles x (ends * code_size): each built-in style's own row(s) as a code (the anchors)."""
        n = self.net.config.n_styles
        ends = [torch.stack([self.net.row_code(i + e * n) for i in range(n)]) for e in range(self.config.ends)]
        return torch.cat(ends, dim=1)

    @torch.no_grad()
    def centre_codes(self) -> None:
        """code_mean / code_scale from the fast net's built-in rows (after its weights are loaded)."""
        codes = self.builtin_codes().float()
        self.code_mean.copy_(codes.mean(0))
        spread = codes.std(0) if codes.shape[0] > 1 else codes.abs().mean(0)
        self.code_scale.copy_(spread.clamp_min(0.02))

    def predict(self, stats: torch.Tensor) -> torch.Tensor:
        z = self.head((stats - self.stats_mean) / self.stats_std)
        return self.code_mean + self.code_scale * z

    def code_at(self, codes: torch.Tensor, boldness: float) -> torch.Tensor:
        d = self.net.code_size
        if self.config.ends == 1:
            return codes
        return (1.0 - boldness) * codes[:, :d] + boldness * codes[:, d:]

    def forward(self, image: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        weights = image.new_zeros(image.shape[0], self.net.config.n_rows)
        return self.net(image, weights, code)


class StylePredictorGraph(nn.Module):
    """The export form of the prediction: style image (1 x 3 x H x W, [0, 1]) -> style_weights, the codes
    (1 x ends * code_size) the engine weights by boldness and mixes across style images."""

    def __init__(self, model: AnyStyleNet, vgg: VGG16Features) -> None:
        super().__init__()
        self.model, self.vgg = model, vgg

    def forward(self, style: torch.Tensor) -> torch.Tensor:
        return self.model.predict(style_statistics(self.vgg, style))


class PredictedNetGraph(nn.Module):
    """The export form of the stylize graph: (image, style_weights = the ends' codes, each already weighted
    by the engine: (1 - b) x faithful, b x bold) -> the fast net with their sum as its style code."""

    def __init__(self, model: AnyStyleNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor, style_weights: torch.Tensor) -> torch.Tensor:
        d = self.model.net.code_size
        code = style_weights[:, :d]
        for e in range(1, self.model.config.ends):
            code = code + style_weights[:, e * d:(e + 1) * d]
        return self.model(image, code)
