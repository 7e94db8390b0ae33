"""Quantisation-aware fine-tuning of a fast net: train through the int8 rounding the shipped file will have.

``export/optimize.py``'s int8 variant is ONNX Runtime's static QDQ quantisation of every Conv but the first:
weights per output channel, symmetric int8 (scale = max|w| / 127); the conv's input per tensor, asymmetric
uint8 over the calibration set's [min, max] (widened to hold 0); its output uint8 again, which after
export/equalize.py amounts to each channel rounded over its own [min, max]. Before equalisation that cost
mid8 0.5-1 % of style and content loss, after it ~0-0.4 % (docs/models/mid8.md, sessions 20-21). Here the
same rounding is simulated in the forward pass (fake quantisation; the gradient passes straight through inside
the range, Bengio et al.'s straight-through estimator, as in Jacob et al., CVPR 2018), so the weights learn
to sit where rounding costs least.

What differs from the exported graph, knowingly: the deploy form (TransformerNet.to_deploy) rewrites the last
upsampling conv and the output conv into phase convs whose weights are sums of these taps, so their weight
rounding is not the same; their inputs hold the same values, so the activation rounding is. Activation ranges
are a running [min, max] that jumps out at once and shrinks back slowly (``decay`` per step), so, like the
calibration's, they cover every style, not only the current batch's.

The swap keeps parameter objects and state_dict keys: a checkpoint trained with ``--qat`` loads, exports and
quantises like any other, and the range buffers are never saved (a resumed run measures them again).
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F


class RunningRange(nn.Module):
    """A running [min, max], as the calibration's MinMax sees it over many batches: out at once, back by
    (1 - decay) of the gap per training step. Per tensor (always holding 0, as ONNX Runtime's activation
    ranges do), or per channel (dim 1). Not saved in checkpoints."""

    def __init__(self, decay: float, per_channel: bool = False) -> None:
        super().__init__()
        self.decay, self.per_channel = decay, per_channel
        self.register_buffer("lo", torch.zeros(()), persistent=False)
        self.register_buffer("hi", torch.zeros(()), persistent=False)
        self.register_buffer("seen", torch.zeros((), dtype=torch.bool), persistent=False)

    @torch.no_grad()
    def observe(self, x: torch.Tensor) -> None:
        if self.per_channel:
            dims = [d for d in range(x.dim()) if d != 1]
            lo, hi = x.amin(dim=dims).float(), x.amax(dim=dims).float()
        else:
            lo, hi = x.min().float().clamp(max=0.0), x.max().float().clamp(min=0.0)
        if not bool(self.seen):
            self.lo, self.hi = lo.clone(), hi.clone()
            self.seen.fill_(True)
            return
        self.lo = torch.minimum(lo, self.lo + (lo - self.lo) * (1 - self.decay))
        self.hi = torch.maximum(hi, self.hi + (hi - self.hi) * (1 - self.decay))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x rounded to uint8 over the range (observed first in training mode, or if nothing was seen yet)."""
        if self.training or not bool(self.seen):
            self.observe(x)
        scale = ((self.hi - self.lo) / 255.0).clamp(min=1e-8)
        if self.per_channel:
            # a channel's range need not hold 0: shift it to [0, hi - lo], round there, shift back
            lo = self.lo.view(1, -1, *([1] * (x.dim() - 2)))
            zero = torch.zeros_like(scale, dtype=torch.int32)
            return torch.fake_quantize_per_channel_affine(x - lo, scale, zero, 1, 0, 255) + lo
        zero = torch.round(-self.lo / scale).clamp(0, 255).to(torch.int32)
        return torch.fake_quantize_per_tensor_affine(x, scale, zero, 0, 255)


def fake_int8_weight(w: torch.Tensor) -> torch.Tensor:
    """Per output channel, symmetric: scale = max|w| / 127 (ONNX Runtime's QInt8 per-channel weights)."""
    scale = (w.detach().abs().amax(dim=tuple(range(1, w.dim()))) / 127.0).clamp(min=1e-12)
    return torch.fake_quantize_per_channel_affine(w, scale, torch.zeros_like(scale, dtype=torch.int32), 0, -127, 127)


class FakeInt8Conv2d(nn.Conv2d):
    """An nn.Conv2d rounded the way the exported int8 file runs it (a QLinearConv): input uint8 per tensor,
    weight int8 per output channel, output uint8. ORT rounds the output per tensor, but export/equalize.py
    first gives every channel of a conv that feeds an instance norm the same centred range, which amounts
    to rounding each channel over its own [min, max] on 256 levels: so per channel here (``equalized``),
    per tensor for a conv that feeds no norm (the output conv). Forward pass only."""

    def __init__(self, conv: nn.Conv2d, decay: float = 0.99, equalized: bool = True) -> None:
        super().__init__(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                         conv.dilation, conv.groups, conv.bias is not None, conv.padding_mode,
                         device=conv.weight.device, dtype=conv.weight.dtype)
        self.weight, self.bias = conv.weight, conv.bias  # the same Parameters: optimizer state stays valid
        self.input_range, self.output_range = RunningRange(decay), RunningRange(decay, per_channel=equalized)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.conv2d(self.input_range(x.float()), fake_int8_weight(self.weight.float()), self.bias,
                     self.stride, self.padding, self.dilation, self.groups)
        return self.output_range(y.float())


def fake_int8_fast_net(net: nn.Module, decay: float = 0.99) -> int:
    """Replace the convs of a TransformerNet the way ``export --int8`` quantises them by FakeInt8Conv2d
    sharing their parameters: every conv but the first (full resolution, 3 input channels: rounding the
    photo costs the most there and saves the least time); the output conv, which feeds no norm, rounds its
    output per tensor. Returns how many were replaced."""
    count = 0
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.Conv2d and child is not net.down[0].conv:
                setattr(parent, name, FakeInt8Conv2d(child, decay, equalized=child is not net.out_conv))
                count += 1
    return count
