#!/usr/bin/env bash
# Screenshots of the real window on a virtual 1366x768 screen (a laptop) (needs Debian's xvfb and xauth).
set -euo pipefail
cd "$(dirname "$0")/.."
QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1366x768x24" python3 tools/screenshots.py "${1:-docs/screenshots}"
