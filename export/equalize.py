"""Per-channel equalisation of the convs that feed an instance norm, before int8 quantisation.

ONNX Runtime's static QDQ quantisation runs a conv as QLinearConv, whose *output* is uint8 over one range per
tensor (the calibration's min..max over all channels). In the fast nets that output goes straight into an
instance norm, and it is where int8 costs the most: on a mid8 checkpoint (docs/benchmarks.md) rounding only the
conv outputs costs 38.9 dB of PSNR against fp32, only the inputs 44.5 dB, only the weights 55.6 dB. The channels
of one conv output differ in spread by 2-4x and are off-centre by their bias and their mean, so the narrow ones
get few of the 256 levels.

An instance norm removes each channel's mean and divides by its spread, so scaling output channel k of the conv
by c_k > 0 and moving it by any offset changes nothing downstream (up to the norm's epsilon, which only shrinks
against a wider channel: c_k >= 1 here). This pass picks, from the calibration photos, the offset that centres
each channel's [min, max] on 0 and the scale that gives every channel the widest one's half-range, and folds
both into the conv's weight and bias. The fp32 function is unchanged; the int8 file made from it rounds every
channel on the same number of levels. A conv followed by DepthToSpace (the deploy form's phase convs) is
treated per output channel of the shuffle, i.e. per group of blocksize**2 conv channels.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import numpy_helper

MAX_GAIN = 100.0  # a dead channel (no spread) is not blown up to the widest one's range
EPS_MARGIN = 1e4  # a channel is scaled only where its variance in every calibration image is >= this x eps


@dataclass
class Equalized:
    conv: str
    group: int  # conv channels per equalised channel (1, or blocksize**2 before a DepthToSpace)
    gain_min: float
    gain_max: float


def _consumers(model: onnx.ModelProto) -> dict[str, list[onnx.NodeProto]]:
    users: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        for name in node.input:
            users.setdefault(name, []).append(node)
    return users


def _constants(model: onnx.ModelProto) -> dict[str, onnx.TensorProto]:
    """Every constant tensor by name: initializers, and Constant nodes' values (the TorchScript exporter
    writes tensors computed from buffers, e.g. the deploy form's phase weights, as Constant nodes)."""
    found = {i.name: i for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    found[node.output[0]] = a.t
    return found


def _candidates(model: onnx.ModelProto) -> list[tuple[onnx.NodeProto, int, float]]:
    """(conv, group, the norm's epsilon) for every Conv whose output reaches an InstanceNormalization and
    nothing else, directly or through one DepthToSpace in CRD mode (which maps conv channels k*g .. k*g+g-1
    to output channel k)."""
    users = _consumers(model)
    constants = set(_constants(model))
    graph_outputs = {o.name for o in model.graph.output}
    found = []
    for node in model.graph.node:
        if node.op_type != "Conv" or node.input[1] not in constants or node.output[0] in graph_outputs:
            continue
        if any(len(users.get(name, [])) > 1 for name in node.input[1:3] if name):
            continue  # shared weights: rescaling them would change another node
        nxt = users.get(node.output[0], [])
        group = 1
        if len(nxt) == 1 and nxt[0].op_type == "DepthToSpace":
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in nxt[0].attribute}
            if attrs.get("mode", b"DCR") not in (b"CRD", "CRD") or nxt[0].output[0] in graph_outputs:
                continue
            group = int(attrs["blocksize"]) ** 2
            nxt = users.get(nxt[0].output[0], [])
        if len(nxt) == 1 and nxt[0].op_type == "InstanceNormalization":
            eps = next((onnx.helper.get_attribute_value(a) for a in nxt[0].attribute if a.name == "epsilon"), 1e-5)
            found.append((node, group, float(eps)))
    return found


def _ranges(model: onnx.ModelProto, tensors: dict[str, int], feeds: list[dict[str, np.ndarray]]) -> dict[str, tuple]:
    """For each tensor (name -> group), per equalised channel (``group`` consecutive channels each):
    (min, max) over all ``feeds``, and the smallest variance within one image (what the norm divides by)."""
    import onnxruntime as ort

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    names = list(tensors)
    for name in names:
        probe.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    stats: dict[str, list[np.ndarray]] = {}
    for feed in feeds:
        for name, value in zip(names, session.run(names, feed)):
            n, c, h, w = value.shape
            v = value.reshape(n, c // tensors[name], tensors[name] * h * w).astype(np.float64)
            now = [v.min(axis=(0, 2)), v.max(axis=(0, 2)), v.var(axis=2).min(axis=0)]
            old = stats.get(name)
            stats[name] = now if old is None else [np.minimum(old[0], now[0]), np.maximum(old[1], now[1]),
                                                   np.minimum(old[2], now[2])]
    return {name: tuple(v) for name, v in stats.items()}


def equalize_for_int8(model: onnx.ModelProto, feeds: list[dict[str, np.ndarray]]) -> tuple[onnx.ModelProto, list[Equalized]]:
    """A copy of ``model`` whose convs before an instance norm are centred and scaled per channel (see the
    module doc), measured on ``feeds`` (the calibration inputs). Same fp32 function; returns what it changed."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    found = _candidates(out)
    if not found or not feeds:
        return out, []
    ranges = _ranges(out, {conv.output[0]: group for conv, group, _ in found}, feeds)
    inits = _constants(out)
    report = []
    for conv, group, eps in found:
        weight = numpy_helper.to_array(inits[conv.input[1]]).astype(np.float64)
        c_out = weight.shape[0]
        if len(conv.input) > 2 and conv.input[2]:
            bias = numpy_helper.to_array(inits[conv.input[2]]).astype(np.float64)
        else:  # give it a bias to carry the centring offset
            bias = np.zeros(c_out)
            name = conv.name + "_equalize_bias" if conv.name else conv.output[0] + "_bias"
            out.graph.initializer.append(numpy_helper.from_array(bias.astype(np.float32), name))
            inits[name] = out.graph.initializer[-1]
            if len(conv.input) == 2:
                conv.input.append(name)
            else:
                conv.input[2] = name
        lo, hi, var = ranges[conv.output[0]]
        centre, half = (hi + lo) / 2, (hi - lo) / 2
        gain = np.clip(half.max() / np.maximum(half, 1e-12), 1.0, MAX_GAIN)
        # the norm divides by sqrt(var + eps): a gain shrinks eps against var, which is exact only while eps
        # is nothing beside var (a trained net's conv outputs vary by tens; a fresh net's can be tiny)
        gain[var < EPS_MARGIN * eps] = 1.0
        gain_c = np.repeat(gain, group)
        weight *= gain_c.reshape(-1, *([1] * (weight.ndim - 1)))
        bias = (bias - np.repeat(centre, group)) * gain_c
        for name, value in ((conv.input[1], weight), (conv.input[2], bias)):
            inits[name].CopyFrom(numpy_helper.from_array(value.astype(np.float32), inits[name].name))
        report.append(Equalized(conv.name or conv.output[0], group, float(gain.min()), float(gain.max())))
    return out, report
