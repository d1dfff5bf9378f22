"""AffectNet (Mollahosseini et al.): still images with a class code and valence/arousal.

AffectNet::

    ROOT/Manually_Annotated_file_lists/training.csv, validation.csv
    ROOT/Manually_Annotated_Images/<subDirectory_filePath>

CSV columns: subDirectory_filePath, face_x, face_y, face_width, face_height, facial_landmarks (136 values
separated by ';'), expression (0..10), valence, arousal. Codes 0-7 are the eight emotions (0-6 with
``num_classes=7``); 8-10 (none, uncertain, no face) are left out, counted per code in the read report.
-2 marks missing valence/arousal. Image paths stay inside the root, and an image is in one list only.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import numpy as np

from softfer.classes import AFFECTNET_CLASSES
from softfer.data.formats.base import DatasetFormat, ReadRequest
from softfer.data.records import (
    ReadReport,
    Record,
    check_skips,
    check_split,
    check_unique,
    dataset_path,
    is_regular_file,
    parse_int,
    path_key,
)
from softfer.data.splits import check_disjoint
from softfer.io.tables import Table, read_table
from softfer.labels.affect import VA_MISSING

AFFECTNET_COLUMNS = (
    "subDirectory_filePath",
    "face_x",
    "face_y",
    "face_width",
    "face_height",
    "facial_landmarks",
    "expression",
    "valence",
    "arousal",
)


AFFECTNET_SPLITS = ("train", "val")  # training.csv, validation.csv
AFFECTNET_LISTS = {"train": "training.csv", "val": "validation.csv"}
# AffectNet's expression codes: 0..7 the eight classes (AFFECTNET_CLASSES), 8..10 not a class.
AFFECTNET_CODES = (*AFFECTNET_CLASSES, "none", "uncertain", "no face")
MIN_BOX_SIDE = 2  # a face box narrower than this has no face in it (the loader would take the whole image)
log = logging.getLogger(__name__)


def _first_existing(*paths: Path) -> Path | None:
    return next((p for p in paths if p.exists()), None)


def list_file(root: Path, split: str) -> Path | None:
    """training.csv or validation.csv of ``split``, in Manually_Annotated_file_lists/ or the root."""
    name = AFFECTNET_LISTS[split]
    return _first_existing(root / "Manually_Annotated_file_lists" / name, root / name)


def _va(row: list[str], cols: dict[str, int], where: str) -> np.ndarray | None:
    """Valence and arousal of a row; None when both are -2 (missing)."""
    cells = [row[cols["valence"]], row[cols["arousal"]]]
    try:
        va = np.array([float(c) for c in cells])
    except ValueError:
        raise ValueError(f"{where}: valence/arousal must be numbers, got {cells}") from None
    if np.all(va == VA_MISSING):
        return None
    if not np.all(np.isfinite(va)) or np.any(np.abs(va) > 1):
        raise ValueError(f"{where}: valence/arousal {va.tolist()} outside [-1, 1] (-2 = missing)")
    return va


def _box(row: list[str], cols: dict[str, int], where: str) -> tuple[int, int, int, int]:
    x, y, w, h = (parse_int(row[cols[c]], where, c) for c in AFFECTNET_COLUMNS[1:5])
    return x, y, w, h


def _image_keys(table: Table, images: Path) -> list[str]:
    """The listed images as normalised paths (``1/a.jpg`` and ``1/./a.jpg`` are one image)."""
    return [path_key(images / p) for p in table.values("subDirectory_filePath")]


def _check_disjoint_lists(keys: list[str], images: Path, split: str, root: Path, csv_path: Path) -> None:
    """Refuse an image listed in both training.csv and validation.csv."""
    other = list_file(root, next(s for s in AFFECTNET_SPLITS if s != split))
    if other is not None:
        other_keys = _image_keys(read_table(other), images)
        check_disjoint(keys, other_keys, source=str(csv_path), other_source=str(other))


def read_affectnet(
    root: str | Path,
    *,
    split: str = "train",
    num_classes: int = 8,
    va_only_none: bool = False,
    max_skip: float = 0.01,
    report: ReadReport | None = None,
    allow_outside_root: bool = False,
    check_overlap: bool = False,
) -> list[Record]:
    """Records of AffectNet's training or validation list (split one of ``AFFECTNET_SPLITS``).

    Images with face box, class code and VA; codes ``num_classes``..10 are left out (counted per code in
    ``report.dropped`` and logged), except that with ``va_only_none`` the code-8 ("None") images that carry
    valence/arousal are kept with label -1: they count for the VA metrics only, as the dual-domain paper
    evaluates 4,500 dimensional against 4,000 categorical validation images (section 4.1). An image whose
    face box is narrower or lower than ``MIN_BOX_SIDE`` is skipped like a missing image (``report.skipped``,
    capped by ``max_skip``). Image paths leading outside ``root`` are refused unless ``allow_outside_root``;
    with ``check_overlap`` an image in both lists is refused.
    """
    check_split("AffectNet", split, AFFECTNET_SPLITS)
    root = Path(root)
    if num_classes not in (7, 8):
        raise ValueError(f"AffectNet num_classes must be 7 or 8, got {num_classes}")
    csv_path = list_file(root, split)
    if csv_path is None:
        raise ValueError(
            f"{root}: no {AFFECTNET_LISTS[split]} (looked in Manually_Annotated_file_lists/ and the root)"
        )
    images = _images_folder(root)
    table = read_table(csv_path)
    cols = {c: table.column(c) for c in AFFECTNET_COLUMNS}
    keys = _image_keys(table, images)
    check_unique(keys, table.where, what="image path")
    if check_overlap:
        _check_disjoint_lists(keys, images, split, root, csv_path)
    report = report if report is not None else ReadReport()
    dropped: Counter[str] = Counter()
    records = []
    for row, where in zip(table.rows, table.where, strict=True):
        code = parse_int(row[cols["expression"]], where, "expression")
        if not 0 <= code <= 10:
            raise ValueError(f"{where}: expression {code} outside 0..10")
        va_only = va_only_none and code == 8
        if code >= num_classes and not va_only:
            # none / uncertain / no-face (and contempt for 7 classes): not a training class
            dropped[f"code {code} ({AFFECTNET_CODES[code]})"] += 1
            continue
        va = _va(row, cols, where)
        if va is None and va_only:
            dropped[f"code {code} ({AFFECTNET_CODES[code]}) without valence/arousal"] += 1
            continue
        rec = _record(row, where, cols, images, root, allow_outside_root)
        rec.label, rec.va, rec.split = (-1 if va_only else code), va, split
        _keep_if_usable(rec, where, report, records)
    _record_dropped(report, dropped, csv_path)
    check_skips(report, max_skip, str(csv_path))
    return records


def _keep_if_usable(rec: Record, where: str, report: ReadReport, records: list[Record]) -> None:
    """Append ``rec`` to ``records`` unless its face box is too small or its image is missing (skipped)."""
    report.total += 1
    box = rec.box or (0, 0, 0, 0)
    if min(box[2], box[3]) < MIN_BOX_SIDE:
        report.skipped.append(f"{rec.id}: face box {box[2]}x{box[3]} has no face in it ({where})")
    elif not is_regular_file(rec.path):
        report.skipped.append(f"{rec.id}: image missing ({rec.path})")
    else:
        records.append(rec)


def _images_folder(root: Path) -> Path:
    return (
        _first_existing(
            root / "Manually_Annotated_Images", root / "Manually_Annotated" / "Manually_Annotated_Images"
        )
        or root
    )


def _record(
    row: list[str], where: str, cols: dict[str, int], images: Path, root: Path, allow_outside_root: bool
) -> Record:
    """A row's image (inside ``root`` unless allowed) and face box; malformed landmarks raise."""
    marks = row[cols["facial_landmarks"]]
    if marks and len(marks.split(";")) != 136:
        raise ValueError(f"{where}: facial_landmarks has {len(marks.split(';'))} values, expected 136")
    box = _box(row, cols, where)
    rel = row[cols["subDirectory_filePath"]]
    path = dataset_path(images, rel, root=root, where=where, allow_outside_root=allow_outside_root)
    return Record(id=rel, path=path, box=box)


def _record_dropped(report: ReadReport, dropped: Counter[str], csv_path: Path) -> None:
    ordered = sorted(dropped.items(), key=lambda kv: (int(kv[0].split()[1]), kv[0]))  # by code
    for reason, n in ordered:
        report.dropped[reason] = report.dropped.get(reason, 0) + n
    if dropped:
        shown = ", ".join(f"{reason}: {n}" for reason, n in ordered)
        log.info("%s: left out rows that are not a class: %s", csv_path, shown)


def _read(request: ReadRequest) -> list[Record]:
    return read_affectnet(
        request.root,
        split=request.split,  # type: ignore[arg-type]  # None is refused by the split check
        num_classes=request.num_classes,
        # Evaluation counts the code-8 "None" images for the VA metrics (dual-domain 4.1).
        va_only_none=request.test and request.num_classes == 8,
        max_skip=request.max_skip,
        report=request.report,
        allow_outside_root=request.allow_outside_root,
        check_overlap=request.check_overlap,
    )


FORMAT = DatasetFormat(
    name="affectnet",
    read=_read,
    splits=AFFECTNET_SPLITS,
    classes=AFFECTNET_CLASSES,
    media="image",
    default_test_split="val",  # AffectNet's test set is not public: papers report its validation set
    description="AffectNet (Manually_Annotated lists): face images with expression code and valence/arousal",
    class_counts=(7, 8),
)
