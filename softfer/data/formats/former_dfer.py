"""Former-DFER list files: one clip per line, ``<frame_dir> <num_frames> <label>``.

Labels are 0-based in DFEW order unless ``one_based``; frame_dir is relative to the list's folder (or
``root``). The original Former-DFER lists name absolute folders on their authors' machines: such paths,
and any leading outside that folder, are refused unless ``data.allow_outside_root: true``. As a format,
ROOT is a folder of lists, one per split (``ROOT/<split>.txt``), or one list file read whole
(``split=None``, as ``data inspect`` does). Paired lists (``train``/``test``, ``set_1_train``/``set_1_test``)
must share no frame folder. ``num_frames`` must be at least 1; a count that differs from the frames in its
folder is noted in the read report (softfer samples the folder's own frames; ``data inspect`` lists them).
"""

from __future__ import annotations

from pathlib import Path

from softfer.classes import DFEW_CLASSES
from softfer.data.formats.base import DatasetFormat, ReadRequest
from softfer.data.records import (
    ReadReport,
    Record,
    add_notes,
    attach_frames,
    check_label,
    check_unique,
    dataset_path,
    parse_int,
    path_key,
)
from softfer.data.splits import check_disjoint, paired_splits
from softfer.io.tables import Table, read_table


def _list_rows(path: Path, base: Path) -> tuple[Table, list[str]]:
    """The rows of a list file and their frame folders as normalised paths (duplicates refused)."""
    table = read_table(path, header=False, delimiter=" ")
    if len(table.header) != 3:
        raise ValueError(f"{path}: expected 3 columns (frame_dir num_frames label), got {len(table.header)}")
    keys = [path_key(base / r[0]) for r in table.rows]
    check_unique(keys, table.where, what="frame folder")
    return table, keys


def check_lists_disjoint(path: Path, keys: list[str], base: Path) -> None:
    """Refuse a list that shares a frame folder with its paired list in the same folder
    (``paired_splits``: train.txt with test.txt, set_1_train.txt with set_1_test.txt)."""
    lists = {p.stem: p for p in path.parent.glob("*.txt")}
    for name in paired_splits(path.stem, lists):
        other_keys = _list_rows(lists[name], base)[1]
        check_disjoint(keys, other_keys, source=str(path), other_source=str(lists[name]))


def read_former_dfer_list(
    path: str | Path,
    *,
    root: str | Path | None = None,
    num_classes: int = 7,
    one_based: bool = False,
    max_skip: float = 0.01,
    report: ReadReport | None = None,
    allow_outside_root: bool = False,
    check_overlap: bool = False,
) -> list[Record]:
    """Records of a Former-DFER style list file.

    Frame folders are relative to ``root`` (default: the list's folder) and must stay inside it; the
    absolute paths of the original lists, or ``..`` leading elsewhere, need ``allow_outside_root``. With
    ``check_overlap`` the list must share no folder with its paired list (``check_lists_disjoint``).
    """
    path = Path(path)
    base = Path(root) if root else path.parent
    table, keys = _list_rows(path, base)
    if check_overlap:
        check_lists_disjoint(path, keys, base)
    records, listed = [], {}
    for row, where in zip(table.rows, table.where, strict=True):
        listed[row[0]] = (_frame_count(row[1], where), where)
        label = check_label(parse_int(row[2], where), num_classes, where, one_based=one_based)
        folder = dataset_path(base, row[0], root=base, where=where, allow_outside_root=allow_outside_root)
        records.append(Record(id=row[0], path=folder, label=label, split=path.stem))
    report = report if report is not None else ReadReport()
    kept = attach_frames(records, max_skip=max_skip, report=report, source=str(path))
    add_notes(report, frame_count_notes(kept, listed), str(path))
    return kept


def _frame_count(text: str, where: str) -> int:
    count = parse_int(text, where, "num_frames")
    if count < 1:
        raise ValueError(f"{where}: num_frames {count} is not a frame count (at least 1)")
    return count


def frame_count_notes(records: list[Record], listed: dict[str, tuple[int, str]]) -> list[str]:
    """One note per clip whose listed ``num_frames`` differs from its folder's frames: a list written for
    another extraction (16-frame clips against full-length ones, another frame rate). softfer samples the
    folder's own frames, so nothing is read wrong, but the list does not describe these folders."""
    notes = []
    for r in records:
        count, where = listed[r.id]
        if r.frames and count != len(r.frames):
            notes.append(f"{where}: {r.id} lists {count} frames but its folder holds {len(r.frames)}")
    return notes


def list_file(root: str | Path, split: str | None) -> Path:
    """The list of ``split``: ``root/<split>.txt``, or ``root`` itself (a list file) when split is None.

    Raises:
        ValueError: for a missing list, naming the lists the folder holds.
    """
    root = Path(root)
    if split is None:
        if root.is_dir():
            lists = sorted(p.stem for p in root.glob("*.txt"))
            raise ValueError(
                f"{root}: a folder, not a Former-DFER list file; name a split, one of its lists "
                f"<split>.txt: {lists or 'none'}"
            )
        return root
    path = root / f"{split}.txt"
    if not path.is_file():
        raise ValueError(
            f"{root}: no Former-DFER list {split}.txt for split {split!r}; the lists here are "
            f"{sorted(p.stem for p in root.glob('*.txt')) if root.is_dir() else 'none (not a folder)'}"
        )
    return path


def present(root: Path) -> tuple[str | None, ...]:
    """The splits of a folder of lists (their file names without .txt); (None,) for one list file, or for
    a folder without lists (reading it then says so)."""
    if not root.is_dir():
        return (None,)
    return tuple(sorted(p.stem for p in root.glob("*.txt"))) or (None,)


def listed_frame_folders(root: Path) -> list[Path]:
    """The frame folders the lists of ``root`` (a folder of lists, or one list) name, from their rows only
    (a row may lead outside the root: ``data.allow_outside_root``, a link)."""
    found = []
    for path in sorted(root.glob("*.txt")) if root.is_dir() else [root]:
        try:  # another text file beside the lists (a README) names no media; the lists still do
            table = _list_rows(path, path.parent)[0]
        except ValueError:
            continue
        found += [path.parent / row[0] for row in table.rows]
    return found


def _read(request: ReadRequest) -> list[Record]:
    return read_former_dfer_list(
        list_file(request.root, request.split),
        max_skip=request.max_skip,
        report=request.report,
        allow_outside_root=request.allow_outside_root,
        check_overlap=request.check_overlap,
    )


FORMAT = DatasetFormat(
    name="former_dfer",
    read=_read,
    splits=None,  # the list files' names
    classes=DFEW_CLASSES,
    media="clip",
    description="Former-DFER lists (<frame_dir> <num_frames> <label>): ROOT/<split>.txt, DFEW class order",
    splits_present=present,
    root_kind="any",
    listed_media=listed_frame_folders,
)
