"""Our Selfie Segmentation ONNX files against MediaPipe's own model, photo by photo.

Runs in a throwaway environment that has mediapipe (never StyleCast's own):

    python -m venv /tmp/mpvenv && /tmp/mpvenv/bin/pip install mediapipe==0.10.21 onnxruntime [scikit-image]
    /tmp/mpvenv/bin/python bench/segmentation_parity.py [--model assets/models/selfie_segmentation.onnx]
                                                        [--landscape assets/models/selfie_segmentation_landscape.onnx]

The bar is the model's own output on the same tensor. MediaPipe's graph (selfie_segmentation_cpu) stretches
the frame to the model's size (ImageToTensorCalculator: no letterbox, range 0..1), runs the .tflite
(XNNPACK on the CPU) and resizes the mask back to the frame (TensorsToSegmentationCalculator, no activation).
So each photo is first resized here to the model's size (cv2.INTER_AREA) and that same picture goes to both:
MediaPipe's pre- and post-processing are then identity maps and the two masks are the two models' outputs.
Reported per photo: mean and max absolute difference of the masks (0..1), and the person fraction of each.
``--end-to-end`` adds a second figure: MediaPipe on the full-size photo vs ours with a plain bilinear
stretch and a bilinear resize of the mask back (the resampling differs, so it is looser than the bar).

Photos: skimage's astronaut (when scikit-image is installed), matplotlib's grace_hopper.jpg (mediapipe
installs matplotlib), five frames of assets/samples/pedestrians.mp4, photos with people in cache/corpus
(Messi, a street festival), the Mona Lisa, and two drawings of people from the corpus.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "cache" / "corpus"
CLIP = ROOT / "assets" / "samples" / "pedestrians.mp4"
CLIP_FRAMES = (0, 20, 40, 60, 79)
CORPUS_PHOTOS = ("content/cv_messi5.jpg", "content/gc_explore_world_music_japan.jpg", "styles/monalisa.png",
                 "content/gc_lang_family.jpg", "content/gc_lang_brother.jpg")
TARGET = 0.01  # mean absolute difference per photo


def photos() -> list[tuple[str, np.ndarray]]:
    """(name, RGB uint8) for every photo found; a missing source is skipped with a note."""
    found: list[tuple[str, np.ndarray]] = []
    try:
        from skimage import data

        found.append(("skimage astronaut", data.astronaut()))
    except ImportError:
        print("note: scikit-image not installed: no astronaut", file=sys.stderr)
    try:
        import matplotlib

        path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
        found.append(("matplotlib grace_hopper", cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)))
    except (ImportError, cv2.error):
        print("note: matplotlib's grace_hopper.jpg not found", file=sys.stderr)
    cap = cv2.VideoCapture(str(CLIP))
    for index in CLIP_FRAMES:
        cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, frame = cap.read()
        if ok:
            found.append((f"pedestrians.mp4 #{index}", cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)))
    cap.release()
    for rel in CORPUS_PHOTOS:
        image = cv2.imread(str(CORPUS / rel))
        if image is None:
            print(f"note: {CORPUS / rel} not found", file=sys.stderr)
            continue
        found.append((Path(rel).stem, cv2.cvtColor(image, cv2.COLOR_BGR2RGB)))
    return found


class MediaPipeModel:
    """MediaPipe's own Selfie Segmentation graph (the legacy solution API): RGB uint8 -> mask float32."""

    def __init__(self, landscape: bool) -> None:
        import mediapipe as mp

        self.solution = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=1 if landscape else 0)

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        return self.solution.process(np.ascontiguousarray(rgb)).segmentation_mask.astype(np.float32)


class OnnxModel:
    def __init__(self, path: Path, threads: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        self.runner = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        meta = self.runner.get_modelmeta().custom_metadata_map
        assert meta["family"] == "segmentation" and meta["input_range"] == "0-1", meta
        height, width = (int(v) for v in meta["input_size"].split("x"))
        self.size = (height, width)

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """RGB uint8 at the model's size -> mask (H, W) float32."""
        x = (rgb.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
        return self.runner.run(["mask"], {"image": np.ascontiguousarray(x)})[0][0, 0]

    def timed(self, runs: int = 30) -> float:
        x = np.random.default_rng(0).random((1, 3, *self.size), dtype=np.float32)
        for _ in range(3):
            self.runner.run(None, {"image": x})
        start = time.perf_counter()
        for _ in range(runs):
            self.runner.run(None, {"image": x})
        return (time.perf_counter() - start) / runs * 1000


def compare(path: Path, landscape: bool, pictures: list[tuple[str, np.ndarray]], end_to_end: bool,
            threads: int) -> list[float]:
    ours, theirs = OnnxModel(path, threads), MediaPipeModel(landscape)
    height, width = ours.size
    print(f"\n{path.name} ({height}x{width}) vs MediaPipe 0.10.21 model_selection={int(landscape)}")
    head = f"{'photo':<28} {'size':>9}  {'mean |d|':>9} {'max |d|':>8}  {'person ours':>11} {'MediaPipe':>9}"
    print(head + ("  end-to-end mean |d|" if end_to_end else ""))
    means = []
    for name, rgb in pictures:
        small = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
        a, b = ours(small), theirs(small)
        assert a.shape == b.shape == (height, width), (a.shape, b.shape)
        d = np.abs(a - b)
        means.append(float(d.mean()))
        line = (f"{name:<28} {rgb.shape[1]:>4}x{rgb.shape[0]:<4}  {d.mean():9.2e} {d.max():8.2e}  "
                f"{(a > 0.5).mean():11.3f} {(b > 0.5).mean():9.3f}")
        if end_to_end:
            full = theirs(rgb)
            stretched = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_LINEAR)
            back = cv2.resize(ours(stretched), (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
            line += f"  {np.abs(back - full).mean():19.2e}"
        print(line)
    worst = max(means)
    print(f"mean over {len(means)} photos {np.mean(means):.2e}, worst {worst:.2e}: "
          f"{'within' if worst < TARGET else 'OVER'} the {TARGET} target")
    print(f"ONNX Runtime, {threads} threads, {height}x{width}: {ours.timed():.2f} ms a frame")
    return means


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=str(ROOT / "assets/models/selfie_segmentation.onnx"))
    p.add_argument("--landscape", default=str(ROOT / "assets/models/selfie_segmentation_landscape.onnx"),
                   help="the landscape file ('' to skip it)")
    p.add_argument("--end-to-end", action="store_true", help="also compare on full-size photos (looser)")
    p.add_argument("--threads", type=int, default=2, help="ONNX Runtime intra-op threads for the timing")
    args = p.parse_args(argv)
    os.environ.setdefault("GLOG_minloglevel", "2")
    pictures = photos()
    worst = max(compare(Path(args.model), False, pictures, args.end_to_end, args.threads))
    if args.landscape:
        worst = max(worst, *compare(Path(args.landscape), True, pictures, args.end_to_end, args.threads))
    return 0 if worst < TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
