"""Learned styles: a painting learned as new norm rows of a shipped fast net (`stylecast learn-style`).

Dumoulin et al. ("A Learned Representation for Artistic Style", ICLR 2017) show that a conditional-norm net
learns a new style through the norm parameters alone. A learned style is those rows and nothing else: a
faithful and a bold row (the two ends of the boldness control), each every norm layer's (gamma, beta)
flattened in the net's order, the net's ``style_code`` input. It runs at the fast net's speed and mixes with
the built-in styles, on the nets whose shared weights it was learned with (``code_id``).

The file is a NumPy ``.npz`` (no pickle): ``faithful`` and ``bold`` (float32, code_size), ``thumbnail``
(uint8 H x W x 3, the painting small) and ``meta`` (a JSON string: format, name, code_id, code_size, model,
painting, steps, seconds, created). Stored in ``~/.local/share/stylecast/learned/``; written atomically.
"""
from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .atomic import write_bytes_atomic
from .errors import InputError
from .paths import user_data_dir

FORMAT = "stylecast-learned-style"
VERSION = 1
SUFFIX = ".npz"
MAX_FILE_BYTES = 8 << 20  # rows are a few KB and the thumbnail ~50 KB: anything this big is not one of ours
MAX_CODE = 1 << 16


def learned_dir() -> Path:
    return user_data_dir() / "learned"


@dataclass(frozen=True)
class LearnedStyle:
    name: str
    faithful: np.ndarray  # code_size float32
    bold: np.ndarray  # code_size float32
    meta: dict = field(default_factory=dict)
    thumbnail: np.ndarray | None = None  # uint8 H x W x 3
    path: Path | None = None

    @property
    def code_id(self) -> str:
        return str(self.meta.get("code_id", ""))

    def code(self, boldness: float) -> np.ndarray:
        """The rows at a boldness: (1 - b) x faithful + b x bold."""
        b = min(1.0, max(0.0, float(boldness)))
        return ((1.0 - b) * self.faithful + b * self.bold).astype(np.float32)


def save_learned(path: str | Path, style: LearnedStyle) -> Path:
    """Write a learned style atomically (a reader never sees half a file)."""
    meta = {"format": FORMAT, "version": VERSION, **style.meta, "name": style.name, "code_size": int(style.faithful.size)}
    arrays = {"faithful": np.asarray(style.faithful, np.float32), "bold": np.asarray(style.bold, np.float32),
              "meta": np.array(json.dumps(meta, sort_keys=True))}
    if style.thumbnail is not None:
        arrays["thumbnail"] = np.ascontiguousarray(style.thumbnail, np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, buf.getvalue())
    return path


def _vector(data, key: str, path: Path, size: int | None) -> np.ndarray:
    if key not in data.files:
        raise InputError(f"{path.name}: not a learned style (no {key} rows)")
    vec = np.asarray(data[key])
    if vec.dtype != np.float32 or vec.ndim != 1 or not 0 < vec.size <= MAX_CODE or (size and vec.size != size):
        raise InputError(f"{path.name}: its {key} rows are {vec.dtype} {vec.shape}; a learned style holds "
                         f"{size or 'the net'}'s float32 rows")
    if not np.isfinite(vec).all():
        raise InputError(f"{path.name}: its {key} rows are not finite numbers")
    return vec


def _meta(data, path: Path) -> dict:
    try:
        meta = json.loads(str(data["meta"][()])) if "meta" in data.files else None
    except (ValueError, TypeError):
        meta = None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise InputError(f"{path.name}: not a StyleCast learned style")
    if meta.get("version") != VERSION:
        raise InputError(f"{path.name}: learned-style format {meta.get('version')!r}; this StyleCast reads {VERSION}")
    name = meta.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 80:
        raise InputError(f"{path.name}: its style name is missing or not text")
    return meta


def load_learned(path: str | Path) -> LearnedStyle:
    """Read and check a learned-style file: InputError with one sentence when it is not one."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise InputError(f"{path.name}: {path.stat().st_size >> 20} MB is not a learned style (they are a few KB)")
        with np.load(path, allow_pickle=False) as data:
            meta = _meta(data, path)
            size = int(meta.get("code_size", 0)) or None
            faithful, bold = _vector(data, "faithful", path, size), _vector(data, "bold", path, size)
            thumb = np.asarray(data["thumbnail"]) if "thumbnail" in data.files else None
    except FileNotFoundError:
        raise InputError(f"no such learned style: {path}") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:  # truncated, not a zip, pickled object
        raise InputError(f"{path.name}: not a readable learned style ({str(exc).splitlines()[0][:80]})") from None
    if bold.size != faithful.size:
        raise InputError(f"{path.name}: its faithful and bold rows differ in size")
    if thumb is not None and (thumb.dtype != np.uint8 or thumb.ndim != 3 or thumb.shape[2] != 3):
        thumb = None  # a picture for the gallery only: a bad one is dropped, the style still works
    return LearnedStyle(meta["name"], faithful, bold, meta, thumb, path)


def scan_learned(folder: Path | None = None) -> tuple[list[LearnedStyle], list[tuple[Path, str]]]:
    """Every learned style in the folder (sorted by file name) and the files that are not (path, why)."""
    folder = folder or learned_dir()
    found, broken = [], []
    for path in sorted(folder.glob(f"*{SUFFIX}")) if folder.is_dir() else []:
        if path.name.startswith("."):
            continue
        try:
            found.append(load_learned(path))
        except InputError as exc:
            broken.append((path, str(exc)))
    return found, broken
