"""The one way StyleCast writes a file that must never be seen half-written.

Write to a hidden sibling (same folder, so the final rename is atomic on the same filesystem),
then rename onto the target; on any failure the sibling is deleted and the target is untouched.
Standard library only: training/ and export/ use it too, on machines without OpenCV or ONNX Runtime.

    with atomic_path(out) as tmp:      # tmp keeps out's suffix, so writers that pick a format
        image.save(tmp)                # from the extension (PyAV, Pillow, OpenCV) still work
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

TEMP_PREFIX = ".stylecast-tmp-"


def temp_path_for(target: str | Path) -> Path:
    """Hidden sibling of ``target`` with the same suffix, unique to this process."""
    target = Path(target)
    return target.with_name(f"{TEMP_PREFIX}{os.getpid()}-{target.stem}{target.suffix}")


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temp path; rename it onto ``target`` when the block succeeds, delete it when it raises."""
    target = Path(target)
    tmp = temp_path_for(target)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(target: str | Path, data: bytes) -> Path:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return Path(target)
