"""Frame helpers: reading and writing images safely, padding, layout conversion, colour.

Every function takes and returns uint8 H x W x 3 RGB unless it says otherwise.
"""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from .atomic import check_not_input, write_bytes_atomic
from .formats import IMAGE_SUFFIXES
from .errors import InputError, OutputError

MAX_IMAGE_SIDE = 8192  # larger inputs are downscaled (with a notice), never processed at 100 MP
MIN_IMAGE_SIDE = 8
# A decoded 10000 x 10000 RGBA16 PNG is 800 MB; OpenCV refuses > 2^30 pixels by default anyway.
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(1 << 30))


def to_rgb8(image: np.ndarray) -> np.ndarray:
    """Any OpenCV-decoded image (gray, BGR, BGRA; 8 or 16 bit) -> RGB uint8, C-contiguous.

    Alpha is composited over white: transparent logos and paintings look as in a viewer.
    """
    if image.dtype == np.uint16:
        image = (image.astype(np.float32) / 257.0 + 0.5).astype(np.uint8)
    elif image.dtype in (np.float32, np.float64):
        image = np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise InputError(f"unsupported pixel type {image.dtype}")
    if image.ndim == 2:
        return np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_GRAY2RGB))
    channels = image.shape[2]
    if channels == 1:
        return np.ascontiguousarray(cv2.cvtColor(image[:, :, 0], cv2.COLOR_GRAY2RGB))
    if channels == 4:
        alpha = image[:, :, 3:4].astype(np.float32) / 255.0
        bgr = image[:, :, :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
        image = (bgr + 0.5).astype(np.uint8)
    elif channels != 3:
        raise InputError(f"unsupported image with {channels} channels")
    return np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))


def check_input_file(path: str | Path, kind: str) -> Path:
    """The first checks of any input file (``kind``: "an image", "a video"): it exists, is a file, is not empty."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"file not found: {path}")
    if path.is_dir():
        raise InputError(f"{path} is a folder, not {kind}")
    if path.stat().st_size == 0:
        raise InputError(f"{path} is empty (0 bytes)")
    return path


def load_image(path: str | Path, max_side: int = MAX_IMAGE_SIDE) -> np.ndarray:
    """Read an image file as RGB uint8; clear InputError for every way a file can be bad."""
    path = check_input_file(path, "an image")
    data = np.fromfile(str(path), dtype=np.uint8)  # fromfile + imdecode also handles non-ASCII paths
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise InputError(f"{path} is not a readable image (corrupt, truncated or an unsupported format)")
    rgb = to_rgb8(image)
    h, w = rgb.shape[:2]
    if min(h, w) < MIN_IMAGE_SIDE:
        raise InputError(f"{path} is {w}x{h} pixels; StyleCast needs at least {MIN_IMAGE_SIDE} pixels per side")
    if max(h, w) > max_side:
        scale = max_side / max(h, w)
        rgb = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    return rgb


def check_output_path(output: str | Path, inputs: list[str | Path] = ()) -> Path:
    """Refuse outputs that would overwrite an input or go to a missing folder."""
    output = Path(output)
    if not output.parent.is_dir():
        raise OutputError(f"output folder does not exist: {output.parent}")
    return check_not_input(output, inputs)


def save_image(path: str | Path, rgb: np.ndarray, inputs: list[str | Path] = ()) -> Path:
    """Write atomically: encode to memory, write a temp file, rename. A failure leaves nothing behind."""
    path = check_output_path(path, inputs)
    suffix = path.suffix.lower() or ".png"
    if suffix not in IMAGE_SUFFIXES:
        raise OutputError(f"cannot write images of type {suffix!r}; use one of {', '.join(sorted(IMAGE_SUFFIXES))}")
    ok, buf = cv2.imencode(suffix, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OutputError(f"could not encode {path.name}")
    try:
        write_bytes_atomic(path, buf.tobytes())
    except OSError as exc:
        raise OutputError(f"could not write {path}: {exc.strerror or exc}") from None
    return path


def fit_size(width: int, height: int, target_height: int | None, multiple: int = 1) -> tuple[int, int]:
    """Size with the given height (keeping aspect), rounded to ``multiple``; None keeps the size."""
    if not target_height or target_height >= height:
        w, h = width, height
    else:
        w, h = max(1, round(width * target_height / height)), target_height
    if multiple > 1:
        w, h = max(multiple, round(w / multiple) * multiple), max(multiple, round(h / multiple) * multiple)
    return w, h


def pad_to_multiple(rgb: np.ndarray, multiple: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Reflect-pad bottom/right so both sides divide by ``multiple``; returns (padded, original (h, w))."""
    h, w = rgb.shape[:2]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = cv2.BORDER_REFLECT_101 if min(h, w) > max(ph, pw) else cv2.BORDER_REPLICATE
        rgb = cv2.copyMakeBorder(rgb, 0, ph, 0, pw, mode)
    return rgb, (h, w)


def pad_to_min_side(rgb: np.ndarray, min_side: int, multiple: int = 1) -> np.ndarray:
    """Replicate-pad bottom/right up to ``min_side`` per side (a multiple of ``multiple``): a net whose
    padding reaches further than its smallest feature map cannot run on fewer pixels. Crop afterwards."""
    h, w = rgb.shape[:2]
    side = min_side + (-min_side) % multiple
    if h >= side and w >= side:
        return rgb
    return cv2.copyMakeBorder(rgb, 0, max(0, side - h), 0, max(0, side - w), cv2.BORDER_REPLICATE)


def to_nchw(rgb: np.ndarray) -> np.ndarray:
    """uint8 H x W x 3 -> float32 1 x 3 x H x W in [0, 1]."""
    return np.ascontiguousarray(rgb.transpose(2, 0, 1)[None], dtype=np.float32) * np.float32(1 / 255)


def from_nchw(x: np.ndarray) -> np.ndarray:
    """float32 1 x 3 x H x W in [0, 1] -> uint8 H x W x 3."""
    out = np.clip(x[0] * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(out.transpose(1, 2, 0))


def preserve_colors(stylized: np.ndarray, content: np.ndarray) -> np.ndarray:
    """Luminance-only transfer (Gatys et al. 2016, 'Preserving colour'): keep the content's
    chroma (Cr, Cb) and take only the stylized luminance Y."""
    s = cv2.cvtColor(stylized, cv2.COLOR_RGB2YCrCb)
    c = cv2.cvtColor(content, cv2.COLOR_RGB2YCrCb)
    c[:, :, 0] = s[:, :, 0]
    return cv2.cvtColor(c, cv2.COLOR_YCrCb2RGB)


def blend(stylized: np.ndarray, content: np.ndarray, strength: float) -> np.ndarray:
    """strength 1 = fully stylized, 0 = the original frame."""
    if strength >= 1.0:
        return stylized
    if strength <= 0.0:
        return content
    return cv2.addWeighted(stylized, float(strength), content, 1.0 - float(strength), 0.0)
