"""Shared fixtures: tiny exported models (random weights, tests only) and generated media."""
from __future__ import annotations

import os

if not os.environ.get("QT_QPA_PLATFORM"):  # headless unless a platform is chosen explicitly
    os.environ["QT_QPA_PLATFORM"] = "offscreen"

from pathlib import Path

import numpy as np
import pytest

from tests.media import make_clip


@pytest.fixture(autouse=True)
def private_user_dirs(tmp_path_factory, monkeypatch):
    """Every test gets its own user data and config folders (style library, models, control token):
    nothing is read from or written to the real home."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.delenv("STYLECAST_CONTROL_TOKEN", raising=False)
    return home


@pytest.fixture(scope="session")
def tiny_fast_model(tmp_path_factory) -> Path:
    """A 2-style fast net with tiny widths, exported through the real export path."""
    import torch

    from export.onnx_export import export_fast
    from training.checkpoint import save_checkpoint
    from training.models.transformer import FastNetConfig, TransformerNet

    folder = tmp_path_factory.mktemp("fast")
    torch.manual_seed(0)
    config = FastNetConfig(style_names=["ink", "fire"], channels=(4, 8, 8), n_residual=1, outer_kernel=3)
    net = TransformerNet(config)
    with torch.no_grad():  # make the two styles visibly different
        for module in net.modules():
            if hasattr(module, "beta") and module.beta.shape[0] == 2:
                module.beta[1] += 0.5
    save_checkpoint(folder / "tiny.pt", "fast", net, config)
    result = export_fast(folder / "tiny.pt", folder / "tiny_fast.onnx")
    assert result.parity_max_abs < 1e-4
    return result.paths[0]


@pytest.fixture(scope="session")
def random_vgg(tmp_path_factory) -> Path:
    """A randomly initialised VGG-16 (to relu4_1) in our weights format: shapes right, features meaningless."""
    import torch

    from training.models.vgg import VGG16Features

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("vgg") / "vgg_random.pt"
    vgg = VGG16Features("relu4_1")
    torch.save({"model": vgg.state_dict(), "preprocess": "caffe"}, path)
    return path


@pytest.fixture(scope="session")
def tiny_adain_model(tmp_path_factory, random_vgg) -> Path:
    import torch

    from export.onnx_export import export_adain
    from training.checkpoint import save_checkpoint
    from training.models.adain import AdaINConfig, AdaINDecoder

    folder = tmp_path_factory.mktemp("adain")
    torch.manual_seed(0)
    config = AdaINConfig(width_divisor=8)
    save_checkpoint(folder / "adain.pt", "adain", AdaINDecoder(config), config)
    result = export_adain(folder / "adain.pt", folder / "tiny_adain.onnx", vgg_weights=random_vgg)
    assert result.parity_max_abs < 1e-3
    return result.paths[0]


@pytest.fixture
def clip_with_audio(tmp_path) -> Path:
    return make_clip(tmp_path / "clip.mp4", frames=24, fps=24, size=(96, 64), audio=True)


@pytest.fixture
def photo(tmp_path) -> Path:
    import cv2

    rng = np.random.default_rng(1)
    img = cv2.GaussianBlur((rng.random((70, 90, 3)) * 255).astype(np.uint8), (7, 7), 0)
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), img)
    return path


@pytest.fixture(scope="session")
def tiny_anystyle_model(tmp_path_factory, random_vgg) -> Path:
    """A style-prediction model for a tiny fast net with bold rows (style codes, faithful and bold), exported
    through the real export path."""
    import torch

    from export.onnx_export import export_anystyle
    from training.checkpoint import save_checkpoint
    from training.models.anystyle import AnyStyleConfig, AnyStyleNet
    from training.models.transformer import FastNetConfig

    folder = tmp_path_factory.mktemp("anystyle")
    torch.manual_seed(0)
    net = FastNetConfig(style_names=["ink", "fire"], channels=(4, 8, 8), n_residual=1, outer_kernel=3, bold=True)
    config = AnyStyleConfig(net=net.to_dict(), hidden=16, style_size=64)
    model = AnyStyleNet(config)
    with torch.no_grad():  # style images should predict visibly different codes and looks
        for module in model.net.modules():
            if hasattr(module, "beta"):
                module.beta.normal_(0, 0.5)
        model.centre_codes()
        model.head[2].weight.normal_(0, 1.0)
    save_checkpoint(folder / "any.pt", "anystyle", model, config)
    result = export_anystyle(folder / "any.pt", folder / "tiny_any.onnx", vgg_weights=random_vgg)
    assert result.parity_max_abs < 1e-3
    return result.paths[0]


@pytest.fixture
def tiny_folders(tmp_path):
    """Content photos (smooth random fields) and two style images (stripes, checks): training data for tests."""
    from PIL import Image

    rng = np.random.default_rng(0)
    content = tmp_path / "content"
    content.mkdir()
    for i in range(4):
        low = rng.random((6, 6, 3))
        img = Image.fromarray((low * 255).astype(np.uint8)).resize((80, 72), Image.BICUBIC)
        img.save(content / f"c{i}.png")
    styles = tmp_path / "styles"
    styles.mkdir()
    y, x = np.mgrid[0:64, 0:64]
    stripes = np.stack([(np.sin(x / 2) > 0) * 255, np.zeros_like(x), (np.sin(x / 2) <= 0) * 200], 2).astype(np.uint8)
    checks = ((((x // 8) + (y // 8)) % 2)[..., None] * np.array([250, 220, 0])).astype(np.uint8)
    Image.fromarray(stripes).save(styles / "stripes.png")
    Image.fromarray(checks).save(styles / "checks.png")
    return content, styles
