"""Optional smaller/faster variants of an exported fast net or AdaIN model, each measured against fp32.

fp16   weights and activations in half precision for GPUs; InstanceNormalization (and the ops
       around the style weights) stay fp32, because half-precision variance over a large image
       overflows/underflows. Needs onnxconverter-common.
int8   static QDQ quantisation for CPUs (ONNX Runtime's quantize_static), calibrated on real
       photos; convolutions in int8 except the first (the one reading the image), normalisation in
       float. On mid8 (2026-11-24, 2 cores AVX2, docs/benchmarks.md): 0.78x the fp32 time at 480x270,
       PSNR 37 dB against fp32 on held-out photos; quantising the first conv too gave 30 dB and was
       slower (0.88x of this), because instance norm then scales up that conv's rounding error.
       Before quantising, the convs feeding an instance norm are centred and scaled per channel
       (export/equalize.py; exact in fp32): a mid8 checkpoint's int8 file went from 38.0 to 40.6 dB.
       An AdaIN model's stylize graph (encoder and decoder) is calibrated with the statistics of the built-in
       paintings at full and half strength, with 7-bit weights; its statistics graph, run once per style image,
       stays fp32. adain_skip: half the fp32 time, 28.2 dB (2026-12-07, docs/benchmarks.md).
Both report PSNR against the fp32 model on photos not used for calibration when there are any, so the
quality cost is a number.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnx

from engine.atomic import atomic_path, temp_path_for
from engine.frames import load_image, pad_to_min_side, pad_to_multiple, to_nchw
from engine.modelfile import contract

from .equalize import equalize_for_int8

if TYPE_CHECKING:
    from engine.stylizers import AdaINStylizer


@dataclass
class VariantResult:
    path: Path
    psnr_db: float
    size_bytes: int


def _copy_metadata(src: onnx.ModelProto, dst: onnx.ModelProto, variant: str) -> None:
    del dst.metadata_props[:]
    for p in src.metadata_props:
        e = dst.metadata_props.add()
        e.key, e.value = p.key, p.value
    e = dst.metadata_props.add()
    e.key, e.value = "precision", variant


def _photo(path: Path, size: int = 256) -> np.ndarray:
    """A calibration photo, its longest side ``size`` px."""
    import cv2

    rgb = load_image(path)
    h, w = rgb.shape[:2]
    scale = size / max(h, w)
    return cv2.resize(rgb, (max(8, round(w * scale)), max(8, round(h * scale))), interpolation=cv2.INTER_AREA)


def _inputs(images: list[Path], n_styles: int, code_size: int = 0) -> list[dict[str, np.ndarray]]:
    feeds = []
    for i, path in enumerate(images):
        rgb = _photo(path)
        weights = np.zeros((1, n_styles), np.float32)
        if n_styles <= len(images):  # a fast net: each built-in style in turn
            weights[0, i % n_styles] = 1.0
        else:  # more rows than photos (a style-prediction model runs mixes of them): random mixes of every row
            weights[0] = np.random.default_rng(i).dirichlet(np.full(n_styles, 0.3))
        feeds.append({"image": to_nchw(pad_to_multiple(rgb, 4)[0]), "style_weights": weights})
        if code_size:  # the built-in rows alone: a learned style's rows are added in the same range
            feeds[-1]["style_code"] = np.zeros((1, code_size), np.float32)
    return feeds


STYLES = Path(__file__).resolve().parents[1] / "assets" / "styles"  # the built-in paintings


def _feeds(src: Path, model: onnx.ModelProto, images: list[Path]) -> list[dict[str, np.ndarray]]:
    """Calibration / check inputs for ``model``. A style-prediction model's style_weights are style codes: its
    statistics graph's predictions for the built-in paintings, in turn, at boldness 0 to 1. (Photos as styles
    give codes far outside any painting's, which widened the calibrated ranges: 23 dB instead of 40.)"""
    meta = {p.key: p.value for p in model.metadata_props}
    if contract(meta.get("family", ""), meta) == "adain":
        return _adain_feeds(src, images)
    feeds = _inputs(images, _n_styles(model), code_size=_code_size(model))
    if meta.get("variant") != "predicted":
        return feeds
    stylizer, paintings = _with_paintings(src)
    codes = [stylizer.mixed_stats({name: 1.0})[0] for name in paintings]
    for i, feed in enumerate(feeds):
        code = codes[i % len(codes)].copy()
        if meta.get("bold_rows") == "1":
            b, d = (i % 5) / 4, code.shape[1] // 2
            code[:, :d] *= 1.0 - b
            code[:, d:] *= b
        feed["style_weights"] = code.astype(np.float32)
    return feeds


def _with_paintings(src: Path) -> tuple[AdaINStylizer, list[str]]:
    """The style-image model at ``src`` as the app runs it, with the built-in paintings added as its styles."""
    from engine.stylizers import load_stylizer

    paintings = sorted(STYLES.glob("*.jpg"))
    if not paintings:
        raise ValueError(f"no built-in paintings in {STYLES} to calibrate the style statistics with")
    stylizer = load_stylizer(src, "cpu")  # the statistics exactly as the app computes them
    return stylizer, [stylizer.add_style_file(p) for p in paintings]


def _adain_feeds(src: Path, images: list[Path]) -> list[dict[str, np.ndarray]]:
    """An AdaIN model's inputs, padded as the engine pads them: each photo with the statistics of a built-in
    painting in turn, the photos alternately at full and at half strength (alpha; the features then lie between
    the photo's and the painting's). With 8 paintings, 4 are met at each strength: calibrating every painting
    at both widened the ranges and cost 3 dB (adain_skip: 27.0 -> 24.4 dB at full strength, 2026-12-07)."""
    stylizer, paintings = _with_paintings(src)
    info, feeds = stylizer.info, []
    for i, path in enumerate(images):
        mean, std = stylizer.mixed_stats({paintings[i % len(paintings)]: 1.0})
        padded = pad_to_min_side(pad_to_multiple(_photo(path), info.pad_multiple)[0], info.min_side, info.pad_multiple)
        feeds.append({"content": to_nchw(padded), "mean": mean, "std": std,
                      "alpha": np.array([1.0 if i % 2 == 0 else 0.5], np.float32)})
    return feeds


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def _compare(reference: Path, candidate: Path, feeds: list[dict[str, np.ndarray]]) -> float:
    import onnxruntime as ort

    ref = ort.InferenceSession(str(reference), providers=["CPUExecutionProvider"])
    cand = ort.InferenceSession(str(candidate), providers=["CPUExecutionProvider"])
    values = []
    for feed in feeds:
        a = ref.run(None, feed)[0]
        cand_feed = {i.name: (feed[i.name].astype(np.float16) if i.type == "tensor(float16)" else feed[i.name])
                     for i in cand.get_inputs()}
        b = cand.run(None, cand_feed)[0].astype(np.float32)
        values.append(psnr(np.clip(a, 0, 1), np.clip(b, 0, 1)))
    return float(np.mean(values))


def _n_styles(model: onnx.ModelProto) -> int:
    """The width of the graph's style_weights (a fast net's styles; a style-prediction model's rows)."""
    for port in model.graph.input:
        if port.name == "style_weights":
            width = port.type.tensor_type.shape.dim[1].dim_value
            if width:
                return int(width)
    return int({p.key: p.value for p in model.metadata_props}.get("n_styles", "1"))


def _code_size(model: onnx.ModelProto) -> int:
    """The width of the graph's style_code input (learned styles); 0 when it has none."""
    for port in model.graph.input:
        if port.name == "style_code":
            return int(port.type.tensor_type.shape.dim[1].dim_value)
    return 0


def to_fp16(src: Path, dst: Path, images: list[Path], check_images: list[Path] | None = None) -> VariantResult:
    """PSNR on ``check_images`` (default ``images``; fp16 needs no calibration)."""
    from onnxconverter_common import float16

    model = onnx.load(str(src))
    half = float16.convert_float_to_float16(model, keep_io_types=True,
                                            op_block_list=["InstanceNormalization", "MatMul", "Sigmoid", "Identity", "Resize", "Constant"])
    _copy_metadata(model, half, "fp16")
    with atomic_path(dst) as tmp:
        onnx.save(half, str(tmp))
    return VariantResult(dst, _compare(src, dst, _feeds(src, model, check_images or images)), dst.stat().st_size)


def to_int8(src: Path, dst: Path, images: list[Path], check_images: list[Path] | None = None) -> VariantResult:
    """Calibrate on ``images``; PSNR on ``check_images`` (default: the calibration images)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    model = onnx.load(str(src))
    feeds = _feeds(src, model, images)
    first_conv = next(n.name for n in model.graph.node if n.op_type == "Conv")
    # x86 CPUs without VNNI add pairs of uint8 x int8 products in int16, which 8-bit weights can overflow
    # (2 x 255 x 127 > 2^15) and 7-bit weights cannot. The AdaIN file takes 7-bit weights: on a VNNI CPU they
    # measured the same PSNR and time as 8-bit (docs/benchmarks.md). The fast nets' files keep 8-bit weights:
    # mid8's measured 37 dB against fp32 on an AVX2-only host too.
    meta = {p.key: p.value for p in model.metadata_props}
    reduce_range = contract(meta.get("family", ""), meta) == "adain"

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter(feeds)

        def get_next(self):
            return next(self.it, None)

    # exact in fp32, and the convs' uint8 outputs then use all their levels (export/equalize.py)
    equalized, _ = equalize_for_int8(model, feeds)
    eq = temp_path_for(dst.with_name(dst.stem + ".eq.onnx"))
    pre = temp_path_for(dst.with_name(dst.stem + ".pre.onnx"))
    try:
        with atomic_path(dst) as tmp:
            onnx.save(equalized, str(eq))
            quant_pre_process(str(eq), str(pre), skip_symbolic_shape=True)
            quantize_static(str(pre), str(tmp), Reader(), quant_format=QuantFormat.QDQ, op_types_to_quantize=["Conv"],
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                            reduce_range=reduce_range, nodes_to_exclude=[first_conv])
            q = onnx.load(str(tmp))
            _copy_metadata(model, q, "int8")
            onnx.save(q, str(tmp))
    finally:
        eq.unlink(missing_ok=True)
        pre.unlink(missing_ok=True)
    check = _feeds(src, model, check_images) if check_images else feeds
    return VariantResult(dst, _compare(src, dst, check), dst.stat().st_size)
