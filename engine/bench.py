"""`stylecast bench`: model-only and end-to-end fps per model, resolution and provider.

model-only  the stylizer's session.run on a prepared, padded frame, back to back.
end-to-end  the live pipeline: a camera-like source (pre-rendered frames offered at 1.5x the
            model-only rate) on its own thread, resize/pad/convert, inference, postprocess, a sink
            that copies the frame (what a display does). Throughput = frames out / wall time,
            after a warm-up.
"""
from __future__ import annotations

import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError
from .frames import pad_to_multiple
from .modelfile import discover_models
from .pipeline import LivePipeline
from .sinks import CallbackSink
from .sources import SyntheticSource
from .processor import FrameProcessor, StyleSettings
from .stylizers import AdaINStylizer, load_stylizer


@dataclass
class BenchRow:
    model: str
    size: str
    provider: str
    model_fps: float
    e2e_fps: float

    @property
    def ratio(self) -> float:
        return self.e2e_fps / self.model_fps if self.model_fps else 0.0


def _parse_sizes(text: str) -> list[tuple[int, int]]:
    sizes = []
    for part in text.split(","):
        try:
            w, h = (int(v) for v in part.lower().split("x"))
        except ValueError:
            raise InputError(f"bad size {part!r}; expected WxH, e.g. 640x360") from None
        sizes.append((w, h))
    return sizes


def bench_model(path: Path, sizes: list[tuple[int, int]], seconds: float, provider: str) -> list[BenchRow]:
    stylizer = load_stylizer(path, provider)
    if isinstance(stylizer, AdaINStylizer):
        rng = np.random.default_rng(0)
        stylizer.add_style("noise", (rng.random((256, 256, 3)) * 255).astype(np.uint8))
    processor = FrameProcessor(stylizer, StyleSettings())
    rows = []
    for w, h in sizes:
        frame = SyntheticSource(w, h).make(0)
        padded, _ = pad_to_multiple(frame, stylizer.info.pad_multiple)
        stylizer.stylize(padded, {}, 1.0)  # warm-up: first run allocates
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            stylizer.stylize(padded, {}, 1.0)
            n += 1
        model_fps = n / (time.perf_counter() - t0)
        # A camera-like source: pre-rendered frames offered at 1.5x the model's rate (so the model,
        # not the source, is the limit), and a sink that copies each frame as a display would.
        shown = []
        source = SyntheticSource(w, h, fps=1.5 * model_fps, realtime=True, loop_frames=16)
        pipeline = LivePipeline(source, processor, [CallbackSink(lambda img, f: shown.append(img.copy()) or shown.clear())])
        pipeline.start()
        time.sleep(min(1.0, seconds / 3))  # warm-up
        n0, t0 = pipeline.stats.frames_processed, time.perf_counter()
        time.sleep(seconds)
        n1, t1 = pipeline.stats.frames_processed, time.perf_counter()
        pipeline.stop()
        e2e_fps = (n1 - n0) / (t1 - t0)
        rows.append(BenchRow(path.name, f"{w}x{h}", stylizer.session_info.active, model_fps, e2e_fps))
    return rows


def run_bench(args) -> list[BenchRow]:
    paths = [Path(m) for m in args.model] if args.model else [m.path for m in discover_models()]
    if not paths:
        raise InputError("no models to benchmark: install the built-in models or pass --model PATH")
    sizes = _parse_sizes(args.sizes)
    rows: list[BenchRow] = []
    print(f"# {platform.node()} {platform.processor() or platform.machine()}, {time.strftime('%Y-%m-%d')}")
    header = "| model | size | provider | model-only fps | end-to-end fps | e2e / model |"
    print(header)
    print("|---|---|---|---:|---:|---:|")
    for path in paths:
        for row in bench_model(path, sizes, args.seconds, args.provider):
            rows.append(row)
            print(f"| {row.model} | {row.size} | {row.provider} | {row.model_fps:.1f} | {row.e2e_fps:.1f} | {row.ratio:.0%} |",
                  flush=True)
    return rows
