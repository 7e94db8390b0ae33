"""Turns user choices (model, styles, style images, settings) into a ready FrameProcessor.

Shared by the CLI and the desktop controller, so both resolve defaults and report errors the
same way.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputError, ModelError
from .formats import parse_weighted  # noqa: F401  (re-exported for the CLI)
from .modelfile import default_model
from .stylizers import AdaINStylizer, FrameProcessor, StyleSettings, load_stylizer, normalize_mix


@dataclass
class StyleRequest:
    model: str | None = None  # path; None = the built-in default for the family needed
    styles: dict[str, float] = field(default_factory=dict)  # built-in style names -> weights
    style_images: dict[str, float] = field(default_factory=dict)  # image paths -> weights (AdaIN)
    strength: float = 1.0
    preserve_colors: bool = False
    process_height: int | None = None
    smoothing: float = 0.0
    provider: str = "auto"
    threads: int | None = None


def build_processor(req: StyleRequest) -> FrameProcessor:
    if not 0.0 <= req.strength <= 1.0:
        raise InputError(f"strength must be between 0 and 1, got {req.strength}")
    if not 0.0 <= req.smoothing <= 1.0:
        raise InputError(f"smoothing must be between 0 and 1, got {req.smoothing}")
    if req.process_height is not None and req.process_height < 16:
        raise InputError(f"processing height must be at least 16 pixels, got {req.process_height}")
    family = "adain" if req.style_images else "fast"
    path = req.model
    if path is None:
        info = default_model(family, req.provider)
        if info is None:
            what = "AdaIN (arbitrary style)" if family == "adain" else "fast multi-style"
            raise ModelError(f"no built-in {what} model is installed; pass --model PATH to an exported .onnx file")
        path = str(info.path)
    stylizer = load_stylizer(path, req.provider, req.threads)
    mix = dict(req.styles)
    if isinstance(stylizer, AdaINStylizer):
        if req.styles:
            raise InputError("an AdaIN model takes style images (--style-image), not built-in style names")
        if not req.style_images:
            raise InputError("an AdaIN model needs at least one --style-image")
        mix = {stylizer.add_style_file(Path(p)): w for p, w in req.style_images.items()}
    elif req.style_images:
        raise InputError(f"{Path(path).name} is a fast net with fixed styles; style images need an AdaIN model")
    processor = FrameProcessor(stylizer, StyleSettings(mix=mix, strength=req.strength,
                                                        preserve_colors=req.preserve_colors,
                                                        process_height=req.process_height,
                                                        smoothing=req.smoothing))
    normalize_mix(mix, stylizer.style_names())  # validate the mix now, not on the first frame
    return processor
