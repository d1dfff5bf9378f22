"""FERV39k (Wang et al., CVPR 2022) and its soft-label extension FERV39k-Plus (MIDAS).

Layout::

    ROOT/4_setups/All_scenes/train_All.csv, test_All.csv   (space separated, no header:
                                                            "Scene/Class/NNNN Label")
    ROOT/2_ClipsforFaceCrop/Scene/Class/NNNN/*.jpg

The label is a class name or an index in FERV39k's order (Angry, Disgust, Fear, Happy, Neutral, Sad,
Surprise); softfer maps it to DFEW_CLASSES order so models trained on either dataset share one head.
A label that contradicts the class folder of its clip path (``Action/Fear/0001 Happy``) is refused.
An optional soft-label file (FERV39k-Plus; CSV or XLSX: a clip column + one column per class, counts or
probabilities) adds soft labels, joined by clip path (``clip_key``: backslashes and surrounding slashes do
not matter). Splits: ``FERV39K_SPLITS``.
"""

from __future__ import annotations

import posixpath
from pathlib import Path

import numpy as np

from softfer.classes import DFEW_CLASSES
from softfer.data.formats.base import DatasetFormat, ReadRequest
from softfer.data.records import (
    ReadReport,
    Record,
    attach_frames,
    check_split,
    check_unique,
    dataset_path,
    parse_int,
    path_key,
)
from softfer.data.splits import check_disjoint
from softfer.io.tables import (
    CLASS_SYNONYMS,
    check_no_unread_votes,
    find_class_columns,
    parse_numbers,
    read_table,
)

FERV39K_CLASSES = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
FERV39K_SPLITS = ("train", "test")
SOFT_KEY_COLUMNS = ("clip", "path", "video_name", "id")
# The FERV39k-Plus vote table's name in a FERV39k root (as `synth` writes it and the MIDAS configs name it).
PLUS_VOTES_NAME = "ferv39k_plus_votes.csv"


def to_dfew_label(token: str, where: str, order: tuple[str, ...] = FERV39K_CLASSES) -> int:
    """A class name or an index in ``order`` -> the DFEW class index."""
    name = CLASS_SYNONYMS.get(token.strip().lower())
    if name is None:
        idx = parse_int(token, where)
        if not 0 <= idx < len(order):
            raise ValueError(f"{where}: label {idx} outside 0..{len(order) - 1}")
        name = order[idx]
    if name not in DFEW_CLASSES:
        raise ValueError(f"{where}: class {token!r} is not one of {DFEW_CLASSES}")
    return DFEW_CLASSES.index(name)


def clip_key(text: str) -> str:
    """A clip path as a join key: backslashes become slashes; surrounding spaces and slashes are stripped.

    The list files and soft-label tables of copies made on different systems spell one clip as
    ``Action/Happy/0001``, ``/Action/Happy/0001/`` or ``Action\\Happy\\0001``.
    """
    parts = [p for p in text.strip().replace("\\", "/").split("/") if p not in ("", ".")]
    # ``a/../a/0001`` is ``a/0001``: one clip, one key (a clip listed twice is refused as a duplicate)
    return posixpath.normpath("/".join(parts)) if parts else ""


def folder_label(clip: str, label: int, where: str) -> int:
    """``label`` (DFEW order), refused when it contradicts the class folder of its own clip path.

    FERV39k keeps each clip in ``Scene/<Class>/NNNN``: a list row whose label names another class (a
    damaged or shifted list, another list's labels pasted in) would train or score the clip as another
    class. A path whose folder names no class is not checked.
    """
    parts = clip.split("/")
    folder = CLASS_SYNONYMS.get(parts[-2].lower()) if len(parts) >= 2 else None
    if folder in DFEW_CLASSES and DFEW_CLASSES.index(folder) != label:
        raise ValueError(
            f"{where}: clip {clip!r} lies in the {parts[-2]!r} class folder but is labelled "
            f"{DFEW_CLASSES[label]!r}: the list does not match its clips; fix the list (or the folder)"
        )
    return label


def read_soft_labels(path: str | Path) -> dict[str, np.ndarray]:
    """Per-clip soft labels (counts or probabilities, normalised), keyed by ``clip_key`` of the clip path.

    The table has a clip column (clip, path, video_name or id) and one column per class, matched tolerantly
    by name (``find_class_columns``).
    """
    table = read_table(path)
    cols = find_class_columns(table, DFEW_CLASSES)
    check_no_unread_votes(table, cols, DFEW_CLASSES)
    values = np.array(parse_numbers(table, cols, what="soft labels"))
    name = next((k for k in SOFT_KEY_COLUMNS if table.has_column(k)), None)
    if name is None:
        raise ValueError(f"{path}: no clip column ({'/'.join(SOFT_KEY_COLUMNS)}); columns are {table.header}")
    key = table.column(name)
    ids = [clip_key(row[key]) for row in table.rows]
    check_unique(ids, table.where)
    out = {}
    for clip, v, where in zip(ids, values, table.where, strict=True):
        if not clip:
            raise ValueError(f"{where}: empty clip path")
        if not np.all(np.isfinite(v)) or np.any(v < 0) or not 0 < v.sum() < np.inf:
            raise ValueError(f"{where}: soft label {v.tolist()} must be non-negative with a positive sum")
        out[clip] = v / v.sum()
    return out


def list_path(root: Path, split: str, scene: str = "All_scenes") -> Path:
    """The list file of ``split`` (it may not exist)."""
    suffix = scene.split("_")[0] if scene != "All_scenes" else "All"
    return root / "4_setups" / scene / f"{split}_{suffix}.csv"


def _list_ids(path: Path) -> tuple[list[list[str]], list[str], list[str]]:
    """(rows, clip keys, row names) of a list file of "clip label" lines; duplicate clips are refused."""
    table = read_table(path, header=False, delimiter=" ")
    if len(table.header) != 2:
        raise ValueError(f"{path}: expected 2 space-separated columns (clip label), got {len(table.header)}")
    ids = [clip_key(r[0]) for r in table.rows]
    check_unique(ids, table.where)
    return table.rows, ids, table.where


def read_ferv39k(
    root: str | Path,
    *,
    split: str = "train",
    scene: str = "All_scenes",
    soft_labels: str | Path | None = None,
    max_skip: float = 0.01,
    report: ReadReport | None = None,
    allow_outside_root: bool = False,
    check_overlap: bool = False,
) -> list[Record]:
    """Records of a FERV39k split (one of ``FERV39K_SPLITS``; labels in DFEW order).

    ``soft_labels``: a FERV39k-Plus table (``read_soft_labels``) joined by clip path. Clips of the file that
    are not in this split are ignored; a clip of the split missing from the file is an error.
    A clip path leading outside ``root`` is refused unless ``allow_outside_root``; with ``check_overlap`` a
    clip listed in both the train and the test list is refused.
    """
    check_split("FERV39k", split, FERV39K_SPLITS)
    root = Path(root)
    path = list_path(root, split, scene)
    if not path.is_file():
        raise ValueError(f"{root}: no FERV39k list {path.relative_to(root)}")
    rows, ids, where_rows = _list_ids(path)
    other = list_path(root, next(s for s in FERV39K_SPLITS if s != split), scene)
    frames = root / "2_ClipsforFaceCrop"
    if check_overlap and other.is_file():
        # clip folders compared with links resolved: ``Action/alias/0001`` may be ``Action/Happy/0001``
        shown_as = {path_key(frames / c): c for c in ids}
        theirs = [path_key(frames / c) for c in _list_ids(other)[1]]
        check_disjoint(list(shown_as), theirs, source=str(path), other_source=str(other), shown_as=shown_as)
    soft = read_soft_labels(soft_labels) if soft_labels else None
    if soft is not None:
        missing = [(w, c) for c, w in zip(ids, where_rows, strict=True) if c not in soft]
        if missing:
            shown = ", ".join(f"{c} ({w})" for w, c in missing[:5])
            raise ValueError(
                f"{soft_labels}: {len(missing)} clip(s) of the FERV39k {split} split have no soft label: "
                f"{shown}"
            )
    records = []
    for clip, row, where in zip(ids, rows, where_rows, strict=True):
        folder = dataset_path(frames, clip, root=root, where=where, allow_outside_root=allow_outside_root)
        rec = Record(
            id=clip, path=folder, label=folder_label(clip, to_dfew_label(row[1], where), where), split=split
        )
        if soft is not None:
            rec.soft = soft[clip]
        records.append(rec)
    return attach_frames(records, max_skip=max_skip, report=report, source=str(path))


def _read(request: ReadRequest) -> list[Record]:
    return read_ferv39k(
        request.root,
        split=request.split,  # type: ignore[arg-type]  # None is refused by the split check
        soft_labels=request.soft_labels,
        max_skip=request.max_skip,
        report=request.report,
        allow_outside_root=request.allow_outside_root,
        check_overlap=request.check_overlap,
    )


FORMAT = DatasetFormat(
    name="ferv39k",
    read=_read,
    splits=FERV39K_SPLITS,
    classes=DFEW_CLASSES,  # FERV39k's labels are mapped to DFEW's order (``to_dfew_label``)
    media="clip",
    default_test_split="test",
    description="FERV39k (All_scenes lists): face-crop frame folders; FERV39k-Plus votes: data.soft_labels",
    reads=("soft_labels",),  # the FERV39k-Plus votes, joined by clip path
)
