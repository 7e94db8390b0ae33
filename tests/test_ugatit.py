"""U-GAT-IT / CycleGAN: nets, losses, trainer, checkpoints, the UGATIT-pytorch layout, face crop, CLI."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from training.__main__ import main as train_main
from training.config import TranslationTrainConfig
from training.faces import FaceBox, crop_square, detect_faces, feather_mask, paste_back
from training.models.ugatit import (AdaILN, UGATITConfig, UGATITDiscriminator, UGATITGenerator, build_translation_nets,
                                    clip_rho)
from training.train_translation import ImagePool, TranslationLosses, train_translation
from training.translate import load_translator, translate_array, ugatit_pytorch_config

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def domains(tmp_path_factory) -> tuple[Path, Path]:
    """Two tiny unpaired domains: reddish squares with a blob (A), bluish stripes (B)."""
    root = tmp_path_factory.mktemp("domains")
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        (root / name).mkdir()
    for i in range(4):
        a = np.full((72, 72, 3), (190, 60, 40), np.uint8)
        y, x = rng.integers(8, 40, 2)
        a[y:y + 24, x:x + 24] = rng.integers(0, 255, 3)
        Image.fromarray(a).save(root / "a" / f"{i}.png")
        b = np.full((72, 72, 3), (30, 60, 200), np.uint8)
        b[int(rng.integers(0, 4))::4] = (240, 240, 90)
        Image.fromarray(b).save(root / "b" / f"{i}.png")
    return root / "a", root / "b"


def tiny_cfg(domains, out: Path, **kw) -> TranslationTrainConfig:
    a, b = domains
    base = dict(a=str(a), b=str(b), out_dir=str(out), ngf=8, ndf=8, n_blocks=2, image_size=64, load_size=72,
                global_layers=6, max_steps=4, log_every=1, sample_every=2, checkpoint_every=2, device="cpu", pool_size=3)
    base.update(kw)
    return TranslationTrainConfig(**base)


def _finite_history(history: list[dict]) -> None:
    logged = [h for h in history if "G" in h]
    assert logged
    for h in logged:
        for key in ("D", "G", "adv", "cycle", "identity", "cam"):
            assert math.isfinite(h[key]), (key, h)


@pytest.mark.parametrize("mode", ["ugatit", "cyclegan"])
def test_trains_a_few_steps_with_finite_losses_and_resumes(domains, tmp_path, mode):
    cfg = tiny_cfg(domains, tmp_path / mode, mode=mode)
    last = train_translation(cfg, log=lambda *_: None)
    history = json.loads((tmp_path / mode / "history.json").read_text())
    _finite_history(history)
    assert history[-1]["skipped"] == 0 and math.isfinite(history[-1]["heldout_cycle_l1"])
    if mode == "ugatit":
        assert all(h["cam"] > 0 for h in history if "cam" in h)  # the CAM terms are in play
    else:
        assert all(h["cam"] == 0 for h in history if "cam" in h)
    assert (tmp_path / mode / "samples" / "final.png").is_file()
    # the same command with a higher step limit resumes from the checkpoint
    logs: list[str] = []
    train_translation(tiny_cfg(domains, tmp_path / mode, mode=mode, max_steps=6), log=logs.append)
    assert any("resuming" in line and "step 4" in line for line in logs)
    blob = torch.load(last, map_location="cpu", weights_only=True)
    assert blob["step"] == 6 and blob["family"] == mode


def test_checkpoint_round_trip_gives_the_same_translation(domains, tmp_path):
    cfg = tiny_cfg(domains, tmp_path / "rt", max_steps=2)
    last = train_translation(cfg, log=lambda *_: None)
    blob = torch.load(last, map_location="cpu", weights_only=True)
    gen = UGATITGenerator(UGATITConfig(**blob["config"]))
    gen.load_state_dict(blob["model"]["genA2B"])
    translator = load_translator(last, "AtoB")
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        assert torch.equal(gen.eval()(x)[0], translator.generator(x)[0])
    # a resume with another shape is refused rather than silently mixed
    with pytest.raises(ValueError, match="another model config"):
        train_translation(tiny_cfg(domains, tmp_path / "rt", ngf=16), log=lambda *_: None)


def test_losses_follow_the_seed_weights(domains):
    cfg = UGATITConfig(ngf=8, n_blocks=1, img_size=64, ndf=8, global_layers=6)
    nets = build_translation_nets("ugatit", cfg)
    a, b = torch.rand(1, 3, 64, 64) * 2 - 1, torch.rand(1, 3, 64, 64) * 2 - 1
    unit = TranslationLosses("ugatit", nets, {"adv": 1, "cycle": 1, "identity": 1, "cam": 1})
    seed = TranslationLosses("ugatit", nets, {"adv": 1, "cycle": 10, "identity": 10, "cam": 1000})
    torch.manual_seed(0)
    total_unit, parts = unit.generator(a, b)
    torch.manual_seed(0)
    total_seed, _ = seed.generator(a, b)
    expected = parts["adv"] + 10 * parts["cycle"] + 10 * parts["identity"] + 1000 * parts["cam"]
    assert total_seed.item() == pytest.approx(expected, rel=1e-4)
    assert total_unit.item() == pytest.approx(sum(parts.values()), rel=1e-4)
    assert TranslationTrainConfig(mode="cyclegan").resolved() == {"lr": 2e-4, "identity_weight": 5.0, "cam_weight": 0.0}
    assert TranslationTrainConfig().resolved() == {"lr": 1e-4, "identity_weight": 10.0, "cam_weight": 1000.0}


def test_generator_shapes_light_and_full():
    light = UGATITGenerator(UGATITConfig(ngf=8, n_blocks=2, light=True))
    out, cam, heat = light(torch.zeros(2, 3, 48, 80))  # any multiple of 4
    assert out.shape == (2, 3, 48, 80) and cam.shape == (2, 2) and heat.shape == (2, 1, 12, 20)
    assert out.abs().max() <= 1
    full = UGATITGenerator(UGATITConfig(ngf=8, n_blocks=2, img_size=32, light=False))
    assert full(torch.zeros(1, 3, 32, 32))[0].shape == (1, 3, 32, 32)
    with pytest.raises(ValueError, match="needs 32x32"):
        full(torch.zeros(1, 3, 64, 64))
    d_local, d_global = UGATITDiscriminator(8, 5), UGATITDiscriminator(8, 7)
    x = torch.zeros(1, 3, 128, 128)
    assert d_local(x)[0].shape[-1] == 128 // 8 - 2 and d_global(x)[0].shape[-1] == 128 // 32 - 2


def test_adailn_mixes_instance_and_layer_norm_and_rho_is_clipped():
    x = torch.randn(2, 4, 5, 6) * 3 + 1
    norm = AdaILN(4)
    ones, zeros = torch.ones(2, 4), torch.zeros(2, 4)
    with torch.no_grad():
        norm.rho.fill_(1.0)
        # unbiased variance, as in the paper's code (so its weights behave the same here)
        inst = (x - x.mean((2, 3), keepdim=True)) / torch.sqrt(x.var((2, 3), keepdim=True) + 1e-5)
        assert torch.allclose(norm(x, ones, zeros), inst, atol=1e-4)
        norm.rho.fill_(0.0)
        layer = (x - x.mean((1, 2, 3), keepdim=True)) / torch.sqrt(x.var((1, 2, 3), keepdim=True) + 1e-5)
        assert torch.allclose(norm(x, ones, zeros), layer, atol=1e-4)
        nested = AdaILN(4, nested=True)
        nested.rho.fill_(0.0)
        assert not torch.allclose(nested(x, ones, zeros), layer, atol=1e-2)  # the reference code's quirk is kept apart
    gen = UGATITGenerator(UGATITConfig(ngf=4, n_blocks=1))
    with torch.no_grad():
        gen.UpBlock1_1.norm1.rho.fill_(1.7)
        gen.UpBlock2[3].rho.fill_(-0.3)
    clip_rho(gen)
    assert gen.UpBlock1_1.norm1.rho.max() == 1.0 and gen.UpBlock2[3].rho.min() == 0.0


def test_image_pool_hands_back_history():
    pool = ImagePool(2, seed=1)
    first = pool.query(torch.zeros(2, 3, 4, 4))
    assert torch.equal(first, torch.zeros(2, 3, 4, 4)) and len(pool.images) == 2
    seen_old = False
    for i in range(1, 20):
        out = pool.query(torch.full((1, 3, 4, 4), float(i)))
        assert out.shape == (1, 3, 4, 4)
        seen_old |= out[0, 0, 0, 0].item() != i
    assert seen_old and len(pool.images) == 2
    assert ImagePool(0).query(torch.ones(1, 3, 2, 2)).sum() == 12


# keys and shapes of the public UGATIT-pytorch layout (ngf 64, 4 blocks, light), written out by hand
UGATIT_PYTORCH_KEYS = {
    "genA2B": {"DownBlock.1.weight": (64, 3, 7, 7), "DownBlock.5.weight": (128, 64, 3, 3), "DownBlock.9.weight": (256, 128, 3, 3),
               "DownBlock.12.conv_block.1.weight": (256, 256, 3, 3), "DownBlock.15.conv_block.5.weight": (256, 256, 3, 3),
               "gap_fc.weight": (1, 256), "gmp_fc.weight": (1, 256), "conv1x1.weight": (256, 512, 1, 1), "conv1x1.bias": (256,),
               "FC.0.weight": (256, 256), "FC.2.weight": (256, 256), "gamma.weight": (256, 256), "beta.weight": (256, 256),
               "UpBlock1_1.conv1.weight": (256, 256, 3, 3), "UpBlock1_4.norm2.rho": (1, 256, 1, 1),
               "UpBlock2.2.weight": (128, 256, 3, 3), "UpBlock2.3.rho": (1, 128, 1, 1), "UpBlock2.3.gamma": (1, 128, 1, 1),
               "UpBlock2.7.weight": (64, 128, 3, 3), "UpBlock2.8.beta": (1, 64, 1, 1), "UpBlock2.11.weight": (3, 64, 7, 7)},
    "disGA": {"model.1.weight_orig": (64, 3, 4, 4), "model.1.weight_u": (64,), "model.1.weight_v": (48,), "model.1.bias": (64,),
              "model.13.weight_orig": (1024, 512, 4, 4), "model.16.weight_orig": (2048, 1024, 4, 4),
              "gap_fc.weight_orig": (1, 2048), "conv1x1.weight": (2048, 4096, 1, 1), "conv.weight_orig": (1, 2048, 4, 4)},
    "disLA": {"model.10.weight_orig": (512, 256, 4, 4), "gmp_fc.weight_orig": (1, 512), "conv.weight_u": (1,)},
}


def test_our_nets_use_the_ugatit_pytorch_layout():
    nets = build_translation_nets("ugatit", UGATITConfig())
    for name, keys in UGATIT_PYTORCH_KEYS.items():
        state = nets[name].state_dict()
        for key, shape in keys.items():
            assert key in state, (name, key)
            assert tuple(state[key].shape) == shape, (name, key)
    assert set(nets) == {"genA2B", "genB2A", "disGA", "disGB", "disLA", "disLB"}


def test_loads_a_ugatit_pytorch_params_file(tmp_path):
    cfg = UGATITConfig(ngf=8, n_blocks=3, light=True, ndf=8, global_layers=6, local_layers=5)
    nets = build_translation_nets("ugatit", cfg)
    path = tmp_path / "selfie2anime_params_0001000.pt"
    torch.save({k: v.state_dict() for k, v in nets.items()}, path)  # the layout that code saves
    inferred = ugatit_pytorch_config(nets["genA2B"].state_dict())
    assert (inferred.ngf, inferred.n_blocks, inferred.light, inferred.nested_variance) == (8, 3, True, True)
    translator = load_translator(path, "BtoA")
    assert translator.source == "UGATIT-pytorch" and translator.config.global_layers == 6
    for key, value in nets["genB2A"].state_dict().items():
        assert torch.equal(translator.generator.state_dict()[key], value)
    out = translate_array(translator, np.full((50, 70, 3), 128, np.uint8), size=64)
    assert out.shape == (50, 70, 3) and out.dtype == np.uint8
    # a full (non-light) generator's image size is read off its FC layer; generators-only files load too
    full = UGATITGenerator(UGATITConfig(ngf=4, n_blocks=1, img_size=32, light=False))
    torch.save({"genA2B": full.state_dict(), "genB2A": full.state_dict()}, tmp_path / "gens.pt")
    t = load_translator(tmp_path / "gens.pt")
    assert t.fixed_size == 32 and not t.config.light
    assert translate_array(t, np.zeros((40, 90, 3), np.uint8)).shape == (40, 90, 3)


def test_face_detect_crop_and_paste_back():
    rgb = np.asarray(Image.open(DATA / "monalisa.jpg").convert("RGB"))
    faces = detect_faces(rgb)
    assert faces, "the Haar cascade finds the Mona Lisa's face"
    f = faces[0]
    cx, cy = f.x + f.w / 2, f.y + f.h / 2
    assert 0.3 * rgb.shape[1] < cx < 0.7 * rgb.shape[1] and cy < 0.5 * rgb.shape[0]  # face: centred, upper half
    box = crop_square(rgb.shape, f, 1.8)
    assert box.w == box.h and box.x >= 0 and box.y >= 0
    assert box.x + box.w <= rgb.shape[1] and box.y + box.h <= rgb.shape[0]
    assert detect_faces(np.full((200, 200, 3), 90, np.uint8)) == []
    mask = feather_mask(40)
    assert mask[20, 20] == 1.0 and mask[0, 0] == 0.0 and mask[0, 20] == 0.0
    patch = np.full((10, 10, 3), 255, np.uint8)  # any size: resized into the box
    out = paste_back(rgb, patch, box)
    outside = np.ones(rgb.shape[:2], bool)
    outside[box.y:box.y + box.h, box.x:box.x + box.w] = False
    assert np.array_equal(out[outside], rgb[outside])  # nothing outside the box changes
    centre = out[box.y + box.h // 2, box.x + box.w // 2]
    assert (centre == 255).all()
    edge = out[box.y, box.x + box.w // 2]
    assert np.array_equal(edge, rgb[box.y, box.x + box.w // 2])  # feathered to the original at the border
    # a box at the border is shifted inside the image
    assert crop_square((100, 100, 3), FaceBox(90, 90, 10, 10)).x + 18 <= 100


def run_translate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "training", "translate", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_translate_cli_whole_image_face_and_errors(domains, tmp_path, tiny_fast_model):
    ckpt = train_translation(tiny_cfg(domains, tmp_path / "cli", max_steps=1), log=lambda *_: None)
    face_in = DATA / "monalisa.jpg"
    out = tmp_path / "out.png"
    r = run_translate("--checkpoint", str(ckpt), "--input", str(face_in), "--output", str(out))
    assert r.returncode == 0, r.stderr
    assert Image.open(out).size == Image.open(face_in).size
    r = run_translate("--checkpoint", str(ckpt), "--input", str(face_in), "--output", str(tmp_path / "face.png"), "--face")
    assert r.returncode == 0, r.stderr
    x, y, w, h = json.loads(r.stdout)["face"]
    before = np.asarray(Image.open(face_in).convert("RGB")).astype(int)
    after = np.asarray(Image.open(tmp_path / "face.png")).astype(int)
    changed = np.abs(after - before).sum(-1) > 0
    outside = np.ones(changed.shape, bool)
    outside[y:y + h, x:x + w] = False
    assert not changed[outside].any() and changed[y:y + h, x:x + w].mean() > 0.3
    flat = tmp_path / "flat.png"
    Image.fromarray(np.full((120, 120, 3), 100, np.uint8)).save(flat)
    cases = [
        (["--checkpoint", str(ckpt), "--input", str(flat), "--output", str(tmp_path / "n.png"), "--face"], "no face found"),
        (["--checkpoint", str(ckpt), "--input", str(tmp_path / "missing.jpg"), "--output", str(tmp_path / "m.png")], "input not found"),
        (["--checkpoint", str(tmp_path / "none.pt"), "--input", str(flat), "--output", str(tmp_path / "m.png")], "checkpoint not found"),
        (["--checkpoint", str(tiny_fast_model), "--input", str(flat), "--output", str(tmp_path / "m.png")], "not a readable"),
        (["--checkpoint", str(ckpt), "--input", str(flat), "--output", str(flat)], "is the input"),
        (["--checkpoint", str(ckpt), "--input", str(flat), "--output", str(tmp_path / "b.png"), "--face-box", "1,2,3"], "X,Y,W,H"),
    ]
    for args, message in cases:
        r = run_translate(*args)
        assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
    assert not (tmp_path / "n.png").exists() and not (tmp_path / "m.png").exists()
    assert np.asarray(Image.open(flat)).mean() == 100  # the input was not touched
    # the same job through `stylecast translate`
    from engine.cli import main as cli_main

    assert cli_main(["translate", "--checkpoint", str(ckpt), "--input", str(flat), "--output", str(tmp_path / "s.png"),
                     "--direction", "BtoA"]) == 0
    assert Image.open(tmp_path / "s.png").size == (120, 120)


def test_ugatit_cli_refuses_a_too_small_image_for_the_global_discriminator(domains, tmp_path):
    a, b = domains
    assert train_main(["ugatit", "--a", str(a), "--b", str(b), "--image-size", "64", "--out-dir", str(tmp_path)]) == 2
