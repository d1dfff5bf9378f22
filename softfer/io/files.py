"""Media suffixes and atomic file writes: a reader never sees half a file, a crash leaves the old one."""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


@contextmanager
def atomic_write(path: str | Path, mode: str = "w", **open_kw: Any) -> Iterator[IO]:
    """Open a temporary file beside ``path`` and rename it over ``path`` when the block succeeds.

    The rename is atomic on POSIX file systems, so ``path`` holds either the old or the new content. On an
    exception the temporary file is removed and ``path`` is untouched; an OSError (a full disk) names
    ``path``.

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
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.filename is None or Path(exc.filename) == tmp:  # name the file the user knows (disk full)
            raise OSError(exc.errno, f"{exc.strerror or exc} while writing", str(path)) from exc
        raise
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


_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.tmp$")  # the names atomic_write gives


def remove_stale_temporaries(run_dir: Path, *, min_age_s: float = 0.0) -> list[Path]:
    """Remove the temporary files interrupted atomic writes left in ``run_dir`` (a run folder, a frame
    cache); returns them.

    A temporary file is named ``.<name>.<pid>.tmp`` after the process that wrote it; one whose process
    still runs (a concurrent writer) is left alone. ``min_age_s`` also spares files modified more
    recently: a folder shared by several machines (a frame cache on a network file system) may hold
    temporaries of live processes whose ids this machine cannot see.
    """
    removed: list[Path] = []
    if not run_dir.is_dir():
        return removed
    now = time.time()
    for path in sorted(run_dir.iterdir()):
        match = _TEMPORARY.match(path.name)
        if not match or not path.is_file() or _running(int(match["pid"])):
            continue
        stat = path.stat()
        if now - stat.st_mtime < min_age_s:
            continue
        size = stat.st_size
        path.unlink(missing_ok=True)
        removed.append(path)
        log.warning("removed %s (%d bytes), left by an interrupted write of %s", path, size, match["name"])
    return removed


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # gone, or no pid this system can have
        return False
    except PermissionError:  # another user's process
        return True
    return True
