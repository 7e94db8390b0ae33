"""Bad model and image files: refused with one sentence, listed as broken, skipped at start, never a crash.

Models are the shipped ones with their metadata (or output name) rewritten by the onnx package; images
are real files, the huge ones PNGs whose rows of zeros compress to a few hundred KB, or headers of other
formats that declare a huge picture (refused before any decoding, so they need no pixel data).
"""
from __future__ import annotations

import io
import json
import shutil
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.cli import main
from engine.errors import InputError, ModelError
from engine.frames import MAX_IMAGE_PIXELS, load_image, read_image_header
from engine.modelfile import ASSETS_DIR, default_model, discover_models, scan_models, user_models_dir
from engine.stylizers import load_stylizer
from engine.userstyles import StyleLibrary, user_styles_dir

MODELS = ASSETS_DIR / "models"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_clean_error(code, err, *words):
    assert code == 2 and "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    for word in words:
        assert word in lines[0], lines[0]


# ---- malformed models ------------------------------------------------------------------------------
def write_variant(dst: Path, base: str, meta: dict[str, str], rename_output: str | None = None) -> Path:
    """A shipped model with some metadata_props replaced (and optionally its output renamed)."""
    import onnx

    model = onnx.load(str(MODELS / f"{base}.onnx"))
    props = {p.key: p.value for p in model.metadata_props}
    props.update(meta)
    del model.metadata_props[:]
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    if rename_output:
        old = model.graph.output[0].name
        for node in model.graph.node:
            node.output[:] = [rename_output if o == old else o for o in node.output]
        model.graph.output[0].name = rename_output
        onnx.checker.check_model(model)  # still a valid graph: only StyleCast's contract is broken
    onnx.save(model, str(dst))
    return dst


# as a CPU's first choice if it were accepted: the mid variant, int8, and a name shorter than mid8.int8's
OUTRANK = {"variant": "mid", "precision": "int8"}
CASES = {  # id: (shipped model, metadata changes, new output name, words of the refusal)
    "style_names_5": ("light8", {**OUTRANK, "style_names": "5"}, None, ["style_names", "'5'"]),
    "style_names_null": ("light8", {**OUTRANK, "style_names": "null"}, None, ["style_names", "'null'"]),
    "stats_graph_outside_the_folder": ("adain_skip", {"stats_graph": "../.."}, None, ["stats_graph", "'../..'"]),
    "pad_multiple_0": ("light8", {**OUTRANK, "pad_multiple": "0"}, None, ["pad_multiple", "'0'"]),
    "min_side_100000": ("light8", {**OUTRANK, "min_side": "100000"}, None, ["min_side", "'100000'"]),
    "3_names_for_8_styles": ("light8", {**OUTRANK, "style_names": json.dumps(["a", "b", "c"]), "n_styles": "3"},
                             None, ["3 styles", "8 style weights"]),
    "output_renamed": ("light8", OUTRANK, "stylized", ["no output named 'output'", "stylized"]),
    "bold_rows_it_lacks": ("light8", {**OUTRANK, "bold_rows": "1"}, None, ["8 styles with bold rows", "8 style weights"]),
    "style_code_it_lacks": ("light8", {**OUTRANK, "style_code": "1280"}, None, ["declares a style code", "takes none"]),
}


@pytest.fixture(params=list(CASES))
def broken_user_model(request) -> tuple[Path, str, list[str]]:
    """One malformed model as ``a.onnx`` in the user's models folder: (path, family, words of the refusal)."""
    base, meta, output, words = CASES[request.param]
    folder = user_models_dir()
    folder.mkdir(parents=True)
    path = write_variant(folder / "a.onnx", base, meta, output)
    return path, "adain" if base.startswith("adain") else "fast", words


def test_malformed_model_is_refused_in_one_sentence(broken_user_model):
    path, _, words = broken_user_model
    with pytest.raises(ModelError) as refused:
        load_stylizer(path, "cpu")
    message = str(refused.value)
    assert "\n" not in message and message.startswith("a.onnx")
    for word in words:
        assert word in message


def test_malformed_model_is_listed_as_broken_and_never_the_default(broken_user_model):
    path, family, words = broken_user_model
    models, broken = scan_models()
    assert "a" not in [m.name for m in models] and "a" not in [m.name for m in discover_models()]
    assert [b.path for b in broken] == [path]
    assert all(word in broken[0].reason for word in words)
    assert default_model(family, "cpu").name == {"fast": "mid8.int8", "adain": "adain_skip.int8"}[family]


def test_cli_with_a_malformed_user_model(capsys, broken_user_model, photo, tmp_path):
    path, _, words = broken_user_model
    code, out, err = run(capsys, "info")
    assert code == 0 and "Traceback" not in err
    line = next(line for line in out.splitlines() if line.startswith("  a [broken]"))
    assert str(path) in line and all(word in line for word in words)
    # without --model the default (a shipped net) runs
    code, out, err = run(capsys, "stylize", photo, "-o", tmp_path / "o.png")
    assert code == 0, err
    assert cv2.imread(str(tmp_path / "o.png")).shape == (70, 90, 3)
    # named, it is an error of one sentence
    code, _, err = run(capsys, "stylize", photo, "-o", tmp_path / "p.png", "--model", path)
    assert_clean_error(code, err, "a.onnx", *words)
    assert not (tmp_path / "p.png").exists()


# ---- huge and undecodable images ---------------------------------------------------------------------
def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_black_png(path: Path, width: int, height: int) -> Path:
    """A valid 1-bit grayscale PNG of any size: its rows of zeros compress about 1000:1."""
    row = bytes(1 + (width + 7) // 8)  # filter byte + packed pixels
    packer = zlib.compressobj(9)
    idat = b"".join([*(packer.compress(row * 256) for _ in range(height // 256)),
                     packer.compress(row * (height % 256)), packer.flush()])
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b""))
    return path


@pytest.fixture(scope="module")
def huge_pngs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("huge")
    return {"30000": write_black_png(folder / "30000x30000.png", 30000, 30000),
            "40000": write_black_png(folder / "40000x30000.png", 40000, 30000)}


@pytest.fixture
def no_decoding(monkeypatch):
    """Fail the test if any image is decoded: the refusal must come from the header."""
    def refuse(*args, **kwargs):
        raise AssertionError("the image was decoded")

    monkeypatch.setattr(cv2, "imdecode", refuse)


def test_png_over_the_pixel_limit_is_refused_from_its_header(huge_pngs, no_decoding, monkeypatch):
    from PIL import Image

    path = huge_pngs["30000"]
    assert path.stat().st_size < 1_000_000
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # Pillow's own bomb check would refuse to open it
    with Image.open(path) as im:  # a real PNG of that size, as another reader sees it
        assert im.size == (30000, 30000) and im.mode == "1"
    with pytest.raises(InputError) as refused:
        load_image(path)
    assert str(refused.value) == (f"{path} is 30000x30000 pixels (900 MP); "
                                  f"StyleCast reads images up to {MAX_IMAGE_PIXELS // 1_000_000} MP")


def _jpeg_header(w: int, h: int) -> bytes:  # SOI, JFIF APP0, baseline SOF0 (3 components), EOI
    jfif = b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0"
    sof = struct.pack(">BHHB", 8, h, w, 3) + bytes([1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1])
    return (b"\xff\xd8\xff\xe0" + struct.pack(">H", 2 + len(jfif)) + jfif
            + b"\xff\xc0" + struct.pack(">H", 2 + len(sof)) + sof + b"\xff\xd9")


def _bmp_header(w: int, h: int) -> bytes:  # file header + BITMAPINFOHEADER, 24 bit
    return (b"BM" + struct.pack("<IHHI", 54, 0, 0, 54)
            + struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, 0, 2835, 2835, 0, 0))


def _webp_header(w: int, h: int) -> bytes:  # RIFF container with a VP8X (extended) canvas
    vp8x = bytes(4) + (w - 1).to_bytes(3, "little") + (h - 1).to_bytes(3, "little")
    body = b"WEBP" + b"VP8X" + struct.pack("<I", len(vp8x)) + vp8x
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _tiff_header(w: int, h: int, pixels: bytes = b"") -> bytes:
    """A big-endian classic TIFF, one IFD, 8-bit gray in one strip (``pixels``, or none: the header only).
    A SHORT value sits in the first two bytes of its four-byte field, hence ``<< 16``."""
    entries = [(256, 4, 1, w), (257, 4, 1, h), (258, 3, 1, 8 << 16), (259, 3, 1, 1 << 16), (262, 3, 1, 1 << 16),
               (273, 4, 1, 8 + 2 + 9 * 12 + 4), (277, 3, 1, 1 << 16), (278, 4, 1, h), (279, 4, 1, len(pixels))]
    return (b"MM\0*" + struct.pack(">I", 8) + struct.pack(">H", len(entries))
            + b"".join(struct.pack(">HHII", *e) for e in entries) + bytes(4) + pixels)


@pytest.mark.parametrize("kind", ["jpg", "bmp", "webp", "tif"])
def test_other_formats_over_the_pixel_limit_are_refused_from_their_header(tmp_path, kind, no_decoding, monkeypatch):
    make = {"jpg": _jpeg_header, "bmp": _bmp_header, "webp": _webp_header, "tif": _tiff_header}[kind]
    path = tmp_path / f"big.{kind}"
    path.write_bytes(make(30000, 20000))
    if kind != "webp":  # Pillow reads these headers without decoding (its WebP reader needs the pixels)
        from PIL import Image

        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
        with Image.open(path) as im:
            assert im.size == (30000, 20000)
    with pytest.raises(InputError, match=r"is 30000x20000 pixels \(600 MP\); StyleCast reads images up to"):
        load_image(path)


def test_image_headers_of_real_files(tmp_path):
    """Format and size from the header agree with the decoder for each format StyleCast reads."""
    from PIL import Image

    rng = np.random.default_rng(0)
    rgb = (rng.random((23, 37, 3)) * 255).astype(np.uint8)
    rgba = np.dstack([rgb, np.full((23, 37), 200, np.uint8)])
    files = {
        "a.png": lambda p: cv2.imwrite(str(p), rgb),
        "b16.png": lambda p: cv2.imwrite(str(p), rgb.astype(np.uint16) * 257),
        "c.jpg": lambda p: cv2.imwrite(str(p), rgb),
        "d_progressive.jpg": lambda p: Image.fromarray(rgb).save(p, progressive=True),
        "e.bmp": lambda p: cv2.imwrite(str(p), rgb),
        "f_topdown.bmp": lambda p: p.write_bytes(_top_down_bmp(rgb)),
        "g_lossy.webp": lambda p: Image.fromarray(rgb).save(p, quality=80),
        "h_lossless.webp": lambda p: Image.fromarray(rgb).save(p, lossless=True),
        "i_alpha.webp": lambda p: Image.fromarray(rgba).save(p, lossless=True),
        "j.tif": lambda p: cv2.imwrite(str(p), rgb),
        "k_bigendian.tif": lambda p: p.write_bytes(_tiff_header(37, 23, rgb[:, :, 0].tobytes())),
        "l_extended.webp": lambda p: Image.fromarray(rgb).save(p, lossless=True, exif=Image.Exif()),
    }
    for name, write in files.items():
        path = tmp_path / name
        write(path)
        header = read_image_header(path.read_bytes())
        decoded = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        assert header is not None, name
        assert (header.height, header.width) == decoded.shape[:2] == (23, 37), name
        assert header.kind == {"png": "PNG", "jpg": "JPEG", "bmp": "BMP", "webp": "WebP", "tif": "TIFF"}[path.suffix[1:]]
        assert load_image(path).shape == (23, 37, 3), name
    assert (tmp_path / "k_bigendian.tif").read_bytes()[:4] == b"MM\0*"
    assert (tmp_path / "l_extended.webp").read_bytes()[12:16] == b"VP8X"
    assert (tmp_path / "h_lossless.webp").read_bytes()[12:16] == b"VP8L"
    assert (tmp_path / "g_lossy.webp").read_bytes()[12:16] == b"VP8 "
    assert read_image_header(b"not an image at all") is None
    assert read_image_header(b"\x89PNG\r\n\x1a\n\0\0") is None  # a damaged header: no size to trust


def _top_down_bmp(rgb: np.ndarray) -> bytes:
    """A 24-bit BMP with a negative height (rows stored top-down)."""
    h, w = rgb.shape[:2]
    stride = (3 * w + 3) // 4 * 4
    rows = b"".join(np.ascontiguousarray(rgb[y, :, ::-1]).tobytes().ljust(stride, b"\0") for y in range(h))
    return (b"BM" + struct.pack("<IHHI", 54 + len(rows), 0, 0, 54)
            + struct.pack("<IiiHHIIiiII", 40, w, -h, 1, 24, 0, len(rows), 2835, 2835, 0, 0) + rows)


def test_image_beyond_what_opencv_accepts_is_one_line_error(capsys, huge_pngs, tmp_path):
    out = tmp_path / "o.png"
    code, _, err = run(capsys, "stylize", huge_pngs["40000"], "-o", out, "--model", MODELS / "light8.onnx")
    assert_clean_error(code, err, "40000x30000 pixels (1200 MP)", f"up to {MAX_IMAGE_PIXELS // 1_000_000} MP")
    assert not out.exists()


def _one_bit_bmp(path: Path, width: int, height: int) -> Path:
    stride = (width + 31) // 32 * 4
    palette = b"\0\0\0\0\xff\xff\xff\0"
    offset = 14 + 40 + len(palette)
    pixels = bytes(stride * height)
    path.write_bytes(b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset)
                     + struct.pack("<IiiHHIIiiII", 40, width, height, 1, 1, 0, len(pixels), 2835, 2835, 2, 0)
                     + palette + pixels)
    return path


def test_decoder_error_is_a_one_line_input_error(capsys, tmp_path):
    """A real 1 MB BMP of 1048577 x 8 pixels: under the pixel limit, but wider than OpenCV takes (2^20),
    so its decoder raises cv2.error; that is an InputError of one sentence like every bad image."""
    path = _one_bit_bmp(tmp_path / "strip.bmp", 1 << 20 | 1, 8)
    with pytest.raises(InputError) as refused:
        load_image(path)
    assert "\n" not in str(refused.value) and "1048577x8 pixels" in str(refused.value)
    code, _, err = run(capsys, "stylize", path, "-o", tmp_path / "o.png", "--model", MODELS / "light8.onnx")
    assert_clean_error(code, err, "strip.bmp", "1048577x8")


def _style_folder_with_bad_files(huge: Path) -> Path:
    folder = user_styles_dir()
    folder.mkdir(parents=True)
    xs, ys = np.meshgrid(np.arange(64, dtype=np.uint8) * 4, np.arange(48, dtype=np.uint8) * 5)
    gradient = np.dstack([xs, ys, np.full((48, 64), 90, np.uint8)])
    cv2.imwrite(str(folder / "good.png"), gradient)
    shutil.copy(huge, folder / "huge.png")
    (folder / "notes.png").write_text("not an image")
    return folder


def test_bad_files_in_the_styles_folder_are_skipped_with_a_note(huge_pngs):
    _style_folder_with_bad_files(huge_pngs["40000"])
    library = StyleLibrary()
    loaded = dict(library.images())
    assert list(loaded) == ["good"] and loaded["good"].shape == (48, 64, 3)
    assert set(library.skipped) == {"huge", "notes"}
    assert library.skipped["huge"].startswith("style image huge.png skipped: ")
    assert "40000x30000 pixels (1200 MP)" in library.skipped["huge"]
    assert "not a readable image" in library.skipped["notes"]
    assert all("\n" not in note for note in library.skipped.values())
    assert dict(library.images(skip=["good"])) == {}  # names already loaded are not read again


def test_app_starts_with_a_broken_model_and_bad_style_images(qtbot, huge_pngs):
    """The desktop app as launched (build_window): the broken model is not offered, the shipped default
    loads, the readable style image is in the gallery and the others are left out."""
    from desktop.app import build_window

    folder = user_models_dir()
    folder.mkdir(parents=True)
    write_variant(folder / "a.onnx", "light8", {**OUTRANK, "style_names": "5"})
    write_variant(folder / "b.onnx", "light8", {**OUTRANK, "min_side": "100000"})
    write_variant(folder / "c.onnx", "light8", OUTRANK, rename_output="stylized")
    _style_folder_with_bad_files(huge_pngs["40000"])
    window = build_window("synthetic")
    qtbot.addWidget(window)
    try:
        c = window.c
        assert c.fast.info.name == "mid8.int8"
        offered = [name for name, _ in c.fast_models()]
        assert "mid8.int8" in offered and not {"a", "b", "c"} & set(offered)
        assert c.custom_styles() == ["good"]
        assert window.live.gallery.count() == len(c.builtin_styles()) + 1
        assert window.notes and "skipped" in window.statusBar().currentMessage()  # said, not silent
    finally:
        window.close()


# ---- EXIF orientation -----------------------------------------------------------------------------
def _quadrants(h: int = 48, w: int = 80) -> np.ndarray:
    """RGB with four flat, distinct quadrants: any turn or flip moves a colour (and JPEG keeps flat colours)."""
    img = np.empty((h, w, 3), np.uint8)
    img[:h // 2, :w // 2] = (220, 30, 30)
    img[:h // 2, w // 2:] = (30, 200, 40)
    img[h // 2:, :w // 2] = (40, 40, 210)
    img[h // 2:, w // 2:] = (230, 220, 40)
    return img


def _with_orientation(pil_image, orientation: int):
    exif = pil_image.getexif()
    exif[0x0112] = orientation
    return exif


def _upright_reference(path: Path) -> np.ndarray:
    """What a photo viewer shows: Pillow's decoder and its exif_transpose, alpha over white."""
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        upright = ImageOps.exif_transpose(im)
        if upright.mode in ("I;16", "I"):  # 16-bit gray, as OpenCV's path rounds it
            return np.repeat((np.asarray(upright, np.float32) / 257 + 0.5).astype(np.uint8)[..., None], 3, 2)
        rgba = np.asarray(upright.convert("RGBA"), np.float32)
    alpha = rgba[..., 3:] / 255
    return (rgba[..., :3] * alpha + 255 * (1 - alpha) + 0.5).astype(np.uint8)


@pytest.mark.parametrize("orientation", range(2, 9))
def test_jpeg_exif_orientation_is_applied(tmp_path, orientation):
    """A phone photo stored sideways (orientation 6: turn 90 degrees clockwise) comes out upright; every
    other orientation too, as Pillow's exif_transpose shows it."""
    from PIL import Image

    src = Image.fromarray(_quadrants())
    path = tmp_path / "phone.jpg"
    src.save(path, quality=95, exif=_with_orientation(src, orientation))
    loaded, expected = load_image(path), _upright_reference(path)
    assert loaded.shape == expected.shape == ((80, 48, 3) if orientation >= 5 else (48, 80, 3))
    assert np.abs(loaded.astype(int) - expected).mean() < 2.0  # two JPEG decoders; the same picture


def test_exif_orientation_in_png_webp_and_tiff_with_alpha_and_16_bit(tmp_path):
    from PIL import Image

    rgb = _quadrants()
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    rgba[:10, :10, 3] = 0  # a transparent corner: white once composited
    gray16 = (np.arange(48 * 80, dtype=np.uint32).reshape(48, 80) * 17 % 65536).astype(np.uint16)
    cases = [("alpha.png", Image.fromarray(rgba), {}, 6), ("gray16.png", Image.fromarray(gray16), {}, 8),
             ("lossless.webp", Image.fromarray(rgba), {"lossless": True}, 6),
             ("lossy.webp", Image.fromarray(rgb), {"quality": 95}, 3),
             ("turned_by_its_decoder.tif", Image.fromarray(rgb), {}, 6)]  # OpenCV turns TIFFs itself: not twice
    for name, image, options, orientation in cases:
        path = tmp_path / name
        image.save(path, exif=_with_orientation(image, orientation), **options)
        assert read_image_header(path.read_bytes()).orientation == (1 if name.endswith(".tif") else orientation)
        loaded, expected = load_image(path), _upright_reference(path)
        assert loaded.shape == expected.shape == ((80, 48, 3) if orientation >= 5 else (48, 80, 3)), name
        difference = np.abs(loaded.astype(int) - expected)
        assert (difference.mean() < 2.0) if name == "lossy.webp" else (difference.max() <= 1), name


def test_a_stored_style_image_named_like_a_builtin_style_is_renamed_not_shadowing(tiny_fast_model, tiny_adain_model,
                                                                                 photo, tmp_path):
    """A style image saved as 'ink.png' before such names were refused must not take 'ink' from the
    built-in style at the next start: it becomes 'my-ink', the picture kept, with a note."""
    import cv2

    from engine.live import LiveSession
    from engine.userstyles import StyleLibrary

    folder = tmp_path / "styles"
    folder.mkdir()
    shutil.copy(photo, folder / "ink.png")
    before = cv2.imread(str(folder / "ink.png"))
    notes = []
    session = LiveSession("synthetic", provider="cpu", library=StyleLibrary(folder))
    session.add_listener(lambda event, value: notes.append(value) if event == "note" else None)
    session.set_adain_model(tiny_adain_model)
    session.set_model(tiny_fast_model)
    assert session.custom_styles() == ["my-ink"] and "ink" in session.builtin_styles()
    assert sorted(p.name for p in folder.iterdir()) == ["my-ink.png"]
    assert (cv2.imread(str(folder / "my-ink.png")) == before).all()
    assert any("'my-ink'" in n for n in notes)
    session.set_mix({"ink": 1.0})
    assert session.processor.stylizer is session.fast  # 'ink' is the built-in style again
