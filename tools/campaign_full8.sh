#!/usr/bin/env bash
# Training campaign for full8 (Johnson's full-width net, 8 styles; the default on CUDA; issue 12): resumable.
#   nohup tools/campaign_full8.sh [SECONDS] > runs/full8c.log 2>&1 &
# Resumes runs/full8c/last.pt, else seeds it from assets/checkpoints/full8_last.pt when that is this campaign's
# checkpoint, else starts from it with --init-from (the 4,882-step preview of 2026-11-23); trains for SECONDS,
# then exports assets/models/full8.onnx.
# Commit assets/checkpoints/full8_last.pt (copy runs/full8c/last.pt) and the ONNX file before the session ends.
# To stop early without losing steps: kill -TERM the python process (not this script); it finishes the
# current step, saves, and the script still exports.
# Recipe: mid8's as it stands after issue 12's session 8 (relu1_2 Gram x0.25, content x12, layout loss x4,
# 256 px images and style targets, bf16 autocast), started in session 9 from the preview's weights.
# Every checkpoint records its lineage (history[0]).
set -euo pipefail
cd "$(dirname "$0")/.."
BUDGET=${1:-3600}
LR=${LR:-5e-4}   # a resumed run takes the command's rate
source tools/recipe8.sh
OUT=runs/full8c
CK=assets/checkpoints/full8_last.pt
INIT=()
mkdir -p $OUT
if [ ! -f $OUT/last.pt ]; then
  # the committed checkpoint is either this campaign's (resume it) or the 2026-11-23 preview (start from it)
  if python -c "import sys, torch; sys.exit(0 if 'init_from' in torch.load('$CK', weights_only=True)['history'][0] else 1)"; then
    cp $CK $OUT/last.pt
  else
    INIT=(--init-from $CK)
  fi
fi
python -m training fast "${RECIPE8[@]}" --width full "${INIT[@]}" --lr "$LR" --out-dir $OUT --time-budget-s "$BUDGET"
python -m export fast $OUT/last.pt assets/models/full8.onnx
