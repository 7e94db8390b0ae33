"""The shipped assets load through the same path a user's model takes, and describe themselves."""
from __future__ import annotations

import json

import numpy as np

from engine.modelfile import ASSETS_DIR, default_model, discover_models
from engine.processor import FrameProcessor, StyleSettings
from engine.stylizers import load_stylizer
from engine.frames import load_image


def test_builtin_cpu_model_is_the_default_and_has_all_styles():
    info = default_model("fast", "cpu")
    assert info is not None and info.name == "mid8.int8" and info.metadata["precision"] == "int8"
    styles = json.loads((ASSETS_DIR / "styles" / "styles.json").read_text())
    assert [s["name"] for s in styles] == info.style_names and len(info.style_names) >= 8
    assert info.metadata["variant"] == "mid" and int(info.metadata["steps"]) > 0
    for s in styles:
        assert (ASSETS_DIR / "styles" / s["file"]).is_file() and s["licence"] == "public domain"


def test_builtin_model_stylizes_the_sample_photo():
    stylizer = load_stylizer(default_model("fast").path, "cpu")
    photo = load_image(ASSETS_DIR / "samples" / "fruits.jpg")
    outs = [FrameProcessor(stylizer, StyleSettings(mix={n: 1.0}, process_height=128)).process(photo)[0]
            for n in stylizer.style_names()[:3]]
    assert all(o.shape == photo.shape for o in outs)
    assert abs(outs[0].astype(int) - photo.astype(int)).mean() > 10  # not the unchanged photo
    assert abs(outs[0].astype(int) - outs[1].astype(int)).mean() > 5  # styles differ


def test_every_shipped_model_describes_itself():
    assert all(m.metadata.get("checkpoint_sha256") for m in discover_models())


def test_builtin_adain_model_takes_any_painting_as_the_style():
    info = default_model("adain")
    assert info is not None, "the AdaIN model ships in assets/models"
    stylizer = load_stylizer(info.path, "cpu")
    photo = load_image(ASSETS_DIR / "samples" / "fruits.jpg")
    names = [stylizer.add_style_file(ASSETS_DIR / "styles" / f) for f in ("starry.jpg", "wave.jpg")]
    outs = [FrameProcessor(stylizer, StyleSettings(mix={n: 1.0}, process_height=128)).process(photo)[0] for n in names]
    assert all(o.shape == photo.shape for o in outs)
    assert abs(outs[0].astype(int) - photo.astype(int)).mean() > 10  # not the unchanged photo
    assert abs(outs[0].astype(int) - outs[1].astype(int)).mean() > 5  # the style image matters


def test_adain_model_ships_an_int8_file_that_is_the_cpu_default_and_paints_the_same_picture():
    """adain_skip.int8 (its encoder and decoder convs in int8, about twice as fast on a CPU: docs/benchmarks.md) is
    the same checkpoint, reads styles through the same fp32 statistics graph, and gives the fp32 file's picture to
    within rounding; on CUDA the fp32 file runs."""
    models = {m.name: m for m in discover_models()}
    plain, quantized = models["adain_skip"], models["adain_skip.int8"]
    assert default_model("adain", "cpu") == quantized and default_model("adain", "cuda") == plain
    assert quantized.metadata["precision"] == "int8" and quantized.companion == plain.companion
    assert quantized.metadata["checkpoint_sha256"] == plain.metadata["checkpoint_sha256"]
    photo = load_image(ASSETS_DIR / "samples" / "fruits.jpg")
    outs = []
    for info in (plain, quantized):
        stylizer = load_stylizer(info.path, "cpu")
        name = stylizer.add_style_file(ASSETS_DIR / "styles" / "starry.jpg")
        outs.append(FrameProcessor(stylizer, StyleSettings(mix={name: 1.0}, process_height=128)).process(photo)[0])
    assert abs(outs[0].astype(int) - photo.astype(int)).mean() > 10
    mse = ((outs[0].astype(float) - outs[1].astype(float)) ** 2).mean()
    assert 10 * np.log10(255.0 ** 2 / mse) > 22, mse  # PSNR; 28.2 dB on 8 held-out photos at export


def test_full_width_net_is_the_default_for_cuda_and_mid_for_cpu():
    cpu, gpu = default_model("fast", "cpu"), default_model("fast", "cuda")
    assert cpu.name == "mid8.int8" and cpu.metadata["variant"] == "mid"
    assert gpu.name == "full8" and gpu.metadata["variant"] == "full"
    assert gpu.style_names == cpu.style_names  # same styles, same names: switching device keeps the user's pick
    # the choice only picks a file; the file itself runs anywhere (here on the CPU provider)
    stylizer = load_stylizer(gpu.path, "cpu")
    photo = load_image(ASSETS_DIR / "samples" / "fruits.jpg")
    out = FrameProcessor(stylizer, StyleSettings(mix={"wave": 1.0}, process_height=128)).process(photo)[0]
    assert out.shape == photo.shape and abs(out.astype(int) - photo.astype(int)).mean() > 10


def test_steady_variant_was_trained_with_the_temporal_loss_and_is_not_the_default():
    steady = next(m for m in discover_models() if m.name == "light8_steady")
    assert json.loads(steady.metadata["training_config"])["temporal_weight"] > 0
    assert steady.style_names == default_model("fast", "cpu").style_names
    assert default_model("fast", "cpu").name != "light8_steady"


def test_mid_net_is_the_cpu_default_and_ships_with_its_checkpoint():
    """mid8 (the CPU live net): same styles as light8, resumable checkpoint
    beside it; the CPU default since it beat light8 on the sheets and the numbers (docs/models/mid8.md)."""
    import hashlib

    mid = next(m for m in discover_models() if m.name == "mid8")
    mid_int8 = next(m for m in discover_models() if m.name == "mid8.int8")
    light = next(m for m in discover_models() if m.name == "light8")
    assert mid.metadata["variant"] == "mid" and mid.style_names == light.style_names == mid_int8.style_names
    assert default_model("fast", "cpu") == mid_int8  # the same weights, int8 convs: ~0.78x the time on a CPU
    assert "precision" not in mid.metadata and mid_int8.metadata["precision"] == "int8"
    checkpoint = ASSETS_DIR / "checkpoints" / "mid8_last.pt"
    digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert digest == mid.metadata["checkpoint_sha256"] == mid_int8.metadata["checkpoint_sha256"]
    config = json.loads(mid.metadata["model_config"])
    assert config["channels"] == [8, 24, 64] and config["n_residual"] == 4
    stylizer = load_stylizer(mid.path, "cpu")
    photo = load_image(ASSETS_DIR / "samples" / "fruits.jpg")
    out = FrameProcessor(stylizer, StyleSettings(mix={"starry": 1.0}, process_height=128)).process(photo)[0]
    assert out.shape == photo.shape and abs(out.astype(int) - photo.astype(int)).mean() > 10
    # the int8 file is the same net to within rounding: same picture, not merely "a picture"
    quantized = FrameProcessor(load_stylizer(mid_int8.path, "cpu"), StyleSettings(mix={"starry": 1.0}, process_height=128))
    out8 = quantized.process(photo)[0]
    mse = ((out8.astype(float) - out.astype(float)) ** 2).mean()
    assert 10 * np.log10(255.0 ** 2 / mse) > 30, mse  # PSNR; 36.9 dB measured on 8 photos at export


def test_default_order_falls_back_by_variant_then_plain_before_fine_tuned(tmp_path, monkeypatch):
    """Without mid8 (a user removed it) the CPU default is light8, not light8_steady nor the GPU-sized full8."""
    import shutil

    from engine import modelfile

    for name in ("light8", "light8_steady", "full8"):
        shutil.copy(ASSETS_DIR / "models" / f"{name}.onnx", tmp_path / f"{name}.onnx")
    monkeypatch.setattr(modelfile, "discover_models",
                        lambda: [modelfile.inspect_model(p) for p in sorted(tmp_path.glob("*.onnx"))])
    assert modelfile.default_model("fast", "cpu").name == "light8"
    assert modelfile.default_model("fast", "cuda").name == "full8"
    # an int8 file of a variant comes first on a CPU and last on CUDA, whatever its name
    shutil.copy(ASSETS_DIR / "models" / "mid8.int8.onnx", tmp_path / "a_quantized_mid.onnx")
    shutil.copy(ASSETS_DIR / "models" / "mid8.onnx", tmp_path / "mid8.onnx")
    assert modelfile.default_model("fast", "cpu").name == "a_quantized_mid"
    assert modelfile.default_model("fast", "cuda").name == "full8"
    (tmp_path / "full8.onnx").unlink()
    assert modelfile.default_model("fast", "cuda").name == "mid8"


def test_the_small_adain_model_ships_as_a_choice_with_a_picture_between_the_photo_and_adain_skips():
    """adain_small (40k multiply-adds per pixel against adain_skip's 316k) is installed beside adain_skip, which stays
    the default; its picture is nearer adain_skip's than the photo is, and its int8 file gives the fp32 file's
    picture within rounding."""
    models = {m.name: m for m in discover_models()}
    small, small8, big8 = models["adain_small"], models["adain_small.int8"], models["adain_skip.int8"]
    assert default_model("adain", "cpu") == big8
    assert small8.metadata["variant"] == "small" and int(small8.metadata["macs_per_pixel"]) < 50_000
    assert small8.companion == small.companion != big8.companion
    photo = load_image(ASSETS_DIR / "samples" / "fruits.jpg")

    def picture(info):
        stylizer = load_stylizer(info.path, "cpu")
        name = stylizer.add_style_file(ASSETS_DIR / "styles" / "starry.jpg")
        processor = FrameProcessor(stylizer, StyleSettings(mix={name: 1.0}, process_height=192))
        return processor.process(photo)[0].astype(float)

    teacher, fp32, int8 = picture(big8), picture(small), picture(small8)
    assert np.abs(fp32 - photo).mean() > 10  # not the unchanged photo
    assert np.abs(fp32 - teacher).mean() < np.abs(photo.astype(float) - teacher).mean()
    assert 10 * np.log10(255.0 ** 2 / ((fp32 - int8) ** 2).mean()) > 30  # PSNR
