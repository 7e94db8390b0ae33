"""Numbers and the contact sheet for a fast-net model card (run by hand; see docs/models/).

Contact sheet: every style on the held-out photos, produced through the engine's normal load
path (the shipped .onnx), not through PyTorch. Losses: held-out content/style loss of the
checkpoint (and of an untrained net of the same shape) with our loss network.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

from engine.frames import load_image
from engine.stylizers import FrameProcessor, StyleSettings, load_stylizer
from training.checkpoint import load_checkpoint
from training.models.transformer import TransformerNet
from training.models.vgg import load_vgg16
from training.train_fast import evaluate_fast, load_holdout, style_targets


def main(onnx_path: str, checkpoint: str, out_png: str, holdout: list[str]) -> None:
    stylizer = load_stylizer(onnx_path, "cpu")
    names = stylizer.style_names()
    cell = 200
    rows = []
    styles_dir = Path("assets/styles")
    header = [np.full((cell, cell, 3), 255, np.uint8)]
    for n in names:
        img = load_image(styles_dir / f"{n}.jpg")
        header.append(fit(img, cell))
    rows.append(np.concatenate(header, 1))
    for p in holdout:
        photo = load_image(p)
        h, w = photo.shape[:2]
        side = min(h, w)
        photo = cv2.resize(photo[(h - side) // 2:(h + side) // 2, (w - side) // 2:(w + side) // 2], (256, 256))
        row = [fit(photo, cell)]
        for n in names:
            out, _ = FrameProcessor(stylizer, StyleSettings(mix={n: 1.0})).process(photo)
            row.append(fit(out, cell))
        rows.append(np.concatenate(row, 1))
    sheet = np.concatenate(rows, 0)
    cv2.imwrite(out_png, cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))

    net, blob = load_checkpoint(checkpoint)
    cfg = blob["train_config"]
    vgg = load_vgg16(last_layer="relu4_3")
    targets = style_targets(vgg, cfg["style_images"], cfg["style_layers"], cfg["style_size"], "cpu")
    hold = load_holdout(holdout, 256)
    torch.manual_seed(0)
    untrained = TransformerNet(net.config).eval()
    result = {
        "trained": evaluate_fast(net, vgg, hold, targets, cfg["content_layer"], cfg["style_layers"]),
        "untrained": evaluate_fast(untrained, vgg, hold, targets, cfg["content_layer"], cfg["style_layers"]),
        "steps": blob["step"],
        "curve": [h for h in blob["history"] if "style" in h][::25],
    }
    print(json.dumps(result, indent=1))


def fit(img: np.ndarray, cell: int) -> np.ndarray:
    h, w = img.shape[:2]
    s = cell / max(h, w)
    small = cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    canvas = np.full((cell, cell, 3), 255, np.uint8)
    y, x = (cell - small.shape[0]) // 2, (cell - small.shape[1]) // 2
    canvas[y:y + small.shape[0], x:x + small.shape[1]] = small
    return canvas


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:])
