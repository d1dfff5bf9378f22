"""AffectNet (Mollahosseini et al.): still images with a class code and valence/arousal.

AffectNet::

    ROOT/Manually_Annotated_file_lists/training.csv, validation.csv
    ROOT/Manually_Annotated_Images/<subDirectory_filePath>

CSV columns: subDirectory_filePath, face_x, face_y, face_width, face_height, facial_landmarks (136 values
separated by ';'), expression (0..10), valence, arousal. Codes 0-7 are the eight emotions (0-6 with
``num_classes=7``); 8-10 (none, uncertain, no face) are dropped. -2 marks missing valence/arousal.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from softfer.classes import AFFECTNET_CLASSES
from softfer.data.formats.base import DatasetFormat, ReadRequest
from softfer.data.records import ReadReport, Record, check_skips, check_split, check_unique, parse_int
from softfer.io.tables import read_table
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


def _first_existing(*paths: Path) -> Path | None:
    return next((p for p in paths if p.exists()), None)


def read_affectnet(
    root: str | Path,
    *,
    split: str = "train",
    num_classes: int = 8,
    va_only_none: bool = False,
    max_skip: float = 0.01,
    report: ReadReport | None = None,
) -> list[Record]:
    """Records of AffectNet's training or validation list (split one of ``AFFECTNET_SPLITS``).

    Images with face box, class code and VA; codes ``num_classes``..10 are left out, except that with
    ``va_only_none`` the code-8 ("None") images that carry valence/arousal are kept with label -1: they
    count for the VA metrics only, as the dual-domain paper evaluates 4,500 dimensional against 4,000
    categorical validation images (section 4.1).
    """
    check_split("AffectNet", split, AFFECTNET_SPLITS)
    root = Path(root)
    if num_classes not in (7, 8):
        raise ValueError(f"AffectNet num_classes must be 7 or 8, got {num_classes}")
    name = "training.csv" if split == "train" else "validation.csv"
    csv_path = _first_existing(root / "Manually_Annotated_file_lists" / name, root / name)
    if csv_path is None:
        raise ValueError(f"{root}: no {name} (looked in Manually_Annotated_file_lists/ and the root)")
    images = (
        _first_existing(
            root / "Manually_Annotated_Images", root / "Manually_Annotated" / "Manually_Annotated_Images"
        )
        or root
    )
    table = read_table(csv_path)
    cols = {c: table.column(c) for c in AFFECTNET_COLUMNS}
    check_unique(table.values("subDirectory_filePath"), table.where)
    report = report if report is not None else ReadReport()
    records = []
    for row, where in zip(table.rows, table.where, strict=True):
        code = parse_int(row[cols["expression"]], where, "expression")
        if not 0 <= code <= 10:
            raise ValueError(f"{where}: expression {code} outside 0..10")
        va_only = va_only_none and code == 8
        if code >= num_classes and not va_only:
            continue  # none / uncertain / no-face (and contempt for 7 classes): not a training class
        try:
            va = np.array([float(row[cols["valence"]]), float(row[cols["arousal"]])])
        except ValueError:
            raise ValueError(f"{where}: valence/arousal must be numbers") from None
        if np.all(va == VA_MISSING):
            if va_only:
                continue
            va = None
        elif not np.all(np.isfinite(va)) or np.any(np.abs(va) > 1):
            raise ValueError(f"{where}: valence/arousal {va.tolist()} outside [-1, 1] (-2 = missing)")
        marks = row[cols["facial_landmarks"]]
        if marks and len(marks.split(";")) != 136:
            raise ValueError(f"{where}: facial_landmarks has {len(marks.split(';'))} values, expected 136")
        box = tuple(
            parse_int(row[cols[c]], where, c) for c in ("face_x", "face_y", "face_width", "face_height")
        )
        rel = row[cols["subDirectory_filePath"]]
        path = images / rel
        label = -1 if va_only else code
        rec = Record(id=rel, path=path, label=label, va=va, split=split, box=box)  # type: ignore[arg-type]
        report.total += 1
        if not path.is_file():
            report.skipped.append(f"{rel}: image missing ({path})")
            continue
        records.append(rec)
    check_skips(report, max_skip, str(csv_path))
    return records


def _read(request: ReadRequest) -> list[Record]:
    return read_affectnet(
        request.root,
        split=request.split,  # type: ignore[arg-type]  # None is refused by the split check
        num_classes=request.num_classes,
        # Evaluation counts the code-8 "None" images for the VA metrics (dual-domain 4.1).
        va_only_none=request.test and request.num_classes == 8,
        max_skip=request.max_skip,
        report=request.report,
    )


FORMAT = DatasetFormat(
    name="affectnet",
    read=_read,
    splits=AFFECTNET_SPLITS,
    classes=AFFECTNET_CLASSES,
    media="image",
    default_test_split="val",  # AffectNet's test set is not public: papers report its validation set
    description="AffectNet (Manually_Annotated lists): face images with expression code and valence/arousal",
)
