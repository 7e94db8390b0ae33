"""The one builder from a user's choices to a ready FrameProcessor, used by the CLI and by the
desktop controller alike, so both resolve defaults, load models and report errors the same way.

    open_stylizer(model, family, provider)         a model file (or the built-in default) -> stylizer,
                                                   with its ModelChoice (which file, where, why)
    build_processor(settings, model=..., style_images=..., provider=..., learned=...)   -> FrameProcessor
    boldness_note(stylizer, settings)              why boldness changes nothing here (no bold rows), or None
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .errors import InputError, ModelError
from .learned import LearnedStyle
from .modelfile import available_providers, default_model
from .processor import FrameProcessor, StyleSettings
from .segment import PersonSegmenter
from .stylizers import AdaINStylizer, Stylizer, load_stylizer, normalize_mix


@dataclass(frozen=True)
class ModelChoice:
    """Which model runs, where, and why: the one answer the CLI, the live session, the control API
    and the app all show."""
    family: str  # "fast" (built-in styles) or "adain" (style images)
    name: str  # file stem, e.g. "mid8.int8"
    path: Path
    precision: str  # int8 | fp32 | fp16
    provider: str  # what actually runs it: cpu | cuda
    reason: str  # one sentence for the user

    def describe(self) -> str:
        return f"{self.name} on {self.provider.upper()}: {self.reason}"


def _default_reason(family: str, provider: str, variant: str | None, precision: str) -> str:
    on_gpu = provider == "cuda" or (provider == "auto" and "cuda" in available_providers())
    if family == "adain":
        if variant == "predicted":
            return "the default for style images: a style prediction, at the fast net's speed"
        if variant == "small":
            return "the default for style images: the small AdaIN model"
        return "the default model for style images"
    net = {"mid": "the mid-sized net", "light": "the lightest net", "full": "the full-width net"}.get(variant, "a net")
    return f"default for a {'GPU' if on_gpu else 'CPU'}: {net}" + (", int8 (fastest there)" if precision == "int8" else "")


CUDA_FELL_BACK = " (CUDA is installed but did not start, so the CPU runs it)"


def reason_on(stylizer: Stylizer, provider: str) -> str:
    """Why ``stylizer``'s file runs, when it is reopened on ``provider``: a default is the default
    again for the new device; a file the user chose stays the user's choice."""
    choice = getattr(stylizer, "choice", None)
    if choice is None:
        return "the model you chose"
    if choice.reason.startswith("default for") or choice.family == "adain" and "built-in" in choice.reason:
        meta = stylizer.info.metadata
        return _default_reason(choice.family, provider, meta.get("variant"), meta.get("precision", "fp32"))
    return choice.reason.replace(CUDA_FELL_BACK, "")


def _with_choice(stylizer: Stylizer, requested_provider: str, reason: str) -> Stylizer:
    active = stylizer.session_info.active
    reason = reason.replace(CUDA_FELL_BACK, "")
    if requested_provider == "auto" and active == "cpu" and "cuda" in available_providers():
        reason += CUDA_FELL_BACK
    info = stylizer.info
    stylizer.choice = ModelChoice(info.family, info.name, info.path, info.metadata.get("precision", "fp32"), active,
                                  reason)
    return stylizer


def open_stylizer(model: str | Path | None, family: str = "fast", provider: str = "auto",
                  threads: int | None = None, reason: str = "the model you chose") -> Stylizer:
    """Load ``model``, or the built-in default of ``family`` for ``provider`` when it is None. The
    stylizer's ``choice`` (a ModelChoice) says which file runs where, and why."""
    if model is None:
        info = default_model(family, provider)
        if info is None:
            what = "AdaIN (arbitrary style)" if family == "adain" else "fast multi-style"
            raise ModelError(f"no built-in {what} model is installed; pass --model PATH to an exported .onnx file")
        model = info.path
        reason = _default_reason(family, provider, info.metadata.get("variant"), info.metadata.get("precision", "fp32"))
    return _with_choice(load_stylizer(model, provider, threads), provider, reason)


def build_processor(settings: StyleSettings, *, model: str | Path | None = None,
                    style_images: dict[str, float] | None = None, provider: str = "auto",
                    threads: int | None = None, person_style_images: dict[str, float] | None = None,
                    segmentation: str | Path | None = None, learned: Sequence[LearnedStyle] = (),
                    learned_library: Sequence[LearnedStyle] = ()) -> FrameProcessor:
    """``settings.mix`` names built-in styles of a fast net; ``style_images`` (path -> weight) asks
    for an AdaIN model instead, and becomes the mix once each image's statistics are computed. Likewise
    ``settings.person_mix`` / ``person_style_images`` for the region a region mode keeps; a region mode loads
    the person-segmentation model (``segmentation``, or the built-in one). Learned styles run on the fast net:
    every one of ``learned``, and those of ``learned_library`` (the user's) that the mixes name."""
    settings = settings.validated()
    style_images, person_images = style_images or {}, person_style_images or {}
    stylizer = open_stylizer(model, "adain" if style_images or person_images else "fast", provider, threads)
    mix, person_mix = dict(settings.mix), dict(settings.person_mix)
    if isinstance(stylizer, AdaINStylizer):
        if settings.mix or settings.person_mix:
            raise InputError("an AdaIN model takes style images (--style-image), not built-in style names")
        if not style_images:
            raise InputError("an AdaIN model needs at least one --style-image")
        mix = {stylizer.add_style_file(Path(p)): w for p, w in style_images.items()}
        person_mix = {stylizer.add_style_file(Path(p)): w for p, w in person_images.items()}
    elif style_images or person_images:
        raise InputError(f"{stylizer.info.path.name} is a fast net with fixed styles; style images need an AdaIN model")
    else:
        _add_learned(stylizer, learned, learned_library, {*mix, *person_mix})
    if person_mix and settings.region == "all":
        raise InputError("a style for the person needs a region: --region background or --region person")
    names = stylizer.style_names()
    # checked now, not on the first frame; the record then names what runs (no mix: the first style)
    settings = settings.with_(mix=normalize_mix(mix, names), person_mix=normalize_mix(person_mix, names) if person_mix else {})
    return FrameProcessor(stylizer, settings, open_segmenter(segmentation, provider) if settings.region != "all" else None)


def _add_learned(stylizer: Stylizer, learned: Sequence[LearnedStyle], library: Sequence[LearnedStyle],
                 wanted: set[str]) -> None:
    """Learned styles onto a fast net: all of ``learned``, and the first of ``library`` under each name in
    ``wanted`` that is not a built-in style. InputError when one cannot run on this net (another net's,
    or a net without a style code)."""
    taken = set(stylizer.style_names()) | {s.name for s in learned}
    picks = list(learned)
    for style in library:
        if style.name in wanted and style.name not in taken:
            picks.append(style)
            taken.add(style.name)
    for style in picks:
        stylizer.add_learned(style)


def boldness_note(stylizer: Stylizer | None, settings: StyleSettings) -> str | None:
    """A sentence when boldness changes nothing with this stylizer and these styles (no bold rows), else None."""
    if stylizer is None or getattr(stylizer, "bold", False):
        return None
    learned = {s.name for s in getattr(stylizer, "learned_styles", list)()}
    if learned & {*settings.mix, *settings.person_mix}:
        return None  # a learned style has its own bold rows
    if isinstance(stylizer, AdaINStylizer):
        return f"{stylizer.info.name} is a style-image model: boldness changes nothing with it"
    return f"{stylizer.info.name} has no bold rows: boldness changes nothing with it"


def open_segmenter(model: str | Path | None = None, provider: str = "auto") -> PersonSegmenter:
    """The person-segmentation model for region modes: ``model``, or the built-in one."""
    if model is None:
        info = default_model("segmentation", provider)
        if info is None:
            raise ModelError("styling only the person or the background needs a person-segmentation model; none is "
                             "installed (assets/models/selfie_segmentation.onnx)")
        return PersonSegmenter(info, provider)
    return PersonSegmenter(model, provider)
