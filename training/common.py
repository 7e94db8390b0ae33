"""Pieces every training loop shares: device choice, a guarded update, progress line, time budget."""
from __future__ import annotations

import sys
import time

import torch


def finite_update(opt: torch.optim.Optimizer, loss: torch.Tensor, params: list, clip: float) -> bool:
    """One optimizer step on ``loss`` with the gradient norm clipped to ``clip``; False, with the weights and
    the optimizer untouched, when the loss or the gradient is not finite (one bad batch must not poison the
    weights)."""
    opt.zero_grad(set_to_none=True)
    if not torch.isfinite(loss):
        return False
    loss.backward()
    if not torch.isfinite(torch.nn.utils.clip_grad_norm_(params, clip)):
        opt.zero_grad(set_to_none=True)
        return False
    opt.step()
    return True


def pick_device(name: str) -> torch.device:
    """'auto' -> cuda if available else cpu; 'cuda' without CUDA fails loudly (never a silent CPU run)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was requested but PyTorch sees no CUDA device")
    if name not in ("cpu",) and not name.startswith("cuda"):
        raise ValueError(f"unknown device {name!r}; use auto, cpu or cuda[:N]")
    return torch.device(name)


class Progress:
    """A one-line progress bar with the latest losses (no tqdm: the GPU box has only torch/numpy/Pillow)."""

    def __init__(self, total: int, start: int = 0, stream=None) -> None:
        # sys.stderr as it is now, not as it was at import (a test's captured stream may be closed since)
        self.total, self.start, self.stream = total, start, sys.stderr if stream is None else stream
        self.t0 = time.monotonic()

    def update(self, step: int, **values: float) -> None:
        done = step - self.start
        elapsed = time.monotonic() - self.t0
        rate = done / elapsed if elapsed > 0 else 0.0
        frac = min(1.0, step / self.total) if self.total else 0.0
        bar = "#" * int(frac * 20)
        vals = " ".join(f"{k}={v:.4g}" for k, v in values.items())
        print(f"\r[{bar:<20}] {step}/{self.total} {rate:.2f} it/s {vals}   ", end="", file=self.stream, flush=True)

    def close(self) -> None:
        print(file=self.stream)


class Budget:
    """Stops a loop at max_steps or when the wall-clock budget (seconds, 0 = none) is spent."""

    def __init__(self, max_steps: int, seconds: float) -> None:
        self.max_steps, self.seconds = max_steps, seconds
        self.t0 = time.monotonic()

    def done(self, step: int) -> bool:
        return step >= self.max_steps or (self.seconds > 0 and time.monotonic() - self.t0 >= self.seconds)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.t0
