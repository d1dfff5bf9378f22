"""Former-DFER list files: one clip per line, ``<frame_dir> <num_frames> <label>``.

Labels are 0-based in DFEW order unless ``one_based``; frame_dir is absolute or relative to the list's
folder (or ``root``). As a format, ROOT is a folder of lists, one per split (``ROOT/<split>.txt``), or one
list file read whole (``split=None``, as ``data inspect`` does).
"""

from __future__ import annotations

from pathlib import Path

from softfer.classes import DFEW_CLASSES
from softfer.data.formats.base import DatasetFormat, ReadRequest
from softfer.data.records import ReadReport, Record, attach_frames, check_label, check_unique, parse_int
from softfer.io.tables import read_table


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


def _read(request: ReadRequest) -> list[Record]:
    return read_former_dfer_list(
        list_file(request.root, request.split), max_skip=request.max_skip, report=request.report
    )


FORMAT = DatasetFormat(
    name="former_dfer",
    read=_read,
    splits=None,  # the list files' names
    classes=DFEW_CLASSES,
    media="clip",
    description="Former-DFER lists (<frame_dir> <num_frames> <label>): ROOT/<split>.txt, DFEW class order",
    splits_present=present,
)
