"""The `stylecast` command line, including every kind of bad input from the foundation issue.

Each bad input must give exit code 2, one line on stderr, no traceback, and no output file.
"""
from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest

from engine.cli import main
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
    outdir = tmp_path / "out"
    outdir.mkdir()
    code, _, _ = run(capsys, "stylize", photo.parent, "-o", outdir, "--model", tiny_fast_model, "--style", "ink=0.3",
                     "--style", "fire=0.7", "--strength", "0.5", "--preserve-colors", "--size", "32")
    assert code == 0 and (outdir / "photo_stylized.png").is_file()


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


def test_info_lists_providers(capsys):
    code, out, _ = run(capsys, "info")
    assert code == 0 and "providers:" in out and "cpu" in out


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
