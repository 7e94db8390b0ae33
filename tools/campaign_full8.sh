#!/usr/bin/env bash
# Training campaign for full8 (Johnson's full-width net, 8 styles; the default on CUDA; issue 12): resumable.
#   nohup tools/campaign_full8.sh [SECONDS] > runs/full8.log 2>&1 &
# Resumes runs/full8/last.pt (or seeds it from assets/checkpoints/full8_last.pt), trains for SECONDS with
# mid8's recipe (tools/recipe8.sh), then exports assets/models/full8.onnx. Commit
# assets/checkpoints/full8_last.pt (copy runs/full8/last.pt) and the ONNX file before the session ends.
# To stop early without losing steps: kill -TERM the python process (not this script); it finishes the
# current step, saves, and the script still exports.
# How the run got here (docs/models/full8.md; every checkpoint records its lineage in history[0]):
#   2026-11-23  4,882 steps, 160 px, content x8 (the preview)
#   session 9   1,942 steps of this recipe from the preview (runs/full8c: 1,214 at lr 5e-4, 728 at 1e-3),
#               1,066 steps of distillation from mid8 (--teacher assets/checkpoints/mid8_last.pt --teacher-only,
#               batch 4, lr 1e-3; runs/full8d; 7,890 in all), then this recipe from there at lr 5e-4
#               (--init-from runs/full8d/last.pt; runs/full8)
#   session 10  the same run: 1,784 more steps at lr 5e-4, then 1,868 at 2e-4 (17,826 in all)
#   session 11  the same run: 2,884 more steps at lr 1e-4 (20,710 in all)
#   session 13  content x18 instead of x12, lr 2e-4: 1,084 steps from session 11's file (--init-from;
#               runs/full8_c18, copied to runs/full8 so this script resumes it; 21,794 in all; a
#               fresh clone seeds runs/full8 from the committed checkpoint). LR=2e-4 continues its rate
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/recipe8.sh
RECIPE8+=(--content-weight 18)  # since session 13 (the last one wins); mid8 adds its own (tools/campaign_mid8.sh)
campaign8 full full8 "${1:-3600}" "${LR:-2e-4}"  # LR: the rate the run ended at
