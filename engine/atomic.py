"""The one way StyleCast writes a file that must never be seen half-written, or written over an input.

Write to a hidden sibling (same folder, so the final rename is atomic on the same filesystem),
then rename onto the target; on any failure the sibling is deleted and the target is untouched.
The sibling is created exclusively (``O_CREAT | O_EXCL | O_NOFOLLOW``) under a random name, so a
file or symlink planted in the folder is never followed or written through.
Standard library only: training/ and export/ use it too, on machines without OpenCV or ONNX Runtime.

    check_not_input(out, [src, model])   # refuse an output that is one of the job's inputs
    with atomic_path(out) as tmp:        # tmp keeps out's suffix, so writers that pick a format
        image.save(tmp)                  # from the extension (PyAV, Pillow, OpenCV) still work
"""
from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Iterable, Iterator

from .errors import OutputError

TEMP_PREFIX = ".stylecast-tmp-"


def temp_path_for(target: str | Path) -> Path:
    """Create an empty hidden sibling of ``target`` (same suffix, random name) and return its path.

    The file is created exclusively, so the name cannot be guessed in advance and a symlink at
    that name is never followed. The caller writes into it and renames it, or deletes it."""
    target = Path(target)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = target.with_name(f"{TEMP_PREFIX}{secrets.token_hex(6)}-{target.stem}{target.suffix}")
        try:
            fd = os.open(tmp, flags, 0o666)  # the user's umask applies, as for any file they save
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise OutputError(f"cannot create a temporary file next to {target}")


def same_file(a: str | Path, b: str | Path) -> bool:
    """True when both names lead to one file: the same resolved path, or (both existing) one inode,
    which also catches hard links and case-insensitive or bind-mounted spellings."""
    a, b = Path(a), Path(b)
    try:
        if a.resolve() == b.resolve():
            return True
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_not_input(output: str | Path, inputs: Iterable[str | Path | None]) -> Path:
    """Refuse ``output`` when it is one of ``inputs`` (None entries are ignored): a job never
    writes over what it reads, whatever the spelling (relative, symlinked, hard-linked)."""
    output = Path(output)
    for src in inputs:
        if src is not None and same_file(src, output):
            raise OutputError(f"output {output} is the input {Path(src).name} of this job; choose another name")
    return output


@contextlib.contextmanager
def atomic_path(target: str | Path, inputs: Iterable[str | Path | None] = ()) -> Iterator[Path]:
    """Yield a temp path; rename it onto ``target`` when the block succeeds, delete it when it raises.
    ``inputs``: files the job reads, which ``target`` must not be."""
    target = check_not_input(target, inputs)
    tmp = temp_path_for(target)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(target: str | Path, data: bytes, inputs: Iterable[str | Path | None] = ()) -> Path:
    with atomic_path(target, inputs) as tmp:
        tmp.write_bytes(data)
    return Path(target)
