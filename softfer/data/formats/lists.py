"""Generic list formats: Former-DFER list files and softfer manifests (CSV or JSONL).

Former-DFER: one clip per line, ``<frame_dir> <num_frames> <label>`` (labels 0-based in DFEW order unless
``one_based``); frame_dir absolute or relative to ``root``.

Manifest: a CSV with a header, or JSONL with one object per line. ``path`` (frame folder, video or image,
relative to the manifest's folder) and then any of: ``label`` (class index); one column per class name
(votes or probabilities, normalised to a soft label); ``valence`` and ``arousal``; ``fold``;
``split``; ``id``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from softfer.classes import DFEW_CLASSES
from softfer.data.records import ReadReport, Record, attach_frames, check_label, check_unique, parse_int
from softfer.data.tables import CLASS_SYNONYMS, Table, read_table


def read_former_dfer_list(
    path: str | Path,
    *,
    root: str | Path | None = None,
    num_classes: int = 7,
    one_based: bool = False,
    max_skip: float = 0.01,
    report: ReadReport | None = None,
) -> list[Record]:
    """Records of a Former-DFER style list file."""
    path = Path(path)
    table = read_table(path, header=False, delimiter=" ")
    if len(table.header) != 3:
        raise ValueError(f"{path}: expected 3 columns (frame_dir num_frames label), got {len(table.header)}")
    base = Path(root) if root else path.parent
    check_unique([r[0] for r in table.rows], table.where)
    records = []
    for row, where in zip(table.rows, table.where, strict=True):
        parse_int(row[1], where, "num_frames")
        label = check_label(parse_int(row[2], where), num_classes, where, one_based=one_based)
        folder = Path(row[0]) if Path(row[0]).is_absolute() else base / row[0]
        records.append(Record(id=row[0], path=folder, label=label))
    return attach_frames(records, max_skip=max_skip, report=report, source=str(path))


def _jsonl_table(path: Path) -> Table:
    objs, where = [], []
    for i, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip():
            try:
                objs.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path.name}:line {i}: not valid JSON ({exc.msg})") from exc
            where.append(f"{path.name}:line {i}")
    header = sorted({k for o in objs for k in o})
    rows = [["" if o.get(k) is None else str(o.get(k)) for k in header] for o in objs]
    return Table(path, header, rows, where)


def read_manifest(
    path: str | Path,
    *,
    classes: Sequence[str] = DFEW_CLASSES,
    split: str | None = None,
    fold: int | None = None,
    max_skip: float = 0.01,
    report: ReadReport | None = None,
) -> list[Record]:
    """Records of a CSV/JSONL manifest, optionally filtered to one split and/or fold."""
    path = Path(path)
    table = _jsonl_table(path) if path.suffix.lower() in (".jsonl", ".json") else read_table(path)
    if not table.has_column("path"):
        raise ValueError(f"{path}: a manifest needs a 'path' column; columns are {table.header}")
    lower = {CLASS_SYNONYMS.get(h.strip().lower(), h.strip().lower()): i for i, h in enumerate(table.header)}
    class_cols = [lower.get(c) for c in classes]
    has_soft = all(c is not None for c in class_cols)
    has_label = table.has_column("label")
    if not has_soft and not has_label:
        raise ValueError(f"{path}: needs a 'label' column or one column per class {list(classes)}")
    get = {
        k: table.column(k)
        for k in ("path", "id", "valence", "arousal", "fold", "split")
        if table.has_column(k)
    }
    ids = [r[get["id"]] if "id" in get else r[get["path"]] for r in table.rows]
    check_unique(ids, table.where)
    records = []
    for rid, row, where in zip(ids, table.rows, table.where, strict=True):
        rec = Record(id=rid, path=path.parent / row[get["path"]])
        if has_soft:
            try:
                v = np.array([float(row[i]) for i in class_cols])  # type: ignore[index]
            except ValueError:
                raise ValueError(f"{where}: class columns must be numbers") from None
            if not np.all(np.isfinite(v)) or np.any(v < 0) or v.sum() <= 0:
                raise ValueError(
                    f"{where}: class values {v.tolist()} must be non-negative with a positive sum"
                )
            rec.soft = v / v.sum()
            if np.allclose(v, np.round(v)) and v.sum() > 1:
                rec.votes = v.astype(np.int64)
            rec.label = int(np.argmax(v))
        if has_label and row[table.column("label")] != "":
            rec.label = check_label(parse_int(row[table.column("label")], where), len(classes), where)
        if "valence" in get and row[get["valence"]] != "":
            rec.va = np.array([float(row[get["valence"]]), float(row[get["arousal"]])])
            if np.any(np.abs(rec.va) > 1) and not np.all(rec.va == -2):
                raise ValueError(f"{where}: valence/arousal {rec.va.tolist()} outside [-1, 1]")
            if np.all(rec.va == -2):
                rec.va = None
        if "fold" in get and row[get["fold"]] != "":
            rec.fold = parse_int(row[get["fold"]], where, "fold")
        rec.split = row[get["split"]] if "split" in get else ""
        if (split is None or rec.split == split) and (fold is None or rec.fold == fold):
            records.append(rec)
    return attach_frames(records, max_skip=max_skip, report=report, source=str(path)) if records else records
