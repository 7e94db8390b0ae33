"""The small AdaIN model: taught by a big AdaIN model, exported as an AdaIN model the engine runs as it is."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from engine.modelfile import default_model, inspect_model
from export.onnx_export import export_adain
from training.checkpoint import read_checkpoint, save_checkpoint
from training.config import AdaINSmallTrainConfig
from training.distil_adain import detail, train_adain_small
from training.models.adain import AdaINConfig, AdaINDecoder
from training.models.adain_small import AdaINSmallConfig, AdaINSmallNet, macs_per_pixel

from .adain_checks import mixes_and_tells_styles_apart


@pytest.fixture
def folders(tiny_folders):
    return tiny_folders


def _config(folders, tmp_path, teacher, random_vgg, **kw) -> AdaINSmallTrainConfig:
    content, styles = folders
    base = dict(teacher=str(teacher), content_dir=str(content), style_dir=str(styles), out_dir=str(tmp_path / "run"),
                widths=[4, 8, 8, 16], image_size=32, batch_size=2, max_steps=4, checkpoint_every=2, sample_every=4,
                log_every=2, vgg_weights=str(random_vgg), amp="none", photo_styles=0.5,
                holdout_styles=[str(styles / "checks.png")])
    return AdaINSmallTrainConfig(**{**base, **kw})


def test_shapes_statistics_and_cost():
    config = AdaINSmallConfig()
    net = AdaINSmallNet(config).eval()
    mean, std = net.style_stats(torch.rand(1, 3, 40, 56))
    assert mean.shape == std.shape == (1, config.stats_channels, 1, 1) == (1, 240, 1, 1)
    with torch.no_grad():
        out = net.stylize(torch.rand(1, 3, 48, 64), mean, std, 0.5)
    assert out.shape == (1, 3, 48, 64) and 0 <= out.min() and out.max() <= 1
    assert macs_per_pixel(config) < 316_000 / 5  # a fifth of the big model's work per pixel, at most
    with pytest.raises(ValueError, match="4 channel counts"):
        AdaINSmallConfig(widths=[8, 8])


def test_detail_is_zero_on_flat_pictures_and_not_on_edges():
    flat = torch.full((1, 3, 16, 16), 0.4)
    assert all(d.abs().max() < 1e-6 for d in detail(flat))
    edge = flat.clone()
    edge[..., 8:] = 0.9
    assert all(d.abs().max() > 0.1 for d in detail(edge))


@pytest.fixture
def teacher(tmp_path):
    torch.manual_seed(0)
    config = AdaINConfig(width_divisor=8, skip_layers=["relu1_1", "relu2_1", "relu3_1"], upsample="bilinear")
    return save_checkpoint(tmp_path / "adain.pt", "adain", AdaINDecoder(config), config)


def test_learns_the_teachers_pictures_resumes_and_exports(folders, tmp_path, teacher, random_vgg):
    """A short run lowers the held-out distance to the teacher, writes its sheet, resumes where it stopped,
    and its export is an AdaIN model of the small variant whose statistics the engine mixes as they are."""
    cfg = _config(folders, tmp_path, teacher, random_vgg, max_steps=6, lr=3e-3, statistics_weight=1.0,
                  perceptual_weight=0.5, painting_weight=1.0, pixel_weight=0.5)
    last = train_adain_small(cfg, log=lambda *a: None)
    blob = read_checkpoint(last)
    assert blob["family"] == "adain-small" and blob["step"] == 6
    heldout = [h["heldout"] for h in blob["history"] if "heldout" in h]
    assert heldout[-1] < heldout[0]
    logged = [h for h in blob["history"] if "pixel" in h]
    assert logged and all(np.isfinite(h["pixel"]) and h["detail"] >= 0 and h["hint"] > 0 for h in logged)
    assert all(h["statistics"] > 0 and h["perceptual"] > 0 and h["painting"] >= 0 for h in logged)
    assert (tmp_path / "run" / "samples" / "step_000004.png").is_file()
    train_adain_small(_config(folders, tmp_path, teacher, random_vgg, max_steps=8, lr=3e-3), log=lambda *a: None)
    assert read_checkpoint(last)["step"] == 8

    result = export_adain(last, tmp_path / "small.onnx")
    assert result.parity_max_abs < 1e-4
    info = inspect_model(result.paths[0])
    assert info.family == "adain" and info.metadata["variant"] == "small"
    assert json.loads(info.metadata["model_config"])["widths"] == [4, 8, 8, 16]
    assert int(info.metadata["macs_per_pixel"]) == round(macs_per_pixel(AdaINSmallConfig(widths=[4, 8, 8, 16])))
    channels, apart = mixes_and_tells_styles_apart(result.paths[0])
    assert channels == 4 + 8 + 8 + 16 and apart > 0.5


def test_the_statistics_distance_reads_the_chosen_layers_and_refuses_others(folders, tmp_path, teacher,
                                                                           random_vgg):
    """relu4_1 (the larger strokes) can join the texture layers: the distance over more layers is the larger
    sum; a layer the encoder does not have is refused before training starts."""
    from training.distil_adain import DistilAdaINStep
    from training.distil_anystyle import load_teacher
    from training.models.vgg import load_vgg16

    big = load_teacher(str(teacher), load_vgg16(str(random_vgg), last_layer="relu4_1"))
    torch.manual_seed(1)
    out, target = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    parts = {}
    for layers in (["relu1_1"], ["relu1_1", "relu4_1"]):
        cfg = _config(folders, tmp_path, teacher, random_vgg, texture_layers=layers)
        net = AdaINSmallNet(AdaINSmallConfig(widths=list(cfg.widths)))
        step = DistilAdaINStep(cfg, net, big, torch.optim.Adam(net.parameters()), "none", 0)
        parts[len(layers)] = step.texture(out, target)
    assert parts[2]["statistics"] > parts[1]["statistics"] > 0
    assert parts[2]["perceptual"] == pytest.approx(parts[1]["perceptual"].item())  # its own layers, unchanged
    # the painting's own statistics: read on the pairs at full strength only
    fs = big.encoder(torch.rand(2, 3, 32, 32), ["relu1_1", "relu4_1"])
    one_full = step.texture(out, target, fs, torch.tensor([1.0, 0.4]))["painting"]
    both_full = step.texture(out, target, fs, torch.tensor([1.0, 1.0]))["painting"]
    assert one_full > 0 and both_full > 0 and one_full != pytest.approx(both_full.item())
    assert step.texture(out, target, fs, torch.tensor([0.5, 0.4]))["painting"] == 0
    with pytest.raises(ValueError, match="texture_layers must be some of"):
        train_adain_small(_config(folders, tmp_path, teacher, random_vgg, texture_layers=["relu5_1"]),
                          log=lambda *a: None)


def test_a_dead_deep_path_is_seen_and_started_again_once_per_run(folders, tmp_path, teacher, random_vgg):
    """When no channel from the lower resolutions reaches the last stage (its ReLUs died: the picture is then a
    colour grade from the full-resolution level alone), the check says 0; ``fresh_decoder`` gives those stages
    new weights and optimizer state on resuming, once per run, and keeps the encoder and the last stage."""
    from training.distil_adain import deep_path_alive, restart_deep_decoder

    torch.manual_seed(0)
    net = AdaINSmallNet(AdaINSmallConfig())  # the shipped widths: 16 channels reach the last stage
    assert deep_path_alive(net) > 0
    with torch.no_grad():
        net.dec2[-2].bias.fill_(-1e3)  # dec2 = conv, ReLU, conv, ReLU: every output channel below zero
    assert deep_path_alive(net) == 0
    opt = torch.optim.Adam(net.parameters())
    kept_last = net.dec1[0].weight.clone()
    for p in net.parameters():
        opt.state[p] = {"step": torch.tensor(1.0)}
    restart_deep_decoder(net, opt)
    assert deep_path_alive(net) > 0 and torch.equal(net.dec1[0].weight, kept_last)
    assert all(p not in opt.state for p in net.dec2.parameters()) and all(p in opt.state for p in net.enc.parameters())

    train_adain_small(_config(folders, tmp_path, teacher, random_vgg), log=lambda *a: None)
    last = tmp_path / "run" / "last.pt"
    for steps in (6, 8):  # the second resume must not start the decoder again
        train_adain_small(_config(folders, tmp_path, teacher, random_vgg, max_steps=steps, fresh_decoder=True),
                          log=lambda *a: None)
    history = read_checkpoint(last)["history"]
    assert [h["step"] for h in history if h.get("fresh_decoder")] == [4]
    assert all(h["deep_alive"] >= 0 for h in history if "deep_alive" in h)


def test_a_run_can_start_from_a_relu_model_with_a_leaky_decoder_and_export_it(folders, tmp_path, teacher,
                                                                              random_vgg):
    """``init_from`` takes another checkpoint's weights (its decoder activation may differ, its shape may not);
    with ``fresh_decoder`` the lower decoder stages start again at once; the leaky model exports and the
    engine runs it."""
    train_adain_small(_config(folders, tmp_path, teacher, random_vgg), log=lambda *a: None)
    source = read_checkpoint(tmp_path / "run" / "last.pt")
    cfg = _config(folders, tmp_path, teacher, random_vgg, out_dir=str(tmp_path / "leaky"), max_steps=2,
                  init_from=str(tmp_path / "run" / "last.pt"), decoder_activation="leaky", fresh_decoder=True)
    last = train_adain_small(cfg, log=lambda *a: None)
    blob = read_checkpoint(last)
    assert blob["config"]["decoder_activation"] == "leaky"
    assert [h["step"] for h in blob["history"] if h.get("fresh_decoder")] == [0]
    assert [h["init_from"] for h in blob["history"] if "init_from" in h] == [cfg.init_from]
    assert blob["history"][0]["steps_before"] == 4 and blob["step"] == 2  # 6 steps behind its weights
    assert not torch.equal(blob["model"]["dec2.0.weight"], source["model"]["dec2.0.weight"])
    result = export_adain(last, tmp_path / "leaky.onnx")
    assert result.parity_max_abs < 1e-4
    channels, apart = mixes_and_tells_styles_apart(result.paths[0])
    assert channels == 4 + 8 + 8 + 16 and apart > 0
    with pytest.raises(ValueError, match="relu or leaky"):
        AdaINSmallConfig(decoder_activation="tanh")
    with pytest.raises(ValueError, match="widths"):
        train_adain_small(_config(folders, tmp_path, teacher, random_vgg, out_dir=str(tmp_path / "other"),
                                  widths=[4, 8, 8, 8], init_from=cfg.init_from), log=lambda *a: None)


def test_a_teacher_is_required_and_must_be_an_adain_model(folders, tmp_path, random_vgg):
    with pytest.raises(ValueError, match="--teacher is needed"):
        train_adain_small(_config(folders, tmp_path, "", random_vgg), log=lambda *a: None)
    small = AdaINSmallConfig(widths=[4, 8, 8, 16])
    path = save_checkpoint(tmp_path / "small.pt", "adain-small", AdaINSmallNet(small), small)
    with pytest.raises(ValueError, match="not an AdaIN decoder"):
        train_adain_small(_config(folders, tmp_path, path, random_vgg), log=lambda *a: None)


def test_training_cli_takes_the_small_model(folders, tmp_path, teacher, random_vgg):
    from training.__main__ import config_for

    cfg, plan = config_for(["adain-small", "--teacher", str(teacher), "--widths", "8", "16", "32", "64",
                            "--res-blocks", "2", "--out-dir", str(tmp_path / "cli")])
    assert isinstance(cfg, AdaINSmallTrainConfig) and plan is None
    assert cfg.widths == [8, 16, 32, 64] and cfg.res_blocks == 2 and cfg.teacher == str(teacher)


def test_the_big_model_stays_the_default_and_the_small_one_is_a_choice(tmp_path, monkeypatch, random_vgg, teacher):
    """With both installed, the big AdaIN model is the default for style images on a CPU and on CUDA; the small
    one (a milder picture) runs when chosen, and alone it is the default."""
    import engine.modelfile as modelfile

    small = AdaINSmallConfig(widths=[4, 8, 8, 16])
    path = save_checkpoint(tmp_path / "small.pt", "adain-small", AdaINSmallNet(small), small)
    folder = tmp_path / "models"
    export_adain(path, folder / "asmall.onnx", check=False)
    export_adain(teacher, folder / "big.onnx", vgg_weights=random_vgg, check=False)
    found = [inspect_model(p) for p in sorted(folder.glob("*.onnx")) if not p.name.endswith(".stats.onnx")]
    monkeypatch.setattr(modelfile, "discover_models", lambda extra_dirs=None: found)
    assert default_model("adain", "cpu").name == default_model("adain", "cuda").name == "big"
    monkeypatch.setattr(modelfile, "discover_models", lambda extra_dirs=None: [m for m in found if m.name == "asmall"])
    assert default_model("adain", "cpu").name == "asmall"


def test_a_teacher_without_skips_still_gives_every_hint_layer(folders, tmp_path, random_vgg):
    """The paper's decoder (statistics at relu4_1 only) teaches too: the hints read the teacher's four layers."""
    config = AdaINConfig(width_divisor=8)
    plain = save_checkpoint(tmp_path / "plain.pt", "adain", AdaINDecoder(config), config)
    last = train_adain_small(_config(folders, tmp_path, plain, random_vgg, max_steps=2), log=lambda *a: None)
    assert [h for h in read_checkpoint(last)["history"] if "hint" in h][-1]["hint"] > 0
