"""Image folders as training data: any folder tree of images (our offline corpus, COCO, WikiArt).

Random scale, crop and flip make a small corpus go further. Only Pillow, numpy and torch.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from PIL import Image, ImageOps

from engine.formats import IMAGE_SUFFIXES


def list_images(root: str | Path, min_side: int = 64) -> list[Path]:
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"image folder not found: {root}")
    paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    good = []
    for p in paths:
        try:
            with Image.open(p) as im:
                if min(im.size) >= min_side:
                    good.append(p)
        except (OSError, ValueError):
            continue  # unreadable files are skipped, not fatal: corpora are messy
    if not good:
        raise FileNotFoundError(f"no usable images (at least {min_side}px per side) in {root}")
    return good


def load_rgb(path: str | Path, max_side: int | None = None) -> Image.Image:
    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
        if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
            im = im.convert("RGBA")
            background = Image.new("RGBA", im.size, (255, 255, 255, 255))
            im = Image.alpha_composite(background, im)
        im = im.convert("RGB")
    if max_side and max(im.size) > max_side:
        im.thumbnail((max_side, max_side), Image.LANCZOS)
    return im


def style_image(path: str | Path, side: int) -> torch.Tensor:
    """A painting as every style target is computed from it: 1 x 3 x H x W in [0, 1], longest side ``side``
    (Lanczos from the file; a smaller file keeps its size). The fast-net trainer, Gatys and bench/quality.py
    all read paintings through this one function: two 256 px versions of one painting (Lanczos from the file,
    or Lanczos to 1024 then bilinear to 256) differ by up to 7 % in relu1_2's Gram, enough to make a net
    that fits its own targets well score 2.5x worse against the other's (measured 2026-12-01)."""
    return to_tensor(load_rgb(path, side))[None]


def to_tensor(im: Image.Image) -> torch.Tensor:
    """PIL RGB -> float 3 x H x W in [0, 1]."""
    return torch.from_numpy(np.asarray(im, dtype=np.float32) / 255.0).permute(2, 0, 1).contiguous()


def to_pil(x: torch.Tensor) -> Image.Image:
    """float 3 x H x W in [0, 1] -> PIL RGB."""
    arr = (x.detach().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255 + 0.5).astype(np.uint8)
    return Image.fromarray(arr)


# the training crops: this fraction of the photo's shorter side (random in [lo, hi]), resized to the training
# size: the scale at which a net sees the scene (on mid8, crops of 0.75-1.0, a whole frame's scale, scored worse
# on the 16 side-by-side pairs)
CROP_SCALE = (0.6, 1.0)


def random_crop(im: Image.Image, size: int, rng: random.Random, scale: tuple[float, float] = CROP_SCALE) -> Image.Image:
    """Random square crop covering ``scale`` of the shorter side, resized to ``size``, random h-flip."""
    w, h = im.size
    side = int(min(w, h) * rng.uniform(*scale))
    side = max(16, side)
    x, y = rng.randint(0, w - side), rng.randint(0, h - side)
    crop = im.crop((x, y, x + side, y + side)).resize((size, size), Image.BICUBIC)
    return crop.transpose(Image.FLIP_LEFT_RIGHT) if rng.random() < 0.5 else crop


def resize_crop(im: Image.Image, load: int, size: int, rng: random.Random) -> Image.Image:
    """The GAN papers' augmentation: resize to load x load, random size x size crop, random h-flip."""
    im = im.resize((load, load), Image.BICUBIC)
    x, y = rng.randint(0, load - size), rng.randint(0, load - size)
    crop = im.crop((x, y, x + size, y + size))
    return crop.transpose(Image.FLIP_LEFT_RIGHT) if rng.random() < 0.5 else crop


class ImageFolderStream:
    """Endless batches of random crops from a folder. Decoded images are cached in memory
    (at most ``cache_side`` px) because small corpora are re-read many times. With ``load_size`` the
    crops are resize-then-crop (GAN training) instead of random-scale crops (style training).

    Crops flatter than ``min_std`` (spatial pixel std of the busiest channel, 0..1 scale) are drawn again. A uniform crop
    gives every instance-norm layer of the nets a zero-variance input; each such layer then
    multiplies the backward signal by up to 1/sqrt(eps) (~300), and through the fast net's 13 norms
    the gradient overflows to inf/NaN in the first layer (2.6 % of 160 px crops of our corpus are
    flat: wallpapers, sky). Even short of overflow such a crop would own the clipped update."""

    def __init__(self, root: str | Path, size: int, batch_size: int, seed: int = 0, cache_side: int = 640,
                 load_size: int | None = None, min_std: float = 0.01, max_redraws: int = 20) -> None:
        self.paths = list_images(root, min_side=min(size, 64))
        self.size, self.batch_size, self.load_size = size, batch_size, load_size
        self.min_std, self.max_redraws = min_std, max_redraws
        self.flat_redraws = 0  # how many crops were drawn again (train_fast logs it)
        self.rng = random.Random(seed)
        self.cache_side = cache_side
        self._cache: dict[Path, Image.Image] = {}

    def __len__(self) -> int:
        return len(self.paths)

    def _image(self, path: Path) -> Image.Image:
        if path not in self._cache:
            self._cache[path] = load_rgb(path, self.cache_side)
        return self._cache[path]

    def __iter__(self) -> Iterator[torch.Tensor]:
        while True:
            yield self.next_batch()

    def _crop(self) -> torch.Tensor:
        for _ in range(self.max_redraws):
            im = self._image(self.rng.choice(self.paths))
            if self.load_size:
                crop = resize_crop(im, self.load_size, self.size, self.rng)
            else:
                crop = random_crop(im, self.size, self.rng)
            x = to_tensor(crop)
            if x.flatten(1).std(1).max().item() >= self.min_std:  # spatial std of the busiest channel
                return x
            self.flat_redraws += 1
        raise ValueError(f"{self.max_redraws} random crops in a row were flat (pixel std < {self.min_std}): "
                         "the image folder holds (almost) only uniform images")

    def next_batch(self) -> torch.Tensor:
        return torch.stack([self._crop() for _ in range(self.batch_size)])


def contact_sheet(rows: list[list[Image.Image]], cell: int = 160, pad: int = 4) -> Image.Image:
    """Grid of images (rows x cols), each fitted into a cell; white background."""
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    sheet = Image.new("RGB", (n_cols * (cell + pad) + pad, n_rows * (cell + pad) + pad), (255, 255, 255))
    for r, row in enumerate(rows):
        for c, im in enumerate(row):
            im = im.copy()
            im.thumbnail((cell, cell), Image.LANCZOS)
            sheet.paste(im, (pad + c * (cell + pad) + (cell - im.width) // 2, pad + r * (cell + pad) + (cell - im.height) // 2))
    return sheet


def save_contact_sheet(rows: list[list[Image.Image]], path: Path) -> Path:
    """The trainers' sample sheets: a contact sheet saved at ``path`` (folders made as needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    contact_sheet(rows).save(path)
    return path
