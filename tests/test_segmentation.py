"""The shipped person-segmentation models (MediaPipe's Selfie Segmentation, re-expressed in training/models/
selfie.py and exported by `python -m export segmentation`): they load in ONNX Runtime, describe themselves,
find the person in a bundled picture, and are the PyTorch module's function. No mediapipe needed: the parity
with MediaPipe itself is bench/segmentation_parity.py's (docs/models/selfie_segmentation.md)."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest

from engine.modelfile import ASSETS_DIR, METADATA_FORMAT, REQUIRED_KEYS, read_metadata, read_ports

MODELS = ASSETS_DIR / "models"
GENERAL = MODELS / "selfie_segmentation.onnx"
LANDSCAPE = MODELS / "selfie_segmentation_landscape.onnx"
SIZES = {GENERAL: (256, 256), LANDSCAPE: (144, 256)}
SOURCE_SHA256 = {GENERAL: "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c",
                 LANDSCAPE: "a77d03f4659b9f6b6c1f5106947bf40e99d7655094b6527f214ea7d451106edd"}


def open_model(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def to_input(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """RGB uint8 -> 1x3xHxW in [0, 1], stretched to (height, width) as MediaPipe does."""
    small = cv2.resize(rgb, (size[1], size[0]), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray((small.astype(np.float32) / 255.0).transpose(2, 0, 1)[None])


def clip_frame(index: int) -> np.ndarray:
    cap = cv2.VideoCapture(str(ASSETS_DIR / "samples" / "pedestrians.mp4"))
    cap.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, frame = cap.read()
    cap.release()
    assert ok, "the sample clip has this frame"
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


def bundled(name: str) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(ASSETS_DIR / name)), cv2.COLOR_BGR2RGB)


@pytest.mark.parametrize("path", [GENERAL, LANDSCAPE], ids=lambda p: p.stem)
def test_shipped_model_describes_itself(path):
    meta = read_metadata(path)
    assert all(key in meta for key in REQUIRED_KEYS)
    assert meta["stylecast_format"] == str(METADATA_FORMAT)
    assert (meta["family"], meta["role"], meta["input_range"]) == ("segmentation", "mask", "0-1")
    assert meta["layout"] == "NCHW float32 RGB" and meta["pad_multiple"] == "16" and meta["resize"] == "stretch"
    height, width = SIZES[path]
    assert meta["input_size"] == f"{height}x{width}"
    assert meta["variant"] == ("general" if path == GENERAL else "landscape")
    assert meta["licence"] == "Apache-2.0" and "MediaPipe Authors" in meta["copyright"]
    assert meta["source"].startswith("PyPI mediapipe==0.10.21") and meta["source"].endswith(path.stem + ".tflite")
    assert meta["source_sha256"] == meta["checkpoint_sha256"] == SOURCE_SHA256[path]
    assert json.loads(meta["model_config"])["weights"] == 106401
    inputs, outputs = read_ports(path)
    assert inputs == {"image": (1, 3, None, None)} and outputs == {"mask": (1, 1, None, None)}
    assert path.stat().st_size < 600_000  # fp32 weights, ~0.45 MB


@pytest.mark.parametrize("path", [GENERAL, LANDSCAPE], ids=lambda p: p.stem)
def test_mask_is_one_channel_in_zero_one_at_the_model_size(path):
    height, width = SIZES[path]
    x = np.random.default_rng(0).random((1, 3, height, width), dtype=np.float32)
    (mask,) = open_model(path).run(None, {"image": x})
    assert mask.shape == (1, 1, height, width) and mask.dtype == np.float32
    assert np.isfinite(mask).all() and mask.min() >= 0.0 and mask.max() <= 1.0
    # any multiple of 16 works (the graph's height and width are dynamic)
    (other,) = open_model(path).run(None, {"image": x[:, :, :96, :176]})
    assert other.shape == (1, 1, 96, 176)


def window(mask: np.ndarray, y: int, x: int, r: int = 4) -> float:
    return float(mask[y - r:y + r + 1, x - r:x + r + 1].mean())


def test_person_is_found_in_the_sample_clip_and_in_a_bundled_portrait():
    """Spots in 256x256 coordinates (the picture stretched as MediaPipe does): on the person, high; on the
    background, low. Frame 40 of the sample clip: the group of three walkers in the middle (x 408, y 207 of
    the 768x576 frame); the lawn and the building. Van Gogh's Portrait of Pere Tanguy: his coat; the prints
    behind him."""
    s = open_model(GENERAL)
    street = s.run(None, {"image": to_input(clip_frame(40), (256, 256))})[0][0, 0]
    assert window(street, 94, 136) > 0.8, "on the walkers"
    for y, x in ((200, 40), (230, 200), (20, 200), (150, 30)):
        assert window(street, y, x) < 0.05, (y, x)
    assert (street > 0.5).mean() < 0.06  # small people: a few per cent of the picture
    portrait = s.run(None, {"image": to_input(bundled("styles/tanguy.jpg"), (256, 256))})[0][0, 0]
    for y, x in ((150, 128), (170, 80), (170, 180), (120, 128)):
        assert window(portrait, y, x) > 0.9, (y, x)
    for y, x in ((16, 16), (128, 8), (200, 248), (100, 240)):
        assert window(portrait, y, x) < 0.05, (y, x)
    # the landscape model agrees on the portrait's coat
    wide = open_model(LANDSCAPE).run(None, {"image": to_input(bundled("styles/tanguy.jpg"), (144, 256))})[0][0, 0]
    assert window(wide, 84, 128) > 0.9 and window(wide, 10, 10) < 0.05


def module_from_onnx(path: Path):
    """training/models/selfie.py's module with the weights of an exported file (its initializers keep the
    module's parameter names)."""
    torch = pytest.importorskip("torch")
    import onnx
    from onnx import numpy_helper

    from training.models.selfie import SelfieSegmentationNet

    net = SelfieSegmentationNet().eval()
    state = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in onnx.load(str(path)).graph.initializer}
    assert set(state) == set(net.state_dict())
    net.load_state_dict(state)
    return net


@pytest.mark.parametrize("path", [GENERAL, LANDSCAPE], ids=lambda p: p.stem)
def test_pytorch_module_matches_the_onnx_file(path):
    torch = pytest.importorskip("torch")
    net = module_from_onnx(path)
    for x in (to_input(bundled("styles/tanguy.jpg"), SIZES[path]), to_input(clip_frame(20), (96, 176))):
        with torch.no_grad():
            ref = net(torch.from_numpy(x)).numpy()
        got = open_model(path).run(None, {"image": x})[0]
        # float32 sums in another order: ~1e-7 on average, up to ~1e-4 where a pixel sits on the sigmoid's slope
        assert np.abs(ref - got).mean() < 1e-5 and np.abs(ref - got).max() < 1e-3


def test_tflite_layouts_and_the_graph_check():
    """from_graph reads TFLite layouts (OHWI convs, 1HWC depthwise, OHWI transposed conv): a graph written
    from a module gives that module back; a graph whose ops differ is refused with the reason."""
    import dataclasses

    torch = pytest.importorskip("torch")
    from training.models.selfie import CUSTOM_TRANSPOSE, SelfieSegmentationNet, TFLiteGraph, TFLiteOp, from_graph

    torch.manual_seed(0)
    net = SelfieSegmentationNet().eval()
    ops = []
    for layer in net.weighted_layers():
        w = layer.weight.detach().numpy()
        if isinstance(layer, torch.nn.ConvTranspose2d):  # IOHW -> OHWI
            shapes = ([(1, 128, 128, 16)], [(1, 256, 256, 1)])
            kind, kernel = "CUSTOM:" + CUSTOM_TRANSPOSE, w.transpose(1, 2, 3, 0)
        elif layer.groups > 1:  # C1HW -> 1HWC
            kind, kernel, shapes = "DEPTHWISE_CONV_2D", w.transpose(1, 2, 3, 0), ([], [])
        else:  # OIHW -> OHWI
            kind, kernel, shapes = "CONV_2D", w.transpose(0, 2, 3, 1), ([], [])
        ops.append(TFLiteOp(kind, *shapes, stride=tuple(layer.stride), padding="SAME", kernel=kernel.copy(),
                            bias=layer.bias.detach().numpy().copy(), kernel_name=f"conv {len(ops)}"))
    graph = TFLiteGraph("from the module", (1, 256, 256, 3), (1, 256, 256, 1), ops)
    assert graph.n_weights == 106401
    x = torch.rand(1, 3, 64, 48)
    with torch.no_grad():
        assert torch.allclose(from_graph(graph)(x), net(x), atol=1e-6)
    wrong_stride = [dataclasses.replace(op, stride=(1, 1)) if n == 0 else op for n, op in enumerate(ops)]
    with pytest.raises(ValueError, match="stride"):
        from_graph(dataclasses.replace(graph, ops=wrong_stride))
    with pytest.raises(ValueError, match="convs"):
        from_graph(dataclasses.replace(graph, ops=ops[:-1]))
    with pytest.raises(ValueError, match="SQUARED_DIFFERENCE"):
        from_graph(dataclasses.replace(graph, ops=[*ops, TFLiteOp("SQUARED_DIFFERENCE", [], [])]))
    with pytest.raises(ValueError, match="multiples of 16"):
        from_graph(dataclasses.replace(graph, input_shape=(1, 250, 256, 3)))


def test_export_cli_refuses_what_it_cannot_convert(tmp_path, capsys):
    pytest.importorskip("torch")
    from export.__main__ import main

    out = tmp_path / "seg.onnx"
    assert main(["segmentation", str(tmp_path / "missing.tflite"), str(out)]) == 2
    assert main(["segmentation", str(tmp_path / "missing.tflite"), str(out), "--int8", "--calib", "x"]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 2 and "Traceback" not in err and not out.exists()


def test_the_engine_reads_them_and_never_takes_them_for_a_style_model():
    """inspect_model checks their contract (image -> mask, the size they run at); they are listed with the
    models, never picked as a style model, and opening one as a style says what it is."""
    from engine.errors import StyleCastError
    from engine.modelfile import discover_models, inspect_model, scan_models
    from engine.stylizers import load_stylizer

    info = inspect_model(GENERAL)
    assert (info.family, info.role, info.pad_multiple, info.metadata["input_size"]) == ("segmentation", "mask", 16, "256x256")
    usable, broken = scan_models()
    assert {GENERAL, LANDSCAPE} <= {m.path for m in usable} and not [b for b in broken if b.path in SIZES]
    assert all(m.family == "segmentation" for m in discover_models() if m.path in SIZES)
    with pytest.raises(StyleCastError, match="person-segmentation model, not a style model"):
        load_stylizer(GENERAL, "cpu")


def test_a_segmentation_file_that_breaks_its_contract_is_refused(tmp_path):
    import onnx

    from engine.errors import ModelError
    from engine.modelfile import inspect_model

    model = onnx.load(str(GENERAL))
    for entry in model.metadata_props:
        if entry.key == "input_size":
            entry.value = "250x250"  # not a multiple of its 16 px cell
    bad = tmp_path / "bad_mask.onnx"
    onnx.save(model, str(bad))
    with pytest.raises(ModelError, match="input_size is '250x250'"):
        inspect_model(bad)


class KnownMask:
    """A segmenter whose mask is given: the left half of the frame is the person."""

    info = None

    def mask(self, rgb):
        m = np.zeros(rgb.shape[:2], np.float32)
        m[:, : rgb.shape[1] // 2] = 1.0
        return m

    def reset(self):
        pass


@pytest.mark.parametrize("region", ["background", "person"])
def test_each_region_mode_changes_exactly_its_pixels(tiny_fast_model, region):
    from engine.processor import FrameProcessor, StyleSettings
    from engine.sources import SyntheticSource
    from engine.stylizers import load_stylizer

    stylizer = load_stylizer(tiny_fast_model, "cpu")
    frame = SyntheticSource(96, 64).make(3)
    whole = FrameProcessor(stylizer, StyleSettings(mix={"fire": 1.0})).process(frame)[0]
    other = FrameProcessor(stylizer, StyleSettings(mix={"ink": 1.0})).process(frame)[0]
    out = FrameProcessor(stylizer, StyleSettings(mix={"fire": 1.0}, region=region), KnownMask()).process(frame)[0]
    styled, kept = (slice(48, None), slice(0, 48)) if region == "background" else (slice(0, 48), slice(48, None))
    assert np.array_equal(out[:, styled], whole[:, styled]) and np.array_equal(out[:, kept], frame[:, kept])
    two = FrameProcessor(stylizer, StyleSettings(mix={"fire": 1.0}, region=region, person_mix={"ink": 1.0}),
                         KnownMask()).process(frame)[0]  # the kept side in a style of its own
    assert np.array_equal(two[:, styled], whole[:, styled]) and np.array_equal(two[:, kept], other[:, kept])


def test_region_modes_refuse_what_cannot_work(tiny_fast_model, tmp_path, capsys):
    from engine.cli import main
    from engine.errors import InputError
    from engine.processor import FrameProcessor, StyleSettings
    from engine.setup import build_processor
    from engine.sources import SyntheticSource
    from engine.stylizers import load_stylizer

    with pytest.raises(InputError, match="region must be one of"):
        StyleSettings(region="face").validated()
    frame = SyntheticSource(64, 48).make(0)
    with pytest.raises(InputError, match="needs a person-segmentation model"):
        FrameProcessor(load_stylizer(tiny_fast_model, "cpu"), StyleSettings(region="person")).process(frame)
    with pytest.raises(InputError, match="needs a region"):
        build_processor(StyleSettings(person_mix={"ink": 1.0}), model=tiny_fast_model, provider="cpu")
    photo = tmp_path / "p.png"
    cv2.imwrite(str(photo), frame)
    out = tmp_path / "o.png"
    # a style model given as the segmentation model: one sentence, exit 2, nothing written
    assert main(["stylize", str(photo), "-o", str(out), "--model", str(tiny_fast_model), "--region", "person",
                 "--segmentation-model", str(tiny_fast_model)]) == 2
    err = capsys.readouterr().err
    assert "not a person-segmentation model" in err and "Traceback" not in err and not out.exists()


def test_the_shipped_model_finds_the_person_and_keeps_them(tiny_fast_model):
    """End to end on a real picture: the sample clip's frame with a walker at a known place; with the background
    styled, the walker's pixels stay closer to the original than the background's do."""
    from engine.processor import FrameProcessor, StyleSettings
    from engine.setup import open_segmenter
    from engine.stylizers import load_stylizer

    frame = clip_frame(40)
    stylizer = load_stylizer(tiny_fast_model, "cpu")
    segmenter = open_segmenter(None, "cpu")
    mask = segmenter.mask(frame)
    assert mask.shape == frame.shape[:2] and 0.0 <= mask.min() and mask.max() <= 1.0
    out = FrameProcessor(stylizer, StyleSettings(mix={"fire": 1.0}, region="background"), segmenter).process(frame)[0]
    change = np.abs(out.astype(int) - frame.astype(int)).mean(axis=2)
    person, background = mask > 0.8, mask < 0.05
    assert person.sum() > 50 and change[person].mean() < 0.5 * change[background].mean()


def test_the_other_regions_style_is_smoothed_like_the_main_one(tiny_fast_model):
    """Two styles with flicker reduction on: the kept region is smoothed over time exactly as that style would be
    on the whole frame (its own smoother), not shown raw."""
    from engine.processor import FrameProcessor, StyleSettings
    from engine.sources import SyntheticSource
    from engine.stylizers import load_stylizer

    stylizer = load_stylizer(tiny_fast_model, "cpu")
    source = SyntheticSource(96, 64)
    frames = [source.make(i) for i in (0, 2, 4)]
    alone = FrameProcessor(stylizer, StyleSettings(mix={"ink": 1.0}, smoothing=0.8))
    two = FrameProcessor(stylizer, StyleSettings(mix={"fire": 1.0}, smoothing=0.8, region="background",
                                                 person_mix={"ink": 1.0}), KnownMask())
    raw = FrameProcessor(stylizer, StyleSettings(mix={"ink": 1.0}))
    for i, frame in enumerate(frames):
        want, got, unsmoothed = alone.process(frame, i / 30)[0], two.process(frame, i / 30)[0], raw.process(frame)[0]
    assert np.array_equal(got[:, :48], want[:, :48]) and not np.array_equal(got[:, :48], unsmoothed[:, :48])
