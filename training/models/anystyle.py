"""Any painting at the fast net's speed: a style-prediction network in front of a fast CIN net.

Sources:
- G. Ghiasi, H. Lee, M. Kudlur, V. Dumoulin, J. Shlens, "Exploring the structure of a real-time, arbitrary
  neural artistic stylization network", BMVC 2017: a network predicts the conditional-instance-norm parameters
  of a Johnson-style transformer net from the style image, through a small bottleneck (the "style embedding").
- V. Dumoulin, J. Shlens, M. Kudlur, "A Learned Representation for Artistic Style", ICLR 2017: the norm
  parameters carry the style; mixing styles is mixing them.

Here the embedding is a convex weight vector over the transformer's own norm rows (``TransformerNet(image,
style_weights)``): the rows of the eight built-in styles plus ``n_basis`` learned rows. Predicting weights
over rows is the same as Ghiasi et al.'s linear map from the embedding to the norm parameters, and it keeps the
per-frame graph exactly a fast net's (so the int8 export and the engine's fast path apply unchanged). The
prediction runs once per style image: the loss network's statistics (per-channel mean and log standard
deviation at relu1_1, relu2_1, relu3_1, relu4_1), standardised, through a two-layer MLP.
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
    """The transformer net (a FastNetConfig as a dict: its style names are the built-in styles, then the
    basis rows) and the predictor's shape. Stored in every checkpoint and ONNX file."""

    net: dict = field(default_factory=dict)
    n_builtin: int = 8  # the first rows are these built-in styles (a built-in painting predicts its own row)
    hidden: int = 256  # the predictor's hidden width
    style_size: int = 256  # longest side of a style image when its statistics are taken, px

    def __post_init__(self) -> None:
        self.net = FastNetConfig(**self.net).to_dict()  # validates
        if not 0 <= self.n_builtin < len(self.net["style_names"]):
            raise ValueError("n_builtin must leave at least one basis row")

    @property
    def n_rows(self) -> int:
        return len(self.net["style_names"])

    def to_dict(self) -> dict:
        return asdict(self)


def style_statistics(vgg: VGG16Features, style: torch.Tensor) -> torch.Tensor:
    """B x 3 x H x W in [0, 1] -> B x (2 * 960): per-channel mean and log std at STATS_LAYERS."""
    feats = vgg(style, STATS_LAYERS)
    parts = []
    for name in STATS_LAYERS:
        mean, std = calc_mean_std(feats[name].float())
        parts += [mean.flatten(1), std.flatten(1).log()]
    return torch.cat(parts, dim=1)


class AnyStyleNet(nn.Module):
    """``forward(image, code)``: the transformer net; ``predict(stats)``: style statistics -> code (B x rows)."""

    def __init__(self, config: AnyStyleConfig) -> None:
        super().__init__()
        self.config = config
        self.net = TransformerNet(FastNetConfig(**config.net))
        n = config.n_rows
        self.head = nn.Sequential(nn.Linear(2 * STATS_CHANNELS, config.hidden), nn.ReLU(), nn.Linear(config.hidden, n))
        # standardisation of the statistics (set from the training paintings at the start of a run)
        self.register_buffer("stats_mean", torch.zeros(2 * STATS_CHANNELS))
        self.register_buffer("stats_std", torch.ones(2 * STATS_CHANNELS))
        with torch.no_grad():  # start near the mean of the built-in styles
            self.head[2].weight.mul_(0.01)
            self.head[2].bias.fill_(-4.0)
            self.head[2].bias[:config.n_builtin] = 0.0

    def predict(self, stats: torch.Tensor) -> torch.Tensor:
        """A convex combination of the rows (softmax): bounded, and two style images mix by averaging codes."""
        return torch.softmax(self.head((stats - self.stats_mean) / self.stats_std), dim=1)

    def forward(self, image: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        return self.net(image, code)


class StylePredictorGraph(nn.Module):
    """The export form of the prediction: style image (1 x 3 x H x W, [0, 1]) -> code (1 x rows)."""

    def __init__(self, model: AnyStyleNet, vgg: VGG16Features) -> None:
        super().__init__()
        self.model, self.vgg = model, vgg

    def forward(self, style: torch.Tensor) -> torch.Tensor:
        return self.model.predict(style_statistics(self.vgg, style))
