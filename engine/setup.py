"""The one builder from a user's choices to a ready FrameProcessor, used by the CLI and by the
desktop controller alike, so both resolve defaults, load models and report errors the same way.

    open_stylizer(model, family, provider)         a model file (or the built-in default) -> stylizer
    build_processor(settings, model=..., style_images=..., provider=...)   -> FrameProcessor
"""
from __future__ import annotations

from pathlib import Path

from .errors import InputError, ModelError
from .modelfile import default_model
from .processor import FrameProcessor, StyleSettings
from .stylizers import AdaINStylizer, Stylizer, load_stylizer, normalize_mix


def open_stylizer(model: str | Path | None, family: str = "fast", provider: str = "auto",
                  threads: int | None = None) -> Stylizer:
    """Load ``model``, or the built-in default of ``family`` for ``provider`` when it is None."""
    if model is None:
        info = default_model(family, provider)
        if info is None:
            what = "AdaIN (arbitrary style)" if family == "adain" else "fast multi-style"
            raise ModelError(f"no built-in {what} model is installed; pass --model PATH to an exported .onnx file")
        model = info.path
    return load_stylizer(model, provider, threads)


def build_processor(settings: StyleSettings, *, model: str | Path | None = None,
                    style_images: dict[str, float] | None = None, provider: str = "auto",
                    threads: int | None = None) -> FrameProcessor:
    """``settings.mix`` names built-in styles of a fast net; ``style_images`` (path -> weight) asks
    for an AdaIN model instead, and becomes the mix once each image's statistics are computed."""
    settings = settings.validated()
    style_images = style_images or {}
    stylizer = open_stylizer(model, "adain" if style_images else "fast", provider, threads)
    mix = dict(settings.mix)
    if isinstance(stylizer, AdaINStylizer):
        if settings.mix:
            raise InputError("an AdaIN model takes style images (--style-image), not built-in style names")
        if not style_images:
            raise InputError("an AdaIN model needs at least one --style-image")
        mix = {stylizer.add_style_file(Path(p)): w for p, w in style_images.items()}
    elif style_images:
        raise InputError(f"{stylizer.info.path.name} is a fast net with fixed styles; style images need an AdaIN model")
    normalize_mix(mix, stylizer.style_names())  # validate the mix now, not on the first frame
    return FrameProcessor(stylizer, settings.with_(mix=mix))
