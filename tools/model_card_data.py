"""Numbers and the contact sheet for a model card (run by hand; see docs/models/).

    python tools/model_card_data.py MODEL.onnx CHECKPOINT.pt SHEET.png HOLDOUT_PHOTO...

Contact sheet: every style (fast net: its built-in styles; AdaIN: the 8 built-in paintings given as
style images) on the held-out photos, produced through the engine's normal load path (the shipped
.onnx), not through PyTorch. Losses: held-out content/style loss of the checkpoint (and of an untrained
net of the same shape) with our loss network.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

from engine.frames import load_image
from engine.processor import FrameProcessor, StyleSettings
from engine.stylizers import AdaINStylizer, load_stylizer
from training.checkpoint import load_checkpoint, total_steps
from training.models.adain import ENCODER_LAYER, AdaINDecoder, AdaINNet
from training.models.transformer import TransformerNet
from training.train_adain import evaluate_adain
from training.models.vgg import load_vgg16
from training.train_fast import evaluate_fast, load_holdout, style_targets


def main(onnx_path: str, checkpoint: str, out_png: str, holdout: list[str]) -> None:
    stylizer = load_stylizer(onnx_path, "cpu")
    styles_dir = Path("assets/styles")
    if isinstance(stylizer, AdaINStylizer):
        for s in json.loads((styles_dir / "styles.json").read_text()):
            stylizer.add_style(s["name"], load_image(styles_dir / s["file"]))
    names = stylizer.style_names()
    cell = 200
    rows = []
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
    if blob["family"] == "adain":
        print(json.dumps(adain_numbers(net, blob, holdout, [str(styles_dir / f"{n}.jpg") for n in names]), indent=1))
        return
    vgg = load_vgg16(last_layer="relu4_3")
    targets = style_targets(vgg, cfg["style_images"], cfg["style_layers"], cfg["style_size"], "cpu")
    hold = load_holdout(holdout, 256)
    torch.manual_seed(0)
    untrained = TransformerNet(net.config).eval()
    result = {
        "trained": evaluate_fast(net, vgg, hold, targets, cfg["content_layer"], cfg["style_layers"]),
        "untrained": evaluate_fast(untrained, vgg, hold, targets, cfg["content_layer"], cfg["style_layers"]),
        "steps": total_steps(blob),
        "curve": [h for h in blob["history"] if "style" in h][::25],
    }
    print(json.dumps(result, indent=1))


def adain_numbers(decoder, blob: dict, holdout: list[str], styles: list[str]) -> dict:
    cfg = blob["train_config"]
    encoder = load_vgg16(last_layer=ENCODER_LAYER)
    hold_c, hold_s = load_holdout(holdout, 256), load_holdout(styles, 256)
    torch.manual_seed(0)
    untrained = AdaINDecoder(decoder.config).eval()
    return {
        "trained": evaluate_adain(AdaINNet(encoder, decoder), hold_c, hold_s, cfg["style_layers"]),
        "untrained": evaluate_adain(AdaINNet(encoder, untrained), hold_c, hold_s, cfg["style_layers"]),
        "steps": blob["step"],
        "curve": [h for h in blob["history"] if "style" in h][::20],
    }


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
