"""Frame helpers: reading and writing images safely, padding, layout conversion, colour.

Every function takes and returns uint8 H x W x 3 RGB unless it says otherwise.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .atomic import check_not_input, write_bytes_atomic
from .formats import IMAGE_SUFFIXES
from .errors import InputError, OutputError

MAX_IMAGE_SIDE = 8192  # larger inputs are downscaled (with a notice), never processed at 100 MP
MIN_IMAGE_SIDE = 8
# Larger images are refused from their header, before a pixel is decoded: a 2.6 MB PNG can declare
# 30000 x 30000 pixels (2.7 GB as RGB, half a minute to decode). 200 MP still takes the largest phone
# sensors (16320 x 12240). OpenCV's own limit (OPENCV_IO_MAX_IMAGE_PIXELS, 2^30) is read when the library
# loads, so it cannot be lowered from here; the header check is the guard.
MAX_IMAGE_PIXELS = 200_000_000
READABLE_FORMATS = "PNG, JPEG, BMP, WebP or TIFF"


def to_rgb8(image: np.ndarray) -> np.ndarray:
    """Any OpenCV-decoded image (gray, BGR, BGRA; 8 or 16 bit) -> RGB uint8, C-contiguous.

    Alpha is composited over white: transparent logos and paintings look as in a viewer.
    """
    if image.dtype == np.uint16:
        # round(x / 257) without a float copy of the whole image (cvRound; x / 257 is never a tie)
        image = cv2.convertScaleAbs(image, alpha=1 / 257)
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
        bgr = np.empty(image.shape[:2] + (3,), np.uint8)
        for y in range(0, image.shape[0], 256):  # in strips: floats of a whole 200 MP image would be 2.4 GB
            part = image[y:y + 256]
            alpha = part[:, :, 3:4].astype(np.float32) / 255.0
            bgr[y:y + 256] = (part[:, :, :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)) + 0.5
        image = bgr
    elif channels != 3:
        raise InputError(f"unsupported image with {channels} channels")
    return np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))


# -- image headers: format, size and orientation before decoding --------------------------------------
@dataclass(frozen=True)
class ImageHeader:
    """What an image file says about itself, read without decoding a pixel."""
    kind: str  # PNG | JPEG | BMP | WebP | TIFF
    width: int
    height: int
    orientation: int = 1  # EXIF orientation (1-8) the decoder leaves to StyleCast; 1 = upright as stored

    @property
    def pixels(self) -> int:
        return self.width * self.height


_EXIF_ORIENTATION, _TIFF_WIDTH, _TIFF_HEIGHT = 274, 256, 257
_TIFF_INT_TYPES = {1: "B", 3: "H", 4: "I", 16: "Q"}  # BYTE, SHORT, LONG, LONG8 (BigTIFF)


def _tiff_tags(data: bytes, wanted: tuple[int, ...]) -> dict[int, int]:
    """The value of some integer tags in the first IFD of a TIFF structure: a TIFF file, or an EXIF
    block (which is one). {} when ``data`` is not one."""
    order = {b"II": "<", b"MM": ">"}.get(bytes(data[:2]))
    if order is None:
        return {}
    magic = struct.unpack_from(order + "H", data, 2)[0]
    if magic == 42:  # classic TIFF: 12-byte entries, 32-bit offsets
        ifd, count_fmt, entry, value_at = struct.unpack_from(order + "I", data, 4)[0], "H", 12, 8
    elif magic == 43:  # BigTIFF: 20-byte entries, 64-bit offsets
        ifd, count_fmt, entry, value_at = struct.unpack_from(order + "Q", data, 8)[0], "Q", 20, 12
    else:
        return {}
    count = struct.unpack_from(order + count_fmt, data, ifd)[0]
    pos = ifd + struct.calcsize(order + count_fmt)
    found: dict[int, int] = {}
    for _ in range(min(count, 4096)):
        tag, kind = struct.unpack_from(order + "HH", data, pos)
        if tag in wanted and kind in _TIFF_INT_TYPES:
            found[tag] = struct.unpack_from(order + _TIFF_INT_TYPES[kind], data, pos + value_at)[0]
        pos += entry
    return found


def _exif_orientation(block: bytes) -> int:
    """EXIF orientation of an APP1/eXIf/EXIF payload (with or without the "Exif\\0\\0" prefix); 1 if none."""
    if block[:6] == b"Exif\0\0":
        block = block[6:]
    try:
        value = _tiff_tags(block, (_EXIF_ORIENTATION,)).get(_EXIF_ORIENTATION, 1)
    except struct.error:  # a damaged EXIF block does not make the picture unreadable
        return 1
    return value if 1 <= value <= 8 else 1


def _png_header(data: bytes) -> ImageHeader | None:
    if data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack_from(">II", data, 16)
    orientation, pos = 1, 8
    while pos + 8 <= len(data):  # an eXIf chunk sits before the image data
        length, kind = struct.unpack_from(">I4s", data, pos)
        if kind in (b"IDAT", b"IEND"):
            break
        if kind == b"eXIf":
            orientation = _exif_orientation(data[pos + 8:pos + 8 + length])
            break
        pos += 12 + length
    return ImageHeader("PNG", width, height, orientation)


_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # frame headers; C4/C8/CC are tables


def _jpeg_header(data: bytes) -> ImageHeader | None:
    pos, orientation, seen_exif = 2, 1, False
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:  # stray bytes between segments: skipped, as libjpeg does (with a warning)
            pos = data.find(b"\xff", pos)
            if pos < 0:
                return None
            continue
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image or scan data before any frame header
            return None
        length = struct.unpack_from(">H", data, pos + 2)[0]
        if length < 2:
            return None
        if marker == 0xE1 and not seen_exif and data[pos + 4:pos + 10] == b"Exif\0\0":
            seen_exif = True
            orientation = _exif_orientation(data[pos + 10:pos + 2 + length])
        elif marker in _JPEG_SOF:
            height, width = struct.unpack_from(">HH", data, pos + 5)
            return ImageHeader("JPEG", width, height, orientation)
        pos += 2 + length
    return None


def _bmp_header(data: bytes) -> ImageHeader:
    if struct.unpack_from("<I", data, 14)[0] == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sides
        width, height = struct.unpack_from("<HH", data, 18)
    else:
        width, height = struct.unpack_from("<ii", data, 18)  # height < 0: stored top-down
    return ImageHeader("BMP", width, abs(height))


def _webp_header(data: bytes) -> ImageHeader | None:
    chunk = data[12:16]
    orientation = 1
    if chunk == b"VP8 ":  # lossy: 14-bit sides after the key frame's start code
        if data[23:26] != b"\x9d\x01\x2a":
            return None
        width, height = (v & 0x3FFF for v in struct.unpack_from("<HH", data, 26))
    elif chunk == b"VP8L":  # lossless: 14-bit sides - 1 after the signature byte
        if data[20] != 0x2F:
            return None
        bits = struct.unpack_from("<I", data, 21)[0]
        width, height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    elif chunk == b"VP8X":  # extended: the canvas, 24-bit sides - 1; EXIF in its own chunk
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        pos = 12
        while pos + 8 <= len(data):
            kind, size = struct.unpack_from("<4sI", data, pos)
            if kind == b"EXIF":
                orientation = _exif_orientation(data[pos + 8:pos + 8 + size])
                break
            pos += 8 + size + (size & 1)
    else:
        return None
    return ImageHeader("WebP", width, height, orientation)


def _tiff_header(data: bytes) -> ImageHeader | None:
    tags = _tiff_tags(data, (_TIFF_WIDTH, _TIFF_HEIGHT))
    if _TIFF_WIDTH not in tags or _TIFF_HEIGHT not in tags:
        return None
    # OpenCV's TIFF reader turns the picture upright itself (also with IMREAD_UNCHANGED): nothing left to do
    return ImageHeader("TIFF", tags[_TIFF_WIDTH], tags[_TIFF_HEIGHT])


def read_image_header(data: bytes) -> ImageHeader | None:
    """Format, size and EXIF orientation from the first bytes of a PNG, JPEG, BMP, WebP or TIFF file,
    without decoding; None when ``data`` is none of them or its header is damaged."""
    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n":
            header = _png_header(data)
        elif data[:3] == b"\xff\xd8\xff":
            header = _jpeg_header(data)
        elif data[:2] == b"BM":
            header = _bmp_header(data)
        elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            header = _webp_header(data)
        elif data[:4] in (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"):
            header = _tiff_header(data)
        else:
            return None
    except (struct.error, IndexError, ValueError):
        return None
    if header is None or header.width <= 0 or header.height <= 0:
        return None
    return header


_ORIENT = {  # EXIF orientation -> the turn that shows the stored pixels upright
    2: lambda a: cv2.flip(a, 1),
    3: lambda a: cv2.rotate(a, cv2.ROTATE_180),
    4: lambda a: cv2.flip(a, 0),
    5: cv2.transpose,
    6: lambda a: cv2.rotate(a, cv2.ROTATE_90_CLOCKWISE),
    7: lambda a: cv2.flip(cv2.transpose(a), -1),
    8: lambda a: cv2.rotate(a, cv2.ROTATE_90_COUNTERCLOCKWISE),
}


def apply_orientation(rgb: np.ndarray, orientation: int) -> np.ndarray:
    """Turn decoded pixels upright as EXIF ``orientation`` (1-8) says, as every photo viewer does."""
    turn = _ORIENT.get(orientation)
    return rgb if turn is None else np.ascontiguousarray(turn(rgb))


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1e6:.4g}"


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


def check_image_header(path: Path, data: bytes) -> ImageHeader:
    """Refuse, before decoding, a file that is not an image StyleCast reads or that is too large or too small."""
    header = read_image_header(data)
    if header is None:
        raise InputError(f"{path} is not a readable image (corrupt, truncated, or not {READABLE_FORMATS})")
    w, h = header.width, header.height
    if header.pixels > MAX_IMAGE_PIXELS:
        raise InputError(f"{path} is {w}x{h} pixels ({_megapixels(header.pixels)} MP); "
                         f"StyleCast reads images up to {_megapixels(MAX_IMAGE_PIXELS)} MP")
    if min(w, h) < MIN_IMAGE_SIDE:
        raise InputError(f"{path} is {w}x{h} pixels; StyleCast needs at least {MIN_IMAGE_SIDE} pixels per side")
    return header


def load_image(path: str | Path, max_side: int = MAX_IMAGE_SIDE) -> np.ndarray:
    """Read an image file as RGB uint8, upright (EXIF orientation applied); clear InputError for every
    way a file can be bad. The size is checked from the header before anything is decoded."""
    path = check_input_file(path, "an image")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    header = check_image_header(path, data)
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise InputError(f"{path} is not a readable image (corrupt, truncated or an unsupported format)")
        del data
        rgb = apply_orientation(to_rgb8(image), header.orientation)
    except cv2.error as exc:  # OpenCV's own checks (e.g. more than 2^20 pixels per side) and decoder failures
        reason = (getattr(exc, "err", "") or str(exc)).strip().splitlines() or ["unknown error"]
        if "CV_IO_MAX_IMAGE" in reason[-1]:
            raise InputError(f"{path} is {header.width}x{header.height} pixels, more than the image decoder "
                             "accepts per side or in total") from None
        raise InputError(f"{path} is not a readable image (the decoder failed: {reason[-1][:160]})") from None
    except MemoryError:
        raise InputError(f"{path} ({header.width}x{header.height} pixels) does not fit in the memory available") from None
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


def downscale(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Area-average ``rgb`` down to ``size`` (width, height). A large non-integer ratio (1280x720 -> 284x160) is
    done as an integer-ratio area average first, then the rest: half the time (3.0 -> 1.5 ms there on 2 cores),
    within a grey level of the one-step average on photos (mean 0.7-0.9; up to ~40 on a sharp edge, where the
    two footprints fall differently)."""
    h, w = rgb.shape[:2]
    k = min(w // size[0], h // size[1])
    if k >= 2 and (w // k, h // k) != size:
        rgb = cv2.resize(rgb, (w // k, h // k), interpolation=cv2.INTER_AREA)
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


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


def pad_with_margin(rgb: np.ndarray, multiple: int, margin: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Reflect-pad every side by ``margin`` rounded up to ``multiple``, and the bottom/right by the few pixels
    more that make both sides divide by ``multiple``; returns (padded, (top, left, h, w)), the picture's place
    in it. A net answers differently near its input's edges (thin coloured lines along the border); with the
    margin those answers fall on mirrored pixels that are cropped away, and the picture keeps the net's pixel
    grid (its top-left corner on a multiple)."""
    h, w = rgb.shape[:2]
    m = -(-max(0, margin) // multiple) * multiple
    ph, pw = (-h) % multiple, (-w) % multiple
    if m or ph or pw:
        rgb = cv2.copyMakeBorder(rgb, m, m + ph, m, m + pw, cv2.BORDER_REFLECT_101)
    return rgb, (m, m, h, w)


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
