"""Aggregate bench/quality.py tables over many runs: how close each model comes to Gatys over all pairs.

``tools/side_by_side.sh`` runs ``bench/quality.py`` once per photo (frame 40 of the sample clip with 8 styles,
each held-out photo with 2) and keeps one markdown table per photo. This reads those tables and prints one
row per model over every pair: mean style and content loss, and their ratio to Gatys' in two readings:

- *mean of ratios*: the per-pair ratios averaged (a pair where Gatys gets very low, like ``harvesters``
  at 0.05 from the photo's 18, weighs as much as any other; the stricter reading);
- *of means*: the model's mean loss over Gatys' mean loss (the reading the model cards quote first).

    python bench/quality_summary.py docs/models/sheets/*.md
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def read_rows(path: Path) -> list[dict[str, str]]:
    """The pair rows of one bench/quality.py table, as {column: cell}."""
    lines = [line.rstrip("\n") for line in path.read_text().splitlines() if line.startswith("|")]
    if not lines:
        raise ValueError(f"{path}: no table (is it bench/quality.py's output?)")
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = []
    for line in lines[1:]:
        if line.startswith("|---"):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) != len(head):
            raise ValueError(f"{path}: a row has {len(cells)} cells, the header {len(head)}")
        rows.append(dict(zip(head, cells)))
    return rows


def summarize(rows: list[dict[str, str]]) -> list[dict[str, float | str]]:
    """One dict per scored model (every "<label> style" column with a "<label> content" partner)."""
    if not rows:
        raise ValueError("no pairs")
    labels = [c[: -len(" style")] for c in rows[0]
              if c.endswith(" style") and c != "Gatys style" and c[: -len(" style")] + " content" in rows[0]]
    gs = np.array([float(r["Gatys style"]) for r in rows])
    gc = np.array([float(r["Gatys content"]) for r in rows])
    out: list[dict[str, float | str]] = [dict(model="Gatys", style=gs.mean(), content=gc.mean(), style_ratio=1.0,
                                              style_median=1.0, style_of_means=1.0, content_ratio=1.0,
                                              content_of_means=1.0)]
    for label in labels:
        s = np.array([float(r[label + " style"]) for r in rows])
        c = np.array([float(r[label + " content"]) for r in rows])
        out.append(dict(model=label, style=s.mean(), content=c.mean(), style_ratio=float((s / gs).mean()),
                        style_median=float(np.median(s / gs)), style_of_means=float(s.mean() / gs.mean()),
                        content_ratio=float((c / gc).mean()), content_of_means=float(c.mean() / gc.mean())))
    return out


def markdown(summary: list[dict[str, float | str]], pairs: int) -> str:
    lines = [f"{pairs} pairs; ratios to Gatys: mean of per-pair ratios / median / ratio of the means "
             "(1.00x = as close to the painting, or to the photo, as Gatys)", "",
             "| model | style loss | style / Gatys (mean / median / of means) | content loss "
             "| content / Gatys (mean / of means) |", "|---|---:|---:|---:|---:|"]
    for m in summary:
        lines.append(f"| {m['model']} | {m['style']:.3f} | {m['style_ratio']:.2f}x / {m['style_median']:.2f}x / "
                     f"{m['style_of_means']:.2f}x | {m['content']:.3f} | {m['content_ratio']:.2f}x / "
                     f"{m['content_of_means']:.2f}x |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tables", nargs="+", type=Path, help="bench/quality.py outputs (markdown)")
    args = ap.parse_args(argv)
    try:
        rows = [row for path in args.tables for row in read_rows(path)]
        if not rows:
            raise ValueError("the tables hold no pairs")
        # only models scored in every table are comparable over all pairs
        common = set.intersection(*(set(r) for r in rows))
        rows = [{k: v for k, v in r.items() if k in common} for r in rows]
        text = markdown(summarize(rows), len(rows))
    except (OSError, ValueError, KeyError) as exc:
        print(f"quality_summary: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
