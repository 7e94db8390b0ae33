"""Checkpoint -> self-describing ONNX files, with a parity check against PyTorch.

Fast net: one graph ``(image[1,3,H,W], style_weights[1,N]) -> output[1,3,H,W]``.
AdaIN: two graphs sharing a stem: ``<stem>.onnx`` = ``stylize(content, mean, std, alpha)``
and ``<stem>.stats.onnx`` = ``style_stats(style) -> (mean, std)``.
Style prediction (family adain, variant "predicted"): ``<stem>.onnx`` is a fast net ``(image, style_weights)``
whose style_weights are the predicted style codes, ``<stem>.stats.onnx`` = ``style_stats(style) -> style_weights``.
Person segmentation (family segmentation, role mask): ``image[1,3,H,W] -> mask[1,1,H,W]``, converted from
MediaPipe's Selfie Segmentation .tflite (no checkpoint: the weights are read from that file).
Every file carries the metadata the engine needs (engine/modelfile.py reads it), so inference
never imports training code.
"""
from __future__ import annotations

import datetime as _dt
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch

from engine.atomic import atomic_path
from training import selfie_convert
from training.checkpoint import build_from_checkpoint, file_sha256, read_checkpoint, total_steps
from training.models.adain import AdaINDecoder, AdaINNet, StyleStatsGraph, StylizeGraph
from training.models.adain_small import macs_per_pixel as small_macs_per_pixel
from training.models.anystyle import AnyStyleNet, PredictedNetGraph, StylePredictorGraph
from training.models.transformer import TransformerNet, macs_per_pixel
from training.models.vgg import load_vgg16

from . import METADATA_FORMAT, PROJECT_VERSION

OPSET = 17
PARITY_SIZES = ((67, 93), (130, 75))  # odd sizes on purpose: padding/cropping bugs show here


@dataclass
class ExportResult:
    paths: list[Path]
    parity_max_abs: float


def _write_metadata(path: Path, meta: dict[str, str]) -> None:
    model = onnx.load(str(path))
    del model.metadata_props[:]
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, str(value)
    with atomic_path(path) as tmp:
        onnx.save(model, str(tmp))


def _export(module: torch.nn.Module, args: tuple, path: Path, input_names: list[str], output_names: list[str],
            dynamic_axes: dict) -> None:
    """Legacy TorchScript exporter: single file, dynamic H/W, ~0.5 s. (The dynamo exporter gives
    the same graph but takes ~20x longer; see docs/ARCHITECTURE.md.)"""
    with warnings.catch_warnings(), atomic_path(path) as tmp:
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, str(tmp), input_names=input_names, output_names=output_names,
                          dynamic_axes=dynamic_axes, opset_version=OPSET, dynamo=False, external_data=False)


def _base_meta(blob: dict, checkpoint: Path | None, family: str, role: str) -> dict[str, str]:
    return {
        "stylecast_format": str(METADATA_FORMAT),
        "family": family,
        "role": role,
        "input_range": "0-1",
        "layout": "NCHW float32 RGB",
        "loss_network": blob.get("loss_network", "vgg16-hed"),
        "training_config": json.dumps(blob.get("train_config", {}), sort_keys=True),
        "model_config": json.dumps(blob["config"], sort_keys=True),
        "checkpoint_sha256": file_sha256(checkpoint) if checkpoint else "",
        "steps": str(total_steps(blob)),  # with the steps of the checkpoint a fine-tuning run started from
        "project_version": PROJECT_VERSION,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def export_fast(checkpoint: str | Path, out_path: str | Path, *, check: bool = True) -> ExportResult:
    checkpoint, out_path = Path(checkpoint), Path(out_path)
    blob = read_checkpoint(checkpoint)
    if blob["family"] != "fast":
        raise ValueError(f"{checkpoint} holds a {blob['family']!r} model, not a fast net")
    net: TransformerNet = build_from_checkpoint(blob)
    n = net.config.n_styles
    out_path.parent.mkdir(parents=True, exist_ok=True)
    # the graph is the deploy form (less work at full resolution, same function); parity below is checked
    # against the training form, so a rewrite error cannot hide
    deploy = build_from_checkpoint(blob).to_deploy()
    code = torch.zeros(1, net.code_size)  # a learned style's rows (engine/learned.py), added to the mixed rows
    _export(deploy, (torch.rand(1, 3, 64, 64), net.one_hot(0), code), out_path, ["image", "style_weights", "style_code"],
            ["output"], {"image": {2: "height", 3: "width"}, "output": {2: "height", 3: "width"}})
    meta = _base_meta(blob, checkpoint, "fast", "stylize")
    # reflection padding needs more pixels than it reaches: the residual blocks pad max(dilation) at 1/4 scale
    min_side = 4 * (max(net.config.dilation or (1,)) + 1)
    meta.update(style_names=json.dumps(net.config.style_names), n_styles=str(n), pad_multiple="4", min_side=str(min_side),
                variant=str(blob.get("train_config", {}).get("width", "")),
                macs_per_pixel=f"{macs_per_pixel(net.config):.0f}", bold_rows="1" if net.config.bold else "0",
                style_code=str(net.code_size), code_id=net.shared_id())
    _write_metadata(out_path, meta)
    err = 0.0
    if check:
        rng = np.random.default_rng(0)
        for h, w in PARITY_SIZES:
            x = rng.random((1, 3, h + (-h) % 4, w + (-w) % 4), dtype=np.float32)
            weights = rng.random((1, net.config.n_rows), dtype=np.float32) * 0.5
            code = rng.random((1, net.code_size), dtype=np.float32) * 0.5
            with torch.no_grad():
                ref = net(torch.from_numpy(x), torch.from_numpy(weights), torch.from_numpy(code)).numpy()
            got = _run_onnx(out_path, {"image": x, "style_weights": weights, "style_code": code})[0]
            err = max(err, float(np.abs(ref - got).max()))
    return ExportResult([out_path], err)


def export_adain(checkpoint: str | Path, out_path: str | Path, *, vgg_weights: str | Path | None = None,
                 check: bool = True) -> ExportResult:
    checkpoint, out_path = Path(checkpoint), Path(out_path)
    blob = read_checkpoint(checkpoint)
    if blob["family"] not in ("adain", "adain-small"):
        raise ValueError(f"{checkpoint} holds a {blob['family']!r} model, not an AdaIN model")
    extra: dict[str, str] = {}
    if blob["family"] == "adain-small":  # its own small encoder: no VGG in either graph
        net = build_from_checkpoint(blob)
        extra = {"variant": "small", "macs_per_pixel": f"{small_macs_per_pixel(net.config):.0f}"}
    else:
        decoder: AdaINDecoder = build_from_checkpoint(blob)
        net = AdaINNet(load_vgg16(vgg_weights, last_layer="relu4_1"), decoder).eval()
    stats_path = stats_path_for(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    _export(StyleStatsGraph(net), (torch.rand(1, 3, 64, 64),), stats_path, ["style"], ["mean", "std"],
            {"style": {2: "height", 3: "width"}})
    mean, std = StyleStatsGraph(net)(torch.rand(1, 3, 64, 64))
    _export(StylizeGraph(net), (torch.rand(1, 3, 64, 64), mean, std, torch.ones(1)), out_path,
            ["content", "mean", "std", "alpha"], ["output"],
            {"content": {2: "height", 3: "width"}, "output": {2: "height", 3: "width"}})
    meta = _base_meta(blob, checkpoint, "adain", "stylize")
    meta.update(pad_multiple="8", min_side="16", stats_graph=stats_path.name, style_names="[]", n_styles="0", **extra)
    _write_metadata(out_path, meta)
    stats_meta = _base_meta(blob, checkpoint, "adain", "style_stats")
    stats_meta.update(pad_multiple="8", min_side="16", stylize_graph=out_path.name, **extra)
    _write_metadata(stats_path, stats_meta)
    err = 0.0
    if check:
        rng = np.random.default_rng(0)
        style = rng.random((1, 3, 72, 96), dtype=np.float32)
        got_mean, got_std = _run_onnx(stats_path, {"style": style})
        with torch.no_grad():
            ref_mean, ref_std = net.style_stats(torch.from_numpy(style))
        err = max(float(np.abs(ref_mean.numpy() - got_mean).max()), float(np.abs(ref_std.numpy() - got_std).max()))
        for h, w in PARITY_SIZES:
            x = rng.random((1, 3, h + (-h) % 8, w + (-w) % 8), dtype=np.float32)
            alpha = np.array([0.7], np.float32)
            with torch.no_grad():
                ref = net.stylize(torch.from_numpy(x), ref_mean, ref_std, 0.7).numpy()
            got = _run_onnx(out_path, {"content": x, "mean": ref_mean.numpy(), "std": ref_std.numpy(), "alpha": alpha})[0]
            err = max(err, float(np.abs(ref - got).max()))
    return ExportResult([out_path, stats_path], err)


def export_anystyle(checkpoint: str | Path, out_path: str | Path, *, vgg_weights: str | Path | None = None,
                    check: bool = True) -> ExportResult:
    """A style-prediction model: the fast net it predicts for (deploy form), taking the predicted codes as its
    style_weights, and the predictor (loss network + head). With bold rows the codes are two halves, faithful
    and bold, which the engine weights by the boldness (metadata bold_rows, as for a fast net)."""
    checkpoint, out_path = Path(checkpoint), Path(out_path)
    blob = read_checkpoint(checkpoint)
    if blob["family"] != "anystyle":
        raise ValueError(f"{checkpoint} holds a {blob['family']!r} model, not a style-prediction net")
    model: AnyStyleNet = build_from_checkpoint(blob)
    predictor = StylePredictorGraph(model, load_vgg16(vgg_weights, last_layer="relu4_1")).eval()
    ends, stats_path = model.config.ends, stats_path_for(out_path)
    width = ends * model.net.code_size
    out_path.parent.mkdir(parents=True, exist_ok=True)
    _export(predictor, (torch.rand(1, 3, 64, 64),), stats_path, ["style"], ["style_weights"], {"style": {2: "height", 3: "width"}})
    deploy = build_from_checkpoint(blob)
    deploy.net.to_deploy()
    _export(PredictedNetGraph(deploy).eval(), (torch.rand(1, 3, 64, 64), model.code_mean[None].clone()), out_path,
            ["image", "style_weights"], ["output"], {"image": {2: "height", 3: "width"}, "output": {2: "height", 3: "width"}})
    net_config = model.net.config
    meta = _base_meta(blob, checkpoint, "adain", "stylize")
    meta.update(variant="predicted", pad_multiple="4", min_side=str(4 * (max(net_config.dilation or (1,)) + 1)),
                stats_graph=stats_path.name, style_names="[]", n_styles="0", style_rows=str(width),
                bold_rows="1" if ends == 2 else "0", code_id=model.net.shared_id(),
                style_side=str(model.config.style_size), macs_per_pixel=f"{macs_per_pixel(net_config):.0f}")
    _write_metadata(out_path, meta)
    stats_meta = _base_meta(blob, checkpoint, "adain", "style_stats")
    stats_meta.update(variant="predicted", pad_multiple="8", min_side="16", stylize_graph=out_path.name)
    _write_metadata(stats_path, stats_meta)
    err = 0.0
    if check:
        err = _anystyle_parity(model, predictor, out_path, stats_path)
    return ExportResult([out_path, stats_path], err)


def _anystyle_parity(model: AnyStyleNet, predictor: StylePredictorGraph, out_path: Path, stats_path: Path) -> float:
    rng = np.random.default_rng(0)
    style = rng.random((1, 3, 72, 96), dtype=np.float32)
    with torch.no_grad():
        ref_code = predictor(torch.from_numpy(style))
    err = float(np.abs(ref_code.numpy() - _run_onnx(stats_path, {"style": style})[0]).max())
    d, ends = model.net.code_size, model.config.ends
    weighted = ref_code.clone()
    if ends == 2:  # boldness 0.3: the halves as the engine weights them
        weighted[:, :d] *= 0.7
        weighted[:, d:] *= 0.3
    for h, w in PARITY_SIZES:
        x = rng.random((1, 3, h + (-h) % 4, w + (-w) % 4), dtype=np.float32)
        with torch.no_grad():
            ref = model(torch.from_numpy(x), model.code_at(ref_code, 0.3)).numpy()
        got = _run_onnx(out_path, {"image": x, "style_weights": weighted.numpy()})[0]
        err = max(err, float(np.abs(ref - got).max()))
    return err


def export_segmentation(tflite_path: str | Path, out_path: str | Path, *, check: bool = True) -> ExportResult:
    """MediaPipe's Selfie Segmentation (.tflite, training/models/selfie.py) -> ``image[1,3,H,W] -> mask[1,1,H,W]``:
    RGB in [0, 1] in, person probability out, H and W multiples of 16 (dynamic; the model was trained at the
    file's own size, written as input_size). TensorFlow's asymmetric "SAME" pads (a ZeroPad2d before four
    stride-2 convs) are folded into those Conv nodes' own pads. Parity: PyTorch vs ONNX Runtime at the
    model's size and at 96x176."""
    tflite_path, out_path = Path(tflite_path), Path(out_path)
    net, graph = selfie_convert.convert(tflite_path)
    height, width = graph.input_shape[1:3]
    out_path.parent.mkdir(parents=True, exist_ok=True)
    _export(net, (torch.rand(1, 3, height, width),), out_path, ["image"], ["mask"],
            {"image": {2: "height", 3: "width"}, "mask": {2: "height", 3: "width"}})

    # Pad -> Conv: the exporter writes each ZeroPad2d as a Pad fed by a small constant subgraph. Pads and
    # padded convs come in forward order; each Conv's weight name is checked against its module.
    model = onnx.load(str(out_path))
    nodes = list(model.graph.node)
    padded = [(name, m) for name, m in net.named_modules() if isinstance(m, torch.nn.Sequential)
              and isinstance(m[0], torch.nn.ZeroPad2d)]
    pads = [n for n in nodes if n.op_type == "Pad"]
    if len(pads) != len(padded):
        raise ValueError(f"the exported graph has {len(pads)} Pad nodes, the module {len(padded)} padded convs")
    for pad, (name, module) in zip(pads, padded):
        conv = [n for n in nodes if pad.output[0] in n.input]
        if len(conv) != 1 or conv[0].op_type != "Conv" or conv[0].input[1] != f"{name}.1.weight":
            raise ValueError(f"the Pad before {name} does not feed that conv alone")
        left, right, top, bottom = module[0].padding
        for attr in conv[0].attribute:
            if attr.name == "pads":
                attr.ints[:] = [top, left, bottom, right]
        conv[0].input[0] = pad.input[0]
        model.graph.node.remove(pad)
    used = {i for n in model.graph.node for i in n.input} | {o.name for o in model.graph.output}
    while True:  # drop the pad-size subgraphs, now unused
        dead = [n for n in model.graph.node if not any(o in used for o in n.output)]
        if not dead:
            break
        for n in dead:
            model.graph.node.remove(n)
        used = {i for n in model.graph.node for i in n.input} | {o.name for o in model.graph.output}
    model.graph.output[0].type.tensor_type.shape.dim[0].dim_value = 1  # batch 1, as the input
    onnx.checker.check_model(model)
    with atomic_path(out_path) as tmp:
        onnx.save(model, str(tmp))

    digest = selfie_convert.tflite_sha256(tflite_path)
    known = selfie_convert.known_model(tflite_path)
    meta = {
        "stylecast_format": str(METADATA_FORMAT),
        "family": "segmentation",
        "role": "mask",
        "input_range": "0-1",
        "layout": "NCHW float32 RGB",
        "output": "mask: NCHW float32, 1 channel, person probability 0-1",
        "pad_multiple": "16",
        "min_side": "16",
        "input_size": f"{height}x{width}",  # height x width the model was trained at; frames are stretched to it
        "resize": "stretch",  # MediaPipe resizes the whole frame to input_size, no letterbox, no crop
        "variant": "landscape" if (height, width) == selfie_convert.LANDSCAPE_SIZE else "general",
        "model_config": json.dumps({"architecture": "mediapipe-selfie-segmentation", "weights": graph.n_weights,
                                    "tflite_description": graph.description}, sort_keys=True),
        "source": (selfie_convert.SOURCE + known) if known else tflite_path.name,
        "source_sha256": digest,
        "checkpoint_sha256": digest,  # the file the weights were read from (fp16 there, fp32 here)
        "licence": selfie_convert.LICENCE,
        "copyright": selfie_convert.COPYRIGHT,
        "modifications": "converted from TFLite to ONNX by StyleCast (training/models/selfie.py); "
                         "fp16 weights stored as fp32",
        "project_version": PROJECT_VERSION,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    _write_metadata(out_path, meta)
    err = 0.0
    if check:
        rng = np.random.default_rng(0)
        for h, w in ((height, width), (96, 176)):
            x = rng.random((1, 3, h, w), dtype=np.float32)
            with torch.no_grad():
                ref = net(torch.from_numpy(x)).numpy()
            got = _run_onnx(out_path, {"image": x})[0]
            err = max(err, float(np.abs(ref - got).max()))
    return ExportResult([out_path], err)


def stats_path_for(stylize_path: Path) -> Path:
    return stylize_path.with_name(stylize_path.stem + ".stats.onnx")


def _run_onnx(path: Path, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort  # only for the parity check; training never needs it

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)
