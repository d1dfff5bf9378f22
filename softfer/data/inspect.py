"""`softfer data inspect FORMAT ROOT`: what a dataset folder holds and what is wrong with it."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from softfer.data.formats import ReadRequest, get_format
from softfer.data.records import ReadReport, Record


def _complete_image(path: Path) -> bool:
    """A cheap integrity check: JPEG start and end markers (PNG signature for .png)."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(8)
            if path.suffix.lower() == ".png":
                return head == b"\x89PNG\r\n\x1a\n"
            f.seek(max(size - 2, 0))
            return head[:2] == b"\xff\xd8" and f.read(2) == b"\xff\xd9"
    except OSError:
        return False


def _splits(
    fmt: str, root: str, *, affectnet_stats: str | None = None
) -> list[tuple[str, list[Record], ReadReport]]:
    """(name, records, report) of every fold and split the copy at ``root`` holds, read through
    ``FORMATS[fmt]``: leniently (``max_skip=1``), so inspect reports every problem instead of stopping at
    the first, and accepting raw videos, which describe the copy (training refuses them)."""
    entry = get_format(fmt)
    out = []
    for fold in entry.folds or (None,):
        for split in entry.present_splits(root):
            rep = ReadReport()
            request = ReadRequest(
                root=root,
                split=split,
                fold=fold or 1,
                num_classes=len(entry.classes),
                max_skip=1.0,
                affectnet_stats=affectnet_stats,
                allow_raw_videos=True,
                report=rep,
            )
            name = split or "all"
            out.append((f"fold {fold} {name}" if fold else name, entry.read(request), rep))
    return out


def inspect_dataset(fmt: str, root: str, *, verify: bool = False, affectnet_stats: str | None = None) -> str:
    """A text report: counts per split/fold/class, vote ambiguity, missing and unreadable files.

    ``fmt`` is a name of ``FORMATS``; ``affectnet_stats`` is AffectNet's VA statistics file, which Aff-Wild's
    class labels are derived from (needed for ``affwild`` only).
    """
    classes = get_format(fmt).classes
    lines = [f"{fmt} dataset at {root}"]
    all_records: dict[str, Record] = {}
    problems: list[str] = []
    for name, records, rep in _splits(fmt, root, affectnet_stats=affectnet_stats):
        counts = Counter(r.label for r in records)
        per_class = ", ".join(f"{c}={counts.get(i, 0)}" for i, c in enumerate(classes))
        lines.append(f"  {name:16s} {len(records):7d} items  {per_class}")
        problems += [f"{name}: {s}" for s in rep.skipped]
        all_records.update({r.id: r for r in records})
    votes = [r.soft for r in all_records.values() if r.soft is not None]
    if votes:
        share = np.stack(votes).max(axis=1)
        edges = np.round(np.linspace(0, 1, 11), 12)
        hist, _ = np.histogram(share, bins=edges)
        lines.append(
            f"vote ambiguity over {len(votes)} clips (max share): mean {share.mean():.3f}, "
            f">= 0.9: {(share >= 0.9).mean():.1%}"
        )
        for lo, n in zip(edges[:-1], hist, strict=True):
            lines.append(f"  [{lo:.1f}, {lo + 0.1:.1f}) {int(n):6d}")
    else:
        lines.append("no soft labels / votes found")
    if verify:
        bad = 0
        for r in all_records.values():
            files = [r.path / f for f in r.frames] if r.frames else ([r.path] if r.path.is_file() else [])
            for f in files:
                if f.suffix.lower() in (".jpg", ".jpeg", ".png") and not _complete_image(f):
                    problems.append(f"unreadable or truncated image: {f}")
                    bad += 1
        lines.append(f"verified every image file: {bad} unreadable")
    lines.append(f"problems: {len(problems)}")
    lines += [f"  {p}" for p in problems[:50]]
    if len(problems) > 50:
        lines.append(f"  ... and {len(problems) - 50} more")
    return "\n".join(lines)
