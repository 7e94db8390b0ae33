"""The one training loop the fast, AdaIN and translation trainers plug their step into.

A trainer builds its nets and optimizer(s), then hands them to :class:`TrainLoop`, which owns
everything around the step: resuming from ``out_dir/last.pt``, the step / wall-clock :class:`Budget`,
the progress line, the logged loss history, periodic sample sheets and checkpoints, the counting of
skipped (non-finite) steps, and the final checkpoint + ``history.json``::

    loop = TrainLoop(cfg, "fast", net, model_cfg, opt, log=log, loss_network="vgg16-hed")  # resumes
    data = ImageFolderStream(..., seed=cfg.seed + loop.step)
    if loop.step == 0:
        loop.history.append({"step": 0, "heldout": evaluate()})
    loop.run(step_fn, sample=lambda path: sheet(net, path), progress_keys=("content", "style"))
    return loop.finish({"heldout": evaluate()}, summary="; ...")

``step_fn(step)`` does one update and returns the values to log (floats, averaged over
``cfg.log_every`` steps), or None when it skipped a non-finite step without touching the weights.
SIGTERM or SIGINT (Ctrl-C) during :meth:`run` ends it after the current step, so the trainer still
evaluates, checkpoints and exports: ``kill -TERM PID`` stops a long run early, losing nothing.

Checkpoints: ``{"format", "family", "model", "config", "optimizer", "step", "history", "train_config",
**extra}`` (training/checkpoint.py); ``model`` and ``optimizer`` may be dicts of nets / optimizers.
"""
from __future__ import annotations

import json
import signal
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable

from engine.atomic import check_not_input, write_bytes_atomic

from .checkpoint import resume_if_present, save_checkpoint, state_dicts
from .common import Budget, Progress

def config_files(cfg: Any) -> list[Path]:
    """The existing files a training config names (style images, --init-from, weights)."""
    found: list[Path] = []
    for value in cfg.to_dict().values():
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(item, str) and item and Path(item).is_file():
                found.append(Path(item))
    return found


StepFn = Callable[[int], "dict[str, float] | None"]
SampleFn = Callable[[Path], Any]


class TrainLoop:
    """``cfg``: a training config (out_dir, max_steps, time_budget_s, checkpoint_every, sample_every,
    log_every, to_dict()). ``extra``: more checkpoint fields (e.g. ``loss_network``)."""

    def __init__(self, cfg: Any, family: str, model: Any, model_config: Any, optimizer: Any, *, log=print,
                 **extra: Any) -> None:
        self.cfg, self.family, self.model, self.model_config, self.optimizer = cfg, family, model, model_config, optimizer
        self.log, self.extra = log, extra
        self.out_dir = Path(cfg.out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.last = self.out_dir / "last.pt"
        inputs = config_files(cfg)
        for written in (self.last, self.out_dir / "history.json"):  # a run never writes over what it reads
            check_not_input(written, inputs)
        self.step, self.history = resume_if_present(self.last, model, optimizer, model_config, log, family=family)
        self.skipped = 0  # non-finite steps skipped so far in this run
        self.budget = Budget(cfg.max_steps, cfg.time_budget_s)
        self._sample: SampleFn | None = None
        self.stop_requested = False  # set by SIGTERM / SIGINT during run(), or by the caller

    @contextmanager
    def _stop_on_signals(self):
        """SIGTERM / SIGINT set ``stop_requested`` instead of killing the process mid-step (main thread only:
        Python delivers signals there; elsewhere the default handling stays)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def request_stop(signum, _frame):
            if not self.stop_requested:
                self.log(f"\n{signal.Signals(signum).name}: stopping after step {self.step + 1}, then saving")
            self.stop_requested = True

        previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def checkpoint(self) -> Path:
        return save_checkpoint(self.last, self.family, self.model, self.model_config,
                               optimizer=state_dicts(self.optimizer), step=self.step, history=self.history,
                               train_config=self.cfg.to_dict(), **self.extra)

    def sample(self, name: str) -> None:
        if self._sample is not None:
            self._sample(self.out_dir / "samples" / name)

    def run(self, step_fn: StepFn, *, sample: SampleFn | None = None, log_keys: Iterable[str] = (),
            progress_keys: Iterable[str] = (), skipped_steps_count: bool = False, max_skipped: int = 0) -> None:
        """Call ``step_fn`` until the budget is spent. ``log_keys``: values logged as 0 when a step does not
        report them. A skipped step is retried with the next batch, or with ``skipped_steps_count`` counts
        as done (nothing logged, sampled or saved for it); more than ``max_skipped`` (> 0) skips stop the run."""
        self._sample = sample
        self.budget = Budget(self.cfg.max_steps, self.cfg.time_budget_s)
        progress = Progress(self.cfg.max_steps, self.step)
        log_keys, progress_keys = tuple(log_keys), tuple(progress_keys)
        sums = dict.fromkeys(log_keys, 0.0)
        with self._stop_on_signals():
            while not self.budget.done(self.step) and not self.stop_requested:
                values = step_fn(self.step)
                if values is None:
                    self._skipped(skipped_steps_count, max_skipped)
                    continue
                self.step += 1
                for key, value in values.items():
                    sums[key] = sums.get(key, 0.0) + value
                if self.step % self.cfg.log_every == 0:
                    entry = {"step": self.step, **{k: v / self.cfg.log_every for k, v in sums.items()}}
                    self.history.append(entry)
                    sums = dict.fromkeys(log_keys, 0.0)
                    progress.update(self.step, **{k: entry[k] for k in progress_keys if k in entry})
                if self.step % self.cfg.sample_every == 0:
                    self.sample(f"step_{self.step:06d}.png")
                if self.step % self.cfg.checkpoint_every == 0:
                    self.checkpoint()
        progress.close()

    def _skipped(self, counts: bool, max_skipped: int) -> None:
        self.skipped += 1
        if max_skipped and self.skipped > max_skipped:
            raise RuntimeError(f"training diverged: {self.skipped} non-finite losses or gradients; lower --lr")
        if counts:
            self.step += 1

    def finish(self, evaluation: dict, extras: dict | None = None, summary: str = "") -> Path:
        """Append the final history entry ({"step", **evaluation, "seconds", **extras}), save the last
        checkpoint, the final sample sheet and history.json; log ``done at step N in S s`` + ``summary``."""
        self.history.append({"step": self.step, **evaluation, "seconds": self.budget.elapsed, **(extras or {})})
        self.checkpoint()
        self.sample("final.png")
        write_bytes_atomic(self.out_dir / "history.json", json.dumps(self.history, indent=1).encode())
        self.log(f"done at step {self.step} in {self.budget.elapsed:.0f} s{summary}")
        return self.last
