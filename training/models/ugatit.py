"""U-GAT-IT and the CycleGAN nets.

U-GAT-IT: Kim, Kim, Kang & Lee, "U-GAT-IT: Unsupervised Generative Attentional Networks with Adaptive
Layer-Instance Normalization for Image-to-Image Translation", ICLR 2020 (arXiv 2019); layer by layer as in
tables 2-4 of Xiangtian Li's re-implementation report "Neural Style Transfer" (UC Berkeley, undated).
CycleGAN: Zhu, Park, Isola & Efros, "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial
Networks", ICCV 2017, as Jianzhi Long and Zi Zhang describe it in "Style Transfer Between Human and Anime
Faces" (UC San Diego report, undated).

Images are in [-1, 1] (tanh output), as in both papers' code.

U-GAT-IT generator: encoder (c7s1-ngf, two stride-2 downs, n_blocks IN res blocks) -> CAM (global avg- and
max-pooled logits whose weights re-weight the feature maps, 1x1 conv back to C) -> gamma/beta MLP ->
n_blocks AdaILN res blocks -> two nearest-upsample convs with ILN -> c7s1-3 tanh. The CAM logits feed the
auxiliary classifier loss; the heat map is the channel sum after the 1x1 conv.
"light" computes gamma/beta from the globally pooled features, so any input size works; the full
generator flattens the h/4 x w/4 map and so needs exactly ``img_size`` x ``img_size`` inputs.

Module names (DownBlock, gap_fc, gmp_fc, conv1x1, FC, gamma, beta, UpBlock1_i, UpBlock2; discriminator
``model``, ``conv``) follow the public UGATIT-pytorch implementation so its state dicts load unchanged.
``nested_variance`` reproduces that implementation's normalisation (it takes the variance over H, then the
variance of those variances over W); its released weights were trained that way. Our own training uses
the true per-channel variance.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
import torch.nn.functional as F

EPS = 1e-5


@dataclass
class UGATITConfig:
    ngf: int = 64
    n_blocks: int = 4
    img_size: int = 256
    light: bool = True
    ndf: int = 64
    global_layers: int = 7  # discriminator depth: 7 -> h/32 (table 4)
    local_layers: int = 5  # 5 -> h/8 (table 3)
    nested_variance: bool = False  # True only for weights from the UGATIT-pytorch code

    def __post_init__(self) -> None:
        if self.ngf < 1 or self.n_blocks < 0 or self.img_size % 4:
            raise ValueError("ngf >= 1, n_blocks >= 0 and img_size a multiple of 4 are required")
        if self.local_layers < 3 or self.global_layers < 3:
            raise ValueError("discriminators need at least 3 layers")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class CycleGANConfig:
    ngf: int = 64
    n_blocks: int = 9  # 9 at 256 px, 6 at 128 px (CycleGAN paper)
    ndf: int = 64

    def to_dict(self) -> dict:
        return asdict(self)


def _stats(x: torch.Tensor, dims: tuple[int, ...], nested: bool) -> tuple[torch.Tensor, torch.Tensor]:
    mean = x.mean(dim=dims, keepdim=True)
    if not nested:
        return mean, x.var(dim=dims, keepdim=True)
    var = x
    for d in dims:  # the reference code's var(var(x, dim=a), dim=b): kept only to run its weights faithfully
        var = var.var(dim=d, keepdim=True)
    return mean, var


def _layer_instance_norm(x: torch.Tensor, rho: torch.Tensor, nested: bool) -> torch.Tensor:
    """rho * instance-normalised x + (1 - rho) * layer-normalised x."""
    i_mean, i_var = _stats(x, (2, 3), nested)
    l_mean, l_var = _stats(x, (1, 2, 3), nested)
    x_in = (x - i_mean) / torch.sqrt(i_var + EPS)
    x_ln = (x - l_mean) / torch.sqrt(l_var + EPS)
    return rho * x_in + (1 - rho) * x_ln


class AdaILN(nn.Module):
    """Adaptive layer-instance norm: gamma, beta come from the generator's MLP; rho is learned, clipped to [0, 1]."""

    def __init__(self, channels: int, nested: bool = False) -> None:
        super().__init__()
        self.rho = nn.Parameter(torch.full((1, channels, 1, 1), 0.9))
        self.nested = nested

    def forward(self, x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        return _layer_instance_norm(x, self.rho, self.nested) * gamma[:, :, None, None] + beta[:, :, None, None]


class ILN(nn.Module):
    """Layer-instance norm with its own affine parameters (decoder up-sampling)."""

    def __init__(self, channels: int, nested: bool = False) -> None:
        super().__init__()
        self.rho = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.gamma = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.beta = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.nested = nested

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _layer_instance_norm(x, self.rho, self.nested) * self.gamma + self.beta


def _conv(c_in: int, c_out: int, k: int, stride: int = 1, bias: bool = False) -> list[nn.Module]:
    return [nn.ReflectionPad2d(k // 2), nn.Conv2d(c_in, c_out, k, stride, 0, bias=bias)]


class ResBlock(nn.Module):
    """Two 3x3 convs with instance norm, identity shortcut."""

    def __init__(self, dim: int, bias: bool = False) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(*_conv(dim, dim, 3, bias=bias), nn.InstanceNorm2d(dim), nn.ReLU(True),
                                        *_conv(dim, dim, 3, bias=bias), nn.InstanceNorm2d(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class AdaResBlock(nn.Module):
    def __init__(self, dim: int, nested: bool = False) -> None:
        super().__init__()
        self.pad1, self.conv1, self.norm1 = nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=False), AdaILN(dim, nested)
        self.pad2, self.conv2, self.norm2 = nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=False), AdaILN(dim, nested)

    def forward(self, x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.norm1(self.conv1(self.pad1(x)), gamma, beta))
        return x + self.norm2(self.conv2(self.pad2(y)), gamma, beta)


def _cam(x: torch.Tensor, gap_fc: nn.Module, gmp_fc: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """Class activation map: pooled logits, and the feature maps weighted by each classifier's weights."""
    b = x.shape[0]
    gap_logit = gap_fc(F.adaptive_avg_pool2d(x, 1).view(b, -1))
    gmp_logit = gmp_fc(F.adaptive_max_pool2d(x, 1).view(b, -1))
    # 1 x C; in the discriminator the spectral-normalised weight (the reference code multiplies by the raw
    # weight_orig there; that only matters when training on, never for translating with a generator)
    w_gap, w_gmp = gap_fc.weight, gmp_fc.weight
    weighted = torch.cat([x * w_gap[0][None, :, None, None], x * w_gmp[0][None, :, None, None]], 1)
    return torch.cat([gap_logit, gmp_logit], 1), weighted


class UGATITGenerator(nn.Module):
    """forward(x) -> (image in [-1, 1], CAM logits B x 2, heat map B x 1 x h/4 x w/4)."""

    def __init__(self, cfg: UGATITConfig) -> None:
        super().__init__()
        self.config = cfg
        ngf, nested = cfg.ngf, cfg.nested_variance
        c = ngf * 4
        down: list[nn.Module] = [*_conv(3, ngf, 7), nn.InstanceNorm2d(ngf), nn.ReLU(True)]
        for m in (1, 2):
            down += [*_conv(ngf * m, ngf * m * 2, 3, stride=2), nn.InstanceNorm2d(ngf * m * 2), nn.ReLU(True)]
        down += [ResBlock(c) for _ in range(cfg.n_blocks)]
        self.DownBlock = nn.Sequential(*down)
        self.gap_fc = nn.Linear(c, 1, bias=False)
        self.gmp_fc = nn.Linear(c, 1, bias=False)
        self.conv1x1 = nn.Conv2d(2 * c, c, 1)
        fc_in = c if cfg.light else (cfg.img_size // 4) ** 2 * c
        self.FC = nn.Sequential(nn.Linear(fc_in, c, bias=False), nn.ReLU(True), nn.Linear(c, c, bias=False), nn.ReLU(True))
        self.gamma = nn.Linear(c, c, bias=False)
        self.beta = nn.Linear(c, c, bias=False)
        for i in range(cfg.n_blocks):
            setattr(self, f"UpBlock1_{i + 1}", AdaResBlock(c, nested))
        up: list[nn.Module] = []
        for m in (4, 2):
            up += [nn.Upsample(scale_factor=2, mode="nearest"), *_conv(ngf * m, ngf * m // 2, 3), ILN(ngf * m // 2, nested),
                   nn.ReLU(True)]
        up += [*_conv(ngf, 3, 7), nn.Tanh()]
        self.UpBlock2 = nn.Sequential(*up)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        cfg = self.config
        if not cfg.light and x.shape[-2:] != (cfg.img_size, cfg.img_size):
            raise ValueError(f"the full U-GAT-IT generator needs {cfg.img_size}x{cfg.img_size} inputs, got {tuple(x.shape[-2:])}")
        h = self.DownBlock(x)
        cam_logit, h = _cam(h, self.gap_fc, self.gmp_fc)
        h = F.relu(self.conv1x1(h))
        heatmap = h.sum(dim=1, keepdim=True)
        pooled = F.adaptive_avg_pool2d(h, 1) if cfg.light else h
        z = self.FC(pooled.flatten(1))
        gamma, beta = self.gamma(z), self.beta(z)
        for i in range(cfg.n_blocks):
            h = getattr(self, f"UpBlock1_{i + 1}")(h, gamma, beta)
        return self.UpBlock2(h), cam_logit, heatmap


def _sn(module: nn.Module) -> nn.Module:
    # the classic hook-based spectral norm keeps the weight_orig/weight_u/weight_v state-dict names
    return nn.utils.spectral_norm(module)


class UGATITDiscriminator(nn.Module):
    """n_layers = 5: local (h/8, table 3); 7: global (h/32, table 4). forward -> (patch logits, CAM logits, heat map)."""

    def __init__(self, ndf: int = 64, n_layers: int = 5) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.ReflectionPad2d(1), _sn(nn.Conv2d(3, ndf, 4, 2, 0)), nn.LeakyReLU(0.2, True)]
        ch = ndf
        for _ in range(1, n_layers - 2):
            layers += [nn.ReflectionPad2d(1), _sn(nn.Conv2d(ch, ch * 2, 4, 2, 0)), nn.LeakyReLU(0.2, True)]
            ch *= 2
        layers += [nn.ReflectionPad2d(1), _sn(nn.Conv2d(ch, ch * 2, 4, 1, 0)), nn.LeakyReLU(0.2, True)]
        ch *= 2
        self.model = nn.Sequential(*layers)
        self.gap_fc = _sn(nn.Linear(ch, 1, bias=False))
        self.gmp_fc = _sn(nn.Linear(ch, 1, bias=False))
        self.conv1x1 = nn.Conv2d(2 * ch, ch, 1)
        self.pad = nn.ReflectionPad2d(1)
        self.conv = _sn(nn.Conv2d(ch, 1, 4, 1, 0, bias=False))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.model(x)
        cam_logit, h = _cam(h, self.gap_fc, self.gmp_fc)
        h = F.leaky_relu(self.conv1x1(h), 0.2)
        heatmap = h.sum(dim=1, keepdim=True)
        return self.conv(self.pad(h)), cam_logit, heatmap


class CycleGANGenerator(nn.Module):
    """Johnson-style ResNet generator of the CycleGAN paper: c7s1-64, d128, d256, n x R256, u128, u64, c7s1-3.

    forward returns (image, None, None) so the trainer treats both families alike.
    """

    def __init__(self, cfg: CycleGANConfig) -> None:
        super().__init__()
        self.config = cfg
        ngf = cfg.ngf
        layers: list[nn.Module] = [*_conv(3, ngf, 7, bias=True), nn.InstanceNorm2d(ngf), nn.ReLU(True)]
        for m in (1, 2):
            layers += [nn.Conv2d(ngf * m, ngf * m * 2, 3, 2, 1), nn.InstanceNorm2d(ngf * m * 2), nn.ReLU(True)]
        layers += [ResBlock(ngf * 4, bias=True) for _ in range(cfg.n_blocks)]
        for m in (4, 2):
            layers += [nn.ConvTranspose2d(ngf * m, ngf * m // 2, 3, 2, 1, output_padding=1), nn.InstanceNorm2d(ngf * m // 2),
                       nn.ReLU(True)]
        layers += [*_conv(ngf, 3, 7, bias=True), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        return self.model(x), None, None


class PatchDiscriminator(nn.Module):
    """70x70 PatchGAN: C64 (no norm) - C128 - C256 - C512 (stride 1) - 1-channel map; LeakyReLU 0.2."""

    def __init__(self, ndf: int = 64) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        ch = ndf
        for stride in (2, 2, 1):
            layers += [nn.Conv2d(ch, ch * 2, 4, stride, 1), nn.InstanceNorm2d(ch * 2), nn.LeakyReLU(0.2, True)]
            ch *= 2
        layers += [nn.Conv2d(ch, 1, 4, 1, 1)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        return self.model(x), None, None


@torch.no_grad()
def clip_rho(module: nn.Module) -> None:
    """Keep every AdaILN/ILN rho in [0, 1] after an optimiser step (the seed's rho <- clip(rho - tau * grad))."""
    for m in module.modules():
        if isinstance(m, (AdaILN, ILN)):
            m.rho.clamp_(0.0, 1.0)


def build_translation_nets(family: str, cfg) -> dict[str, nn.Module]:
    """The six (U-GAT-IT) or four (CycleGAN) nets of a two-domain translation model, by checkpoint key."""
    if family == "ugatit":
        return {"genA2B": UGATITGenerator(cfg), "genB2A": UGATITGenerator(cfg),
                "disGA": UGATITDiscriminator(cfg.ndf, cfg.global_layers), "disGB": UGATITDiscriminator(cfg.ndf, cfg.global_layers),
                "disLA": UGATITDiscriminator(cfg.ndf, cfg.local_layers), "disLB": UGATITDiscriminator(cfg.ndf, cfg.local_layers)}
    if family == "cyclegan":
        return {"genA2B": CycleGANGenerator(cfg), "genB2A": CycleGANGenerator(cfg),
                "disA": PatchDiscriminator(cfg.ndf), "disB": PatchDiscriminator(cfg.ndf)}
    raise ValueError(f"unknown translation family {family!r}")


TRANSLATION_CONFIGS = {"ugatit": UGATITConfig, "cyclegan": CycleGANConfig}
