"""Apply a two-domain translation model (U-GAT-IT / CycleGAN) to one image, optionally to the face only.

Reads our checkpoints (``python -m training ugatit``) and state-dict files in the UGATIT-pytorch layout
(``{"genA2B": ..., "genB2A": ..., "disGA": ..., ...}``), always with ``torch.load(weights_only=True)``.
The face path uses training/faces.py (OpenCV's Haar cascade), which imports OpenCV only when a face is
detected or pasted back, so training itself stays torch + numpy + Pillow.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from engine.atomic import atomic_path, check_not_input

from .checkpoint import CheckpointError, load_file, read_checkpoint
from .common import pick_device
from .data import load_rgb
from .faces import crop_square, detect_faces, parse_box, paste_back
from .models.ugatit import TRANSLATION_CONFIGS, UGATITConfig, build_translation_nets

DIRECTIONS = {"AtoB": "genA2B", "BtoA": "genB2A"}


@dataclass
class Translator:
    generator: torch.nn.Module
    family: str
    config: object
    source: str  # "stylecast" | "UGATIT-pytorch"

    @property
    def fixed_size(self) -> int | None:
        """Input side the generator needs (full U-GAT-IT), or None when any multiple of 4 works."""
        cfg = self.config
        return cfg.img_size if isinstance(cfg, UGATITConfig) and not cfg.light else None


def ugatit_pytorch_config(state: dict) -> UGATITConfig:
    """Infer the shape of a UGATIT-pytorch generator from its state dict."""
    try:
        ngf = state["DownBlock.1.weight"].shape[0]
        n_blocks = len({k.split(".")[0] for k in state if k.startswith("UpBlock1_")})
        fc_in = state["FC.0.weight"].shape[1]
    except KeyError as exc:
        raise CheckpointError(f"not a UGATIT-pytorch generator state dict (missing {exc})") from None
    c = ngf * 4
    light = fc_in == c
    img_size = 256 if light else int(round((fc_in / c) ** 0.5)) * 4
    return UGATITConfig(ngf=ngf, n_blocks=n_blocks, img_size=img_size, light=light, nested_variance=True)


def load_ugatit_pytorch(blob: dict) -> tuple[dict[str, torch.nn.Module], UGATITConfig]:
    """All six nets from a UGATIT-pytorch params file (discriminator depth read from its keys)."""
    cfg = ugatit_pytorch_config(blob["genA2B"])

    def depth(state: dict) -> int:  # convs in ``model`` = n_layers - 1
        return sum(1 for k in state if k.startswith("model.") and k.endswith(".weight_orig")) + 1

    if "disGA" in blob and "disLA" in blob:
        cfg.global_layers, cfg.local_layers = depth(blob["disGA"]), depth(blob["disLA"])
        cfg.ndf = blob["disGA"]["model.1.weight_orig"].shape[0]
    nets = build_translation_nets("ugatit", cfg)
    for name, net in nets.items():
        if name not in blob:
            continue  # generators-only files are common; the discriminators are for training on
        try:
            net.load_state_dict(blob[name], strict=True)
        except RuntimeError as exc:
            raise CheckpointError(f"{name} does not match the UGATIT-pytorch layout: {str(exc).splitlines()[0]}") from None
    return {k: v for k, v in nets.items() if k in blob}, cfg


def load_translator(path: str | Path, direction: str = "AtoB", device: str = "cpu") -> Translator:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be AtoB or BtoA, got {direction!r}")
    blob = load_file(path)
    key = DIRECTIONS[direction]
    if isinstance(blob, dict) and "genA2B" in blob and "genB2A" in blob:
        nets, cfg = load_ugatit_pytorch(blob)
        translator = Translator(nets[key], "ugatit", cfg, "UGATIT-pytorch")
    else:
        blob = read_checkpoint(path, blob)
        family = blob["family"]
        if family not in TRANSLATION_CONFIGS:
            raise CheckpointError(f"{path} is a {family} style model, not an image-translation (U-GAT-IT/CycleGAN) one")
        cfg = TRANSLATION_CONFIGS[family](**blob["config"])
        nets = build_translation_nets(family, cfg)
        try:
            nets[key].load_state_dict(blob["model"][key], strict=True)
        except (KeyError, RuntimeError) as exc:
            raise CheckpointError(f"{path}: {key} does not match its config ({exc})") from None
        translator = Translator(nets[key], family, cfg, "stylecast")
    translator.generator.to(pick_device(device)).eval()
    return translator


@torch.no_grad()
def translate_array(translator: Translator, rgb: np.ndarray, size: int = 256) -> np.ndarray:
    """H x W x 3 uint8 -> translated H x W x 3 uint8. The image is processed at ``size`` on its longest
    side (multiple of 4; exactly img_size x img_size for the full U-GAT-IT) and resized back."""
    h, w = rgb.shape[:2]
    if translator.fixed_size:
        tw = th = translator.fixed_size
    else:
        scale = size / max(h, w)
        tw, th = max(4, int(round(w * scale / 4)) * 4), max(4, int(round(h * scale / 4)) * 4)
    small = np.asarray(Image.fromarray(rgb).resize((tw, th), Image.BICUBIC), dtype=np.float32) / 127.5 - 1
    device = next(translator.generator.parameters()).device
    x = torch.from_numpy(small).permute(2, 0, 1)[None].to(device)
    y = translator.generator(x)[0][0].permute(1, 2, 0).cpu().numpy()
    out = Image.fromarray(np.clip((y + 1) * 127.5 + 0.5, 0, 255).astype(np.uint8))
    return np.asarray(out.resize((w, h), Image.BICUBIC))


def translate_file(checkpoint: str, src: str, dst: str, *, direction: str = "AtoB", face: bool = False, size: int = 256,
                   device: str = "auto", margin: float = 1.8, face_box: str | None = None) -> dict:
    """The ``python -m training translate`` job. Writes ``dst`` atomically; returns a summary dict."""
    src_p, dst_p = Path(src), Path(dst)
    if not src_p.is_file():
        raise FileNotFoundError(f"input not found: {src}")
    check_not_input(dst_p, [src_p, checkpoint])
    try:
        rgb = np.asarray(load_rgb(src_p))
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read image {src}: {exc}") from None
    translator = load_translator(checkpoint, direction, device)
    summary = {"input": str(src_p), "output": str(dst_p), "family": translator.family, "source": translator.source,
               "direction": direction, "face": None}
    if face or face_box:
        faces = [parse_box(face_box)] if face_box else detect_faces(rgb)
        if not faces:
            raise ValueError("no face found in the image; give the face by hand (--face-box X,Y,W,H) "
                             "or translate the whole picture")
        if face_box and (faces[0].x + faces[0].w > rgb.shape[1] or faces[0].y + faces[0].h > rgb.shape[0]):
            raise ValueError(f"the face box {face_box} reaches outside the {rgb.shape[1]}x{rgb.shape[0]} image")
        box = crop_square(rgb.shape, faces[0], margin)
        crop = np.ascontiguousarray(rgb[box.y:box.y + box.h, box.x:box.x + box.w])
        result = paste_back(rgb, translate_array(translator, crop, size), box)
        summary["face"] = [box.x, box.y, box.w, box.h]
    else:
        result = translate_array(translator, rgb, size)
    dst_p.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dst_p, [src_p, checkpoint]) as tmp:
        Image.fromarray(result).save(tmp, format=None if dst_p.suffix else "PNG")
    return summary

