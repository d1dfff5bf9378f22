"""Media suffixes and atomic file writes: a reader never sees half a file, a crash leaves the old one."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Iterable, Iterator
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
    shown = path = Path(path)
    # the folder resolved first: "/x.csv/../y.csv" made a folder /x.csv before writing /y.csv (audit U9);
    # the file's own name is not resolved, so a link there is replaced, not its target
    path = path.parent.resolve() / path.name
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
        _remove_quietly(tmp)
        if exc.filename is None or Path(exc.filename) == tmp:  # name the file the user knows (disk full)
            raise OSError(exc.errno, f"{exc.strerror or exc} while writing", str(shown)) from exc
        raise
    except BaseException:
        _remove_quietly(tmp)
        raise


def _remove_quietly(path: Path) -> None:
    # a clean-up never replaces the error that called it: a name too long to create is too long to unlink
    # (ENAMETOOLONG, not FileNotFoundError), which ended a whole `predict FOLDER` (found by audit)
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)


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
    for path, match in _leftovers(run_dir, _TEMPORARY, min_age_s):
        try:
            if not path.is_file():
                continue
            size = path.stat().st_size
        except OSError:  # removed meanwhile by another process's clean-up
            continue
        path.unlink(missing_ok=True)
        removed.append(path)
        log.warning("removed %s (%d bytes), left by an interrupted write of %s", path, size, match["name"])
    return removed


_STAGING = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.partial$")  # the names staged_folder gives
STALE_STAGING_S = 3600.0  # an hour: processes on other machines (a shared file system) may still write


def staging_path(final: Path) -> Path:
    """The folder of this process in which ``final`` is built before it is renamed into place."""
    return final.with_name(f".{final.name}.{os.getpid()}.partial")


def remove_stale_staging(
    folder: Path, names: Iterable[str] | None = None, *, min_age_s: float = STALE_STAGING_S
) -> list[Path]:
    """Remove the staging folders (``staging_path``) in ``folder`` that interrupted processes left; returns
    them.

    Only folders of ``names`` (None: of any name), of a process that no longer runs, and ``min_age_s`` old
    are removed (a shared file system may hold live ones of other machines' processes); a folder of the
    user's named ``NAME.partial`` never matches.
    """
    wanted = None if names is None else set(names)
    removed: list[Path] = []
    for path, match in _leftovers(folder, _STAGING, min_age_s):
        if (wanted is not None and match["name"] not in wanted) or path.is_symlink() or not path.is_dir():
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
        log.warning("removed %s, left by an interrupted process building %s", path, match["name"])
    return removed


@contextmanager
def staged_folder(final: Path, *, clean: bool = True) -> Iterator[Path]:
    """A new folder of this process beside ``final`` (``staging_path``) for the caller to fill and rename
    over ``final`` inside the block; removed when the block raises. ``clean``: first remove the stale
    staging folders of ``final`` (``remove_stale_staging``; a caller staging many folders of one parent
    does that once)."""
    if clean:
        remove_stale_staging(final.parent, [final.name])
    tmp = staging_path(final)
    # one of this process's id is left by an earlier process (the id was reused) or an earlier failure
    # of this one: a folder is never staged twice at once in one process
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _leftovers(folder: Path, pattern: re.Pattern, min_age_s: float) -> Iterator[tuple[Path, re.Match]]:
    """The entries of ``folder`` named by ``pattern`` (with a ``pid`` group) whose process no longer runs
    and which were last modified ``min_age_s`` or more ago."""
    if not folder.is_dir():
        return
    now = time.time()
    for path in sorted(folder.iterdir()):
        match = pattern.match(path.name)
        if not match or _running(int(match["pid"])):
            continue
        try:
            if now - path.lstat().st_mtime < min_age_s:
                continue
        except OSError:  # removed meanwhile by another process's clean-up
            continue
        yield path, match


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
