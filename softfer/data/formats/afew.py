"""AFEW (Dhall et al.): class folders of videos or frame folders, mapped to DFEW's class order.

Layout (either)::

    ROOT/<split>/<Class>/<clip>/<frame>.jpg     (split: Train or Val, matched ignoring case)
    ROOT/<Class>/<clip>/<frame>.jpg             (no split folders: read with ``split=None``)

with Class in Angry, Disgust, Fear, Happy, Neutral, Sad, Surprise. Used for cross-dataset evaluation of
DFEW-trained models (MIDAS Table 5).

The release ships raw videos (``<Class>/<clip>.avi``). They are read too, but ``Record.is_video_file`` is
true for them: their frames are whole video frames, with no face detected or aligned, unlike the DFEW face
crops a model trains on, and the engine refuses them. Align the faces first with the ``mirror`` layout of
``softfer preprocess``, which keeps the folder structure below its input::

    softfer preprocess AFEW AFEW_aligned --layout mirror    # AFEW_aligned/Val/Angry/<clip>/000001.jpg

and read ``AFEW_aligned`` (clip ids stay ``<Class>/<clip>``; files beside the folders, such as the
preprocess manifest and report, are ignored). `softfer predict`'s own pictures and videos in a class
folder (``NAME_annotated.mp4`` beside that run's ``NAME.json``: ``is_own_output``, the rule predict's and
preprocess's listings use) are no clips, nor is a folder holding nothing but predict's outputs (what
``predict --out Val/Angry/pred`` writes): they are skipped and noted, as their pixels hold predict's
drawings. In a clip folder they are no frames (``records.frame_index``, every reader's rule). The
``dfew`` layout renumbers clips and the ``folders`` layout puts every clip in one ``frames/`` folder:
both lose the class folders.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from softfer.classes import DFEW_CLASSES
from softfer.data.formats.base import DatasetFormat, ReadRequest
from softfer.data.records import (
    ReadReport,
    Record,
    add_notes,
    attach_frames,
    check_unique,
    holds_only_own_outputs,
    path_key,
)
from softfer.data.splits import check_disjoint
from softfer.faces.predict_outputs import is_own_output  # one rule: predict's and preprocess's listings
from softfer.io.files import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from softfer.io.tables import CLASS_SYNONYMS

AFEW_FOLDERS = ("Angry", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise")
AFEW_SPLITS = ("Train", "Val")  # the release's labelled splits (its Test split has no labels)


def _class_dirs(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return [
        d
        for d in sorted(folder.iterdir())
        if d.is_dir() and CLASS_SYNONYMS.get(d.name.lower()) in DFEW_CLASSES
    ]


def split_folder(root: Path, split: str | None) -> Path:
    """The folder holding the class folders of ``split`` (``root`` itself when ``split`` is None).

    Raises:
        ValueError: for a split not in ``AFEW_SPLITS``, or one with no folder under ``root`` (naming the
            split folders found); never falls back to another folder.
    """
    if split is None:
        return root
    if not root.is_dir():
        raise ValueError(f"AFEW root {root} does not exist")
    if split.lower() not in [s.lower() for s in AFEW_SPLITS]:
        raise ValueError(f"AFEW: unknown split {split!r}; the valid splits are {', '.join(AFEW_SPLITS)}")
    subdirs = [d for d in sorted(root.iterdir()) if d.is_dir()]
    match = [d for d in subdirs if d.name.lower() == split.lower()]
    if len(match) > 1:
        raise ValueError(f"{root}: several folders spell split {split!r}: {[d.name for d in match]}")
    if match:
        return match[0]
    if _class_dirs(root):
        raise ValueError(
            f"{root}: no split folder {split!r}; this AFEW copy holds the class folders directly, with no "
            "split folders: read it with no split (split=None)"
        )
    found = [d.name for d in subdirs if _class_dirs(d)]
    raise ValueError(
        f"{root}: no AFEW split folder {split!r}; split folders found: {', '.join(found) or 'none'}"
    )


def _is_clip_folder(entry: Path) -> bool:
    # hidden folders are unfinished preprocess output; a folder of predict's outputs only (``predict --out
    # Val/Angry/pred``) holds no frame of a clip
    return entry.is_dir() and not entry.name.startswith(".") and not holds_only_own_outputs(entry)


def _clip_entries(class_dir: Path) -> list[Path]:
    """Clip folders and videos of a class folder; predict's annotated copies and folders holding only
    predict's outputs (``is_own_output``) are no clips (``unread_entries`` notes them)."""
    return [
        e
        for e in sorted(class_dir.iterdir())
        if _is_clip_folder(e) or (e.suffix.lower() in VIDEO_SUFFIXES and not is_own_output(e))
    ]


def _own_outputs_note(class_dir: Path) -> list[str]:
    """Notes on `softfer predict`'s pictures and videos in a class folder (``is_own_output``), and on
    folders there holding nothing but predict's outputs, if any."""
    lines = []
    own = [e.name for e in sorted(class_dir.iterdir()) if e.is_file() and is_own_output(e)]
    if own:
        lines.append(
            f"{class_dir}: {len(own)} file(s) skipped as `softfer predict`'s own outputs (first: {own[0]}), "
            "not read as clips: their pixels hold predict's drawings; move predict's outputs out of the data"
        )
    for d in sorted(class_dir.iterdir()):
        if d.is_dir() and not d.name.startswith(".") and holds_only_own_outputs(d):
            lines.append(
                f"{d}: a folder holding no frame, only `softfer predict`'s own outputs, is no clip and is "
                "not read; move predict's outputs out of the data"
            )
    return lines


def unread_entries(root: Path, base: Path, found: list[Path]) -> list[str]:
    """Notes on media no clip holds, which reading would otherwise lose without a word: image files lying
    directly in a class folder (a clip's frames moved up a level), `softfer predict`'s own outputs there
    or in a folder of their own (skipped: ``_clip_entries``) and, in a copy with split folders, class
    folders beside them (clips of no split)."""
    lines = []
    for class_dir in found:
        lines += _own_outputs_note(class_dir)
        loose = [
            e.name
            for e in sorted(class_dir.iterdir())
            if e.suffix.lower() in IMAGE_SUFFIXES and not is_own_output(e)
        ]
        if loose:
            lines.append(
                f"{class_dir}: {len(loose)} image file(s) directly in the class folder are in no clip folder "
                f"and not read (first: {loose[0]}); move each clip's frames into a folder of its own"
            )
    if base != root:
        for d in _class_dirs(root):
            lines.append(
                f"{d}: a class folder beside the split folders belongs to no split and is not read; move its "
                "clips into a split folder"
            )
    return lines


def _refuse_unknown_folders(base: Path, found: list[Path]) -> None:
    """Raise for a folder beside the class folders that names no class (a misspelt ``Angyr/``): its clips
    would otherwise be lost without a word. Hidden folders (unfinished preprocess output) are ignored."""
    known = {d.name for d in found}
    for d in sorted(base.iterdir()):
        if d.is_dir() and not d.name.startswith(".") and d.name not in known:
            close = difflib.get_close_matches(d.name.capitalize(), AFEW_FOLDERS, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(
                f"{d}: folder {d.name!r} is not an AFEW class folder{hint}; the class folders are "
                f"{', '.join(AFEW_FOLDERS)}. Rename it, or move it out of {base}"
            )


def _check_splits_disjoint(root: Path, split: str, base: Path, records: list[Record]) -> None:
    """Refuse a clip of ``split`` that is also a clip of the other split: one folder or video reached from
    both (a link), compared with links resolved (``path_key``) as the DFEW and FERV39k readers compare."""
    other = next(s for s in AFEW_SPLITS if s.lower() != split.lower())
    try:
        other_base = split_folder(root, other)
    except ValueError:
        return  # a copy with one split folder only: nothing to overlap with
    theirs = [path_key(e) for d in _class_dirs(other_base) for e in _clip_entries(d)]
    shown_as = {path_key(r.path): r.id for r in records}
    check_disjoint(list(shown_as), theirs, source=str(base), other_source=str(other_base), shown_as=shown_as)


def read_afew(
    root: str | Path,
    *,
    split: str | None = "Val",
    max_skip: float = 0.01,
    report: ReadReport | None = None,
    check_overlap: bool = False,
) -> list[Record]:
    """Records of an AFEW split (``AFEW_SPLITS``, or None for a root holding the class folders).

    Labels are in DFEW_CLASSES order. ``Record.is_video_file`` marks raw videos (see the module docstring).

    Image files directly in a class folder, `softfer predict`'s own outputs there (``is_own_output``)
    or in a folder of their own, and class folders beside the split folders, are read by no clip: they
    are noted in ``report.notes`` and logged (``unread_entries``; ``data inspect`` lists them).

    Raises:
        ValueError: also for a folder beside the class folders that names no class (e.g. ``Angyr``), and
            with ``check_overlap`` for a clip of Train that is a clip of Val too (a link to it).
    """
    root = Path(root)
    base = split_folder(root, split)
    found = _class_dirs(base)
    if not found:
        splits = [d.name for d in sorted(base.iterdir()) if _class_dirs(d)] if base.is_dir() else []
        hint = f"; it holds split folders ({', '.join(splits)}): pass one as the split" if splits else ""
        raise ValueError(f"{base}: no AFEW class folders ({', '.join(AFEW_FOLDERS)}){hint}")
    _refuse_unknown_folders(base, found)
    report = report if report is not None else ReadReport()
    add_notes(report, unread_entries(root, base, found), str(base))
    records = []
    for class_dir in found:
        label = DFEW_CLASSES.index(CLASS_SYNONYMS[class_dir.name.lower()])
        for entry in _clip_entries(class_dir):
            clip_id = f"{class_dir.name}/{entry.stem if entry.is_file() else entry.name}"
            records.append(Record(id=clip_id, path=entry, label=label, split=split or ""))
    check_unique([r.id for r in records], [str(r.path) for r in records])
    if check_overlap and split is not None:
        _check_splits_disjoint(root, split, base, records)
    return attach_frames(records, max_skip=max_skip, report=report, source=str(base))


def present_splits(root: Path) -> tuple[str | None, ...]:
    """The ``AFEW_SPLITS`` with a folder under ``root`` (any case), or (None,) for a copy that holds the
    class folders directly; all of ``AFEW_SPLITS`` when neither is found, so reading names what is wrong."""
    if not root.is_dir():
        return AFEW_SPLITS
    names = {d.name.lower() for d in root.iterdir() if d.is_dir()}
    found = tuple(s for s in AFEW_SPLITS if s.lower() in names)
    if found:
        return found
    return (None,) if _class_dirs(root) else AFEW_SPLITS


def refuse_raw_videos(records: list[Record], root: str | Path) -> list[Record]:
    """``records`` unchanged when none is a raw video; otherwise a ValueError with the preprocess command."""
    # Models learn from detected, aligned face crops (DFEW's frames); whole video frames would measure
    # something else without a word, so raw videos must go through `softfer preprocess` first.
    videos = [r for r in records if r.is_video_file]
    if videos:
        raise ValueError(
            f"{root}: {len(videos)} AFEW clips are raw videos (first: {videos[0].path}); models are trained "
            "on aligned face frames, so detect and align them first: softfer preprocess "
            f"{root} OUT --layout mirror, then set the data root to OUT"
        )
    return records


def _read(request: ReadRequest) -> list[Record]:
    records = read_afew(
        request.root,
        split=request.split,
        max_skip=request.max_skip,
        report=request.report,
        check_overlap=request.check_overlap,
    )
    return records if request.allow_raw_videos else refuse_raw_videos(records, request.root)


FORMAT = DatasetFormat(
    name="afew",
    read=_read,
    splits=AFEW_SPLITS,
    classes=DFEW_CLASSES,  # AFEW's class folders are mapped to DFEW's order
    media="clip",
    default_test_split="Val",  # MIDAS Table 5 tests DFEW-trained models on AFEW's labelled Val split
    description="AFEW: <split>/<Class>/<clip> aligned frame folders (raw videos: softfer preprocess first)",
    splits_present=present_splits,
)
