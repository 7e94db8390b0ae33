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
from .sessions import available_providers

METADATA_FORMAT = 1
ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"
BUILTIN_MODELS_DIR = ASSETS_DIR / "models"
REQUIRED_KEYS = ("stylecast_format", "family", "role", "input_range", "pad_multiple")


def user_data_dir() -> Path:
    """~/.local/share/stylecast ($XDG_DATA_HOME honoured): the user's models and style images."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "stylecast"


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


def _parse_metadata(buf) -> dict[str, str]:
    """ModelProto.metadata_props, read straight from the protobuf wire format. The graph (field 7) is
    skipped by its length, never parsed, so this costs microseconds where a session costs ~100 ms."""
    meta: dict[str, str] = {}
    has_graph = False
    for number, wire, value in _fields(buf):
        if number == _MODEL_GRAPH and wire == 2:
            has_graph = True
        elif number == _MODEL_METADATA_PROPS and wire == 2:
            entry = {n: bytes(buf[v[0]:v[1]]).decode("utf-8") for n, w, v in _fields(buf, *value) if w == 2}
            meta[entry.get(1, "")] = entry.get(2, "")
    if not has_graph:
        raise ValueError("no graph")
    return meta


@functools.lru_cache(maxsize=64)
def _metadata_cached(path: str, mtime_ns: int, size: int) -> tuple[tuple[str, str], ...]:
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        return tuple(_parse_metadata(buf).items())


def read_metadata(path: str | Path) -> dict[str, str]:
    """metadata_props of an ONNX file, without building a session; cached by path, mtime and size,
    so the app opens each model file once however often it lists or inspects it."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    st = path.stat()
    if st.st_size == 0:
        raise ModelError(f"model file is empty: {path}")
    try:
        return dict(_metadata_cached(str(path.resolve()), st.st_mtime_ns, st.st_size))
    except (ValueError, UnicodeDecodeError, OSError) as exc:
        raise ModelError(f"{path} is not a readable ONNX model ({exc})") from None


def inspect_model(path: str | Path) -> ModelInfo:
    path = Path(path)
    meta = read_metadata(path)
    missing = [k for k in REQUIRED_KEYS if k not in meta]
    if missing:
        raise ModelError(
            f"{path.name} is an ONNX file without StyleCast metadata (missing {', '.join(missing)}); "
            "export models with `python -m export`"
        )
    if meta["stylecast_format"] != str(METADATA_FORMAT):
        raise ModelError(f"{path.name} uses model format {meta['stylecast_format']}; this StyleCast reads format {METADATA_FORMAT}")
    family, role = meta["family"], meta["role"]
    if family not in ("fast", "adain"):
        raise ModelError(f"{path.name}: unknown model family {family!r}")
    if meta["input_range"] != "0-1":
        raise ModelError(f"{path.name}: unsupported input range {meta['input_range']!r}")
    companion = None
    if family == "adain":
        if role != "stylize":
            raise ModelError(f"{path.name} is AdaIN's style-statistics graph; open {meta.get('stylize_graph', 'its stylize graph')} instead")
        companion = path.with_name(meta.get("stats_graph", ""))
        if not companion.is_file():
            raise ModelError(f"{path.name} needs its style-statistics graph {companion.name} in the same folder")
    try:
        names = json.loads(meta.get("style_names", "[]"))
        pad = int(meta["pad_multiple"])
        # files exported before the key: AdaIN's decoder pads 1 px at 1/8 scale, the fast nets 1 px at 1/4
        min_side = int(meta.get("min_side", 16 if family == "adain" else 8))
    except (ValueError, TypeError):
        raise ModelError(f"{path.name}: malformed StyleCast metadata") from None
    return ModelInfo(path, family, role, list(names), pad, min_side, companion, meta)


def discover_models(extra_dirs: list[Path] | None = None) -> list[ModelInfo]:
    """Built-in models (assets/models), then the user's folder; skips files that do not describe themselves."""
    found: list[ModelInfo] = []
    for folder in [BUILTIN_MODELS_DIR, user_models_dir(), *(extra_dirs or [])]:
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.onnx")):
            if path.name.endswith(".stats.onnx"):
                continue
            try:
                found.append(inspect_model(path))
            except ModelError:
                continue
    return found


# fast-net variants in order of preference (docs/models/README.md: why mid is the CPU default)
CPU_VARIANT_ORDER = ("mid", "light", "full")
CUDA_VARIANT_ORDER = ("full", "mid", "light")
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
        variant, precision = m.metadata.get("variant"), m.metadata.get("precision", "fp32")
        return (order.index(variant) if variant in order else len(order),
                precisions.index(precision) if precision in precisions else len(precisions), len(m.name), m.name)

    models.sort(key=rank)
    return models[0] if models else None
