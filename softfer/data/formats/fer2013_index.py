"""The index of softfer's FER2013 face cache and whether a cache folder is complete: each row's Usage and
each face PNG's size as its build wrote them (index.json), checked with one listing and no PNG opened."""

from __future__ import annotations

import json
import os
from pathlib import Path

FER_USAGES = ("Training", "PublicTest", "PrivateTest")  # fer2013.csv's Usage values, FER+'s three splits


def read_index(folder: Path) -> tuple[list[str], list[int] | None] | None:
    """(each row's Usage, each face PNG's size when the index records it) from ``folder/index.json``, or
    None when there is none or it is damaged. Caches built before the sizes were recorded have none."""
    try:
        index = json.loads((folder / "index.json").read_text())
        usage, sizes = index["usage"], index.get("sizes")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if not isinstance(usage, list) or not all(isinstance(u, str) and u in FER_USAGES for u in usage):
        return None  # a build writes fer2013.csv's Usage values only (fer2013_faces' ``_check_usage``)
    if sizes is not None and (
        not isinstance(sizes, list)
        or len(sizes) != len(usage)
        or not all(type(n) is int and n > 0 for n in sizes)
    ):
        return None
    return usage, sizes


def lacking_faces(folder: Path, sizes: list[int] | None, count: int) -> list[str]:
    """The face names of rows 0..count-1 that ``folder`` lacks: missing, not a file, empty, or of another
    size than its build wrote (when ``sizes`` are known). One listing; no PNG is opened."""
    held: dict[str, int] = {}
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                try:
                    if entry.name.endswith(".png") and entry.is_file():
                        held[entry.name] = entry.stat().st_size
                except OSError:  # removed while listed: lacking
                    continue
    except OSError:
        pass  # unlistable: every face lacking, and the rebuild says why it cannot write there
    lacking = []
    for i in range(count):
        name = f"{i:06d}.png"
        size = held.get(name, 0)
        if not size or (sizes is not None and size != sizes[i]):
            lacking.append(name)
    return lacking


def complete_cache(folder: Path) -> tuple[list[str] | None, str | None]:
    """(each row's Usage, None) for a complete cache folder; (None, why) for an incomplete one; (None,
    None) when there is none."""
    if not os.path.lexists(folder):
        return None, None
    index = read_index(folder)
    if index is None:
        return None, "index.json missing or damaged"
    usage, sizes = index
    lacking = lacking_faces(folder, sizes, len(usage))
    if lacking:
        return None, (
            f"{len(lacking)} of {len(usage)} faces missing, empty or not of the size written "
            f"(first: {lacking[0]})"
        )
    return usage, None


def cached_usage(folder: Path) -> list[str] | None:
    """The per-row Usage of a complete cache folder, or None when there is none (or it is incomplete)."""
    return complete_cache(folder)[0]
