#!/usr/bin/env bash
# Training campaign for mid8 (the CPU live net, issue 12): resumable; rerun to continue.
#   nohup tools/campaign_mid8.sh [SECONDS] > runs/mid8.log 2>&1 &
# Resumes runs/mid8/last.pt (or seeds it from assets/checkpoints/mid8_last.pt), trains for SECONDS,
# then exports assets/models/mid8.onnx and mid8.int8.onnx (the CPU default: int8 convs, calibrated on
# corpus photos). Commit assets/checkpoints/mid8_last.pt and both files before the session ends.
# To stop early without losing steps: kill -TERM the python process (not this script); it finishes the
# current step, saves, and the script still exports.
# Recipe history: steps 0-12,000 style targets at 320 px; from 12,000 (session 3) at 256 px, the size the
# frames are processed at (bench/quality.py scores against the painting at 256 px).
# Learning rate: 2e-3 to step 16,286, then annealed with LR=5e-4 (to 20,769) and LR=2.5e-4 (to 22,434).
# Session 5 changed the recipe, in two fine-tuning runs started with --init-from (their step counters
# restart at 0): relu1_2's Gram weighted 0.25 (--style-layer-weights 0.25 1 1 1), 2,262 steps at 5e-4
# (runs/mid8_c025), then also content x12 instead of x8, 2,603 steps at 5e-4 + 1,937 at 2.5e-4
# (runs/mid8_cw12, step 4,540 = 29,236 steps in all); session 6 added 1,344 at 1e-4 (30,580).
# Session 7 added the light-layout loss (--layout-weight 4: the photo's luma over 8 px blocks kept by
# correlation; against the blotches), in a run started with --init-from (runs/mid8_layout): 7,223 steps at
# 5e-4 + 5,188 at 1e-4 = 12,411, 42,991 in all. Session 8 moved to 256 px training images (the size frames are
# processed and scored at; --image-size 256, 2.5x the cost of a step), in a run started with --init-from
# (runs/p256): 3,811 steps at 2.5e-4, then 2,459 at 1e-4 (to 6,270, 49,261 in all).
# Session 14 (two --init-from runs): content x24, lr 2e-4, 1,163 steps (runs/mid8_c24), then content x28 with
# every Gram layer weighted 1 (the weights bench/quality.py scores with; relu1_2 was 0.25), 1,954 steps at
# 2e-4, 787 at 1e-4, 613 at 5e-5 (runs/mid8_w1, copied to runs/mid8 so this script resumes it; 53,778 in
# all). Sessions 17-22 (docs/models/mid8.md): from that checkpoint (--init-from) the half-resolution skip
# (--skips half; sessions 17-18), relu4_3's Gram x2 (19), batch 8 at lr 2.5e-5 (20), the TV term off (21),
# layout x1 and content x43 (22): step 8,400 of that run, 64,196 in all, shipped in session 22. A fresh clone
# seeds runs/mid8 from the committed checkpoint; this script resumes it with that recipe.
# Every checkpoint records its lineage (history[0]).
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/recipe8.sh
RECIPE8+=(--skips half --content-weight 43 --style-layer-weights 1 1 1 2 --batch-size 8 --tv-weight 0 --layout-weight 1
          --checkpoint-every 25 --sample-every 250)  # since session 22 (the last one wins)
campaign8 mid mid8 "${1:-3600}" "${LR:-2.5e-5}" --int8 --calib cache/corpus/content  # LR: the rate the run ended at
