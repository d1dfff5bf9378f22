"""DFEW (Jiang et al., ACM MM 2020), in its release layout and in the official code's layout.

Release::

    ROOT/Clip/clip_224x224/00001/00001_00001.jpg      (or clip_224x224_16f)
    ROOT/EmoLabel_DataSplit/train(single-labeled)/set_1.csv ... set_5.csv   (video_name,label; labels 1..7)
    ROOT/EmoLabel_DataSplit/test(single-labeled)/set_1.csv ... set_5.csv
    ROOT/Annotation/annotation.xlsx                    (7 vote counts per clip)

Official code::

    ROOT/data/00001/00001_00001.jpg
    ROOT/label/single_trainset_1.csv, single_testset_1.csv, ...

Labels 1..7 in the files become 0..6 in DFEW_CLASSES order; splits are ``DFEW_SPLITS``. Votes come from
the annotation workbook (or an equivalent CSV), columns found by class name whatever the copy's spelling
("Happy", "1 Happy", "happy_1"; ``read_votes`` has the last resort for unnamed columns), joined by clip name
or, failing that, by order number.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from softfer.classes import DFEW_CLASSES
from softfer.data.formats.base import DatasetFormat, ReadRequest
from softfer.data.records import (
    ReadReport,
    Record,
    attach_frames,
    check_label,
    check_split,
    check_unique,
    parse_int,
    path_key,
)
from softfer.data.splits import check_disjoint
from softfer.io.tables import (
    Table,
    check_no_unread_votes,
    find_class_columns,
    match_class_columns,
    parse_numbers,
    read_table,
)
from softfer.labels.votes import validate_votes

SPLIT_SPELLINGS = ("single-labeled", "single_labeled", "single-labelled", "single_labelled")
FRAME_FOLDERS = ("clip_224x224", "clip_224x224_16f")
DFEW_SPLITS = ("train", "test")
DFEW_FOLDS = (1, 2, 3, 4, 5)
ID_COLUMNS = ("video_name", "clip", "name", "order")  # clip key columns, preferred first
log = logging.getLogger(__name__)


def _clip_id(text: str, where: str) -> str:
    name = Path(text.strip()).name
    if not (name.isascii() and name.isdigit() and len(name) <= 9):
        raise ValueError(f"{where}: clip name {text!r} is not a DFEW clip number")
    return f"{int(name):05d}"


def split_file(root: Path, split: str, fold: int) -> Path:
    """The split CSV of a fold in either layout."""
    check_split("DFEW", split, DFEW_SPLITS)
    if fold not in DFEW_FOLDS:
        raise ValueError(f"DFEW fold must be 1..5, got {fold}")
    candidates = [root / "EmoLabel_DataSplit" / f"{split}({s})" / f"set_{fold}.csv" for s in SPLIT_SPELLINGS]
    candidates.append(root / "label" / f"single_{split}set_{fold}.csv")
    for c in candidates:
        if c.is_file():
            return c
    raise ValueError(
        f"{root}: no DFEW split file for {split} fold {fold}; looked for "
        f"EmoLabel_DataSplit/{split}(single-labeled)/set_{fold}.csv and label/single_{split}set_{fold}.csv"
    )


def frames_root(root: Path, frames: str | None = None) -> Path:
    """The folder holding one sub-folder of frames per clip."""
    names = (frames,) if frames else FRAME_FOLDERS
    for name in names:
        for c in (root / "Clip" / name, root / name):
            if c.is_dir():
                return c
    if not frames and (root / "data").is_dir():
        return root / "data"
    raise ValueError(f"{root}: no DFEW frame folder (Clip/{names[0]} or data/)")


def annotation_file(root: Path) -> Path | None:
    """Annotation/annotation.xlsx (or .csv) if present."""
    for c in (
        root / "Annotation" / "annotation.xlsx",
        root / "Annotation" / "annotation.csv",
        root / "annotation.xlsx",
    ):
        if c.is_file():
            return c
    return None


def _vote_columns(table: Table, key: int, column_map: Mapping[str, str] | None) -> list[int]:
    """The seven vote columns in DFEW order: by header, or (last resort) the seven after column ``key``."""
    if column_map or match_class_columns(table, DFEW_CLASSES):
        return find_class_columns(table, DFEW_CLASSES, column_map=column_map)
    after = list(range(key + 1, len(table.header)))
    if len(after) != len(DFEW_CLASSES):
        return find_class_columns(table, DFEW_CLASSES)  # the clear "no column for class" error
    heads = [table.header[i].strip() for i in after]
    numbers = [h if h.isdigit() else "" for h in heads]
    if sorted(numbers) == [str(k) for k in range(1, 8)]:
        # Headers that are just the DFEW label numbers 1..7: map by number, whatever their order.
        after = [after[numbers.index(str(k))] for k in range(1, 8)]
        how = "by their DFEW label numbers"
    else:
        how = f"by position after the column {table.header[key]!r}, in DFEW label order"
    mapping = ", ".join(f"{table.header[i]!r} -> {c}" for i, c in zip(after, DFEW_CLASSES, strict=True))
    log.warning("%s: no vote column is named after a class; taking them %s: %s", table.path, how, mapping)
    return after


def read_votes(path: str | Path, *, column_map: Mapping[str, str] | None = None) -> dict[str, np.ndarray]:
    """Vote counts per clip id from a DFEW annotation workbook or CSV.

    Vote columns are found by class name (``find_class_columns``: case, label numbers, punctuation and
    spaces ignored). When no column names a class and exactly seven columns follow the clip column, those
    are taken in DFEW label order (by number when headed 1..7), and the mapping is logged as a warning.
    """
    table: Table = read_table(path)
    present = [k for k in ID_COLUMNS if table.has_column(k)]
    if not present:
        raise ValueError(
            f"{path}: no clip name or order column (video_name/clip/name/order); columns {table.header}"
        )
    key = present[0]
    cols = _vote_columns(table, max(table.column(k) for k in present), column_map)
    check_no_unread_votes(table, cols, DFEW_CLASSES)  # contempt, unknown, NF: never dropped silently
    votes = validate_votes(
        parse_numbers(table, cols, what="vote counts"),
        num_classes=7,
        source=str(path),
        row_names=table.where,
        columns=[table.header[c] for c in cols],  # a message names the header, not "vote column 1 of 7"
    )
    ids = [_clip_id(v, w) for v, w in zip(table.values(key), table.where, strict=True)]
    check_unique(ids, table.where)
    return dict(zip(ids, votes, strict=True))


def _split_rows(path: Path) -> tuple[Table, list[str], int]:
    """(table, clip ids, label column) of a split CSV, with or without its header line."""
    first = read_table(path, header=False).rows[0]
    has_header = not first[0].strip().isdigit()
    table = read_table(path, header=has_header)
    id_col = table.column("video_name") if has_header and table.has_column("video_name") else 0
    label_col = table.column("label") if has_header and table.has_column("label") else 1
    if len(table.header) <= max(id_col, label_col):
        raise ValueError(f"{path}: expected a clip and a label column, got {len(table.header)} column(s)")
    ids = [_clip_id(r[id_col], w) for r, w in zip(table.rows, table.where, strict=True)]
    check_unique(ids, table.where)
    return table, ids, label_col


def check_fold_disjoint(
    root: Path, fold: int, split: str, ids: list[str], path: Path, base: Path | None = None
) -> None:
    """Refuse a fold whose other split (train for test, test for train) lists one of ``ids``.

    With ``base`` (the frame folder) the clip folders are compared with links resolved (``path_key``): a
    clip folder that is a link to another clip of the other split is that clip.
    """
    other = next(s for s in DFEW_SPLITS if s != split)
    try:
        other_path = split_file(root, other, fold)
    except ValueError:
        return  # a copy with one split file only: nothing to overlap with
    theirs = _split_rows(other_path)[1]
    shown_as = None
    if base is not None:
        shown_as = {path_key(base / i): i for i in ids}
        ids, theirs = list(shown_as), [path_key(base / i) for i in theirs]
    check_disjoint(ids, theirs, source=str(path), other_source=str(other_path), shown_as=shown_as)


def read_dfew(
    root: str | Path,
    *,
    fold: int = 1,
    split: str = "train",
    frames: str | None = None,
    annotation: str | Path | None = None,
    column_map: Mapping[str, str] | None = None,
    max_skip: float = 0.01,
    report: ReadReport | None = None,
    check_overlap: bool = False,
) -> list[Record]:
    """Records of one DFEW fold and split (one of ``DFEW_SPLITS``); labels 0..6, soft labels from votes.

    ``check_overlap``: refuse a fold whose train and test split files share a clip (``check_disjoint``);
    the ``FORMATS`` entry (what the engine and ``data inspect`` read through) turns it on.
    """
    check_split("DFEW", split, DFEW_SPLITS)
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"DFEW root {root} does not exist")
    path = split_file(root, split, fold)
    table, ids, label_col = _split_rows(path)
    base = frames_root(root, frames)
    if check_overlap:
        check_fold_disjoint(root, fold, split, ids, path, base)
    ann = Path(annotation) if annotation else annotation_file(root)
    votes = read_votes(ann, column_map=column_map) if ann else None
    records = []
    for clip, row, where in zip(ids, table.rows, table.where, strict=True):
        label = check_label(parse_int(row[label_col], where), 7, where, one_based=True)
        rec = Record(id=clip, path=base / clip, label=label, fold=fold, split=split)
        if votes is not None:
            if clip not in votes:
                raise ValueError(f"{where}: clip {clip} is not in the annotation file {ann}")
            rec.votes = votes[clip]
            rec.soft = rec.votes / rec.votes.sum()
        records.append(rec)
    return attach_frames(records, max_skip=max_skip, report=report, source=str(path))


def _read(request: ReadRequest) -> list[Record]:
    return read_dfew(
        request.root,
        fold=request.fold,
        split=request.split,  # type: ignore[arg-type]  # None is refused by the split check
        max_skip=request.max_skip,
        report=request.report,
        check_overlap=request.check_overlap,
    )


FORMAT = DatasetFormat(
    name="dfew",
    read=_read,
    splits=DFEW_SPLITS,
    folds=DFEW_FOLDS,
    classes=DFEW_CLASSES,
    media="clip",
    default_test_split="test",
    description="DFEW (release or official-code layout): face-crop frame folders, 5 folds, annotator votes",
)
