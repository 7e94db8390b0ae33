"""Learn any painting as a live style: new norm rows of the shipped fast net (`stylecast learn-style`).

Dumoulin et al. ("A Learned Representation for Artistic Style", ICLR 2017) learn a new style of a
conditional-norm net through its norm parameters alone. Here: the shipped net's convolutions stay frozen
and one faithful and one bold row are trained for the painting, with the objectives the shipped rows were
trained with (read from the checkpoint's own training config), each step at a drawn boldness
(training/train_fast.py: FastStep). The result is a learned-style file (engine/learned.py) in the user's
data folder that runs at the fast net's speed and mixes with the built-in styles.

The run lives in a folder of its own (default ``<learned>/.runs/<name>``): SIGTERM or Ctrl-C stops it after
the current step with a checkpoint there, and the same command resumes it for the minutes left. The style
file is written, atomically, only when the run has finished; the run folder is then removed.

Progress: with ``--progress json`` one JSON object per line on stdout ({"event": "progress", "step",
"elapsed_s", "budget_s", "style"}, then {"event": "done", "path"} or {"event": "cancelled"}), which the
app's learn job (engine/learnjob.py) reads.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch

from engine.atomic import write_bytes_atomic
from engine.formats import safe_name
from engine.learned import LearnedStyle, learned_dir, save_learned

from .checkpoint import read_checkpoint
from .common import pick_device
from .config import FastTrainConfig
from .data import load_rgb
from .loop import TrainLoop
from .models.transformer import FastNetConfig, TransformerNet
from .models.vgg import load_vgg16
from .train_fast import FastStep, _amp_mode, _optimizer, shipped_objectives, style_targets

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CHECKPOINT = ROOT / "assets" / "checkpoints" / "mid8_last.pt"
CORPUS = ROOT / "cache" / "corpus" / "content"
PHOTOS = ROOT / "assets" / "photos"  # 18 small sample photos, shipped: the learning set without the corpus
ROW_LR = 1e-2  # Adam on the two rows only (1,280 numbers each for mid): large steps are safe and fast
CANCELLED = 3  # exit status of a run stopped before its end (its checkpoint resumes it)


class _Unread:
    """A stream whose reader may go away (the app that started the run died): writes to a closed pipe are
    dropped instead of ending the run before it can keep its checkpoint."""

    def __init__(self, stream) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        try:
            return self.stream.write(text)
        except (BrokenPipeError, ValueError, OSError):
            return len(text)

    def flush(self) -> None:
        try:
            self.stream.flush()
        except (BrokenPipeError, ValueError, OSError):
            pass

    def __getattr__(self, name: str):
        return getattr(self.stream, name)


def _emit(kind: str, progress: str, **values) -> None:
    if progress == "json":
        print(json.dumps({"event": kind, **values}), flush=True)


def train_config(blob: dict, painting: Path, name: str, photos: Path, run_dir: Path, args) -> FastTrainConfig:
    """The shipped net's own objectives (its checkpoint's training config), this painting, rows only."""
    return shipped_objectives(
        blob, content_dir=str(photos), style_images=[str(painting)], style_names=[name], holdout=[],
        out_dir=str(run_dir), init_from="", freeze_shared=True, lr=ROW_LR, cin_lr_mult=1.0, batch_size=args.batch_size,
        image_size=256, max_steps=args.steps, time_budget_s=0.0, checkpoint_every=10, sample_every=10 ** 9,
        log_every=5, temporal_weight=0.0, device=args.device)


def build_net(blob: dict, name: str) -> TransformerNet:
    """The shipped net with two rows for the new style, started at the mean of its faithful (and bold) rows."""
    theirs = FastNetConfig(**blob["config"])
    net = TransformerNet(FastNetConfig(**{**theirs.to_dict(), "style_names": [name], "bold": True}))
    n = theirs.n_styles
    state = {}
    for key, value in blob["model"].items():
        if key.endswith((".gamma", ".beta")):
            bold = value[n:2 * n] if theirs.bold else value[:n]
            value = torch.stack([value[:n].mean(0), bold.mean(0)])
        state[key] = value
    net.load_state_dict(state)
    return net


class _Clock:
    """Seconds of learning so far, over resumed runs (run_dir/elapsed.json, rewritten as it goes)."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / "elapsed.json"
        try:
            self.before = float(json.loads(self.path.read_text())["seconds"])
        except (OSError, ValueError, KeyError, TypeError):
            self.before = 0.0
        self.start = time.monotonic()

    @property
    def seconds(self) -> float:
        return self.before + time.monotonic() - self.start

    def save(self) -> None:
        write_bytes_atomic(self.path, json.dumps({"seconds": self.seconds}).encode())


def _write_style(net: TransformerNet, blob: dict, painting: Path, name: str, out: Path, steps: int,
                 seconds: float, checkpoint: Path) -> Path:
    thumb = np.asarray(load_rgb(str(painting), 192), np.uint8)
    meta = {"code_id": net.shared_id(), "model": checkpoint.stem.removesuffix("_last"), "painting": painting.name,
            "steps": steps, "seconds": round(seconds), "base_steps": blob.get("step", 0),
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    rows = [net.row_code(i).detach().cpu().float().numpy() for i in (0, 1)]
    return save_learned(out, LearnedStyle(name, rows[0], rows[1], meta, thumb))


def watch_parent(pid: int, every_s: float = 1.0) -> threading.Thread:
    """Stop the run as Cancel does (SIGTERM to this process: a checkpoint, then exit) once the process that
    started it, ``pid``, is gone: an app killed with SIGKILL leaves no run learning on for its minutes."""
    def watch() -> None:
        while os.getppid() == pid:
            time.sleep(every_s)
        os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=watch, daemon=True, name="learn-parent-watch")
    thread.start()
    return thread


def learn_style(args, log=print) -> int:
    if args.parent_pid:
        watch_parent(args.parent_pid)
    painting, checkpoint = Path(args.painting), Path(args.checkpoint)
    name = safe_name(args.name or painting.stem, "-", 60, "learned")
    out = Path(args.out) if args.out else learned_dir() / f"{name}.npz"
    run_dir = Path(args.run_dir) if args.run_dir else learned_dir() / ".runs" / name
    load_rgb(str(painting))  # a painting that does not open fails here, before any work
    blob = read_checkpoint(checkpoint)
    if blob["family"] != "fast":
        raise ValueError(f"{checkpoint.name} is not a fast net's checkpoint")
    run_dir.mkdir(parents=True, exist_ok=True)
    photos = Path(args.photos) if args.photos else CORPUS if CORPUS.is_dir() else PHOTOS
    cfg = train_config(blob, painting, name, photos, run_dir, args)
    clock = _Clock(run_dir)
    cfg.time_budget_s = max(1.0, args.minutes * 60 - clock.seconds)
    device = pick_device(cfg.device)
    net = build_net(blob, name).to(device)
    opt = _optimizer(cfg, net)
    loop = TrainLoop(cfg, "fast", net, net.config, opt, log=log, loss_network="vgg16-hed")
    vgg = load_vgg16(None, last_layer="relu4_3").to(device)
    targets = style_targets(vgg, cfg.style_images, cfg.style_layers, cfg.style_size, device)
    bold = style_targets(vgg, cfg.style_images, cfg.style_layers, cfg.bold_style_size, device)
    from .data import ImageFolderStream
    data = ImageFolderStream(cfg.content_dir, cfg.image_size, cfg.batch_size, seed=cfg.seed + loop.step)
    step = FastStep(cfg, net.train(), vgg, targets, data, opt, _amp_mode(cfg, device, log), loop, bold)
    budget = args.minutes * 60

    def reported(i: int):
        values = step(i)
        if values is not None:
            clock.save()
            _emit("progress", args.progress, step=loop.step + 1, elapsed_s=round(clock.seconds, 1),
                  budget_s=budget, steps=args.steps, style=round(values.get("style", 0.0), 4))
        return values

    loop.run(reported, log_keys=("content", "style", "bold_style"), progress_keys=("style", "bold_style"))
    loop.checkpoint()
    if loop.stop_requested:
        log(f"stopped at step {loop.step}; the same command resumes it ({run_dir})")
        _emit("cancelled", args.progress, step=loop.step, run_dir=str(run_dir))
        return CANCELLED
    path = _write_style(net, blob, painting, name, out, loop.step, clock.seconds, checkpoint)
    shutil.rmtree(run_dir, ignore_errors=True)
    log(f"learned {name!r} in {clock.seconds / 60:.1f} min ({loop.step} steps): {path}")
    _emit("done", args.progress, path=str(path), name=name, step=loop.step, elapsed_s=round(clock.seconds, 1))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="stylecast learn-style", description=(
        "Learn a painting as a live style: new norm rows of the shipped fast net, trained in minutes on a CPU. "
        "The style then runs at the fast net's speed, mixes with the built-in styles and follows the boldness control."))
    p.add_argument("painting", help="the painting (any image file)")
    p.add_argument("--name", help="the style's name (default: the file's name)")
    p.add_argument("--minutes", type=float, default=10.0, help="how long to learn (default 10; a stopped run resumes)")
    p.add_argument("--steps", type=int, default=100_000, help="stop at this step if the minutes last longer")
    p.add_argument("--photos", help="a folder of photos to learn on (default: the training corpus when present, else the shipped sample photos)")
    p.add_argument("--out", help="the learned-style file (default: the user's learned-styles folder, NAME.npz)")
    p.add_argument("--run-dir", help="the run's folder (default: <learned folder>/.runs/NAME)")
    p.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT), help="the fast net's checkpoint (default: mid8)")
    p.add_argument("--batch-size", type=int, default=4, help="photos per step")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--progress", choices=("text", "json"), default="text", help="json: one progress object per line")
    p.add_argument("--parent-pid", type=int, default=0, help=argparse.SUPPRESS)  # the app's learn job: stop when it is gone
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.minutes <= 0 or args.steps < 1 or args.batch_size < 1:
        print("error: --minutes, --steps and --batch-size must be positive", file=sys.stderr)
        return 2
    if args.progress == "json":  # read by the app's learn job, through pipes
        sys.stdout, sys.stderr = _Unread(sys.stdout), _Unread(sys.stderr)
    log = (lambda *a, **k: print(*a, file=sys.stderr, **k)) if args.progress == "json" else print
    try:
        return learn_style(args, log)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
