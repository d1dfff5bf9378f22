"""FER+ (Barsoum et al., ICMI 2016): ten crowd-sourced votes for each 48x48 grey face of FER2013.

Two layouts of one data set are read (docs/DATASETS.md):

- **As distributed**: ``ROOT/fer2013new.csv`` (FER+: ``Usage, Image name, neutral, happiness, surprise,
  sadness, anger, disgust, fear, contempt, unknown, NF``) beside FER2013's ``fer2013.csv`` (``emotion,
  pixels, Usage``; also found as ``ROOT/fer2013/fer2013.csv``, where Kaggle's archive unpacks it). The rows
  of the two files are one face each, in the same order; their ``Usage`` columns must agree row by row, and
  an image name must be FER+'s name of its row (``fer0000011.png`` for data row 11, counted from 0).
- **The FER+ repository's folders**: ``ROOT/FER2013Train``, ``FER2013Valid``, ``FER2013Test`` (or under
  ``ROOT/data/``, as in a clone of the repository), each holding the PNGs its
  ``generate_training_data.py`` writes and a ``label.csv`` without header: ``image name, votes x 10`` (the
  script's output) or ``image name, "(x, y, w, h)", votes x 10`` (the files the repository ships).

Splits: FER2013's Training / PublicTest / PrivateTest (FER2013Train / Valid / Test) are ``train`` / ``val``
/ ``test``. Labels are in ``FERPLUS_CLASSES`` order; contempt is the 8th class, and ``num_classes=7``
keeps the seven shared with DFEW. Votes become soft labels through ``softfer.labels.votes`` (proportions of
the class votes; unknown and NF votes are not a class). As the paper does, faces whose majority is unknown
or NF ("not a face") are left out: a face is kept when one class has strictly more votes than unknown and
than NF (a tie is left out). With 7 classes a face whose contempt votes are not below every other class's
is left out too. Rows of ``fer2013new.csv`` without an image name (FER+ marks non-faces so; its script
writes no image for them) are left out. Every rule counts what it leaves out in the read report.

**Why the faces of the CSV layout become PNG files once.** FER2013 stores each face as 2,304 numbers in a
CSV cell. Every other part of softfer (``ImageDataset``, ``data inspect --verify``, the data fingerprints,
Grad-CAM, the predictions table) works on records that name an image file, so the reader writes each face
once as a lossless PNG into a cache folder outside the data (``data.cache_dir``, else the per-user cache:
``softfer.data.formats.fer2013_faces``) and returns records naming those files: nothing downstream needs a
second kind of record, and the 287 MB CSV is parsed once instead of in every run and DataLoader worker.
The folder is keyed by the bytes of ``fer2013.csv`` (an edited file gets its own folder) and built under a
temporary name, renamed into place when complete (an interrupted build is never read). Nothing is written
into the data root; a complete folder an earlier softfer wrote there is read as it is.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from softfer.classes import FERPLUS_CLASSES
from softfer.data.formats.base import DatasetFormat, ReadRequest
from softfer.data.formats.fer2013_faces import face_cache, verify_face_cache
from softfer.data.records import (
    ReadReport,
    Record,
    check_one_media_once,
    check_skips,
    check_split,
    check_unique,
    dataset_path,
    is_regular_file,
    parse_int,
    path_key,
)
from softfer.data.splits import check_disjoint
from softfer.io.tables import Table, parse_numbers, read_table
from softfer.labels.votes import hard_labels, majority_outside, soft_labels, validate_votes

FERPLUS_SPLITS = ("train", "val", "test")
USAGE = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}
FOLDERS = {"train": "FER2013Train", "val": "FER2013Valid", "test": "FER2013Test"}
VOTE_COLUMNS = (
    "neutral",
    "happiness",
    "surprise",
    "sadness",
    "anger",
    "disgust",
    "fear",
    "contempt",
    "unknown",
    "NF",
)
log = logging.getLogger(__name__)


@dataclass
class _Rows:
    """The faces of one split as listed, before the vote rules: ids, 10-column votes, image paths."""

    ids: list[str]
    votes: np.ndarray  # (N, 10) int64
    where: list[str]
    paths: list[Path]
    boxes: list[tuple[int, int, int, int] | None]


def fer2013_csv(root: Path) -> Path | None:
    """FER2013's fer2013.csv in ``root`` or ``root/fer2013/`` (the Kaggle archive's folder)."""
    return next((p for p in (root / "fer2013.csv", root / "fer2013" / "fer2013.csv") if p.is_file()), None)


def folders_root(root: Path) -> Path | None:
    """The folder holding FER2013Train/Valid/Test with a label.csv: ``root`` or ``root/data``."""
    for base in (root, root / "data"):
        if any((base / name / "label.csv").is_file() for name in FOLDERS.values()):
            return base
    return None


def _votes(table: Table, columns: list[int], where: list[str]) -> np.ndarray:
    """The 10 vote columns as int64 counts; a cell that is no count, or a damaged count, names its row."""
    numbers = np.asarray(parse_numbers(table, columns, what="vote counts"), float).reshape(-1, len(columns))
    headers = [table.header[c] for c in columns]  # validate_votes refuses a count above limits.MAX_VOTES
    return validate_votes(numbers, num_classes=10, source=str(table.path), row_names=where, columns=headers)


# --- layout (b): the FER+ repository's folders ------------------------------------------------------------


def _box(text: str, where: str) -> tuple[int, int, int, int]:
    """A label.csv box cell "(x, y, w, h)"."""
    cells = text.strip().removeprefix("(").removesuffix(")").split(",")
    if len(cells) != 4:
        raise ValueError(f"{where}: face box {text!r} is not (x, y, w, h)")
    x, y, w, h = (parse_int(c.strip(), where, "face box") for c in cells)
    if w <= 0 or h <= 0 or x < 0 or y < 0:
        raise ValueError(f"{where}: face box {text!r} has no area inside the image")
    return x, y, w, h


def _missing_label_csv(path: Path) -> str:
    return f"{path}: missing; the FER+ folders need a label.csv in each of {', '.join(FOLDERS.values())}"


def _label_csv(base: Path, split: str) -> Path:
    path = base / FOLDERS[split] / "label.csv"
    if not path.is_file():
        raise ValueError(_missing_label_csv(path))
    return path


def present_splits(root: Path) -> tuple[str, ...]:
    """The splits a copy holds, for `data inspect`: in the folders layout those with a label.csv
    (``missing_splits`` names the others, which train and eval refuse); otherwise all of them (the CSV
    layout lists every split in one file, and reading a root without FER+ data names both layouts)."""
    base = folders_root(root)
    if base is None:
        return FERPLUS_SPLITS
    return tuple(s for s in FERPLUS_SPLITS if (base / FOLDERS[s] / "label.csv").is_file())


def missing_splits(root: Path) -> dict[str, str]:
    """Split -> what is missing, for each split the folders layout at ``root`` lacks (no label.csv)."""
    base = folders_root(root)
    if base is None:
        return {}
    held = present_splits(root)
    return {s: _missing_label_csv(base / FOLDERS[s] / "label.csv") for s in FERPLUS_SPLITS if s not in held}


def _folder_rows(base: Path, split: str, root: Path, allow_outside_root: bool) -> _Rows:
    """One split's label.csv: image name, an optional box, 10 votes."""
    path = _label_csv(base, split)
    table = read_table(path, header=False, delimiter=",")
    width = len(table.header)
    if width not in (11, 12):
        raise ValueError(
            f"{path}: {width} columns; a FER+ label.csv has the image name, optionally the face box "
            f"'(x, y, w, h)', and 10 vote counts ({', '.join(VOTE_COLUMNS)})"
        )
    first = width - 10
    votes = _votes(table, list(range(first, width)), table.where)
    ids, paths, boxes = [], [], []
    for row, where in zip(table.rows, table.where, strict=True):
        ids.append(row[0])
        paths.append(
            dataset_path(
                base / FOLDERS[split], row[0], root=root, where=where, allow_outside_root=allow_outside_root
            )
        )
        boxes.append(_box(row[1], where) if width == 12 else None)
    check_unique(ids, table.where, what="image name")
    return _Rows(ids, votes, table.where, paths, boxes)


def _check_folder_overlap(base: Path, split: str, rows: _Rows) -> None:
    """Refuse a face in the training folder and in an evaluation folder: one image name in both (FER+
    names a face by its FER2013 row, ``fer0000001.png``), or one file reached from both (a link, a
    ``../FER2013Train/`` path), compared with links resolved as the other readers compare clips."""
    source = str(_label_csv(base, split))
    shown_as = {path_key(p): i for p, i in zip(rows.paths, rows.ids, strict=True)}
    others = [s for s in FERPLUS_SPLITS if (s == "train") != (split == "train")]
    for other in others:
        path = base / FOLDERS[other] / "label.csv"
        if path.is_file():
            theirs = [r[0] for r in read_table(path, header=False, delimiter=",").rows]
            check_disjoint(rows.ids, theirs, source=source, other_source=str(path))
            files = [path_key(base / FOLDERS[other] / name) for name in theirs]
            check_disjoint(list(shown_as), files, source=source, other_source=str(path), shown_as=shown_as)


# --- layout (a): fer2013.csv + fer2013new.csv ------------------------------------------------------------


def _check_row_name(name: str, i: int, where: str, fer_path: Path) -> None:
    """Refuse a named row of fer2013new.csv paired with another face than its name says: FER+ names the
    face of FER2013's data row i (0-based) ``fer{i:07d}.png``, and the rows are paired by position, so a
    reordered file (a spreadsheet sort within one Usage block) would give every face another's votes."""
    want = f"fer{i:07d}.png"
    if name and name != want:
        raise ValueError(
            f"{where}: image name {name!r} is paired by position with line {i + 2} of {fer_path.name}, "
            f"whose face (row {i}, counted from 0) FER+ names {want!r}: the files are not aligned (restore "
            "fer2013new.csv's order, or use the fer2013.csv FER+ was made from)"
        )


def _csv_rows(root: Path, split: str, report: ReadReport, cache_dir: str | Path | None) -> _Rows:
    """The faces of ``split`` from fer2013new.csv, their pixels from fer2013.csv (as PNGs cached in
    ``cache_dir``, None: the per-user cache folder)."""
    new_path = root / "fer2013new.csv"
    fer_path = fer2013_csv(root)
    if fer_path is None:
        raise ValueError(f"{root}: fer2013new.csv needs FER2013's fer2013.csv beside it (or in fer2013/)")
    table = read_table(new_path, delimiter=",")
    cols = [table.column(c) for c in ("Usage", "Image name", *VOTE_COLUMNS)]
    votes = _votes(table, cols[2:], table.where)
    folder, usage = face_cache(fer_path, root, cache_dir)
    if [row[cols[0]] for row in table.rows] != usage:
        # WHY: ``usage`` is softfer's cache's record of fer2013.csv: the file itself is read before the
        # user's files are said to disagree, and a cache that misquotes it is written again
        folder, usage = verify_face_cache(fer_path, root, cache_dir, folder, usage)
    if len(usage) != len(table.rows):
        raise ValueError(
            f"{new_path} has {len(table.rows)} rows and {fer_path} {len(usage)}: FER+ labels row i of "
            "fer2013.csv, so both must list the same faces in the same order"
        )
    names = [row[cols[1]] for row in table.rows]
    named = [(n, w) for n, w in zip(names, table.where, strict=True) if n]
    check_unique([n for n, _ in named], [w for _, w in named], what="image name")
    keep, no_name = [], 0
    for i, (row, where) in enumerate(zip(table.rows, table.where, strict=True)):
        ours = row[cols[0]]
        if ours not in USAGE:
            raise ValueError(f"{where}: Usage {ours!r} is not one of {', '.join(USAGE)}")
        if ours != usage[i]:
            raise ValueError(
                f"{where}: Usage {ours!r}, but row {i + 1} of {fer_path.name} says {usage[i]!r}: the two "
                "files are not aligned row by row (use the fer2013.csv FER+ was made from)"
            )
        _check_row_name(names[i], i, where, fer_path)
        if USAGE[ours] != split:
            continue
        if not names[i]:
            no_name += 1
            continue
        keep.append(i)
    if no_name:
        reason = "no image name (not a face in FER+)"
        report.dropped[reason] = report.dropped.get(reason, 0) + no_name
    return _Rows(
        [names[i] for i in keep],
        votes[keep] if keep else np.zeros((0, 10), dtype=np.int64),
        [table.where[i] for i in keep],
        [folder / f"{i:06d}.png" for i in keep],
        [None] * len(keep),
    )


# --- the vote rules, shared by both layouts ------------------------------------------------------------


# why a face is left out, by the vote column outside the classes that holds its majority (VOTE_COLUMNS[7:])
_LEFT_OUT = ("majority contempt (7 classes)", "majority unknown", "majority NF (not a face)")


def leave_out_reason(votes: np.ndarray, num_classes: int) -> str | None:
    """Why a face with these 10 vote counts is left out, or None when it is kept (see the module text).

    The rule is ``labels.votes.majority_outside``'s (also that of ``labels votes --other-votes``), with the
    columns after the classes (contempt with 7 classes, unknown, NF) as the other votes. On a tie between
    those columns the reason names NF before unknown before contempt.
    """
    others = np.asarray(votes[num_classes:])
    if majority_outside(np.asarray(votes[None, :num_classes]), others[None])[0] < 0:
        return None
    names = _LEFT_OUT[-len(others) :]
    return next(n for v, n in zip(others[::-1], names[::-1], strict=True) if v == others.max())


def _records(rows: _Rows, split: str, num_classes: int, report: ReadReport) -> list[Record]:
    """Records of the faces the vote rules keep; the others counted per reason in ``report.dropped``."""
    dropped: Counter[str] = Counter()
    kept = []
    for i in range(len(rows.ids)):
        reason = leave_out_reason(rows.votes[i], num_classes)
        if reason is None:
            kept.append(i)
        else:
            dropped[reason] += 1
    for reason, n in sorted(dropped.items()):
        report.dropped[reason] = report.dropped.get(reason, 0) + n
    if dropped:
        log.info("FER+ %s: left out %s", split, ", ".join(f"{k}: {n}" for k, n in sorted(dropped.items())))
    if not kept:
        return []
    votes = rows.votes[kept, :num_classes]
    soft, hard = soft_labels(votes), hard_labels(votes, tie="first")
    records = []
    for j, i in enumerate(kept):
        report.total += 1
        rec = Record(
            id=rows.ids[i],
            path=rows.paths[i],
            label=int(hard[j]),
            soft=soft[j],
            votes=votes[j],
            split=split,
            box=rows.boxes[i],
        )
        if is_regular_file(rec.path):
            records.append(rec)
        else:
            report.skipped.append(f"{rec.id}: image missing ({rec.path}; listed at {rows.where[i]})")
    return records


def read_ferplus(
    root: str | Path,
    *,
    split: str = "train",
    num_classes: int = 8,
    max_skip: float = 0.01,
    report: ReadReport | None = None,
    allow_outside_root: bool = False,
    check_overlap: bool = False,
    cache_dir: str | Path | None = None,
) -> list[Record]:
    """Records of one FER+ split (``FERPLUS_SPLITS``) in either layout (the folders win when both exist).

    ``cache_dir``: where the CSV layout's faces are written as PNGs (``data.cache_dir``; None: the per-user
    cache folder); never the data root.

    Raises:
        ValueError: naming the file and row of a bad cell, a Usage that differs between fer2013.csv and
            fer2013new.csv, files that are not there, more missing images than ``max_skip``, an image name
            leading outside ``root`` (unless ``allow_outside_root``), or with ``check_overlap`` an image in
            the training folder and an evaluation folder.
    """
    check_split("FER+", split, FERPLUS_SPLITS)
    if num_classes not in (7, 8):
        raise ValueError(f"FER+ num_classes must be 7 (the classes shared with DFEW) or 8, got {num_classes}")
    root = Path(root)
    report = report if report is not None else ReadReport()
    base = folders_root(root)
    if base is not None:
        rows = _folder_rows(base, split, root, allow_outside_root)
        if check_overlap:
            _check_folder_overlap(base, split, rows)
        source = str(_label_csv(base, split))
    elif (root / "fer2013new.csv").is_file():
        rows, source = _csv_rows(root, split, report, cache_dir), str(root / "fer2013new.csv")
    else:
        raise ValueError(
            f"{root}: no FER+ data: expected fer2013new.csv beside FER2013's fer2013.csv, or the folders "
            f"{', '.join(FOLDERS.values())} with a label.csv each (docs/DATASETS.md)"
        )
    records = _records(rows, split, num_classes, report)
    check_one_media_once(records, source)  # ``./a.png`` or a link to ``a.png``: one face listed twice
    check_skips(report, max_skip, source)
    return records


def _read(request: ReadRequest) -> list[Record]:
    return read_ferplus(
        request.root,
        split=request.split,  # type: ignore[arg-type]  # None is refused by the split check
        num_classes=request.num_classes,
        max_skip=request.max_skip,
        report=request.report,
        allow_outside_root=request.allow_outside_root,
        check_overlap=request.check_overlap,
        cache_dir=request.cache_dir,
    )


FORMAT = DatasetFormat(
    name="ferplus",
    read=_read,
    splits=FERPLUS_SPLITS,
    classes=FERPLUS_CLASSES,
    media="image",
    default_test_split="test",
    description="FER+ (fer2013.csv + fer2013new.csv, or the FER+ folders): 48x48 grey faces, 10 votes each",
    class_counts=(7, 8),
    splits_present=present_splits,  # data inspect reads the folders there are
    missing_splits=missing_splits,  # and reports the others as problems
)
