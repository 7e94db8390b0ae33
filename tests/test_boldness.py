"""Boldness: the shipped fast net's faithful and bold rows, measured with the training loss network on a
fixed frame through the real ONNX sessions."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.frames import load_image, pad_to_multiple
from engine.processor import FrameProcessor, StyleSettings
from engine.stylizers import load_stylizer
from training.data import style_image
from training.losses import content_loss, gram_style_loss
from training.models.vgg import load_vgg16
from training.train_fast import style_targets

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "assets" / "models"
PHOTO = ROOT / "assets" / "samples" / "fruits.jpg"
CLIP = ROOT / "assets" / "samples" / "pedestrians.mp4"
STYLE_NAMES = [e["name"] for e in json.loads((ROOT / "assets" / "styles" / "styles.json").read_text())]
STYLES = {e["name"]: ROOT / "assets" / "styles" / e["file"]
          for e in json.loads((ROOT / "assets" / "styles" / "styles.json").read_text())}


def _tensor(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(rgb.astype(np.float32) / 255.0).permute(2, 0, 1)[None].contiguous()


@pytest.fixture(scope="module")
def scored():
    """For every style of mid8 (fp32, so the numbers do not hang on the CPU's int8 kernels): the content
    and style loss of frame 40 of the sample clip stylized at boldness 0, 0.5 and 1, with the objective's own
    layers and the painting's Gram targets at the bold rows' scale (the checkpoint's bold_style_size: the
    painting's strokes at the size the bold end is trained to show them)."""
    import av
    import cv2

    stylizer = load_stylizer(MODELS / "mid8.onnx")
    train = json.loads(stylizer.info.metadata["training_config"])
    vgg = load_vgg16(None, last_layer="relu4_3")
    with av.open(str(CLIP)) as container:  # frame 40 of the sample clip, at 384x288
        frame = next(f for i, f in enumerate(container.decode(video=0)) if i == 40).to_ndarray(format="rgb24")
    photo = pad_to_multiple(cv2.resize(frame, (384, 288), interpolation=cv2.INTER_AREA), 4)[0]
    x = _tensor(photo)
    layer, layers = train["content_layer"], train["style_layers"]
    with torch.no_grad():
        fx = vgg(x, [layer])[layer]
        found = {}
        for name in stylizer.info.style_names:
            grams = style_targets(vgg, [str(STYLES[name])], layers, train["bold_style_size"], "cpu")[0]
            rows = []
            for b in (0.0, 0.5, 1.0):
                out = _tensor(stylizer.stylize(photo, {name: 1.0}, 1.0, b))
                f = vgg(out, sorted(set(layers) | {layer}))
                rows.append((content_loss(f[layer], fx).item(), gram_style_loss({k: f[k] for k in layers}, grams).item()))
            found[name] = rows
    return found


def test_the_shipped_fast_nets_have_bold_rows():
    for file in ("mid8.onnx", "mid8.int8.onnx"):
        info = load_stylizer(MODELS / file).info
        assert info.bold and info.n_rows == 2 * len(info.style_names) and info.code_size > 0, file


def test_boldness_shows_more_of_the_painting_for_every_style(scored):
    """From faithful to bold, for every style: the painting's style loss falls."""
    assert sorted(scored) == sorted(STYLE_NAMES)
    for name, rows in scored.items():
        (_, s0), (_, s5), (_, s1) = rows
        assert s0 > s5 > s1, (name, rows)


@pytest.mark.parametrize("name", STYLE_NAMES)
def test_boldness_gives_up_more_of_the_photo(scored, name):
    """From faithful to bold: the content loss rises."""
    (c0, _), (c5, _), (c1, _) = scored[name]
    assert c0 < c5 < c1, (name, scored[name])


def test_boldness_zero_is_the_faithful_row_and_models_without_bold_rows_ignore_it():
    photo = pad_to_multiple(load_image(PHOTO)[:128, :160], 4)[0]
    bold_net = load_stylizer(MODELS / "mid8.int8.onnx")
    plain = load_stylizer(MODELS / "light8.onnx")
    assert not plain.bold
    assert np.array_equal(plain.stylize(photo, {"starry": 1.0}, 1.0, 0.0), plain.stylize(photo, {"starry": 1.0}, 1.0, 1.0))
    w0, w1 = bold_net.weights_vector({"wave": 1.0}, 0.0), bold_net.weights_vector({"wave": 1.0}, 1.0)
    n = len(bold_net.info.style_names)
    assert w0[0, :n].sum() == 1.0 and w0[0, n:].sum() == 0.0 and w1[0, n:].sum() == 1.0


def test_boldness_reaches_the_picture_through_the_settings():
    stylizer = load_stylizer(MODELS / "mid8.int8.onnx")
    frame = load_image(PHOTO)[:180, :320]
    pics = [FrameProcessor(stylizer, StyleSettings(mix={"starry": 1.0}, boldness=b)).process(frame)[0] for b in (0.0, 1.0)]
    assert pics[0].shape == frame.shape and np.abs(pics[0].astype(int) - pics[1]).mean() > 1.0
    with pytest.raises(Exception, match="boldness"):
        StyleSettings(boldness=1.5).validated()
    assert StyleSettings.from_dict({"boldness": "0.25"}).boldness == 0.25
