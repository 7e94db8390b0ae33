"""The `stylecast` command line, including every kind of bad input (docs/reliability.md lists them).

Each bad input must give exit code 2, one line on stderr, no traceback, and no output file.
"""
from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest

from engine.cli import main
from engine.modelfile import ASSETS_DIR
from tests.media import audio_packets, make_clip, video_facts


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_clean_error(code, err, *words):
    assert code == 2
    assert "Traceback" not in err
    lines = [l for l in err.strip().splitlines() if l.startswith("error:")]
    assert len(lines) == 1, err
    for w in words:
        assert w in lines[0], lines[0]


def test_stylize_one_image(capsys, tiny_fast_model, photo, tmp_path):
    out = tmp_path / "out.png"
    code, stdout, _ = run(capsys, "stylize", photo, "-o", out, "--model", tiny_fast_model, "--style", "fire")
    assert code == 0 and out.is_file()
    assert cv2.imread(str(out)).shape == cv2.imread(str(photo)).shape


def test_stylize_folder_with_mix_strength_colours_and_size(capsys, tiny_fast_model, photo, tmp_path):
    options = ["--model", tiny_fast_model, "--style", "ink=0.3", "--style", "fire=0.7", "--strength", "0.5",
               "--preserve-colors", "--size", "32"]
    outdir = tmp_path / "out"
    outdir.mkdir()
    code, _, _ = run(capsys, "stylize", photo.parent, "-o", outdir, *options)
    assert code == 0 and (outdir / "photo_stylized.png").is_file()
    batch = cv2.imread(str(outdir / "photo_stylized.png"))
    assert batch.shape == cv2.imread(str(photo)).shape
    # the folder run applies the same options as a one-image run, and they change the picture
    code, _, _ = run(capsys, "stylize", photo, "-o", tmp_path / "one.png", *options)
    assert code == 0 and np.array_equal(batch, cv2.imread(str(tmp_path / "one.png")))
    code, _, _ = run(capsys, "stylize", photo, "-o", tmp_path / "plain.png", "--model", tiny_fast_model)
    assert code == 0 and _mad(batch, cv2.imread(str(tmp_path / "plain.png"))) > 1


# ---- options observed in the output image (the built-in light8 net) ---------------------------
LIGHT8 = ASSETS_DIR / "models" / "light8.onnx"


def _mad(a, b) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


@pytest.fixture
def colour_photo(tmp_path):
    """96x128, saturated colour gradients with texture: chroma and detail for the options to act on."""
    h, w = 96, 128
    y, x = np.mgrid[0:h, 0:w]
    texture = cv2.GaussianBlur(np.random.default_rng(3).random((h, w, 3)).astype(np.float32) * 255, (0, 0), 4)
    img = np.stack([x * 255 / w, y * 255 / h, 255 - x * 255 / w], 2) * 0.6 + (texture - texture.mean()) * 3 + 50
    path = tmp_path / "colour.png"
    cv2.imwrite(str(path), np.clip(img, 0, 255).astype(np.uint8))
    return path


def stylize_light8(capsys, src, out, *options):
    code, _, err = run(capsys, "stylize", src, "-o", out, "--model", LIGHT8, *options)
    assert code == 0, err
    return cv2.imread(str(out))


def test_style_mix_lies_between_its_styles(capsys, colour_photo, tmp_path):
    a = stylize_light8(capsys, colour_photo, tmp_path / "a.png", "--style", "starry")
    b = stylize_light8(capsys, colour_photo, tmp_path / "b.png", "--style", "wave")
    half = stylize_light8(capsys, colour_photo, tmp_path / "ab.png", "--style", "starry=0.5", "--style", "wave=0.5")
    mostly_a = stylize_light8(capsys, colour_photo, tmp_path / "a8.png", "--style", "starry=0.8", "--style", "wave=0.2")
    d_ab = _mad(a, b)
    assert d_ab > 20  # two different looks
    assert _mad(half, a) > 0.2 * d_ab and _mad(half, b) > 0.2 * d_ab  # the mix is a third look...
    assert _mad(half, a) < 0.8 * d_ab and _mad(half, b) < 0.8 * d_ab  # ...between the two
    for c in range(3):  # mean colour: between the styles' where they differ clearly
        ma, mb, mh = a[..., c].mean(), b[..., c].mean(), half[..., c].mean()
        if abs(ma - mb) > 20:
            assert min(ma, mb) < mh < max(ma, mb), (c, ma, mb, mh)
    assert _mad(mostly_a, a) < _mad(half, a) and _mad(mostly_a, b) > _mad(half, b)  # the weights steer it


def test_strength_blends_from_the_input_to_the_stylization(capsys, colour_photo, tmp_path):
    original = cv2.imread(str(colour_photo))
    full = stylize_light8(capsys, colour_photo, tmp_path / "s1.png", "--style", "starry")
    none = stylize_light8(capsys, colour_photo, tmp_path / "s0.png", "--style", "starry", "--strength", "0")
    half = stylize_light8(capsys, colour_photo, tmp_path / "s5.png", "--style", "starry", "--strength", "0.5")
    assert _mad(full, original) > 20
    assert np.abs(none.astype(int) - original).max() <= 1  # strength 0: the input, within rounding
    expected = (full.astype(np.float32) + original) / 2
    assert np.abs(half - expected).max() <= 1


def test_preserve_colors_keeps_the_input_chroma_and_the_stylized_luma(capsys, colour_photo, tmp_path):
    def ycrcb(img):
        return cv2.cvtColor(img, cv2.COLOR_BGR2YCrCb).astype(np.float32)

    original = ycrcb(cv2.imread(str(colour_photo)))
    plain = ycrcb(stylize_light8(capsys, colour_photo, tmp_path / "plain.png", "--style", "starry"))
    kept_bgr = stylize_light8(capsys, colour_photo, tmp_path / "kept.png", "--style", "starry", "--preserve-colors")
    kept = ycrcb(kept_bgr)
    assert _mad(plain[..., 1:], original[..., 1:]) > 15  # the style alone changes the colours
    chroma_error = np.abs(kept[..., 1:] - original[..., 1:]).max(axis=2)
    # where the new luminance with the old chroma fits in RGB (no channel clipped to 0/255) the chroma is the
    # input's, within rounding; the clipped pixels (saturated colours made much lighter/darker) are a minority
    in_gamut = ((kept_bgr > 0) & (kept_bgr < 255)).all(axis=2)
    assert in_gamut.mean() > 0.75
    assert chroma_error[in_gamut].max() <= 1
    assert chroma_error.mean() < 2
    assert _mad(kept[..., 0], plain[..., 0]) < 2  # luminance from the stylization...
    assert _mad(kept[..., 0], original[..., 0]) > 10  # ...not from the input


def test_size_sets_the_processing_height_and_keeps_the_output_size(capsys, colour_photo, tmp_path):
    original = cv2.imread(str(colour_photo))
    h, w = original.shape[:2]
    full = stylize_light8(capsys, colour_photo, tmp_path / "full.png", "--style", "starry")
    small = stylize_light8(capsys, colour_photo, tmp_path / "small.png", "--style", "starry", "--size", "32")
    assert small.shape == original.shape
    assert _mad(small, full) > 10  # processed at another size: another picture
    # ...namely the stylization of the image at 32 px height, scaled back up
    low = tmp_path / "low.png"
    cv2.imwrite(str(low), cv2.resize(original, (round(w * 32 / h), 32), interpolation=cv2.INTER_AREA))
    low_out = stylize_light8(capsys, low, tmp_path / "low_out.png", "--style", "starry")
    upscaled = cv2.resize(low_out, (w, h), interpolation=cv2.INTER_LINEAR)
    assert _mad(small, upscaled) < 0.1 * _mad(small, full)
    # a processing height at or above the input's changes nothing
    same = stylize_light8(capsys, colour_photo, tmp_path / "same.png", "--style", "starry", "--size", str(h))
    assert np.array_equal(same, full)


def test_render_cli_keeps_audio(capsys, tiny_fast_model, clip_with_audio, tmp_path):
    out = tmp_path / "o.mp4"
    code, stdout, err = run(capsys, "render", clip_with_audio, "-o", out, "--model", tiny_fast_model)
    assert code == 0 and "audio copied" in stdout
    assert video_facts(out) == video_facts(clip_with_audio)
    assert audio_packets(out) == audio_packets(clip_with_audio)
    assert "24/24 frames" in err  # the progress bar reached the end


def test_live_headless_frames_to_video(capsys, tiny_fast_model, tmp_path):
    out = tmp_path / "live.mp4"
    code, stdout, _ = run(capsys, "live", "--source", "synthetic", "--frames", "10", "-o", out, "--model", tiny_fast_model,
                          "--size", "64")
    assert code == 0 and "10 frames out" in stdout
    assert video_facts(out)[3] == 10


def test_live_headless_from_file_to_pngs(capsys, tiny_fast_model, clip_with_audio, tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    code, _, _ = run(capsys, "live", "--source", clip_with_audio, "--frames", "5", "-o", folder, "--model", tiny_fast_model)
    assert code == 0 and len(list(folder.glob("*.png"))) == 5


def test_info_lists_providers(capsys, monkeypatch):
    from engine import modelfile

    monkeypatch.setattr(modelfile, "available_providers", lambda: ["cpu"])  # "default here" = this CPU's
    code, out, _ = run(capsys, "info")
    assert code == 0 and "providers:" in out and "cpu" in out
    # each model says its family and precision, and which one runs when none is named
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
    assert "[fast, int8, default here]" in lines["mid8.int8"] and "[fast, fp32]" in lines["mid8"]
    assert "[adain, int8, default here]" in lines["adain_skip.int8"] and "[adain, fp32]" in lines["adain_skip"]
    assert "[segmentation, fp32, default here]" in lines["selfie_segmentation"]
    assert "finds the person for --region, at 144x256" in lines["selfie_segmentation_landscape"]


# ---- model discovery with nothing installed ----------------------------------------------------
@pytest.fixture
def no_models(monkeypatch, tmp_path):
    """Point the built-in and the user model folders at tmp_path (neither exists yet)."""
    from engine import modelfile

    builtin, data = tmp_path / "builtin", tmp_path / "xdg"
    monkeypatch.setattr(modelfile, "BUILTIN_MODELS_DIR", builtin)
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    assert modelfile.user_models_dir() == data / "stylecast" / "models"
    return builtin, modelfile.user_models_dir()


def test_discover_models_with_missing_and_empty_folders(no_models, tiny_fast_model, tmp_path):
    import shutil

    from engine.modelfile import default_model, discover_models

    builtin, user = no_models
    assert discover_models() == [] and discover_models([]) == [] and discover_models(None) == []
    assert discover_models([tmp_path / "nowhere"]) == []
    for folder in (builtin, user, tmp_path / "extra"):
        folder.mkdir(parents=True)
    assert discover_models() == [] and discover_models([tmp_path / "extra"]) == []
    # files that do not describe themselves are skipped, not errors
    (user / "notes.onnx").write_text("not a model")
    (user / "empty.onnx").write_bytes(b"")
    shutil.copy(tiny_fast_model, user / "leftover.stats.onnx")  # a companion graph is never listed on its own
    (builtin / "readme.txt").write_text("models go here")
    assert discover_models([tmp_path / "extra"]) == []
    assert default_model("fast") is None and default_model("adain") is None
    # the same folders do find a model once there is one: the monkeypatched folders are the ones searched
    shutil.copy(tiny_fast_model, tmp_path / "extra" / "mine.onnx")
    assert [m.name for m in discover_models([tmp_path / "extra"])] == ["mine"]
    shutil.copy(tiny_fast_model, user / "user_net.onnx")
    assert [m.name for m in discover_models()] == ["user_net"]
    assert default_model("fast").name == "user_net"


def test_cli_without_installed_models(capsys, no_models, photo, tmp_path):
    code, out, _ = run(capsys, "info")
    assert code == 0 and "models (0;" in out and "none installed" in out
    code, _, err = run(capsys, "stylize", photo, "-o", tmp_path / "o.png")
    assert_clean_error(code, err, "no built-in fast multi-style model", "--model")
    assert not (tmp_path / "o.png").exists()


# ---- live --vcam --------------------------------------------------------------------------------
def test_live_to_virtual_camera(capsys, monkeypatch, tiny_fast_model):
    """Without pyvirtualcam: the install hint; with it but no device: the no-device error; with a device:
    the frames go out. The first case is also forced with a blocked import, whatever this machine has."""
    import importlib.util

    argv = ["live", "--source", "synthetic", "--frames", "3", "--vcam", "--model", tiny_fast_model, "--size", "32"]
    if importlib.util.find_spec("pyvirtualcam") is not None:
        import pyvirtualcam

        try:
            pyvirtualcam.Camera(width=32, height=32, fps=30).close()
            device = True
        except RuntimeError:
            device = False
        code, out, err = run(capsys, *argv)
        if device:
            assert code == 0 and "3 frames out" in out
        else:
            assert_clean_error(code, err, "no virtual camera device", "v4l2loopback")
    monkeypatch.setitem(sys.modules, "pyvirtualcam", None)
    code, _, err = run(capsys, *argv)
    assert_clean_error(code, err, "needs pyvirtualcam", 'pip install "stylecast[vcam]"')


def test_bench_prints_a_row_per_size(capsys, tiny_fast_model):
    code, out, _ = run(capsys, "bench", "--model", tiny_fast_model, "--sizes", "64x64,96x48", "--seconds", "0.3")
    rows = [l for l in out.splitlines() if l.startswith("| tiny_fast.onnx")]
    assert code == 0 and len(rows) == 2
    for row in rows:
        model_fps, e2e_fps = (float(v) for v in row.split("|")[4:6])
        assert model_fps > 0 and e2e_fps > 0


def test_missing_cuda_is_loud(capsys, tiny_fast_model, photo, tmp_path):
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this machine has CUDA; the check is for machines without it")
    code, _, err = run(capsys, "stylize", photo, "-o", tmp_path / "o.png", "--model", tiny_fast_model, "--provider", "cuda")
    assert_clean_error(code, err, "CUDA")
    assert not (tmp_path / "o.png").exists()


# ---- bad inputs -------------------------------------------------------------------------------
def _png16(path):
    img = (np.random.default_rng(0).random((40, 50, 3)) * 65535).astype(np.uint16)
    cv2.imwrite(str(path), img)
    return path


def _alpha(path):
    img = np.zeros((40, 50, 4), np.uint8)
    img[..., 2], img[..., 3] = 255, 128
    cv2.imwrite(str(path), img)
    return path


def test_image_with_alpha_and_16_bit_png_work(capsys, tiny_fast_model, tmp_path):
    for make in (_alpha, _png16):
        src = make(tmp_path / f"{make.__name__}.png")
        out = tmp_path / f"{make.__name__}_out.png"
        code, _, err = run(capsys, "stylize", src, "-o", out, "--model", tiny_fast_model)
        assert code == 0, err
        assert cv2.imread(str(out)).shape == (40, 50, 3)


def test_grayscale_image_works(capsys, tiny_fast_model, tmp_path):
    src = tmp_path / "gray.jpg"
    cv2.imwrite(str(src), np.tile(np.arange(64, dtype=np.uint8), (48, 1)))
    code, _, _ = run(capsys, "stylize", src, "-o", tmp_path / "o.png", "--model", tiny_fast_model)
    assert code == 0


@pytest.mark.parametrize("case", ["missing", "empty", "text", "one_pixel", "directory_as_image"])
def test_bad_images(capsys, tiny_fast_model, tmp_path, case):
    src = tmp_path / "in.png"
    if case == "empty":
        src.write_bytes(b"")
    elif case == "text":
        src.write_text("not an image")
    elif case == "one_pixel":
        cv2.imwrite(str(src), np.zeros((1, 1, 3), np.uint8))
    elif case == "directory_as_image":
        src = tmp_path / "folder.png"
        src.mkdir()
    out = tmp_path / "out.png"
    code, _, err = run(capsys, "stylize", src, "-o", out, "--model", tiny_fast_model)
    if case == "directory_as_image":  # a folder input is a batch; an empty one is an error
        assert_clean_error(code, err, "no images")
    else:
        assert_clean_error(code, err)
    assert not out.exists()


def test_huge_image_is_downscaled(capsys, tiny_fast_model, tmp_path):
    src = tmp_path / "huge.png"
    cv2.imwrite(str(src), np.zeros((10000, 10000, 3), np.uint8), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    out = tmp_path / "o.jpg"
    code, _, err = run(capsys, "stylize", src, "-o", out, "--model", tiny_fast_model, "--size", "64")
    assert code == 0, err
    assert max(cv2.imread(str(out)).shape[:2]) == 8192


@pytest.mark.parametrize("case", ["missing", "empty", "truncated", "text"])
def test_bad_videos(capsys, tiny_fast_model, tmp_path, case):
    src = tmp_path / "in.mp4"
    if case == "empty":
        src.write_bytes(b"")
    elif case == "text":
        src.write_text("this is a text file, not a video\n" * 20)
    elif case == "truncated":
        full = make_clip(tmp_path / "full.mp4", frames=48, audio=True)
        src.write_bytes(full.read_bytes()[: full.stat().st_size // 3])
    out = tmp_path / "out.mp4"
    code, _, err = run(capsys, "render", src, "-o", out, "--model", tiny_fast_model, "-q")
    if case == "truncated" and code == 0:
        # a truncated MP4 whose index survived renders the frames that exist: fine, if complete
        assert video_facts(out)[3] > 0
    else:
        assert_clean_error(code, err)
        assert not out.exists()
    assert not list(tmp_path.glob(".stylecast-tmp-*"))


def test_video_without_audio(capsys, tiny_fast_model, tmp_path):
    src = make_clip(tmp_path / "silent.mp4", frames=6, audio=False)
    code, out, _ = run(capsys, "render", src, "-o", tmp_path / "o.mp4", "--model", tiny_fast_model, "-q")
    assert code == 0 and "audio none" in out


def test_output_in_missing_folder(capsys, tiny_fast_model, photo, clip_with_audio, tmp_path):
    code, _, err = run(capsys, "stylize", photo, "-o", tmp_path / "no" / "o.png", "--model", tiny_fast_model)
    assert_clean_error(code, err, "does not exist")
    code, _, err = run(capsys, "render", clip_with_audio, "-o", tmp_path / "no" / "o.mp4", "--model", tiny_fast_model)
    assert_clean_error(code, err, "does not exist")


def test_output_equals_input(capsys, tiny_fast_model, photo, clip_with_audio):
    before = photo.read_bytes(), clip_with_audio.read_bytes()
    code, _, err = run(capsys, "stylize", photo, "-o", photo, "--model", tiny_fast_model)
    assert_clean_error(code, err, "is the input")
    code, _, err = run(capsys, "render", clip_with_audio, "-o", clip_with_audio, "--model", tiny_fast_model)
    assert_clean_error(code, err, "is the input")
    assert (photo.read_bytes(), clip_with_audio.read_bytes()) == before


def test_model_without_metadata_is_refused(capsys, photo, tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["image"], ["output"])], "g",
                              [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, None, None])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, None, None])])
    path = tmp_path / "plain.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    code, _, err = run(capsys, "stylize", photo, "-o", tmp_path / "o.png", "--model", path)
    assert_clean_error(code, err, "without StyleCast metadata")


def test_unknown_style_and_bad_weight(capsys, tiny_fast_model, photo, tmp_path):
    code, _, err = run(capsys, "stylize", photo, "-o", tmp_path / "o.png", "--model", tiny_fast_model, "--style", "nope")
    assert_clean_error(code, err, "unknown style")
    code, _, err = run(capsys, "stylize", photo, "-o", tmp_path / "o.png", "--model", tiny_fast_model, "--style", "ink=x")
    assert_clean_error(code, err, "bad weight")


def test_subprocess_exit_code_and_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "engine", "stylize", str(tmp_path / "missing.png"), "-o",
                           str(tmp_path / "o.png")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stderr.startswith("error:")


def test_live_with_a_window_refuses_style_flags_it_would_drop(monkeypatch, capsys):
    """Without a headless output, ``live`` opens the app, which takes only the source: a model or style given
    there is refused with one clear message (exit 2) instead of being dropped, and the app does not open."""
    from engine import cli

    opened = []
    monkeypatch.setattr(cli, "_launch_gui", lambda argv: opened.append(argv) or 0)
    code = cli.main(["live", "--source", "synthetic", "--model", "m.onnx", "--style-image", "p.png"])
    err = capsys.readouterr().err
    assert code == 2 and opened == []
    assert "--model, --style-image" in err and "--output" in err and "Traceback" not in err
    assert cli.main(["live", "--source", "synthetic"]) == 0 and opened == [["--source", "synthetic"]]
