"""MediaPipe Selfie Segmentation as a PyTorch module: person probability per pixel.

The network inside the PyPI wheel ``mediapipe==0.10.21`` (``mediapipe/modules/selfie_segmentation/
selfie_segmentation.tflite``, 256x256 "general", and ``selfie_segmentation_landscape.tflite``, 144x256;
Apache-2.0, The MediaPipe Authors), written out layer by layer from the ops of its TFLite graph. Both
files hold the same graph (106,407 weights, fp16 in the file); only the input size and the global
average pools (AVERAGE_POOL_2D over the whole map vs MEAN) differ, and both are a global mean here.

Graph, as read from the flatbuffer (training/selfie_convert.py prints it: ``--ops``):

    stem        conv 3x3 /2 3->16, hard-swish                                   -> s2  (1/2)
    encoder     8 inverted-residual blocks (MobileNetV3-small-like):
                expand 1x1, act; depthwise kxk (stride), act; [squeeze-excite]; project 1x1; [+ input]
                  b1  16 -> 16  exp 16  3x3 /2  ReLU   SE 8       -> s4  (1/4)
                  b2  16 -> 24  exp 72  3x3 /2  ReLU                   (1/8)
                  b3  24 -> 24  exp 88  3x3     ReLU           +   -> s8  (1/8)
                  b4  24 -> 32  exp 96  5x5 /2  h-swish SE 24          (1/16)
                  b5  32 -> 32  exp 128 5x5     h-swish SE 32  +
                  b6  32 -> 32  exp 128 5x5     h-swish SE 32  +
                  b7  32 -> 32  exp 96  5x5     h-swish SE 24  +
                  b8  32 -> 32  exp 96  5x5     h-swish SE 24  +
                squeeze-excite: global mean, 1x1, ReLU, 1x1, sigmoid (not hard-sigmoid), times the map
    head        LR-ASPP: ReLU(1x1 32->128) * sigmoid(1x1 32->128 of the global mean)    (1/16)
    decoder     3 stages, each: u = 1x1(bilinear x2 of the coarser map); s = skip + u;
                g = sigmoid(1x1(ReLU(1x1(mean(s))))); y = skip * g + u; z = ReLU(1x1(y));
                out = z + ReLU(depthwise 3x3(z))
                  128 -> 24 with s8, 24 -> 16 with s4, 16 -> 16 with s2
    output      transposed conv 2x2 /2 16->1 with bias (MediaPipe's custom op
                Convolution2DTransposeBias), sigmoid                                -> 1 x H x W

Input: 1x3xHxW float RGB in [0, 1] (MediaPipe's ImageToTensorCalculator: the frame stretched to the
model's size, no letterbox, range 0..1; the model's own metadata says mean 0, std 255 on 0..255 pixels).
Output: 1x1xHxW person probability (MediaPipe's TensorsToSegmentationCalculator applies no activation of
its own: the sigmoid is in the graph). H and W must be multiples of 16: TensorFlow's "SAME" padding of a
stride-2 layer is asymmetric (nothing before, the rest after) on an even input, written here as fixed pads,
so every stride-2 input must be even.

``load_tflite(path)``: the module with the weights of a .tflite file (NHWC/OHWI -> PyTorch layouts), after
checking that the file's ops, shapes and strides are the ones this module runs. Reading the flatbuffer
needs the PyPI package ``tflite`` (pure Python, on ``flatbuffers``); only the converter imports it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

STRIDE = 16  # the encoder's total stride: inputs are multiples of this
GENERAL_SIZE = (256, 256)  # (height, width) of selfie_segmentation.tflite
LANDSCAPE_SIZE = (144, 256)  # selfie_segmentation_landscape.tflite


def _conv(c_in: int, c_out: int, k: int = 1, stride: int = 1, depthwise: bool = False) -> nn.Module:
    """A TFLite CONV_2D / DEPTHWISE_CONV_2D with "SAME" padding. Stride 1: (k-1)/2 on every side. Stride 2 on
    an even input: TensorFlow pads k-2 in all, the smaller half before (3x3: 0 then 1; 5x5: 1 then 2)."""
    conv = nn.Conv2d(c_in, c_out, k, stride, padding=0 if stride > 1 else k // 2, groups=c_in if depthwise else 1)
    if stride == 1:
        return conv
    before = (k - stride) // 2
    after = k - stride - before
    return nn.Sequential(nn.ZeroPad2d((before, after, before, after)), conv)


class SqueezeExcite(nn.Module):
    """x * sigmoid(1x1(ReLU(1x1(global mean of x))))."""

    def __init__(self, channels: int, squeezed: int) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(channels, squeezed, 1)
        self.expand = nn.Conv2d(squeezed, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.expand(F.relu(self.reduce(F.adaptive_avg_pool2d(x, 1)))))


class InvertedResidual(nn.Module):
    """expand 1x1 + act, depthwise kxk (stride) + act, optional squeeze-excite, project 1x1, residual when
    the shape is kept."""

    def __init__(self, c_in: int, c_exp: int, c_out: int, k: int, stride: int, hard_swish: bool, se: int = 0) -> None:
        super().__init__()
        self.expand = nn.Conv2d(c_in, c_exp, 1)
        self.depthwise = _conv(c_exp, c_exp, k, stride, depthwise=True)
        self.act = nn.Hardswish() if hard_swish else nn.ReLU()
        self.se = SqueezeExcite(c_exp, se) if se else nn.Identity()
        self.project = nn.Conv2d(c_exp, c_out, 1)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.se(self.act(self.depthwise(self.act(self.expand(x))))))
        return x + y if self.residual else y


class LRASPP(nn.Module):
    """ReLU(1x1(x)) * sigmoid(1x1(global mean of x)): the Lite R-ASPP head of MobileNetV3."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.branch = nn.Conv2d(c_in, c_out, 1)
        self.gate = nn.Conv2d(c_in, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.branch(x)) * torch.sigmoid(self.gate(F.adaptive_avg_pool2d(x, 1)))


class DecoderStage(nn.Module):
    """Up x2 (bilinear, half-pixel centres) and a 1x1 to the skip's width; the skip gated by a
    squeeze-excite of the sum and added to the upsampled map; 1x1 + ReLU; a depthwise 3x3 + ReLU residual."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.up = nn.Conv2d(c_in, c_out, 1)
        self.gate_reduce = nn.Conv2d(c_out, c_out, 1)
        self.gate_expand = nn.Conv2d(c_out, c_out, 1)
        self.fuse = nn.Conv2d(c_out, c_out, 1)
        self.refine = nn.Conv2d(c_out, c_out, 3, padding=1, groups=c_out)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        u = self.up(F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False))
        pooled = F.adaptive_avg_pool2d(skip + u, 1)
        gate = torch.sigmoid(self.gate_expand(F.relu(self.gate_reduce(pooled))))
        z = F.relu(self.fuse(skip * gate + u))
        return z + F.relu(self.refine(z))


class SelfieSegmentationNet(nn.Module):
    """image (1x3xHxW RGB in [0, 1], H and W multiples of 16) -> person probability (1x1xHxW)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = _conv(3, 16, 3, 2)
        self.blocks = nn.ModuleList([
            InvertedResidual(16, 16, 16, 3, 2, False, se=8),
            InvertedResidual(16, 72, 24, 3, 2, False),
            InvertedResidual(24, 88, 24, 3, 1, False),
            InvertedResidual(24, 96, 32, 5, 2, True, se=24),
            InvertedResidual(32, 128, 32, 5, 1, True, se=32),
            InvertedResidual(32, 128, 32, 5, 1, True, se=32),
            InvertedResidual(32, 96, 32, 5, 1, True, se=24),
            InvertedResidual(32, 96, 32, 5, 1, True, se=24),
        ])
        self.head = LRASPP(32, 128)
        self.decoder = nn.ModuleList([DecoderStage(128, 24), DecoderStage(24, 16), DecoderStage(16, 16)])
        self.output = nn.ConvTranspose2d(16, 1, 2, stride=2)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        s2 = F.hardswish(self.stem(image))
        x = s4 = self.blocks[0](s2)
        x = self.blocks[1](x)
        x = s8 = self.blocks[2](x)
        for block in self.blocks[3:]:
            x = block(x)
        x = self.head(x)
        for stage, skip in zip(self.decoder, (s8, s4, s2)):
            x = stage(x, skip)
        return torch.sigmoid(self.output(x))

    def weighted_layers(self) -> list[nn.Module]:
        """Every conv, in the order the TFLite graph runs them (the order of definition above)."""
        return [m for m in self.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]


# ---- the .tflite file ------------------------------------------------------------------------------------
CUSTOM_TRANSPOSE = "Convolution2DTransposeBias"
_TFLITE_HINT = ("reading a .tflite file needs the PyPI package tflite (pure Python): `pip install tflite`, or "
                "`pip install --target DIR tflite` and PYTHONPATH=DIR")


@dataclass
class TFLiteOp:
    """One op of the graph: its kind ("CONV_2D", ..., or "CUSTOM:<name>"), input and output tensor shapes
    (NHWC), stride, padding ("SAME"/"VALID"/""), and its constant inputs (kernel, bias) as float32."""
    kind: str
    inputs: list[tuple[int, ...]]
    outputs: list[tuple[int, ...]]
    stride: tuple[int, int] = (1, 1)
    padding: str = ""
    kernel: np.ndarray | None = None
    bias: np.ndarray | None = None
    kernel_name: str = ""


@dataclass
class TFLiteGraph:
    description: str
    input_shape: tuple[int, ...]  # NHWC
    output_shape: tuple[int, ...]
    ops: list[TFLiteOp]  # DEQUANTIZE ops folded into the constants they produce

    @property
    def n_weights(self) -> int:
        return sum(int(a.size) for op in self.ops for a in (op.kernel, op.bias) if a is not None)


def _import_tflite():
    try:
        import tflite  # noqa: F401  (only the converter reads flatbuffers)
    except ImportError as exc:
        raise ModuleNotFoundError(_TFLITE_HINT) from exc
    return tflite


def _read_conv_options(tflite, op, entry: TFLiteOp, pad_names: dict, where: str) -> None:
    """A conv's stride and padding (a fused activation or a dilation is refused: the module has neither)."""
    if entry.kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        options = (tflite.Conv2DOptions if entry.kind == "CONV_2D" else tflite.DepthwiseConv2DOptions)()
        table = op.BuiltinOptions()
        options.Init(table.Bytes, table.Pos)
        dilated = options.DilationHFactor() != 1 or options.DilationWFactor() != 1
        if options.FusedActivationFunction() != 0 or dilated:
            raise ValueError(f"{where} ({entry.kind}) has a fused activation or dilation this module lacks")
        entry.stride = (options.StrideH(), options.StrideW())
        entry.padding = pad_names.get(options.Padding(), "?")
    elif entry.kind == "CUSTOM:" + CUSTOM_TRANSPOSE:
        # TfLiteTransposeConvParams {TfLitePadding padding; int stride_width; int stride_height;}
        raw = op.CustomOptionsAsNumpy().tobytes()
        padding, stride_w, stride_h = np.frombuffer(raw[:12], "<i4")
        entry.stride = (int(stride_h), int(stride_w))
        entry.padding = {1: "SAME", 2: "VALID"}.get(int(padding), "?")  # TfLitePadding


def read_tflite(path: str | Path) -> TFLiteGraph:
    """The op list of a .tflite file with the weights of each conv, fp16 constants (stored with a
    DEQUANTIZE op) read as float32."""
    tflite = _import_tflite()
    from tflite.BuiltinOperator import BuiltinOperator
    from tflite.Padding import Padding

    op_names = {v: k for k, v in vars(BuiltinOperator).items() if not k.startswith("_")}
    pad_names = {v: k for k, v in vars(Padding).items() if not k.startswith("_")}
    buf = Path(path).read_bytes()
    model = tflite.Model.GetRootAsModel(buf, 0)
    if model.SubgraphsLength() != 1:
        raise ValueError(f"{path}: {model.SubgraphsLength()} subgraphs; Selfie Segmentation has one")
    graph = model.Subgraphs(0)
    dtypes = {0: np.float32, 1: np.float16}  # TensorType FLOAT32, FLOAT16

    def shape(i: int) -> tuple[int, ...]:
        t = graph.Tensors(i)
        return tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()

    def constant(i: int) -> np.ndarray | None:
        t = graph.Tensors(i)
        data = model.Buffers(t.Buffer())
        if data is None or data.DataLength() == 0:
            return None
        if t.Type() not in dtypes:
            raise ValueError(f"{path}: constant {t.Name().decode()} has TFLite type {t.Type()}, not float")
        return np.frombuffer(data.DataAsNumpy().tobytes(), dtypes[t.Type()]).reshape(shape(i)).astype(np.float32)

    produced: dict[int, np.ndarray] = {}  # tensor -> the constant a DEQUANTIZE op gives it
    ops: list[TFLiteOp] = []
    for n in range(graph.OperatorsLength()):
        op = graph.Operators(n)
        code = model.OperatorCodes(op.OpcodeIndex())
        kind = op_names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "?")
        if kind == "CUSTOM":
            kind = "CUSTOM:" + code.CustomCode().decode()
        ins, outs = [int(i) for i in op.InputsAsNumpy()], [int(i) for i in op.OutputsAsNumpy()]
        if kind == "DEQUANTIZE":
            value = constant(ins[0])
            if value is None:
                raise ValueError(f"{path}: op {n} dequantizes a tensor that is not a constant")
            produced[outs[0]] = value
            continue
        entry = TFLiteOp(kind, [shape(i) for i in ins if i >= 0], [shape(i) for i in outs])
        _read_conv_options(tflite, op, entry, pad_names, f"{path}: op {n}")
        if kind in ("CONV_2D", "DEPTHWISE_CONV_2D", "CUSTOM:" + CUSTOM_TRANSPOSE):
            entry.kernel, entry.bias = (produced[i] if i in produced else constant(i) for i in ins[1:3])
            entry.kernel_name = graph.Tensors(ins[1]).Name().decode().removesuffix("_dequantize")
            if entry.kernel is None or entry.bias is None:
                raise ValueError(f"{path}: op {n} ({kind}) has no constant kernel and bias")
        ops.append(entry)
    return TFLiteGraph((model.Description() or b"").decode(), shape(int(graph.InputsAsNumpy()[0])),
                       shape(int(graph.OutputsAsNumpy()[0])), ops)


def _torch_weight(op: TFLiteOp) -> np.ndarray:
    """TFLite kernel -> PyTorch weight. CONV_2D: OHWI -> OIHW. DEPTHWISE_CONV_2D: 1HWC -> C1HW.
    Transposed conv: OHWI -> IOHW (ConvTranspose2d's in, out, kh, kw; MediaPipe's kernel is not flipped)."""
    if op.kind == "CONV_2D":
        return op.kernel.transpose(0, 3, 1, 2)
    return op.kernel.transpose(3, 0, 1, 2)


def check_graph(net: SelfieSegmentationNet, graph: TFLiteGraph) -> None:
    """ValueError unless the graph's weighted ops are this module's convs, in order, with the same kind,
    shape and stride, and its other ops are of the kinds written out above."""
    allowed = {"CONV_2D", "DEPTHWISE_CONV_2D", "CUSTOM:" + CUSTOM_TRANSPOSE, "HARD_SWISH", "RELU", "LOGISTIC",
               "MUL", "ADD", "AVERAGE_POOL_2D", "MEAN", "RESIZE_BILINEAR"}
    unknown = sorted({op.kind for op in graph.ops} - allowed)
    if unknown:
        raise ValueError(f"the graph has ops this module does not run: {', '.join(unknown)}")
    weighted = [op for op in graph.ops if op.kernel is not None]
    layers = net.weighted_layers()
    if len(weighted) != len(layers):
        raise ValueError(f"the graph has {len(weighted)} convs, the module {len(layers)}")
    for n, (op, layer) in enumerate(zip(weighted, layers)):
        if isinstance(layer, nn.ConvTranspose2d):
            kind = "CUSTOM:" + CUSTOM_TRANSPOSE
        else:
            kind = "DEPTHWISE_CONV_2D" if layer.groups > 1 else "CONV_2D"
        what = f"conv {n} ({op.kernel_name})"
        if op.kind != kind:
            raise ValueError(f"{what} is {op.kind} in the graph, {kind} in the module")
        if _torch_weight(op).shape != tuple(layer.weight.shape) or op.bias.shape != tuple(layer.bias.shape):
            raise ValueError(f"{what}: kernel {op.kernel.shape} does not fit {tuple(layer.weight.shape)}")
        if op.stride != tuple(layer.stride):
            raise ValueError(f"{what}: stride {op.stride} in the graph, {tuple(layer.stride)} in the module")
        if max(layer.kernel_size) > 1 and op.padding != "SAME":
            raise ValueError(f"{what}: padding {op.padding or '?'}; the module pads as TensorFlow's SAME")
        if op.kind == "CUSTOM:" + CUSTOM_TRANSPOSE:
            h, w = op.inputs[0][1:3]
            if op.outputs[0][1:3] != (h * op.stride[0], w * op.stride[1]):
                raise ValueError(f"{what}: output {op.outputs[0]} is not the input times the stride")
    for op in graph.ops:
        if op.kind == "RESIZE_BILINEAR" and op.outputs[0][1:3] != (2 * op.inputs[0][1], 2 * op.inputs[0][2]):
            raise ValueError(f"a bilinear resize from {op.inputs[0]} to {op.outputs[0]} is not x2")
        if op.kind in ("AVERAGE_POOL_2D", "MEAN") and op.outputs[0][1:3] != (1, 1):
            raise ValueError(f"an average pool to {op.outputs[0]} is not a global mean")
    h, w = graph.input_shape[1:3]
    if h % STRIDE or w % STRIDE or graph.input_shape[3] != 3:
        raise ValueError(f"input {graph.input_shape}: this module takes RGB with sides that are multiples of {STRIDE}")


def from_graph(graph: TFLiteGraph) -> SelfieSegmentationNet:
    """The module with the weights of a graph read by ``read_tflite`` (eval mode), after ``check_graph``."""
    net = SelfieSegmentationNet()
    check_graph(net, graph)
    with torch.no_grad():
        for op, layer in zip((op for op in graph.ops if op.kernel is not None), net.weighted_layers()):
            layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(_torch_weight(op))))
            layer.bias.copy_(torch.from_numpy(op.bias))
    return net.eval()


def load_tflite(path: str | Path) -> tuple[SelfieSegmentationNet, TFLiteGraph]:
    """The module with a .tflite file's weights (eval mode), and the graph read from the file."""
    graph = read_tflite(path)
    return from_graph(graph), graph
