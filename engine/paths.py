"""Where the user's own files live (standard library only: training/ reads it too)."""
from __future__ import annotations

import os
from pathlib import Path


def user_data_dir() -> Path:
    """~/.local/share/stylecast ($XDG_DATA_HOME honoured): the user's models, style images and learned styles."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "stylecast"
