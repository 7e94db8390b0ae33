"""The user's own style images (AdaIN): a folder that outlives the app.

Style images added from a file, dropped on the window, or captured from the camera are copied here
as PNG (``~/.local/share/stylecast/styles/NAME.png``; ``$XDG_DATA_HOME`` is honoured), so they come
back after a restart with the same names. The user's original file is only read, never touched.
"""
from __future__ import annotations

import hashlib
import time
from collections.abc import Collection, Iterator
from pathlib import Path

import numpy as np

from .errors import InputError, OutputError, StyleCastError
from .formats import IMAGE_SUFFIXES, safe_name
from .frames import load_image, save_image
from .modelfile import user_data_dir

CAPTURE_FRACTION = 0.6  # the default capture: a centred square, this fraction of the shorter side
MAX_STYLE_SIDE = 1024  # stored copies are at most this large (AdaIN reads styles at 512)


def user_styles_dir() -> Path:
    return user_data_dir() / "styles"


def crop_region(rgb: np.ndarray, region: tuple[float, float, float, float] | None = None) -> np.ndarray:
    """The part of a frame to keep as a style: ``region`` = (x, y, w, h) as fractions of the frame,
    or by default the centred square (CAPTURE_FRACTION of the shorter side)."""
    h, w = rgb.shape[:2]
    if region is None:
        side = max(1, round(min(h, w) * CAPTURE_FRACTION))
        x0, y0 = (w - side) // 2, (h - side) // 2
        return np.ascontiguousarray(rgb[y0:y0 + side, x0:x0 + side])
    try:
        x, y, rw, rh = (float(v) for v in region)
    except (TypeError, ValueError):
        raise InputError("region must be four numbers: x, y, width, height (fractions of the frame)") from None
    if not (0 <= x < 1 and 0 <= y < 1 and 0 < rw <= 1 and 0 < rh <= 1 and x + rw <= 1.0001 and y + rh <= 1.0001):
        raise InputError("region must lie inside the frame: x, y in [0, 1), width, height in (0, 1]")
    x0, y0 = int(x * w), int(y * h)
    x1, y1 = min(w, max(x0 + 1, round((x + rw) * w))), min(h, max(y0 + 1, round((y + rh) * h)))
    if min(x1 - x0, y1 - y0) < 16:
        raise InputError(f"the region is {x1 - x0}x{y1 - y0} pixels; a style needs at least 16 pixels per side")
    return np.ascontiguousarray(rgb[y0:y1, x0:x1])


def _as_stored(rgb: np.ndarray) -> np.ndarray:
    """The picture as the library keeps it: at most MAX_STYLE_SIDE pixels per side."""
    h, w = rgb.shape[:2]
    if max(h, w) <= MAX_STYLE_SIDE:
        return rgb
    import cv2

    scale = MAX_STYLE_SIDE / max(h, w)
    return cv2.resize(rgb, (max(16, round(w * scale)), max(16, round(h * scale))), interpolation=cv2.INTER_AREA)


class StyleLibrary:
    """The folder of the user's style images: add (copy in), list, remove."""

    def __init__(self, folder: str | Path | None = None) -> None:
        self.folder = Path(folder) if folder is not None else user_styles_dir()
        self.skipped: dict[str, str] = {}  # name -> why its file was passed over by the last images()

    def entries(self) -> dict[str, Path]:
        """name -> stored image, oldest first (the gallery's order)."""
        if not self.folder.is_dir():
            return {}
        files = [p for p in self.folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                 and not p.name.startswith(".")]
        files.sort(key=lambda p: (p.stat().st_mtime, p.name))
        return {p.stem: p for p in files}

    def images(self, skip: Collection[str] = ()) -> Iterator[tuple[str, np.ndarray]]:
        """The stored style images, decoded, oldest first (names in ``skip`` left out). A file that cannot
        be read (damaged, too large, not an image) is passed over and noted in ``skipped`` (name -> one
        sentence for the user), so one bad file in the folder never stops the app from starting."""
        self.skipped = {}
        for name, path in self.entries().items():
            if name in skip:
                continue
            try:
                rgb = load_image(path)
            except StyleCastError as exc:
                self.skipped[name] = f"style image {path.name} skipped: {exc}"
                continue
            yield name, rgb

    def _free_name(self, base: str, reserved=()) -> str:
        """``base`` (a safe name), or ``base-2``, ``base-3``... : the first that no stored style and
        no ``reserved`` name (compared ignoring case) has; at most 48 characters, like safe_name."""
        taken = set(self.entries())
        reserved = {r.lower() for r in reserved}
        name, i = base, 2
        while name in taken or name.lower() in reserved:
            suffix = f"-{i}"
            name, i = base[:48 - len(suffix)].rstrip("._-") + suffix, i + 1
        return name

    def add_image(self, rgb: np.ndarray, base: str) -> tuple[str, Path]:
        """Store an RGB image under a new name derived from ``base``; returns (name, path)."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create the styles folder {self.folder}: {exc.strerror or exc}") from None
        name = self._free_name(safe_name(base))
        return name, save_image(self.folder / f"{name}.png", _as_stored(rgb))

    def add_file(self, path: str | Path, reserved=()) -> tuple[str, Path, np.ndarray]:
        """Copy a style image file in (decoded and re-saved as PNG) under the file's own name
        ("tanguy.jpg" -> "tanguy"; ``my-NAME`` when that is a ``reserved`` built-in style's name,
        ``NAME-2`` when another picture has it); the same picture added twice gets the same name
        back instead of a second copy."""
        rgb = load_image(path)
        base = safe_name(Path(path).stem)
        if base.lower() in {r.lower() for r in reserved}:
            base = safe_name(f"my-{base}")
        digest = hashlib.sha1(_as_stored(rgb).tobytes()).digest()
        for name, stored in self.entries().items():  # PNG is lossless: the stored pixels are the added ones
            if name == base or (name.startswith(f"{base}-") and name[len(base) + 1:].isdigit()):
                try:
                    if hashlib.sha1(load_image(stored).tobytes()).digest() == digest:
                        return name, stored, rgb
                except StyleCastError:
                    continue
        name, stored = self.add_image(rgb, self._free_name(base, reserved))
        return name, stored, rgb

    def add_capture(self, rgb: np.ndarray, name: str | None = None, reserved=()) -> tuple[str, Path]:
        """Store a captured frame under ``name`` made safe (default: capture-DATE-TIME). ``reserved``
        are names it must not take, the built-in styles': a name that is one of them once made safe
        (ignoring case; "wave." is made "wave") is stored as ``my-NAME`` ("my-wave"), so choosing
        "wave" still selects the built-in style."""
        base = safe_name(name or time.strftime("capture-%Y%m%d-%H%M%S"))
        if base.lower() in {r.lower() for r in reserved}:
            base = safe_name(f"my-{base}")
        return self.add_image(rgb, self._free_name(base, reserved))

    def rename(self, name: str, reserved=()) -> str:
        """Give a stored style ``my-NAME`` (or the next free name): for a file saved under what is now
        a built-in style's name. Returns the new name."""
        path = self.entries()[name]
        new = self._free_name(safe_name(f"my-{name}"), reserved)
        try:
            path.rename(path.with_name(f"{new}{path.suffix}"))  # keeps its time, so its gallery place
        except OSError as exc:
            raise OutputError(f"cannot rename {path.name} in {self.folder}: {exc.strerror or exc}") from None
        return new

    def remove(self, name: str) -> bool:
        path = self.entries().get(name)
        if path is None:
            return False
        path.unlink(missing_ok=True)
        return True
