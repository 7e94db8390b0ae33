"""What a StyleCast ONNX file says about itself (``metadata_props``), and where models live.

export/ writes these keys; this module is the reader and the single definition of the
contract's version. Files without the metadata are refused with a clear message.
"""
from __future__ import annotations

import functools
import json
import mmap
import os
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ModelError
from .paths import user_data_dir
from .sessions import available_providers

METADATA_FORMAT = 1
ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"
BUILTIN_MODELS_DIR = ASSETS_DIR / "models"
REQUIRED_KEYS = ("stylecast_format", "family", "role", "input_range", "pad_multiple")
MAX_PAD_MULTIPLE = 64  # the deepest net pads to 2^6; a larger multiple is a damaged file
MAX_MIN_SIDE = 512  # shipped nets need 8-36 pixels; 100000 would pad every frame to 30 GB


def user_models_dir() -> Path:
    return user_data_dir() / "models"


@dataclass(frozen=True)
class ModelInfo:
    path: Path
    family: str  # "fast" | "adain"
    role: str  # "stylize" | "style_stats"
    style_names: list[str] = field(default_factory=list)
    pad_multiple: int = 4
    min_side: int = 1  # fewer pixels per side than this are padded before the net (its padding outreaches them)
    companion: Path | None = None  # AdaIN: the style_stats graph beside the stylize graph
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def bold(self) -> bool:
        """A fast net with a bold row per style beside the faithful one (the boldness control)."""
        return self.metadata.get("bold_rows") == "1"

    @property
    def n_rows(self) -> int:
        return len(self.style_names) * (2 if self.bold else 1)

    @property
    def code_size(self) -> int:
        """The width of the graph's style_code input (a learned style's rows, engine/learned.py); 0: none."""
        return int(self.metadata.get("style_code", "0") or 0)

    @property
    def code_id(self) -> str:
        """Identifies the net's shared weights: a learned style runs on nets with this id only."""
        return self.metadata.get("code_id", "")


def _varint(buf, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _fields(buf, start: int = 0, end: int | None = None):
    """(field number, wire type, value) of one protobuf message; length-delimited values as (start, end)."""
    pos, end = start, len(buf) if end is None else end
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ValueError("field number 0")
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = None, pos + 8
        elif wire == 5:
            value, pos = None, pos + 4
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value, pos = (pos, pos + length), pos + length
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if pos > end:
            raise ValueError("field runs past the end")
        yield number, wire, value


_MODEL_GRAPH, _MODEL_METADATA_PROPS = 7, 14  # onnx.proto: ModelProto.graph, ModelProto.metadata_props
_GRAPH_INITIALIZER, _GRAPH_INPUT, _GRAPH_OUTPUT = 5, 11, 12  # GraphProto fields
_TENSOR_NAME = 8  # TensorProto.name

# name -> dimensions (an int, or None for a named/unknown size); None for the whole shape when the file gives none
Ports = dict[str, "tuple[int | None, ...] | None"]


def _text(buf, span: tuple[int, int]) -> str:
    return bytes(buf[span[0]:span[1]]).decode("utf-8")


def _value_info(buf, span: tuple[int, int]) -> tuple[str, tuple[int | None, ...] | None]:
    """ValueInfoProto -> (name, dims): name = field 1; type (2) -> tensor_type (1) -> shape (2) -> dim (1),
    each a dim_value (1, varint) or a dim_param (2, a name)."""
    name, dims = "", None
    for number, wire, value in _fields(buf, *span):
        if number == 1 and wire == 2:
            name = _text(buf, value)
        elif number == 2 and wire == 2:
            for n2, w2, tensor in _fields(buf, *value):
                if n2 != 1 or w2 != 2:
                    continue
                for n3, w3, shape in _fields(buf, *tensor):
                    if n3 == 2 and w3 == 2:
                        dims = []
                        for n4, w4, dim in _fields(buf, *shape):
                            if n4 == 1 and w4 == 2:
                                size = next((v for n5, w5, v in _fields(buf, *dim) if n5 == 1 and w5 == 0), None)
                                dims.append(size if size is not None and 0 < size < 1 << 62 else None)
                        dims = tuple(dims)
    return name, dims


def _parse_graph_ports(buf, span: tuple[int, int]) -> tuple[Ports, Ports]:
    """The graph's inputs (without initializers listed as inputs) and outputs; nodes and weights are
    skipped by their length."""
    inputs: Ports = {}
    outputs: Ports = {}
    initializers: set[str] = set()
    for number, wire, value in _fields(buf, *span):
        if wire != 2:
            continue
        if number == _GRAPH_INPUT:
            name, dims = _value_info(buf, value)
            inputs[name] = dims
        elif number == _GRAPH_OUTPUT:
            name, dims = _value_info(buf, value)
            outputs[name] = dims
        elif number == _GRAPH_INITIALIZER:
            initializers.update(_text(buf, v) for n, w, v in _fields(buf, *value) if n == _TENSOR_NAME and w == 2)
    return {k: v for k, v in inputs.items() if k not in initializers}, outputs


def _parse_model(buf) -> tuple[dict[str, str], Ports, Ports]:
    """ModelProto.metadata_props and the graph's inputs and outputs, read straight from the protobuf wire
    format. Nodes and weights are skipped by their length, never parsed, so this costs about a
    millisecond where a session costs ~100 ms."""
    meta: dict[str, str] = {}
    graph = None
    for number, wire, value in _fields(buf):
        if number == _MODEL_GRAPH and wire == 2:
            graph = value
        elif number == _MODEL_METADATA_PROPS and wire == 2:
            entry = {n: _text(buf, v) for n, w, v in _fields(buf, *value) if w == 2}
            meta[entry.get(1, "")] = entry.get(2, "")
    if graph is None:
        raise ValueError("no graph")
    inputs, outputs = _parse_graph_ports(buf, graph)
    return meta, inputs, outputs


@functools.lru_cache(maxsize=64)
def _model_cached(path: str, mtime_ns: int, size: int) -> tuple:
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        meta, inputs, outputs = _parse_model(buf)
    return tuple(meta.items()), tuple(inputs.items()), tuple(outputs.items())


def _read(path: str | Path) -> tuple:
    path = Path(path)
    try:
        if not path.is_file():
            raise ModelError(f"model file not found: {path}")
        st = path.stat()
    except OSError as exc:
        raise ModelError(f"cannot open model file {path}: {exc.strerror or exc}") from None
    if st.st_size == 0:
        raise ModelError(f"model file is empty: {path}")
    try:
        return _model_cached(str(path.resolve()), st.st_mtime_ns, st.st_size)
    except (ValueError, UnicodeDecodeError, OSError) as exc:
        raise ModelError(f"{path} is not a readable ONNX model ({exc})") from None


def read_metadata(path: str | Path) -> dict[str, str]:
    """metadata_props of an ONNX file, without building a session; cached by path, mtime and size,
    so the app opens each model file once however often it lists or inspects it."""
    return dict(_read(path)[0])


def read_ports(path: str | Path) -> tuple[Ports, Ports]:
    """The graph's (inputs, outputs) as name -> dims, from the file without building a session (cached)."""
    _, inputs, outputs = _read(path)
    return dict(inputs), dict(outputs)


# the graph side of the contract: input names (exactly these) and outputs (at least these) per (family, role)
# ("predicted": a style-image model whose statistics graph predicts a fast net's norm weights, variant
# "predicted" of the adain family; training/models/anystyle.py)
_GRAPH_INPUTS = {("fast", "stylize"): ("image", "style_weights"),
                 ("adain", "stylize"): ("content", "mean", "std", "alpha"),
                 ("adain", "style_stats"): ("style",),
                 ("predicted", "stylize"): ("image", "style_weights"),
                 ("predicted", "style_stats"): ("style",),
                 ("segmentation", "mask"): ("image",)}
_GRAPH_OUTPUTS = {("fast", "stylize"): ("output",), ("adain", "stylize"): ("output",),
                  ("adain", "style_stats"): ("mean", "std"),
                  ("predicted", "stylize"): ("output",), ("predicted", "style_stats"): ("style_weights",),
                  ("segmentation", "mask"): ("mask",)}
STYLE_VECTORS = {"adain": ("mean", "std"), "predicted": ("style_weights",)}  # statistics graph -> stylize graph
_OPTIONAL_INPUTS = {("fast", "stylize"): {"style_code"}}  # a fast net that runs learned styles takes their rows


def contract(family: str, meta: dict[str, str]) -> str:
    """Which graph contract a file follows: its family, or "predicted" for that variant of a style-image model."""
    return "predicted" if family == "adain" and meta.get("variant") == "predicted" else family
_IMAGE_PORTS = {"image", "content", "style", "output"}  # 1 x 3 x H x W


def _shape(dims: tuple[int | None, ...]) -> str:
    return " x ".join("?" if d is None else str(d) for d in dims) or "a scalar"


def check_ports(name: str, family: str, role: str, inputs: Ports, outputs: Ports,
                n_styles: int | None = None, bold: bool = False) -> None:
    """ModelError unless a graph's inputs and outputs are the ones the stylizer feeds and reads: from the
    file (read_ports) when a model is listed or inspected, from the session when it is opened.
    ``n_styles``: a fast net's style count; its style_weights width is that, or twice that with ``bold`` rows."""
    want_in, want_out = _GRAPH_INPUTS[(family, role)], _GRAPH_OUTPUTS[(family, role)]
    what = {"fast": "fast net", "adain": "AdaIN model", "predicted": "style-prediction model",
            "segmentation": "person-segmentation model"}[family] + \
        (" statistics graph" if role == "style_stats" else "")
    if set(inputs) - _OPTIONAL_INPUTS.get((family, role), set()) != set(want_in):
        raise ModelError(f"{name}: the graph's inputs are {', '.join(sorted(inputs)) or 'none'}; "
                         f"a StyleCast {what} takes {', '.join(want_in)}")
    missing = [o for o in want_out if o not in outputs]
    if missing:
        raise ModelError(f"{name}: the graph has no output named {missing[0]!r} (its outputs: "
                         f"{', '.join(sorted(outputs)) or 'none'}); a StyleCast {what} gives {', '.join(want_out)}")
    for port, dims in [*((p, inputs[p]) for p in want_in), *((p, outputs[p]) for p in want_out)]:
        if port in _IMAGE_PORTS and dims is not None and (len(dims) != 4 or dims[1] not in (3, None)):
            raise ModelError(f"{name}: {port!r} is {_shape(dims)}; a StyleCast {what} works on 1 x 3 x height x width images")
        if port == "mask" and dims is not None and (len(dims) != 4 or dims[1] not in (1, None)):
            raise ModelError(f"{name}: 'mask' is {_shape(dims)}; a StyleCast {what} gives 1 x 1 x height x width")
    if family in ("fast", "predicted") and role == "stylize":
        dims = inputs["style_weights"]
        if dims is not None and len(dims) != 2:
            raise ModelError(f"{name}: 'style_weights' has {len(dims)} dimensions; a fast net takes 1 x (number of styles)")
        width = dims[1] if dims is not None else None
        rows = None if n_styles is None else n_styles * (2 if bold else 1)
        if rows is not None and width is not None and width != rows:
            raise ModelError(f"{name}: its metadata names {n_styles} styles{' with bold rows' if bold else ''} "
                             f"but the graph takes {width} style weights")


def _shown(raw: str | None) -> str:
    """A metadata value as quoted in a message: repr, cut short (a damaged file can hold megabytes)."""
    text = repr(raw)
    return text if len(text) <= 60 else text[:56] + "...'"


def _int_key(path: Path, meta: dict[str, str], key: str, default: int | None, low: int, high: int, why: str) -> int:
    raw = meta.get(key)
    if raw is None and default is not None:
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        value = None
    if value is None or not low <= value <= high:
        raise ModelError(f"{path.name}: {key} is {_shown(raw)}; a StyleCast model has {why}, a whole number from {low} to {high}")
    return value


def _style_names(path: Path, meta: dict[str, str], family: str) -> list[str]:
    try:
        names = json.loads(meta.get("style_names", "[]"))
    except (ValueError, RecursionError):  # RecursionError: "[[[[..." nested deeper than the parser goes
        names = None
    if not isinstance(names, list) or not all(isinstance(n, str) and n.strip() for n in names):
        raise ModelError(f"{path.name}: style_names is {_shown(meta.get('style_names'))}; "
                         "a StyleCast model lists its styles as a JSON list of names")
    if len(set(names)) != len(names):
        raise ModelError(f"{path.name}: style_names lists a style twice")
    if family == "fast" and not names:
        raise ModelError(f"{path.name}: a fast net must name its styles (style_names is empty)")
    if "n_styles" in meta and meta["n_styles"].strip() != str(len(names)):
        raise ModelError(f"{path.name}: n_styles is {_shown(meta['n_styles'])} but style_names lists {len(names)} styles")
    return names


def _companion(path: Path, meta: dict[str, str]) -> Path:
    """AdaIN's style-statistics graph: a file name (never a path) of a sibling that says it is one."""
    name = meta.get("stats_graph", "")
    if (not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name
            or name.startswith(".") or not name.endswith(".onnx") or name == path.name):
        raise ModelError(f"{path.name}: stats_graph is {_shown(name)}; it must name the style-statistics graph, "
                         "a .onnx file in the same folder")
    companion = path.with_name(name)
    try:
        found = companion.is_file()
    except OSError as exc:  # e.g. a name longer than the file system takes
        raise ModelError(f"{path.name}: its stats_graph {_shown(name)} cannot be opened ({exc.strerror or exc})") from None
    if not found:
        raise ModelError(f"{path.name} needs its style-statistics graph {name} in the same folder")
    stats_meta = read_metadata(companion)
    if stats_meta.get("family") != "adain" or stats_meta.get("role") != "style_stats":
        raise ModelError(f"{path.name}: its stats_graph {name} is not an AdaIN style-statistics graph")
    return companion


def inspect_model(path: str | Path) -> ModelInfo:
    """A model file's description, checked against the contract (metadata types and ranges, and the
    graph's inputs and outputs against the metadata): ModelError with one sentence when it does not hold."""
    path = Path(path)
    meta = read_metadata(path)
    missing = [k for k in REQUIRED_KEYS if k not in meta]
    if missing:
        raise ModelError(
            f"{path.name} is an ONNX file without StyleCast metadata (missing {', '.join(missing)}); "
            "export models with `python -m export`"
        )
    if meta["stylecast_format"] != str(METADATA_FORMAT):
        raise ModelError(f"{path.name} uses model format {_shown(meta['stylecast_format'])}; this StyleCast reads format {METADATA_FORMAT}")
    family, role = meta["family"], meta["role"]
    if family not in ("fast", "adain", "segmentation"):
        raise ModelError(f"{path.name}: unknown model family {_shown(family)}")
    if meta["input_range"] != "0-1":
        raise ModelError(f"{path.name}: unsupported input range {_shown(meta['input_range'])}")
    if family == "adain" and role == "style_stats":
        raise ModelError(f"{path.name} is AdaIN's style-statistics graph; open {_shown(meta['stylize_graph']) if 'stylize_graph' in meta else 'its stylize graph'} instead")
    if family == "segmentation":
        return _inspect_segmentation(path, meta)
    if role != "stylize":
        raise ModelError(f"{path.name}: unknown model role {_shown(role)}")
    pad = _int_key(path, meta, "pad_multiple", None, 1, MAX_PAD_MULTIPLE, "a padding multiple")
    # files exported before the key: AdaIN's decoder pads 1 px at 1/8 scale, the fast nets 1 px at 1/4
    min_side = _int_key(path, meta, "min_side", 16 if family == "adain" else 8, 1, MAX_MIN_SIDE, "a smallest input side")
    names = _style_names(path, meta, family)
    inputs, outputs = read_ports(path)
    kind = contract(family, meta)
    check_ports(path.name, kind, role, inputs, outputs, len(names) if family == "fast" else None,
                bold=meta.get("bold_rows") == "1")
    if family == "fast":
        _check_style_code(path, meta, inputs)
    companion = None
    if family == "adain":
        _int_key(path, meta, "style_side", 512, 16, 4096, "a style image side")
        companion = _companion(path, meta)
        stats_in, stats_out = read_ports(companion)
        check_ports(companion.name, kind, "style_stats", stats_in, stats_out)
        check_statistics_match(path.name, inputs, stats_out, STYLE_VECTORS[kind])
    return ModelInfo(path, family, role, names, pad, min_side, companion, meta)


def _check_style_code(path: Path, meta: dict[str, str], inputs: Ports) -> None:
    """The style_code input (learned styles) and its metadata agree: both or neither, the same width."""
    dims = inputs.get("style_code")
    declared = _int_key(path, meta, "style_code", 0, 0, 1 << 20, "a style-code width") if "style_code" in meta else 0
    if dims is None and "style_code" not in inputs:
        if declared:
            raise ModelError(f"{path.name}: its metadata declares a style code but the graph takes none")
        return
    width = dims[1] if dims is not None and len(dims) == 2 else None
    if not declared or (width is not None and width != declared):
        raise ModelError(f"{path.name}: the graph's style_code is {_shape(dims or ())} but its metadata says "
                         f"{_shown(meta.get('style_code'))}; re-export it with `python -m export fast`")


def _inspect_segmentation(path: Path, meta: dict[str, str]) -> ModelInfo:
    """A person-segmentation model: image (1 x 3 x H x W, 0-1) -> mask (1 x 1 x H x W, person probability),
    run at its ``input_size`` ("HxW", each a multiple of its pad multiple), the frame stretched to it."""
    if meta["role"] != "mask":
        raise ModelError(f"{path.name}: a person-segmentation model has the role 'mask', not {_shown(meta['role'])}")
    pad = _int_key(path, meta, "pad_multiple", None, 1, MAX_PAD_MULTIPLE, "a padding multiple")
    min_side = _int_key(path, meta, "min_side", 16, 1, MAX_MIN_SIDE, "a smallest input side")
    try:
        h, w = (int(v) for v in meta.get("input_size", "").lower().split("x"))
    except ValueError:
        h = w = 0
    if not (min_side <= h <= 4096 and min_side <= w <= 4096 and h % pad == 0 and w % pad == 0):
        raise ModelError(f"{path.name}: input_size is {_shown(meta.get('input_size'))}; a person-segmentation model "
                         f"names the size it runs at as HEIGHTxWIDTH, multiples of {pad}")
    inputs, outputs = read_ports(path)
    check_ports(path.name, "segmentation", "mask", inputs, outputs)
    return ModelInfo(path, "segmentation", "mask", [], pad, min_side, None, meta)


def check_statistics_match(name: str, stylize_inputs: Ports, stats_outputs: Ports,
                           ports: tuple[str, ...] = STYLE_VECTORS["adain"]) -> None:
    """AdaIN: the statistics graph's mean and std must have the shape the stylize graph takes."""
    for port in ports:
        a, b = stylize_inputs.get(port), stats_outputs.get(port)
        if a is not None and b is not None and (len(a) != len(b) or any(
                x is not None and y is not None and x != y for x, y in zip(a, b))):
            raise ModelError(f"{name}: its statistics graph gives {port} as {_shape(b)} "
                             f"but the stylize graph takes {_shape(a)}")


@dataclass(frozen=True)
class BrokenModel:
    """A .onnx file in a model folder that is not used, and why (one sentence)."""
    path: Path
    reason: str

    @property
    def name(self) -> str:
        return self.path.stem


def scan_models(extra_dirs: list[Path] | None = None) -> tuple[list[ModelInfo], list[BrokenModel]]:
    """Every .onnx file in the built-in folder (assets/models), then the user's, then ``extra_dirs``:
    (the usable models, the files refused with the reason). A companion .stats.onnx is not listed on its own."""
    found: list[ModelInfo] = []
    broken: list[BrokenModel] = []
    for folder in [BUILTIN_MODELS_DIR, user_models_dir(), *(extra_dirs or [])]:
        if not folder.is_dir():
            continue
        for path in sorted(p for p in folder.glob("*.onnx") if not p.name.startswith(".")):  # not a temp file
            if path.name.endswith(".stats.onnx"):
                continue
            try:
                found.append(inspect_model(path))
            except ModelError as exc:
                broken.append(BrokenModel(path, str(exc)))
    return found, broken


def discover_models(extra_dirs: list[Path] | None = None) -> list[ModelInfo]:
    """The usable models: built-in (assets/models), then the user's folder; files that do not describe
    themselves or break the contract are skipped (``broken_models`` says why)."""
    return scan_models(extra_dirs)[0]


def broken_models(extra_dirs: list[Path] | None = None) -> list[BrokenModel]:
    """The .onnx files discover_models skips, each with the reason."""
    return scan_models(extra_dirs)[1]


# fast-net variants in order of preference (docs/models/README.md: why mid is the CPU default)
# style-image models: on a CPU the style-prediction model (a fast net's cost), then AdaIN (no variant, ""), then
# the small AdaIN model (five times as fast, a milder picture: the user's choice, docs/models/adain_small.md);
# on CUDA the big AdaIN model first
CPU_VARIANT_ORDER = ("predicted", "mid", "light", "full", "", "small")
CUDA_VARIANT_ORDER = ("full", "mid", "light", "", "small", "predicted")
# precisions (export/optimize.py) in order of preference: int8 convs are ~0.78x the fp32 time on a CPU
# (docs/benchmarks.md); a GPU runs fp32 (or fp16) convs and int8 QDQ graphs poorly
CPU_PRECISION_ORDER = ("int8", "fp32", "fp16")
CUDA_PRECISION_ORDER = ("fp32", "fp16", "int8")


def default_model(family: str = "fast", provider: str = "auto") -> ModelInfo | None:
    """The built-in model the app and CLI use when none is named.

    Fast nets: the full-width net when the session will run on CUDA (``provider`` "cuda", or "auto"
    with onnxruntime-gpu's CUDA provider present), else the mid net, sized to run live on a 2-core CPU;
    then the light net. Within a variant, the precision that runs fastest there (``precision``
    metadata: the int8 file on a CPU, ``mid8.int8`` before ``mid8``; fp32 on CUDA, where int8 QDQ graphs
    are not what the GPU is fast at), then the plain model before its fine-tunes (``light8`` before
    ``light8_steady``): shortest name first.
    """
    on_gpu = provider == "cuda" or (provider == "auto" and "cuda" in available_providers())
    order = CUDA_VARIANT_ORDER if on_gpu else CPU_VARIANT_ORDER
    precisions = CUDA_PRECISION_ORDER if on_gpu else CPU_PRECISION_ORDER
    models = [m for m in discover_models() if m.family == family]

    def rank(m: ModelInfo) -> tuple:
        variant, precision = m.metadata.get("variant", ""), m.metadata.get("precision", "fp32")
        return (order.index(variant) if variant in order else len(order),
                precisions.index(precision) if precision in precisions else len(precisions), len(m.name), m.name)

    models.sort(key=rank)
    return models[0] if models else None
