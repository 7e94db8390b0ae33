"""Checkpoints: ``{"family", "model", "config", "format", ...}``, loaded with weights_only=True.

The config is the model's dataclass as a dict; ``load_checkpoint`` rebuilds the model from it,
so export/ and the Studio never guess shapes.
"""
from __future__ import annotations

import dataclasses
import hashlib
import pickle
from pathlib import Path
from typing import Any

import torch

from engine.atomic import atomic_path

from .models.adain import AdaINConfig, AdaINDecoder
from .models.adain_small import AdaINSmallConfig, AdaINSmallNet
from .models.anystyle import AnyStyleConfig, AnyStyleNet
from .models.transformer import FastNetConfig, TransformerNet
from .models.ugatit import TRANSLATION_CONFIGS

CHECKPOINT_FORMAT = 1
FAMILIES = {"fast": (FastNetConfig, TransformerNet), "adain": (AdaINConfig, AdaINDecoder),
            "anystyle": (AnyStyleConfig, AnyStyleNet), "adain-small": (AdaINSmallConfig, AdaINSmallNet)}


class CheckpointError(ValueError):
    """A checkpoint that cannot be used, with a message meant for the user."""


def _finite_or_raise(state: dict[str, torch.Tensor], prefix: str = "") -> None:
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise ValueError(f"refusing to save a checkpoint with non-finite weights ({prefix}{bad[0]}...); the last good one is kept")


def _write_blob(path: str | Path, family: str, model_state: dict, config: Any, extra: dict) -> Path:
    """Write atomically (engine.atomic) so an interrupted save never leaves a broken file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = {"format": CHECKPOINT_FORMAT, "family": family, "model": model_state, "config": config.to_dict(), **extra}
    with atomic_path(path) as tmp:
        torch.save(blob, tmp)
    return path


def _cpu_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}


def lineage(init_from: str, steps_before: int) -> dict:
    """What a fine-tuning run (``--init-from``) records in its first history entry; ``total_steps`` reads it."""
    return {"init_from": init_from, "steps_before": steps_before} if init_from else {}


def total_steps(blob: dict) -> int:
    """Steps behind a checkpoint's weights: its own run's, plus those of the checkpoint a fine-tuning run
    started from (``--init-from``; recorded in the run's first history entry, so resumes keep it)."""
    history = blob.get("history") or [{}]
    return int(blob.get("step", 0)) + int(history[0].get("steps_before", 0))


def save_checkpoint(path: str | Path, family: str, model: torch.nn.Module | dict[str, torch.nn.Module], config: Any,
                    **extra: Any) -> Path:
    """``model`` is one net (fast, adain) or, for U-GAT-IT / CycleGAN, a dict of nets: then ``model`` in the
    file maps each net's name (genA2B, disGA, ...) to its state dict. Non-finite weights are refused."""
    if isinstance(model, dict):
        state = {name: _cpu_state(net) for name, net in model.items()}
        for name, net_state in state.items():
            _finite_or_raise(net_state, f"{name}.")
    else:
        state = _cpu_state(model)
        _finite_or_raise(state)
    return _write_blob(path, family, state, config, extra)


def state_dicts(obj: Any) -> dict:
    """``obj.state_dict()``, or one per entry when ``obj`` is a dict of nets or optimizers."""
    return {name: o.state_dict() for name, o in obj.items()} if isinstance(obj, dict) else obj.state_dict()


def load_state_dicts(obj: Any, state: dict) -> None:
    """The inverse of :func:`state_dicts` (strict for nets)."""
    for name, target in (obj.items() if isinstance(obj, dict) else [(None, obj)]):
        target.load_state_dict(state if name is None else state[name])


def load_file(path: str | Path, kind: str = "checkpoint") -> Any:
    """``torch.load`` (weights only) with the user-facing errors: not found, not readable."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # torch's own text here suggests weights_only=False: not advice to pass on
        raise CheckpointError(f"{path} is not a readable {kind} (not a weights-only torch file: corrupt, "
                              "another format, or holding pickled objects, which are refused as they could run code)") from None
    except Exception as exc:  # torch raises many types for corrupt files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise CheckpointError(f"{path} is not a readable {kind} ({type(exc).__name__}: {first})") from None


def read_checkpoint(path: str | Path, blob: Any = None) -> dict:
    """Load and check a StyleCast checkpoint (or only check ``blob``, already loaded from ``path``)."""
    blob = load_file(path, "StyleCast checkpoint") if blob is None else blob
    if not isinstance(blob, dict) or "model" not in blob or "config" not in blob:
        raise CheckpointError(f"{path} is not a StyleCast checkpoint (expected keys 'model' and 'config')")
    if blob.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} has checkpoint format {blob.get('format')!r}; this version reads {CHECKPOINT_FORMAT}")
    if blob.get("family") not in FAMILIES and blob.get("family") not in TRANSLATION_CONFIGS:
        raise CheckpointError(f"{path} has unknown model family {blob.get('family')!r}")
    return blob


def build_from_checkpoint(blob: dict) -> torch.nn.Module:
    """Rebuild the model from the stored config and load its weights strictly."""
    if blob["family"] in TRANSLATION_CONFIGS:
        raise CheckpointError(f"this is a {blob['family']} image-translation checkpoint: use `stylecast translate` "
                              "or the Studio tab, not export")
    config_cls, model_cls = FAMILIES[blob["family"]]
    known = {f.name for f in dataclasses.fields(config_cls)}
    unknown = set(blob["config"]) - known
    if unknown:
        raise CheckpointError(f"checkpoint config has fields this version does not know: {sorted(unknown)}")
    try:
        config = config_cls(**blob["config"])
        model = model_cls(config)
        model.load_state_dict(blob["model"], strict=True)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"checkpoint does not match its config: {exc}") from None
    return model.eval()


def load_checkpoint(path: str | Path) -> tuple[torch.nn.Module, dict]:
    blob = read_checkpoint(path)
    return build_from_checkpoint(blob), blob


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def resume_if_present(path: Path, model: Any, optimizer: Any, config: Any, log=print,
                      family: str | None = None) -> tuple[int, list]:
    """Load model + optimizer state from ``path`` when it exists (same command resumes a run).

    ``model`` and ``optimizer`` are one object or dicts of them (as saved by the training loop).
    Returns (step, history); (0, []) for a fresh run. A checkpoint of another family or shape is refused.
    """
    if not Path(path).exists():
        return 0, []
    blob = read_checkpoint(path)
    if (family is not None and blob["family"] != family) or blob["config"] != config.to_dict():
        raise ValueError(f"{path} was trained with another model config; use a new --out-dir")
    load_state_dicts(model, blob["model"])
    optimizers = list(optimizer.values()) if isinstance(optimizer, dict) else [optimizer]
    wanted = [[group["lr"] for group in opt.param_groups] for opt in optimizers]  # this command's --lr
    load_state_dicts(optimizer, blob["optimizer"])
    saved = [[group["lr"] for group in opt.param_groups] for opt in optimizers]
    for opt, lrs in zip(optimizers, wanted):  # the command line wins: a resumed run with a new --lr uses it
        for group, lr in zip(opt.param_groups, lrs):
            group["lr"] = lr
    step = int(blob["step"])
    log(f"resuming from {path} at step {step}")
    if saved != wanted:
        log(f"learning rate from this command: {wanted} (the checkpoint had {saved})")
    return step, list(blob.get("history", []))
