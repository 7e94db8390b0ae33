"""Boldness and learned styles on the command line (`--boldness`, `--style NAME` of a learned style,
`--learned-style FILE`), and what a render on Ray ships to its workers for them (engine/farm.py: the task
function run in this process on a real segment, without a cluster). Real ONNX sessions on the tiny
exported nets; every bad value is one `error:` line and exit code 2."""
from __future__ import annotations

import pickle

import av
import cv2
import numpy as np
import pytest

from engine.learned import learned_dir, save_learned
from engine.modelfile import ASSETS_DIR
from engine.processor import FrameProcessor, StyleSettings
from engine.setup import build_processor
from tests.bold_models import tiny_bold  # noqa: F401 - a fixture
from tests.media import make_clip
from tests.test_cli import assert_clean_error, colour_photo, run  # noqa: F401 - colour_photo: a fixture


def _mad(a, b) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


def stylize(capsys, photo, out, *options):
    code, _, err = run(capsys, "stylize", photo, "-o", out, *options)
    assert code == 0, err
    return cv2.imread(str(out)), err


# -- boldness ---------------------------------------------------------------------------------------------
def test_boldness_moves_from_the_faithful_rows_to_the_bold_ones(capsys, tiny_bold, photo, tmp_path):
    model = ["--model", tiny_bold.path, "--style", "fire"]
    default, err = stylize(capsys, photo, tmp_path / "d.png", *model)
    assert "note:" not in err
    faithful, _ = stylize(capsys, photo, tmp_path / "0.png", *model, "--boldness", "0")
    half, _ = stylize(capsys, photo, tmp_path / "5.png", *model, "--boldness", "0.5")
    bold, err = stylize(capsys, photo, tmp_path / "1.png", *model, "--boldness", "1")
    assert np.array_equal(default, faithful)  # the default is StyleSettings' own: faithful
    assert "note:" not in err  # this net has bold rows
    d = _mad(faithful, bold)
    assert d > 5  # the bold rows make another picture
    assert 0.1 * d < _mad(half, faithful) < 0.9 * d and 0.1 * d < _mad(half, bold) < 0.9 * d  # and between them


@pytest.mark.parametrize("value", ["1.5", "-0.1", "nan", "inf"])
def test_boldness_out_of_range_is_one_clean_error(capsys, tiny_bold, photo, clip_with_audio, tmp_path, value):
    for argv in (["stylize", photo, "-o", tmp_path / "o.png"], ["render", clip_with_audio, "-o", tmp_path / "o.mp4"],
                 ["live", "--source", "synthetic", "--frames", "2", "-o", tmp_path / "o.mp4"]):
        code, _, err = run(capsys, *argv, "--model", tiny_bold.path, f"--boldness={value}")
        assert_clean_error(code, err, "boldness must be between 0 and 1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "photo.png"]  # nothing written


def test_boldness_that_is_not_a_number_is_a_usage_error(capsys, photo, tmp_path):
    with pytest.raises(SystemExit) as exited:  # argparse's own usage error, as for every number flag
        run(capsys, "stylize", photo, "-o", tmp_path / "o.png", "--boldness", "loud")
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "--boldness: invalid float value: 'loud'" in err and "Traceback" not in err


def test_boldness_on_a_net_without_bold_rows_is_a_note(capsys, tiny_fast_model, tiny_adain_model, photo, tmp_path):
    plain, err = stylize(capsys, photo, tmp_path / "p.png", "--model", tiny_fast_model)
    assert "note:" not in err
    asked, err = stylize(capsys, photo, tmp_path / "b.png", "--model", tiny_fast_model, "--boldness", "0.8")
    notes = [line for line in err.splitlines() if line.startswith("note:")]
    assert notes == ["note: tiny_fast has no bold rows: boldness changes nothing with it"], err
    assert np.array_equal(plain, asked)
    _, err = stylize(capsys, photo, tmp_path / "a.png", "--model", tiny_adain_model, "--style-image", photo,
                     "--boldness", "1")
    assert "note: tiny_adain is a style-image model: boldness changes nothing with it" in err


# -- learned styles ----------------------------------------------------------------------------------------
def reference(model, photo, mix, boldness, learned):
    """What the engine makes of the photo with these styles: a processor built directly, no CLI."""
    from engine.frames import load_image

    processor = build_processor(StyleSettings(mix=mix, boldness=boldness), model=model, provider="cpu",
                                learned=learned)
    return cv2.cvtColor(processor.process(load_image(photo))[0], cv2.COLOR_RGB2BGR)


def test_a_learned_style_works_by_name_and_from_its_file(capsys, tiny_bold, photo, tmp_path):
    stored = save_learned(learned_dir() / "mine.npz", tiny_bold.learned("mine"))
    model = ["--model", tiny_bold.path]
    by_name, _ = stylize(capsys, photo, tmp_path / "n.png", *model, "--style", "mine", "--boldness", "0.3")
    assert _mad(by_name, reference(tiny_bold.path, photo, {"mine": 1}, 0.3, [tiny_bold.learned()])) < 0.5
    elsewhere = save_learned(tmp_path / "kept" / "mine.npz", tiny_bold.learned("mine"))
    stored.unlink()  # a file given by its path needs no library
    from_file, _ = stylize(capsys, photo, tmp_path / "f.png", *model, "--learned-style", elsewhere, "--boldness", "0.3")
    assert np.array_equal(by_name, from_file)
    bold, _ = stylize(capsys, photo, tmp_path / "b.png", *model, "--learned-style", elsewhere, "--boldness", "1")
    assert _mad(bold, from_file) > 5  # a learned style has its own bold rows
    mixed, _ = stylize(capsys, photo, tmp_path / "m.png", *model, "--style", "ink=0.5",
                       "--learned-style", f"{elsewhere}=0.5", "--boldness", "0.3")
    expected = reference(tiny_bold.path, photo, {"ink": 0.5, "mine": 0.5}, 0.3, [tiny_bold.learned()])
    assert _mad(mixed, expected) < 0.5 and _mad(mixed, from_file) > 2


def test_learned_styles_that_cannot_run_are_clean_errors(capsys, tiny_bold, tiny_fast_model, photo, tmp_path):
    save_learned(learned_dir() / "mine.npz", tiny_bold.learned("mine"))
    save_learned(learned_dir() / "other.npz", tiny_bold.learned("other", code_id="0123456789abcdef"))
    out = ["-o", tmp_path / "o.png"]
    code, _, err = run(capsys, "stylize", photo, *out, "--model", tiny_bold.path, "--style", "other")
    assert_clean_error(code, err, "'other' was learned for")
    code, _, err = run(capsys, "stylize", photo, "-o", tmp_path / "fits.png", "--model", tiny_fast_model, "--style",
                       "mine", "--boldness", "0.5")  # the same shared weights (same seed): it fits that net too...
    assert code == 0 and "note:" not in err, err  # ...where boldness still moves the learned style's own rows
    code, _, err = run(capsys, "stylize", photo, *out, "--model", tiny_bold.path, "--style", "nobody")
    assert_clean_error(code, err, "unknown style 'nobody'")
    code, _, err = run(capsys, "stylize", photo, *out, "--model", tiny_bold.path, "--learned-style", photo)
    assert_clean_error(code, err, "photo.png", "learned style")
    code, _, err = run(capsys, "stylize", photo, *out, "--model", tiny_bold.path, "--learned-style", tmp_path / "no.npz")
    assert_clean_error(code, err, "no such learned style")
    code, _, err = run(capsys, "stylize", photo, *out, "--model", tiny_bold.path, "--style", "mine",
                       "--learned-style", learned_dir() / "mine.npz")
    assert_clean_error(code, err, "already in the mix")
    assert not (tmp_path / "o.png").exists() and (tmp_path / "fits.png").is_file()


def test_render_with_a_learned_style_and_boldness(capsys, tiny_bold, tmp_path):
    save_learned(learned_dir() / "mine.npz", tiny_bold.learned("mine"))
    clip = make_clip(tmp_path / "clip.mp4", frames=6, fps=12, size=(64, 48), audio=False)
    code, out, err = run(capsys, "render", clip, "-o", tmp_path / "out.mp4", "-q", "--model", tiny_bold.path,
                         "--style", "mine=0.7", "--style", "fire=0.3", "--boldness", "0.6")
    assert code == 0, err
    assert "6 frames" in out and (tmp_path / "out.mp4").is_file()


# -- what a render on Ray ships to its workers ----------------------------------------------------------------
def _clip_frames(path):
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def test_ray_workers_get_the_boldness_and_the_learned_styles(tiny_bold, tmp_path):
    """The task function a Ray worker runs (engine/farm.py: _render_segment), here in this process: the model
    package through pickle (as the object store carries it) and the settings as the driver sends them."""
    from engine import farm

    clip = make_clip(tmp_path / "clip.mp4", frames=12, fps=12, size=(64, 48), audio=False, gop=6)
    settings = StyleSettings(mix={"mine": 0.6, "fire": 0.4}, boldness=0.7)
    processor = build_processor(settings, model=tiny_bold.path, provider="cpu", learned=[tiny_bold.learned()])
    package = pickle.loads(pickle.dumps(farm.package_model(processor.snapshot())))
    assert [s.name for s in package.learned] == ["mine"] and package.learned[0].thumbnail is None
    plan = farm.plan_segments(clip, segment_s=0.5, overlap=0)
    seg = plan.segments[1]
    record = pickle.loads(pickle.dumps(processor.settings.to_dict()))
    _, pngs = farm._render_segment(seg, farm.cut_chunk(clip, seg), package, record, "cpu", clip.name, None)
    got = [cv2.cvtColor(cv2.imdecode(np.frombuffer(p, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB) for p in pngs]
    frames = _clip_frames(clip)[seg.start:seg.end]
    here = FrameProcessor(processor.stylizer, processor.settings)
    faint = FrameProcessor(processor.stylizer, processor.settings.with_(boldness=0.0))
    assert len(got) == len(frames) == seg.frames
    for frame, worker in zip(frames, got):
        assert _mad(worker, here.process(frame)[0]) < 0.5  # the worker's picture is the driver's...
        assert _mad(worker, faint.process(frame)[0]) > 2  # ...at the boldness asked for
    plain = farm.package_model(build_processor(settings.with_(mix={"fire": 1.0}), model=tiny_bold.path, provider="cpu"))
    assert plain.learned == () and plain.digest != package.digest  # a worker never reuses a net without the style


# -- the shipped mid8 (bold rows and a style code) ------------------------------------------------------------
MODELS = ASSETS_DIR / "models"


def test_shipped_mid8_boldness_and_a_learned_copy_of_a_builtin_style(capsys, colour_photo, tmp_path):
    """A learned style whose rows are starry's own (read from the shipped checkpoint) runs through the graph's
    style_code and must give starry's picture at every boldness; light8 has no bold rows and says so."""
    from engine.learned import LearnedStyle
    from training.checkpoint import build_from_checkpoint, read_checkpoint

    net = build_from_checkpoint(read_checkpoint(ASSETS_DIR / "checkpoints" / "mid8_last.pt"))
    n = net.config.n_styles
    rows = [net.row_code(i).detach().numpy().astype(np.float32) for i in (0, n)]  # starry faithful, starry bold
    save_learned(learned_dir() / "copy.npz", LearnedStyle("copy", *rows, {"code_id": net.shared_id(), "model": "mid8"}))
    model = ["--model", MODELS / "mid8.onnx"]
    faithful = None
    for boldness in ("0", "0.5", "1"):
        builtin, err = stylize(capsys, colour_photo, tmp_path / f"b{boldness}.png", *model, "--style", "starry",
                               "--boldness", boldness)
        assert "note:" not in err
        copy, _ = stylize(capsys, colour_photo, tmp_path / f"c{boldness}.png", *model, "--style", "copy",
                          "--boldness", boldness)
        faithful = builtin if faithful is None else faithful
        assert _mad(copy, builtin) < 0.5, boldness
    assert _mad(builtin, faithful) > 0.2  # boldness 1 is another picture than 0 (how different: the model's training)
    _, err = stylize(capsys, colour_photo, tmp_path / "l.png", "--model", MODELS / "light8.onnx", "--boldness", "0.5")
    assert "note: light8 has no bold rows: boldness changes nothing with it" in err
