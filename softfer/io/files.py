"""Media suffixes and atomic file writes: a reader never sees half a file, a crash leaves the old one."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


@contextmanager
def atomic_write(path: str | Path, mode: str = "w", **open_kw: Any) -> Iterator[IO]:
    """Open a temporary file beside ``path`` and rename it over ``path`` when the block succeeds.

    The rename is atomic on POSIX file systems, so ``path`` holds either the old or the new content. On an
    exception the temporary file is removed and ``path`` is untouched.

    Args:
        path: the destination.
        mode: "w" (text, UTF-8 unless ``encoding`` is given) or "wb".
        **open_kw: passed to ``open`` (e.g. ``newline=""`` for CSV).
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write writes whole files: mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    if mode == "w":
        open_kw.setdefault("encoding", "utf-8")
    try:
        with open(tmp, mode, **open_kw) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write a text file atomically."""
    with atomic_write(path) as f:
        f.write(text)


def write_json_atomic(path: str | Path, obj: Any, *, indent: int = 2) -> None:
    """Write a JSON file atomically."""
    write_text_atomic(path, json.dumps(obj, indent=indent))
