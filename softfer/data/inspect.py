"""`softfer data inspect FORMAT ROOT`: what a dataset folder holds and what is wrong with it."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from softfer.classes import AFFECTNET_CLASSES, DFEW_CLASSES
from softfer.data import formats
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


def _splits(fmt: str, root: str) -> list[tuple[str, list[Record], ReadReport]]:
    out = []
    lenient = {"max_skip": 1.0}  # inspect reports every problem instead of stopping at the first
    if fmt == "dfew":
        for fold in range(1, 6):
            for split in ("train", "test"):
                rep = ReadReport()
                out.append(
                    (
                        f"fold {fold} {split}",
                        formats.read_dfew(root, fold=fold, split=split, report=rep, **lenient),
                        rep,
                    )
                )
    elif fmt == "ferv39k":
        for split in ("train", "test"):
            rep = ReadReport()
            out.append((split, formats.read_ferv39k(root, split=split, report=rep, **lenient), rep))
    elif fmt == "afew":
        splits = [s for s in ("Train", "Val") if (Path(root) / s).is_dir()]
        for split in splits or [None]:  # class folders directly under the root: no split
            rep = ReadReport()
            out.append((split or "all", formats.read_afew(root, split=split, report=rep, **lenient), rep))
    elif fmt == "affectnet":
        for split in ("train", "val"):
            rep = ReadReport()
            out.append((split, formats.read_affectnet(root, split=split, report=rep, **lenient), rep))
    elif fmt == "manifest":
        rep = ReadReport()
        out.append(("all", formats.read_manifest(root, report=rep, **lenient), rep))
    elif fmt == "former_dfer":
        rep = ReadReport()
        out.append(("all", formats.read_former_dfer_list(root, report=rep, **lenient), rep))
    else:
        raise ValueError(f"unknown format {fmt!r}")
    return out


def inspect_dataset(fmt: str, root: str, *, verify: bool = False) -> str:
    """A text report: counts per split/fold/class, vote ambiguity, missing and unreadable files."""
    classes = AFFECTNET_CLASSES if fmt == "affectnet" else DFEW_CLASSES
    lines = [f"{fmt} dataset at {root}"]
    all_records: dict[str, Record] = {}
    problems: list[str] = []
    for name, records, rep in _splits(fmt, root):
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
