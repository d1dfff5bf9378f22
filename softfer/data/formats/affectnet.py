"""AffectNet (Mollahosseini et al.) and Aff-Wild (Kollias et al.) still-frame readers.

AffectNet::

    ROOT/Manually_Annotated_file_lists/training.csv, validation.csv
    ROOT/Manually_Annotated_Images/<subDirectory_filePath>

CSV columns: subDirectory_filePath, face_x, face_y, face_width, face_height, facial_landmarks (136 values
separated by ';'), expression (0..10), valence, arousal. Codes 0-7 are the eight emotions (0-6 with
``num_classes=7``); 8-10 (none, uncertain, no face) are dropped. -2 marks missing valence/arousal.

Aff-Wild::

    ROOT/annotations/{valence,arousal}/<video>.txt      (one value per frame)
    ROOT/frames/<video>/<frame>.jpg                      (sorted; one image per annotated frame)

Categorical labels are derived from VA with the GMM statistics given (dual-domain paper, section 4.1).
Aff-Wild ships no test split of its own here: splits "train" and "test" are a seeded split by video
(``affwild_videos``); there is no "val".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from softfer.data.records import (
    ReadReport,
    Record,
    check_skips,
    check_split,
    check_unique,
    frame_index,
    parse_int,
)
from softfer.io.tables import read_table
from softfer.labels.affect import VA_MISSING, AffectStats, gmm_labels

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
AFFWILD_SPLITS = ("train", "test")  # a seeded split by video, ``test_share`` of the videos for test


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


def _read_values(path: Path) -> np.ndarray:
    try:
        values = np.array([float(x) for x in path.read_text().split()])
    except ValueError as exc:
        raise ValueError(f"{path}: not a list of numbers ({exc})") from exc
    bad = ~np.isfinite(values) | (np.abs(values) > 1)
    if bad.any():
        raise ValueError(f"{path}: line {int(np.flatnonzero(bad)[0]) + 1} value outside [-1, 1]")
    return values


def affwild_videos(root: str | Path, split: str, *, test_share: float = 0.2, seed: int = 0) -> list[str]:
    """The sorted Aff-Wild videos of one split (one of ``AFFWILD_SPLITS``).

    A seeded permutation of the annotated videos: its first ``round(test_share * n)`` are "test", the rest
    "train", so the two splits are disjoint and cover every video.

    Raises:
        ValueError: for a split not in ``AFFWILD_SPLITS``, a missing annotation folder, or an empty split.
    """
    check_split("Aff-Wild", split, AFFWILD_SPLITS)
    if not 0.0 <= test_share <= 1.0:
        raise ValueError(f"Aff-Wild test_share must be in [0, 1], got {test_share}")
    val_dir = Path(root) / "annotations" / "valence"
    if not val_dir.is_dir() or not (Path(root) / "annotations" / "arousal").is_dir():
        raise ValueError(f"{root}: expected annotations/valence and annotations/arousal folders")
    videos = sorted(p.stem for p in val_dir.glob("*.txt"))
    if not videos:
        raise ValueError(f"{val_dir}: no annotation files")
    order = np.random.default_rng(seed).permutation(len(videos))
    n_test = round(test_share * len(videos))
    chosen = order[:n_test] if split == "test" else order[n_test:]
    if len(chosen) == 0:
        raise ValueError(
            f"{root}: the Aff-Wild {split} split is empty ({len(videos)} videos, test_share {test_share})"
        )
    return sorted(videos[i] for i in chosen)


def read_affwild(
    root: str | Path, stats: AffectStats, *, split: str = "train", test_share: float = 0.2, seed: int = 0
) -> list[Record]:
    """Per-frame Aff-Wild records with VA and GMM-derived class labels.

    ``split`` is one of ``AFFWILD_SPLITS``; the split is by video (``affwild_videos``), so no video has
    frames in both.
    """
    root = Path(root)
    videos = affwild_videos(root, split, test_share=test_share, seed=seed)
    val_dir, aro_dir = root / "annotations" / "valence", root / "annotations" / "arousal"
    records = []
    for video in videos:
        v, a = _read_values(val_dir / f"{video}.txt"), _read_values(aro_dir / f"{video}.txt")
        if len(v) != len(a):
            raise ValueError(f"{video}: {len(v)} valence values but {len(a)} arousal values")
        frames = frame_index(root / "frames" / video)
        if len(frames) != len(v):
            raise ValueError(f"{video}: {len(frames)} frames but {len(v)} annotated values")
        va = np.stack([v, a], axis=1)
        probs = gmm_labels(va, stats)
        for i, name in enumerate(frames):
            records.append(
                Record(
                    id=f"{video}/{name}",
                    path=root / "frames" / video / name,
                    label=int(probs[i].argmax()),
                    soft=probs[i],
                    va=va[i],
                    split=split,
                )
            )
    return records
