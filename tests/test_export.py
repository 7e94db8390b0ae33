"""export/: parity with PyTorch at odd sizes, metadata round trip, engine loads the files."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from engine.errors import ModelError
from engine.modelfile import METADATA_FORMAT, inspect_model
from engine.processor import FrameProcessor, StyleSettings
from engine.stylizers import AdaINStylizer, FastStylizer, load_stylizer
from export.onnx_export import export_fast
from training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from training.models.transformer import FastNetConfig, TransformerNet

from .adain_checks import mixes_and_tells_styles_apart


def test_fast_metadata_round_trip(tiny_fast_model):
    info = inspect_model(tiny_fast_model)
    assert info.family == "fast" and info.style_names == ["ink", "fire"] and info.pad_multiple == 4
    meta = info.metadata
    assert meta["stylecast_format"] == str(METADATA_FORMAT)
    assert json.loads(meta["model_config"])["channels"] == [4, 8, 8]
    assert len(meta["checkpoint_sha256"]) == 64 and meta["input_range"] == "0-1"


def test_fast_onnx_matches_torch_at_odd_sizes(tiny_fast_model, tmp_path):
    net, _ = load_checkpoint(tiny_fast_model.with_name("tiny.pt"))
    stylizer = load_stylizer(tiny_fast_model, "cpu")
    assert isinstance(stylizer, FastStylizer)
    processor = FrameProcessor(stylizer, StyleSettings(mix={"ink": 0.25, "fire": 0.75}))
    rng = np.random.default_rng(3)
    for h, w in [(37, 53), (61, 29)]:
        frame = (rng.random((h, w, 3)) * 255).astype(np.uint8)
        out, _ = processor.process(frame)
        assert out.shape == frame.shape
        # the engine mirrors a margin on every side (and up to a multiple of 4) and crops: compare on
        # the same padded input
        from engine.frames import pad_with_margin
        from engine.processor import EDGE_MARGIN_CELLS

        padded, (top, left, _, _) = pad_with_margin(frame, 4, EDGE_MARGIN_CELLS * 4)
        x = torch.from_numpy(padded.transpose(2, 0, 1)[None].astype(np.float32) / 255)
        with torch.no_grad():
            ref = net(x, torch.tensor([[0.25, 0.75]]))[0].numpy().transpose(1, 2, 0)[top:top + h, left:left + w]
        assert np.abs(ref * 255 - out.astype(np.float32)).max() <= 1.0


def test_fast_graph_folds_style_affine_into_instance_norm(tiny_fast_model):
    """The CIN affine rides in InstanceNormalization's scale/bias (no per-pixel Mul/Add after each norm),
    and the batch-1 path that produces that graph computes what the batched training path computes."""
    import onnx

    net, _ = load_checkpoint(tiny_fast_model.with_name("tiny.pt"))
    n_norms = sum(hasattr(layer, "gamma") for layer in net.modules())
    ops = [n.op_type for n in onnx.load(str(tiny_fast_model)).graph.node]
    assert ops.count("InstanceNormalization") == n_norms and "Mul" not in ops
    torch.manual_seed(0)
    with torch.no_grad():
        for layer in net.modules():  # non-trivial per-style affine so the comparison means something
            if hasattr(layer, "gamma"):
                layer.gamma.normal_(1.0, 0.3)
                layer.beta.normal_(0.0, 0.3)
        x, w = torch.rand(2, 3, 24, 32), torch.tensor([[0.3, 0.7], [1.0, 0.0]])
        batched = net(x, w)
        one_by_one = torch.cat([net(x[i:i + 1], w[i:i + 1]) for i in range(2)])
    assert torch.allclose(batched, one_by_one, atol=1e-5)


@pytest.mark.parametrize("kernel, dilation, skips", [(3, (), ""), (5, (1, 2), ""), (9, (), ""), (5, (), "half"),
                                                     (5, (), "both")])
def test_deploy_form_computes_the_training_form(kernel, dilation, skips):
    """to_deploy (the exported form: the full-resolution upsample as a half-resolution conv + pixel shuffle,
    the output conv as a stride-2 phase conv) is the same function, at the sizes the engine feeds (even
    sides, down to the 8 px minimum), and leaves the trained parameters alone."""
    import copy

    torch.manual_seed(kernel)
    config = FastNetConfig(style_names=["a", "b"], channels=(4, 8, 12), n_residual=2, outer_kernel=kernel,
                           dilation=dilation, skips=skips)
    net = TransformerNet(config)
    with torch.no_grad():
        for layer in net.modules():
            if hasattr(layer, "gamma"):
                layer.gamma.normal_(1.0, 0.3)
                layer.beta.normal_(0.0, 0.3)
            if hasattr(layer, "gain"):
                layer.gain.normal_(0.0, 0.5)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    deploy = copy.deepcopy(net).to_deploy()
    after = deploy.state_dict()  # the deploy weights are non-persistent buffers: checkpoints never see them
    assert set(after) == set(before) and all(torch.equal(after[k], before[k]) for k in before)
    assert net.out_phase_weight is None and deploy.out_phase_weight is not None
    m = 4 * (max(dilation or (1,)) + 1)  # the smallest side the engine feeds this net (export's min_side)
    for h, w in [(m, m), (m, 40), (m + 4, 20), (36, 52)]:
        x, weights = torch.rand(1, 3, h, w), torch.tensor([[0.4, 0.6]])
        with torch.no_grad():
            assert torch.allclose(deploy(x, weights), net(x, weights), atol=1e-5), (h, w)


@pytest.mark.parametrize("skips", ["half", "both"])
def test_fast_net_with_open_skips_exports_and_runs_in_the_engine(tmp_path, skips):
    """A net with encoder-decoder skips (FastNetConfig.skips) goes through the same export and load path;
    the engine's output is the checkpoint's function, with the skips' gains away from their initial 0."""
    torch.manual_seed(1)
    config = FastNetConfig(style_names=["ink", "fire"], channels=(4, 8, 8), n_residual=1, outer_kernel=3, skips=skips)
    net = TransformerNet(config)
    with torch.no_grad():
        for skip in net.skips:
            skip.gain.normal_(0.0, 0.5)
    save_checkpoint(tmp_path / "skips.pt", "fast", net, config)
    result = export_fast(tmp_path / "skips.pt", tmp_path / "skips.onnx")
    assert result.parity_max_abs < 1e-4
    assert json.loads(inspect_model(result.paths[0]).metadata["model_config"])["skips"] == skips
    processor = FrameProcessor(load_stylizer(result.paths[0], "cpu"), StyleSettings(mix={"fire": 1.0}))
    frame = (np.random.default_rng(0).random((36, 44, 3)) * 255).astype(np.uint8)
    out, _ = processor.process(frame)
    from engine.frames import pad_with_margin
    from engine.processor import EDGE_MARGIN_CELLS

    multiple = processor.stylizer.info.pad_multiple  # the engine's margin, mirrored, then cropped
    padded, (top, left, h, w) = pad_with_margin(frame, multiple, EDGE_MARGIN_CELLS * multiple)
    x = torch.from_numpy(padded.transpose(2, 0, 1)[None].astype(np.float32) / 255)
    with torch.no_grad():
        ref = net.eval()(x, net.one_hot(1))[0].numpy().transpose(1, 2, 0)[top:top + h, left:left + w]
        closed = copy_without_skips(net)(x, net.one_hot(1))[0].numpy().transpose(1, 2, 0)[top:top + h, left:left + w]
    assert len(net.skips) == {"half": 1, "both": 2}[skips]
    assert np.abs(ref * 255 - out.astype(np.float32)).max() <= 1.0
    assert np.abs(closed - ref).max() > 0.01  # the skips carry something: the test would see them missing


def copy_without_skips(net: TransformerNet) -> TransformerNet:
    import copy

    closed = copy.deepcopy(net).eval()
    with torch.no_grad():
        for skip in closed.skips:
            skip.gain.zero_()
    return closed


def test_exported_fast_graph_is_the_deploy_form(tiny_fast_model):
    import onnx

    ops = [n.op_type for n in onnx.load(str(tiny_fast_model)).graph.node]
    assert "Resize" in ops  # the half-resolution upsample stays as it is (measured faster so)
    assert ops.count("DepthToSpace") == 2  # the full-resolution upsample and the output conv


def test_adain_export_loads_and_mixes(tiny_adain_model):
    info = inspect_model(tiny_adain_model)
    assert info.family == "adain" and info.pad_multiple == 8 and info.companion.is_file()
    stylizer = load_stylizer(tiny_adain_model, "cpu")
    assert isinstance(stylizer, AdaINStylizer)
    rng = np.random.default_rng(0)
    a = stylizer.add_style("a", (rng.random((90, 70, 3)) * 255).astype(np.uint8))
    b = stylizer.add_style("b", np.full((64, 64, 3), 200, np.uint8))
    mean_a, std_a = stylizer.mixed_stats({a: 1})
    mean_b, std_b = stylizer.mixed_stats({b: 1})
    mean_m, std_m = stylizer.mixed_stats({a: 0.25, b: 0.75})
    assert np.allclose(mean_m, 0.25 * mean_a + 0.75 * mean_b, atol=1e-5)
    assert np.allclose(std_m, 0.25 * std_a + 0.75 * std_b, atol=1e-5)
    processor = FrameProcessor(stylizer, StyleSettings(mix={a: 1}, strength=0.5))
    out, _ = processor.process((rng.random((45, 61, 3)) * 255).astype(np.uint8))
    assert out.shape == (45, 61, 3)


@pytest.mark.parametrize("upsample", ["nearest", "bilinear"])
def test_adain_skip_decoder_exports_and_runs_through_the_engine(tmp_path, random_vgg, upsample):
    """A skip decoder's two graphs match PyTorch, and the engine needs nothing new: its statistics (960
    channels, not 512) are mixed as one weighted mean and fed back to the stylize graph as they are. Both
    upsampling modes export (bilinear as ONNX Resize, linear) and match."""
    from export.onnx_export import export_adain
    from training.models.adain import AdaINConfig, AdaINDecoder

    torch.manual_seed(0)
    config = AdaINConfig(width_divisor=8, skip_layers=["relu1_1", "relu2_1", "relu3_1"], upsample=upsample)
    save_checkpoint(tmp_path / "skip.pt", "adain", AdaINDecoder(config), config)
    result = export_adain(tmp_path / "skip.pt", tmp_path / "skip.onnx", vgg_weights=random_vgg)
    assert result.parity_max_abs < 1e-3
    stored = json.loads(inspect_model(result.paths[0]).metadata["model_config"])
    assert stored["skip_layers"] == config.skip_layers and stored["upsample"] == upsample
    channels, apart = mixes_and_tells_styles_apart(result.paths[0])
    assert channels == 960 and apart > 1


def test_stats_graph_opened_directly_is_refused(tiny_adain_model):
    with pytest.raises(ModelError, match="style-statistics graph"):
        inspect_model(tiny_adain_model.with_name(tiny_adain_model.stem + ".stats.onnx"))


def test_checkpoint_with_wrong_config_fails_clearly(tmp_path):
    config = FastNetConfig(style_names=["a"], channels=(4, 8, 8), n_residual=1, outer_kernel=3)
    path = save_checkpoint(tmp_path / "c.pt", "fast", TransformerNet(config), config)
    blob = torch.load(path, weights_only=True)
    blob["config"]["channels"] = [8, 8, 8]
    torch.save(blob, tmp_path / "wrong.pt")
    with pytest.raises(CheckpointError, match="does not match"):
        export_fast(tmp_path / "wrong.pt", tmp_path / "w.onnx")
    blob["config"]["channels"] = [4, 8, 8]
    blob["config"]["old_field"] = 1
    torch.save(blob, tmp_path / "old.pt")
    with pytest.raises(CheckpointError, match="does not know"):
        load_checkpoint(tmp_path / "old.pt")
    blob.pop("format")
    torch.save(blob, tmp_path / "noformat.pt")
    with pytest.raises(CheckpointError, match="format"):
        load_checkpoint(tmp_path / "noformat.pt")
    assert not (tmp_path / "w.onnx").exists()


def test_pickled_object_checkpoint_is_refused(tmp_path):
    import pickle

    (tmp_path / "evil.pt").write_bytes(pickle.dumps(object()))
    with pytest.raises(CheckpointError, match="not a readable") as refused:
        load_checkpoint(tmp_path / "evil.pt")
    # one short message that names why, and never torch's hint to load with weights_only=False
    assert "pickled objects" in str(refused.value) and "weights_only" not in str(refused.value)
    (tmp_path / "text.pt").write_text("not a checkpoint\n" * 50)
    with pytest.raises(CheckpointError, match="not a readable") as refused:
        load_checkpoint(tmp_path / "text.pt")
    assert "\n" not in str(refused.value) and "weights_only=False" not in str(refused.value)


def test_export_cli(tmp_path, capsys):
    from export.__main__ import main

    config = FastNetConfig(style_names=["a", "b"], channels=(4, 8, 8), n_residual=1, outer_kernel=3)
    save_checkpoint(tmp_path / "c.pt", "fast", TransformerNet(config), config)
    assert main(["fast", str(tmp_path / "c.pt"), str(tmp_path / "m.onnx")]) == 0
    assert "max abs difference" in capsys.readouterr().out
    assert main(["fast", str(tmp_path / "missing.pt"), str(tmp_path / "m2.onnx")]) == 2


def test_fp16_and_int8_variants_load_and_stay_close(tmp_path, photo, capsys):
    from export.__main__ import main

    torch.manual_seed(0)
    config = FastNetConfig.preset("light", ["a", "b"])
    save_checkpoint(tmp_path / "c.pt", "fast", TransformerNet(config), config)
    code = main(["fast", str(tmp_path / "c.pt"), str(tmp_path / "m.onnx"), "--fp16", "--int8", "--calib", str(photo.parent)])
    out = capsys.readouterr().out
    assert code == 0
    # Floors measured on this untrained net (onnxruntime 1.32, 2026-11-23): fp16 75 dB; int8 21-25 dB (static
    # QDQ of random weights; the trained light8 gave 28.6 dB). fp16 must be near-lossless, int8 close.
    for tag, floor in (("fp16", 40), ("int8", 18)):
        line = next(l for l in out.splitlines() if f"m.{tag}.onnx" in l)
        assert float(line.split("PSNR vs fp32 ")[1].split(" dB")[0]) > floor
        assert line.endswith("dB on the calibration photos")  # the fixture folder has one photo: said so
        stylizer = load_stylizer(tmp_path / f"m.{tag}.onnx", "cpu")
        assert stylizer.info.metadata["precision"] == tag
        out_img, _ = FrameProcessor(stylizer).process(np.zeros((20, 24, 3), np.uint8))
        assert out_img.shape == (20, 24, 3)
    # int8: every conv reads dequantized weights except the first, which reads the image (quantizing it cost
    # 7 dB on mid8 and was slower: export/optimize.py)
    import onnx

    graph = onnx.load(str(tmp_path / "m.int8.onnx")).graph
    made_by = {o: n.op_type for n in graph.node for o in n.output}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    assert made_by.get(convs[0].input[1]) is None  # a float initializer
    assert all(made_by.get(c.input[1]) == "DequantizeLinear" for c in convs[1:])
    assert main(["fast", str(tmp_path / "c.pt"), str(tmp_path / "n.onnx"), "--int8", "--calib", str(tmp_path / "nowhere")]) == 2
    assert "--calib" in capsys.readouterr().err and not (tmp_path / "n.onnx").exists()  # refused before writing


def test_int8_equalisation_is_exact_in_fp32_and_undoes_lopsided_channels(tmp_path, photo):
    """export/equalize.py: a conv feeding an instance norm can be scaled and shifted per output channel without
    changing the net (the norm removes both), so a net whose channels are lopsided (one 30x wider and far off
    centre) is the same fp32 function as the plain one; after equalisation its int8 file must be as good
    as the plain net's, where quantising it as it stands loses much more (its uint8 conv outputs spend their
    256 levels on the one wide channel)."""
    import onnx
    import onnxruntime as ort

    from export import optimize
    from export.equalize import equalize_for_int8

    torch.manual_seed(0)
    config = FastNetConfig.preset("light", ["a", "b"])
    net = TransformerNet(config)
    convs = [m.block.conv if hasattr(m, "block") else m.conv for m in list(net.down) + list(net.up)]
    convs += [c for block in net.residual for c in (block.a.conv, block.b.conv)]
    with torch.no_grad():  # a trained net's conv outputs vary by tens (mid8: std 5-130); a fresh net's by ~1
        for conv in convs:
            conv.weight *= 10.0
            conv.bias *= 10.0
    save_checkpoint(tmp_path / "plain.pt", "fast", net, config)
    with torch.no_grad():
        for conv in convs:
            conv.weight[0] *= 30.0
            conv.bias[0] = conv.bias[0] * 30.0 + 200.0
    save_checkpoint(tmp_path / "lopsided.pt", "fast", net, config)
    for name in ("plain", "lopsided"):
        export_fast(tmp_path / f"{name}.pt", tmp_path / f"{name}.onnx")

    feeds = optimize._inputs([photo], 2, code_size=optimize._code_size(onnx.load(str(tmp_path / "plain.onnx"))))
    model = onnx.load(str(tmp_path / "lopsided.onnx"))
    equalized, report = equalize_for_int8(model, feeds)
    # every conv that feeds a norm, the deploy form's phase conv (before DepthToSpace) in groups of 4
    assert len(report) == len(convs) and [r.group for r in report].count(4) == 1
    assert max(r.gain_max for r in report) > 10
    run = lambda m: ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds[0])[0]
    plain = run(onnx.load(str(tmp_path / "plain.onnx")))
    # the same function; the lopsided file only up to fp32's cancellation of its +200 offsets in the norm's mean
    assert np.abs(run(equalized) - plain).max() < 1e-4 and np.abs(run(model) - plain).max() < 1e-2

    def int8_psnr(name: str) -> float:
        return optimize.to_int8(tmp_path / f"{name}.onnx", tmp_path / f"{name}.int8.onnx", [photo]).psnr_db

    plain_db, lopsided_db = int8_psnr("plain"), int8_psnr("lopsided")
    assert abs(plain_db - lopsided_db) < 1.5
    original = optimize.equalize_for_int8
    try:
        optimize.equalize_for_int8 = lambda m, f: (m, [])  # an export without the equalisation
        unequalized_db = int8_psnr("lopsided")
    finally:
        optimize.equalize_for_int8 = original
    assert unequalized_db < lopsided_db - 5


def test_a_failed_variant_is_one_message_and_leaves_no_stale_file(tmp_path, photo, capsys, monkeypatch):
    from export import optimize
    from export.__main__ import main

    config = FastNetConfig.preset("light", ["a"])
    save_checkpoint(tmp_path / "c.pt", "fast", TransformerNet(config), config)
    (tmp_path / "m.int8.onnx").write_bytes(b"an older checkpoint's int8 file")

    def broken(*_a, **_k):
        raise RuntimeError("quantisation failed")

    monkeypatch.setattr(optimize, "to_int8", broken)
    assert main(["fast", str(tmp_path / "c.pt"), str(tmp_path / "m.onnx"), "--int8", "--calib", str(photo.parent)]) == 2
    err = capsys.readouterr().err
    assert "int8 variant of m.onnx failed (quantisation failed)" in err and "Traceback" not in err
    assert (tmp_path / "m.onnx").exists() and not (tmp_path / "m.int8.onnx").exists()


def test_images_smaller_than_the_nets_padding_reach_are_padded_not_refused(tiny_fast_model, tiny_adain_model, tmp_path):
    """AdaIN's decoder reflect-pads 1 px at 1/8 scale and a dilated fast net 4 px at 1/4: an 8 px image
    (the smallest the engine accepts) would make ONNX Runtime's Pad fail; the stylizers pad up to the
    file's min_side and crop back."""
    config = FastNetConfig(style_names=["a"], channels=(4, 8, 8), n_residual=2, outer_kernel=3, dilation=(2, 4))
    save_checkpoint(tmp_path / "d.pt", "fast", TransformerNet(config), config)
    dilated = export_fast(tmp_path / "d.pt", tmp_path / "d.onnx").paths[0]
    assert inspect_model(dilated).min_side == 20 and inspect_model(tiny_fast_model).min_side == 8
    adain = load_stylizer(tiny_adain_model, "cpu")
    assert adain.info.min_side == 16
    adain.add_style("tiny", np.full((8, 8, 3), 90, np.uint8))  # a tiny style image too
    rng = np.random.default_rng(0)
    for stylizer in (load_stylizer(dilated, "cpu"), adain):
        for h, w in [(8, 8), (8, 40), (13, 9)]:
            frame = (rng.random((h, w, 3)) * 255).astype(np.uint8)
            out, _ = FrameProcessor(stylizer, StyleSettings()).process(frame)
            assert out.shape == frame.shape and out.dtype == np.uint8


def test_style_prediction_model_loads_predicts_mixes_and_blends(tiny_anystyle_model):
    """The predicted variant of a style-image model: one style code per style image for the fast net (a faithful
    and a bold half for a net with bold rows), mixes as the weighted mean of the codes, boldness weights the
    halves, strength is a pixel blend."""
    info = inspect_model(tiny_anystyle_model)
    assert info.family == "adain" and info.metadata["variant"] == "predicted" and info.pad_multiple == 4
    stylizer = load_stylizer(tiny_anystyle_model, "cpu")
    assert isinstance(stylizer, AdaINStylizer) and stylizer.kind == "predicted" and stylizer.style_side == 64
    assert stylizer.bold and info.bold
    rng = np.random.default_rng(0)
    a = stylizer.add_style("a", (rng.random((90, 70, 3)) * 255).astype(np.uint8))
    b = stylizer.add_style("b", np.full((64, 64, 3), 200, np.uint8))
    (code_a,), (code_b,) = stylizer.mixed_stats({a: 1}), stylizer.mixed_stats({b: 1})
    assert code_a.shape == (1, int(info.metadata["style_rows"])) and code_a.shape[1] % 2 == 0
    assert np.abs(code_a - code_b).max() > 0.1
    assert np.allclose(stylizer.mixed_stats({a: 0.25, b: 0.75})[0], 0.25 * code_a + 0.75 * code_b, atol=1e-6)
    frame = (rng.random((45, 61, 3)) * 255).astype(np.uint8)
    faithful, _ = FrameProcessor(stylizer, StyleSettings(mix={a: 1.0}, boldness=0.0)).process(frame)
    bold, _ = FrameProcessor(stylizer, StyleSettings(mix={a: 1.0}, boldness=1.0)).process(frame)
    assert np.abs(faithful.astype(int) - bold.astype(int)).mean() > 1
    frame = (rng.random((45, 61, 3)) * 255).astype(np.uint8)
    out_a, _ = FrameProcessor(stylizer, StyleSettings(mix={a: 1.0})).process(frame)
    out_b, _ = FrameProcessor(stylizer, StyleSettings(mix={b: 1.0})).process(frame)
    assert out_a.shape == frame.shape and np.abs(out_a.astype(int) - out_b.astype(int)).mean() > 1
    original, _ = FrameProcessor(stylizer, StyleSettings(mix={a: 1.0}, strength=0.0)).process(frame)
    assert np.abs(original.astype(int) - frame.astype(int)).max() <= 1
    frozen = stylizer.frozen()  # a render's copy, and a Ray worker's: the same styles from their vectors
    worker = load_stylizer(tiny_anystyle_model, "cpu")
    for name, vectors in frozen.style_stats().items():
        worker.add_style_stats(name, *vectors)
    again, _ = FrameProcessor(worker, StyleSettings(mix={a: 1.0})).process(frame)
    assert np.array_equal(again, out_a)


def test_a_style_prediction_model_with_an_adain_statistics_graph_is_refused(tiny_anystyle_model, tiny_adain_model, tmp_path):
    """Two graphs that do not fit together: one clear error naming the mismatch, never a crash on the first frame."""
    import shutil

    from engine.errors import ModelError

    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(tiny_anystyle_model, folder / "tiny_any.onnx")
    shutil.copy(tiny_adain_model.with_name("tiny_adain.stats.onnx"), folder / "tiny_any.stats.onnx")
    with pytest.raises(ModelError, match="style-prediction model statistics graph"):
        inspect_model(folder / "tiny_any.onnx")


def test_an_adain_model_has_an_int8_variant_calibrated_on_painting_statistics(tiny_adain_model, random_vgg, tmp_path,
                                                                            photo, capsys):
    """`python -m export adain ... --int8`: an int8 stylize graph (every conv but the first) beside the same fp32
    statistics graph, calibrated with the built-in paintings' statistics at full and half strength; --fp16 is
    refused before anything is written."""
    import onnx

    from export import optimize
    from export.__main__ import main

    out, checkpoint = tmp_path / "ad.onnx", str(tiny_adain_model.parent / "adain.pt")
    assert main(["adain", checkpoint, str(out), "--vgg", str(random_vgg), "--fp16", "--calib", str(photo.parent)]) == 2
    assert "--int8" in capsys.readouterr().err and not out.exists()
    assert main(["adain", checkpoint, str(out), "--vgg", str(random_vgg), "--int8", "--calib", str(photo.parent)]) == 0
    assert "ad.int8.onnx" in capsys.readouterr().out
    stylizer = load_stylizer(tmp_path / "ad.int8.onnx", "cpu")
    assert stylizer.kind == "adain" and stylizer.info.metadata["precision"] == "int8"
    assert stylizer.info.companion == tmp_path / "ad.stats.onnx"
    name = stylizer.add_style_file(optimize.STYLES / "wave.jpg")
    frame = np.full((36, 44, 3), 120, np.uint8)
    assert FrameProcessor(stylizer, StyleSettings(mix={name: 1.0})).process(frame)[0].shape == frame.shape
    graph = onnx.load(str(tmp_path / "ad.int8.onnx")).graph
    made_by = {o: n.op_type for n in graph.node for o in n.output}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    assert made_by.get(convs[0].input[1]) is None and all(made_by.get(c.input[1]) == "DequantizeLinear" for c in convs[1:])
    # 7-bit weights: wide convs cannot overflow the int16 pair sums of x86 CPUs without VNNI
    from onnx import numpy_helper

    consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    dq = {n.output[0]: n for n in graph.node if n.op_type == "DequantizeLinear"}
    weights = [consts[dq[c.input[1]].input[0]] for c in convs[1:]]
    assert all(w.dtype == np.int8 and np.abs(w.astype(int)).max() <= 64 for w in weights)  # 2 x 255 x 64 < 2^15
    feeds = optimize._feeds(out, onnx.load(str(out)), [photo] * 10)
    first = load_stylizer(out, "cpu")
    paintings = sorted(optimize.STYLES.glob("*.jpg"))
    mean, std = first.mixed_stats({first.add_style_file(paintings[1]): 1.0})
    assert np.array_equal(feeds[1]["mean"], mean) and np.array_equal(feeds[1]["std"], std)
    assert np.array_equal(feeds[len(paintings) + 1]["mean"], mean)  # the paintings in turn, again
    assert [float(f["alpha"][0]) for f in feeds] == [1.0, 0.5] * 5
    assert feeds[0]["content"].shape[2] % first.info.pad_multiple == 0
    # a panorama scaled to 256 px wide is padded up to the smallest side the model takes, as the engine pads it
    import cv2

    cv2.imwrite(str(tmp_path / "panorama.png"), np.full((8, 400, 3), 90, np.uint8))
    (thin,) = optimize._feeds(out, onnx.load(str(out)), [tmp_path / "panorama.png"])
    assert min(thin["content"].shape[2:]) >= first.info.min_side


def test_a_style_prediction_model_has_an_int8_variant_calibrated_on_painting_codes(tiny_anystyle_model, random_vgg,
                                                                                 tmp_path, photo, capsys):
    """`python -m export anystyle ... --int8`: the int8 stylize graph beside the same statistics graph, calibrated
    with the codes the prediction gives the built-in paintings (not photos used as styles)."""
    import shutil

    from export import optimize
    from export.__main__ import main

    out = tmp_path / "any.onnx"
    assert main(["anystyle", str(tiny_anystyle_model.parent / "any.pt"), str(out), "--vgg", str(random_vgg),
                 "--int8", "--calib", str(photo.parent)]) == 0
    assert "any.int8.onnx" in capsys.readouterr().out
    stylizer = load_stylizer(tmp_path / "any.int8.onnx", "cpu")
    assert stylizer.kind == "predicted" and stylizer.bold and stylizer.info.metadata["precision"] == "int8"
    assert stylizer.info.companion == tmp_path / "any.stats.onnx"
    name = stylizer.add_style_file(optimize.STYLES / "wave.jpg")
    frame = np.full((36, 44, 3), 120, np.uint8)
    assert stylizer.stylize(frame, {name: 1.0}, 1.0, 1.0).shape == frame.shape
    import onnx

    model = onnx.load(str(out))
    feeds = optimize._feeds(out, model, [photo] * 3)
    paintings = sorted(optimize.STYLES.glob("*.jpg"))
    assert len(paintings) == 8
    first = load_stylizer(out, "cpu")
    (code,) = first.mixed_stats({first.add_style_file(paintings[0]): 1.0})
    half = code.shape[1] // 2  # boldness 0: the first painting's faithful code, its bold half weighted 0
    assert np.array_equal(feeds[0]["style_weights"][:, :half], code[:, :half])
    assert not feeds[0]["style_weights"][:, half:].any()
