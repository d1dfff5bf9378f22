"""softfer manifests: a CSV with a header, or JSONL with one object per line.

Columns:

- ``path`` (required): a frame folder, a video file or a still image, relative to the manifest's folder
  and inside it (paths leading elsewhere need ``data.allow_outside_root: true``). A path starting with
  ``~`` is refused: no shell expands it here, and read literally it would name a folder ``~`` beside the
  manifest (write ``./~`` for such a folder).
  All rows must be still images (read as images, e.g. MorphSet) or all clips; a mix is refused.
- ``label``: a class index (0-based, in the order of ``classes``, DFEW's by default) or a class name; and/or
  one column per class (votes or probabilities, normalised to a soft label), headers matched tolerantly.
- optional: ``valence`` and ``arousal`` (in [-1, 1]; both -2 = missing), ``fold``, ``split``, ``id``.

Rows of paired splits (``train`` with ``test`` or ``val``) must name different media, and so must the
rows of one split and fold (paths compared canonically: ``a/b`` and ``a/../a/b`` are one clip). A
requested split needs a ``split`` column and at least one row carrying that name; a requested fold
needs rows of that fold. Neither request ever yields an empty list.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from softfer.classes import DFEW_CLASSES
from softfer.data.formats.base import DatasetFormat, ReadRequest
from softfer.data.records import (
    ReadReport,
    Record,
    attach_frames,
    check_label,
    check_unique,
    dataset_path,
    parse_int,
    path_key,
    records_media_kind,
)
from softfer.data.splits import check_disjoint, paired_splits, split_role
from softfer.io.tables import (
    Table,
    check_no_unread_votes,
    class_key,
    file_place,
    match_class_columns,
    read_table,
    read_text,
)
from softfer.labels.votes import validate_votes


def _json_object(line: str, where: str) -> dict:
    try:
        obj = json.loads(line)
    except (json.JSONDecodeError, RecursionError) as exc:
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
        raise ValueError(f"{where}: not valid JSON ({detail})") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{where}: a JSON {type(obj).__name__}, not an object with a 'path' key")
    return obj


def _jsonl_table(path: Path) -> Table:
    objs, where, place = [], [], file_place(path)  # rows named as read_table names a CSV's
    for i, line in enumerate(read_text(path).split("\n"), start=1):
        if line.strip():
            objs.append(_json_object(line, f"{place}:line {i}"))
            where.append(f"{place}:line {i}")
    if not objs:
        raise ValueError(f"{path}: no JSON lines")
    header = sorted({k for o in objs for k in o})
    rows = [["" if o.get(k) is None else str(o.get(k)).strip() for k in header] for o in objs]
    return Table(path, header, rows, where)


def _manifest_table(path: Path) -> Table:
    """The table of a CSV/JSONL manifest, refused without a ``path`` column."""
    table = _jsonl_table(path) if path.suffix.lower() in (".jsonl", ".json") else read_table(path)
    if not table.has_column("path"):
        raise ValueError(f"{path}: a manifest needs a 'path' column; columns are {table.header}")
    return table


def manifest_media(path: str | Path) -> list[Path]:
    """The media paths the rows of the manifest at ``path`` name (clip folders, videos, images), joined to
    its folder as ``read_manifest`` joins them, without reading any media (no frame listing).

    They are inputs of the output rule (``engine.data.config_inputs``): the manifest's folder is not (runs
    and evaluations sit beside a manifest), but an output inside a clip folder it names became frames of
    that clip. Rows the reader refuses (an empty path, a NUL byte, a leading ``~``) name no media here.

    Raises:
        ValueError: the file is no readable manifest (as ``read_manifest`` says).
    """
    path = Path(path)
    table = _manifest_table(path)
    column = table.column("path")
    texts = [row[column] for row in table.rows]
    return [path.parent / t for t in texts if t.strip() and "\x00" not in t and not t.strip().startswith("~")]


def _manifest_label(text: str, classes: Sequence[str], where: str) -> int:
    """A label cell: a class index (0-based, in ``classes`` order) or a class name."""
    key = class_key(text)
    if not key:
        return check_label(parse_int(text, where), len(classes), where)
    keys = [class_key(c) for c in classes]
    if key not in keys:
        raise ValueError(f"{where}: label {text!r} is neither a class index nor one of {list(classes)}")
    return keys.index(key)


def _numbers(cells: list[str], what: str, where: str) -> np.ndarray:
    try:
        return np.array([float(c) for c in cells])
    except ValueError:
        raise ValueError(f"{where}: {what} must be numbers, got {cells}") from None


def _manifest_record(
    row: list[str],
    where: str,
    rid: str,
    path: Path,
    get: dict[str, int],
    class_cols: list[int] | None,
    classes: Sequence[str],
) -> Record:
    """One row of the manifest at ``path`` as a Record; bad cells raise naming the row."""
    rec = Record(id=rid, path=path)
    if class_cols is not None:
        v = _numbers([row[i] for i in class_cols], "class columns", where)
        if not np.all(np.isfinite(v)) or np.any(v < 0) or not 0 < v.sum() < np.inf:
            raise ValueError(f"{where}: class values {v.tolist()} must be non-negative with a positive sum")
        rec.soft = v / v.sum()
        if np.allclose(v, np.round(v)) and v.sum() > 1:  # counts: the vote rules of every reader
            names = [str(c) for c in classes] if len(classes) == len(v) else None
            votes = validate_votes(np.round(v)[None], source=where, row_names=["the row"], columns=names)
            rec.votes = votes[0]
        rec.label = int(np.argmax(v))
    if "label" in get and row[get["label"]] != "":
        rec.label = _manifest_label(row[get["label"]], classes, where)
    if "valence" in get and (row[get["valence"]] != "" or row[get["arousal"]] != ""):
        rec.va = _numbers([row[get["valence"]], row[get["arousal"]]], "valence/arousal", where)
        if np.all(rec.va == -2):
            rec.va = None  # AffectNet's "missing" sentinel
        elif not np.all(np.isfinite(rec.va)) or np.any(np.abs(rec.va) > 1):
            raise ValueError(f"{where}: valence/arousal {rec.va.tolist()} outside [-1, 1]")
    if "fold" in get and row[get["fold"]] != "":
        rec.fold = parse_int(row[get["fold"]], where, "fold")
    rec.split = row[get["split"]].strip() if "split" in get else ""
    return rec


def check_unique_media(records: list[Record], texts: list[str], where: list[str]) -> None:
    """Refuse two rows of one split and fold that name the same media, however spelt.

    Paths are compared canonically (``path_key``: ``frames/00001``, ``frames/./00001`` and
    ``frames/../frames/00001`` are one clip), as the other readers compare theirs: a clip listed twice
    would be trained on, or scored, twice. Rows of different splits or folds may share media (a manifest
    of several folds); paired splits are checked by ``check_splits_disjoint``.
    """
    seen: dict[tuple[str, int | None, str], tuple[str, str]] = {}
    for rec, text, w in zip(records, texts, where, strict=True):
        key = (rec.split, rec.fold, path_key(rec.path))
        if key in seen:
            first_where, first_text = seen[key]
            raise ValueError(
                f"{w}: path {text!r} names the same media as {first_text!r} at {first_where}; a clip "
                "listed twice is trained on or scored twice: remove one of the rows"
            )
        seen[key] = (w, text)


def check_splits_disjoint(records: list[Record], path: Path) -> None:
    """Refuse a media path that rows of paired splits (``paired_splits``: train with test or val) share."""
    by_split: dict[str, list[str]] = {}
    for r in records:
        by_split.setdefault(r.split, []).append(path_key(r.path))
    for split, keys in by_split.items():
        if (split_role(split) or ("",))[0] != "train":
            continue  # each pair once, from its training side
        for other in paired_splits(split, by_split):
            check_disjoint(
                keys, by_split[other], source=f"{path} (split {split!r})", other_source=f"split {other!r}"
            )


def _select(records: list[Record], path: Path, split: str | None, fold: int | None) -> list[Record]:
    """The records of one split and/or fold; a request that selects nothing raises, naming what exists."""
    if split is not None:
        present = sorted({r.split for r in records if r.split})
        if not present:
            raise ValueError(f"{path}: split {split!r} requested, but the manifest has no 'split' column")
        if split not in present:
            raise ValueError(f"{path}: no row has split {split!r}; the manifest's splits are {present}")
        records = [r for r in records if r.split == split]
    if fold is not None:
        folds = sorted({r.fold for r in records if r.fold is not None})
        records = [r for r in records if r.fold == fold]
        if not records:
            where = f" of split {split!r}" if split is not None else ""
            raise ValueError(f"{path}: no row{where} has fold {fold}; folds present: {folds or 'none'}")
    return records


def read_manifest(
    path: str | Path,
    *,
    classes: Sequence[str] = DFEW_CLASSES,
    split: str | None = None,
    fold: int | None = None,
    max_skip: float = 0.01,
    report: ReadReport | None = None,
    allow_outside_root: bool = False,
    check_overlap: bool = False,
) -> list[Record]:
    """Records of a CSV/JSONL manifest, optionally filtered to one split and/or fold.

    Paths leading outside the manifest's folder are refused unless ``allow_outside_root``, and so are
    paths starting with ``~`` (``dataset_path``); with ``check_overlap`` a path in rows of paired splits
    (train and test or val) is refused.

    Rows are all still images (``path`` an image file: loaded as images, see ``records_media_kind``) or
    all clips (frame folders or videos); a mix is refused. A requested split or fold that no row carries
    raises, naming those present.
    """
    path = Path(path)
    table = _manifest_table(path)
    matched = match_class_columns(table, classes)
    if matched and len(matched) < len(classes):
        missing = [c for c in classes if c not in matched]
        raise ValueError(f"{path}: class columns for {sorted(matched)} but none for {missing}")
    class_cols = [matched[c] for c in classes] if matched else None
    if class_cols is not None:  # a manifest of votes: none of another class or answer is dropped
        check_no_unread_votes(table, class_cols, classes)
    get = {
        k: table.column(k)
        for k in ("path", "id", "label", "valence", "arousal", "fold", "split")
        if table.has_column(k)
    }
    if class_cols is None and "label" not in get:
        raise ValueError(f"{path}: needs a 'label' column or one column per class {list(classes)}")
    if ("valence" in get) != ("arousal" in get):
        raise ValueError(f"{path}: a manifest with valence needs arousal too, and vice versa")
    ids = [r[get["id"]] if "id" in get else r[get["path"]] for r in table.rows]
    check_unique(ids, table.where, what="id" if "id" in get else "path")
    base = path.parent
    paths = [
        dataset_path(base, r[get["path"]], root=base, where=w, allow_outside_root=allow_outside_root)
        for r, w in zip(table.rows, table.where, strict=True)
    ]
    records = [
        _manifest_record(row, where, rid, media, get, class_cols, classes)
        for rid, row, where, media in zip(ids, table.rows, table.where, paths, strict=True)
    ]
    check_unique_media(records, [r[get["path"]] for r in table.rows], table.where)
    records_media_kind(records, source=str(path))  # refuses a mix of still images and clips
    if check_overlap:
        check_splits_disjoint(records, path)
    records = _select(records, path, split, fold)
    return attach_frames(records, max_skip=max_skip, report=report, source=str(path))


def _read(request: ReadRequest) -> list[Record]:
    # The config's data.fold is DFEW's; a manifest is read whole or by split, never by that fold.
    return read_manifest(
        request.root,
        split=request.split,
        fold=None,
        max_skip=request.max_skip,
        report=request.report,
        allow_outside_root=request.allow_outside_root,
        check_overlap=request.check_overlap,
    )


FORMAT = DatasetFormat(
    name="manifest",
    read=_read,
    splits=None,  # the values of its split column
    classes=DFEW_CLASSES,
    media="any",
    description="a CSV/JSONL manifest (path; label or class columns; optional VA, fold, split)",
    root_kind="file",
    listed_media=manifest_media,
)
