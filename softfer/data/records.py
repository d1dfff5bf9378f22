"""The common record type every format reader returns, and the checks they share."""

from __future__ import annotations

import logging
import os
import re
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from softfer.faces.predict_outputs import is_own_output  # one rule: predict's and preprocess's listings
from softfer.io.errors import MediaError
from softfer.io.files import IMAGE_SUFFIXES, VIDEO_SUFFIXES

log = logging.getLogger(__name__)


@dataclass
class Record:
    """One clip or image with whatever labels its dataset provides.

    ``frames`` is the per-clip frame index (frame file names in ``frame_order``) built once when the
    dataset is read, so items never glob the disk. ``soft`` is a probability vector (votes / total, or given
    probabilities); ``soft_is_votes`` says whether it is the annotators' distribution (evaluation scores
    the prediction against it only then: Aff-Wild's soft labels are derived from valence/arousal, not
    voted); ``label`` is the hard label (-1 when unknown); ``va`` is (valence, arousal) or None.
    """

    id: str
    path: Path
    label: int = -1
    soft: np.ndarray | None = None
    soft_is_votes: bool = True
    votes: np.ndarray | None = None
    va: np.ndarray | None = None
    fold: int | None = None
    split: str = ""
    frames: tuple[str, ...] = ()
    box: tuple[int, int, int, int] | None = None  # x, y, w, h crop for still images
    meta: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return len(self.frames)

    @property
    def is_video_file(self) -> bool:
        """A raw video file (decoded whole, without face detection or alignment)."""
        return self.path.suffix.lower() in VIDEO_SUFFIXES

    @property
    def is_image_file(self) -> bool:
        """A still image (AffectNet, Aff-Wild frames, image manifests), not a clip."""
        return self.path.suffix.lower() in IMAGE_SUFFIXES


@dataclass
class ReadReport:
    """What reading a dataset left out, and why; a run records it with its outputs.

    Attributes:
        total: the records the files list (``skipped`` counts against it).
        skipped: records left out for unusable media or boxes, one line each (capped by ``max_skip``).
        dropped: records left out by the format's own rule, counted per reason (AffectNet's codes 8-10).
        notes: problems that cost no record, one line each (a special file ignored in a frame folder).
    """

    total: int = 0
    skipped: list[str] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = f"{self.total - len(self.skipped)} of {self.total} records usable, {len(self.skipped)} skipped"
        if self.dropped:
            text += "; left out by rule: " + ", ".join(f"{k}: {n}" for k, n in self.dropped.items())
        if self.notes:
            text += f"; {len(self.notes)} note(s), first: {self.notes[0]}"
        return text


# A face box may overshoot its image a little (AffectNet's do by a few px) and is clipped; one with less
# than this share of its area inside is refused: a box in another unit or swapped columns, never the photo.
MIN_BOX_INSIDE = 0.5


def image_region(data: bytes, path: str | Path, box: tuple[int, int, int, int] | None) -> tuple[int, ...]:
    """(height, width, x0, y0, x1, y1) of a still image from its header: the part a face ``box`` (x, y, w,
    h) covers, clipped to the image, or the whole image without one. Training crops it and `data inspect
    --verify` checks it.

    Raises:
        MediaError: a header that does not read, less than 2 px of the box inside the image, or less than
            ``MIN_BOX_INSIDE`` of the box's area inside it (never the whole photo instead: that would
            measure another input than the one listed).
    """
    from softfer.io.images import image_size  # here: OpenCV's import (50 ms) is not the CLI parser's

    height, width = image_size(data, path)
    if box is None:
        return height, width, 0, 0, width, height
    x, y, w, h = box
    x0, y0, x1, y1 = max(0, x), max(0, y), min(width, x + w), min(height, y + h)
    where = f"{path}: face box x={x} y={y} w={w} h={h} lies"
    if x1 - x0 < 2 or y1 - y0 < 2:
        raise MediaError(f"{where} outside the {width}x{height} image (less than 2 px of it inside)")
    inside = (x1 - x0) * (y1 - y0) / (w * h)  # w, h > 0 here: x1 - x0 >= 2 needs them
    if inside < MIN_BOX_INSIDE:
        raise MediaError(
            f"{where} mostly outside the {width}x{height} image ({inside:.1%} of its area inside, at least "
            f"{MIN_BOX_INSIDE:.0%} must be): a box in another unit or swapped columns? Fix the annotation"
        )
    return height, width, x0, y0, x1, y1


def is_regular_file(path: str | Path) -> bool:
    """Whether ``path`` is a regular file (or a link to one): False for FIFOs, sockets, devices, folders,
    missing files and names the system refuses (too long, an embedded NUL byte)."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


_DIGITS = re.compile(r"(\d+)")


def frame_order(name: str) -> tuple:
    """Sort key of a frame file name: natural order, its runs of digits compared as numbers.

    ``1.jpg, 2.jpg, ..., 10.jpg`` (ffmpeg's ``%d``) come in temporal order, not 1, 10, 11, ..., 2 as plain
    text sorts them; zero-padded names (``00001.jpg``) keep their text order; names without digits are in
    text order. Names whose numbers are equal (``1.jpg``, ``01.jpg``) fall back to their text.
    """
    parts = _DIGITS.split(name)  # text, number, text, ...: text at even, digits at odd positions
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts)), name


def frame_index(
    folder: Path, special: list[str] | None = None, own: list[str] | None = None
) -> tuple[str, ...]:
    """Image file names of a frame folder in temporal order (``frame_order``; empty if the folder is
    missing): the one listing of a frame folder that every reader uses.

    Only regular files (or links to them) count: opening a FIFO named like a frame would block the loader
    forever. The names of such special files are appended to ``special`` when it is given. `softfer
    predict`'s own pictures (``is_own_output``: a timeline or annotated copy beside its ``NAME.json``) are
    never frames, as their pixels hold predict's drawings: their names are appended to ``own`` when given.
    """
    names = []
    try:
        with os.scandir(folder) as it:
            for entry in it:
                if not entry.name.lower().endswith(IMAGE_SUFFIXES):
                    continue
                if not is_regular_file(entry.path):
                    if special is not None and not os.path.isdir(entry.path):
                        special.append(entry.name)
                elif is_own_output(entry.path):
                    if own is not None:
                        own.append(entry.name)
                else:
                    names.append(entry.name)
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return ()
    if own is not None:
        own.sort(key=frame_order)
    return tuple(sorted(names, key=frame_order))


def holds_only_own_outputs(folder: Path) -> bool:
    """Whether ``folder`` holds `softfer predict`'s own pictures but no frame (what ``predict --out``
    writes): no clip, though a reader finding clips by their folders would take it for one."""
    own: list[str] = []
    return not frame_index(folder, own=own) and bool(own)


def frame_folder_notes(item: str, special: list[str], own: list[str]) -> list[str]:
    """Notes on what a frame folder's listing (``frame_index``) left out: special files, predict's outputs."""
    lines = []
    if special:
        lines.append(
            f"{item}: {len(special)} special file(s) ignored, not regular ({', '.join(special[:3])})"
        )
    if own:
        lines.append(
            f"{item}: {len(own)} file(s) left out as `softfer predict`'s own outputs, not frames (first: "
            f"{own[0]}): their pixels hold predict's drawings; move predict's outputs out of the data"
        )
    return lines


def _has_media(r: Record, report: ReadReport) -> bool:
    """Whether the record's media is there (indexing its frame folder); what is wrong goes to ``report``."""
    if r.is_image_file or r.is_video_file:
        if is_regular_file(r.path):
            return True
        kind = "image" if r.is_image_file else "video file"
        missing = not os.path.lexists(r.path)
        report.skipped.append(f"{r.id}: {kind} {'missing' if missing else 'not a regular file'} ({r.path})")
        return False
    own: list[str] = []
    if not r.frames:
        special: list[str] = []
        r.frames = frame_index(r.path, special, own)
        # predict's outputs in a folder with no frame are named once, by the skip below
        report.notes.extend(frame_folder_notes(r.id, special, own if r.frames else []))
    if r.frames:
        return True
    if own:
        reason = f"frame folder holds no frame, only `softfer predict`'s own outputs (first: {own[0]})"
    else:
        reason = "frame folder missing" if not os.path.isdir(r.path) else "frame folder empty"
    report.skipped.append(f"{r.id}: {reason} ({r.path})")
    return False


def attach_frames(
    records: Iterable[Record], *, max_skip: float = 0.01, report: ReadReport | None = None, source: str = ""
) -> list[Record]:
    """Index each frame folder once; records whose media is missing or empty are skipped under a cap.

    A still image (``Record.is_image_file``) or a video file must be a regular file; a frame folder needs
    at least one regular image file (special files in it are ignored and noted in ``report.notes``).

    Raises:
        ValueError: when more than ``max_skip`` (a fraction) of the records have no media, naming them.
    """
    records = list(records)
    check_one_media_once(records, source)
    report = report if report is not None else ReadReport()
    notes_before = len(report.notes)
    kept = [r for r in records if _has_media(r, report)]
    report.total += len(records)
    for line in report.notes[notes_before:][:20]:
        log.warning("%s: %s", source, line)
    check_skips(report, max_skip, source)
    return kept


def check_one_media_once(records: Sequence[Record], source: str = "") -> None:
    """Refuse two records of one split and fold whose media is one file or folder once links are resolved
    (``path_key``): it would be trained on, or scored, twice.

    Raises:
        ValueError: naming both ids and the media.
    """
    seen: dict[tuple[str, int | None, str], str] = {}
    for r in records:
        key = (r.split, r.fold, path_key(r.path))
        if key in seen:
            raise ValueError(
                f"{source or r.path}: items {seen[key]!r} and {r.id!r} are one media ({key[2]}) reached by "
                "two paths (a symbolic link?); an item listed twice is trained on or scored twice: remove one"
            )
        seen[key] = r.id


def records_media_kind(records: Sequence[Record], *, source: str = "records") -> str:
    """Whether records are still images ("image") or clips ("clip": frame folders or videos).

    The engine picks ImageDataset or ClipDataset from it.

    Raises:
        ValueError: for no records, or a mix of images and clips (naming one of each).
    """
    if not records:
        raise ValueError(f"{source}: no records")
    images = [r for r in records if r.is_image_file]
    if not images:
        return "clip"
    if len(images) == len(records):
        return "image"
    clips = [r for r in records if not r.is_image_file]
    raise ValueError(
        f"{source}: mixes {len(images)} still images (e.g. {images[0].path}) with {len(clips)} clips "
        f"(e.g. {clips[0].path}); one dataset must list images only or clips only"
    )


def add_notes(report: ReadReport, lines: Sequence[str], source: str) -> None:
    """Append problems that cost no record to ``report.notes`` and log them (the first 20)."""
    report.notes.extend(lines)
    for line in lines[:20]:
        log.warning("%s: %s", source, line)


def check_skips(report: ReadReport, max_skip: float, source: str) -> None:
    """Log skipped media; raise when they exceed the cap."""
    if not report.skipped:
        return
    for line in report.skipped[:20]:
        log.warning("%s: skipped %s", source, line)
    if len(report.skipped) > max_skip * max(report.total, 1):
        shown = "; ".join(report.skipped[:5])
        raise ValueError(
            f"{source}: {len(report.skipped)} of {report.total} clips have unusable media, more than the "
            f"allowed {max_skip:.1%} (first: {shown}). Fix the files or raise max_skip."
        )
    log.warning("%s: %s", source, report.summary())


def check_split(dataset: str, split: str | None, valid: Sequence[str]) -> str:
    """``split`` itself when it is one of ``valid``; otherwise a ValueError listing the valid names.

    Readers never map an unknown name onto another split: a typo must not evaluate on training data.
    """
    if split not in valid:
        raise ValueError(f"{dataset}: unknown split {split!r}; the valid splits are {', '.join(valid)}")
    return split


def check_unique(ids: Iterable[str], where: list[str], *, what: str = "id") -> None:
    """Raise naming the row of the first duplicate key; ``what`` says what the keys are ("id", "image
    path", ...) so that the message names it."""
    seen: dict[str, str] = {}
    for i, w in zip(ids, where, strict=True):
        if i in seen:
            raise ValueError(f"{w}: duplicate {what} {i!r} (first at {seen[i]})")
        seen[i] = w


def check_label(label: int, num_classes: int, where: str, *, one_based: bool = False) -> int:
    """A 0-based label, checked against the class range; raises naming the row."""
    lo, hi = (1, num_classes) if one_based else (0, num_classes - 1)
    if not lo <= label <= hi:
        raise ValueError(f"{where}: label {label} outside {lo}..{hi}")
    return label - 1 if one_based else label


def parse_int(text: str, where: str, what: str = "label") -> int:
    """Parse an integer cell (accepting '3.0'); raises naming the row."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{where}: {what} {text!r} is not a number") from None
    if not value.is_integer():
        raise ValueError(f"{where}: {what} {text!r} is not an integer")
    return int(value)


def soft_from_votes(votes: np.ndarray) -> np.ndarray:
    """Vote proportions of one clip."""
    return votes / votes.sum()


def path_key(path: str | Path) -> str:
    """A path as a comparison key for de-duplication and overlap checks: absolute, normalised and with
    symbolic links resolved (``a/./b``, ``a/x/../b``, ``a/b`` and ``a/link/b`` with ``link -> .`` are one).

    Resolving links matters: a list reaching one clip folder through a link (``Clip/alias/00009``) would
    otherwise be a second clip, trained on twice or both trained on and scored.
    """
    return os.path.realpath(path)


def _lexical_key(path: str | Path) -> str:
    # absolute and normalised, links not followed: the data-root check follows a link the user placed
    return os.path.normpath(os.path.abspath(path))


def dataset_path(base: Path, text: str, *, root: Path, where: str, allow_outside_root: bool = False) -> Path:
    """``text``, a path cell of a dataset file, joined to ``base``; refused when it leaves ``root``.

    The check is lexical (``..`` is resolved, symbolic links are not): a list naming ``../../etc/passwd``
    or an absolute path elsewhere is refused, while a link the user placed inside the root is followed.

    Raises:
        ValueError: naming the row, the path and the root, for an empty path, a NUL byte, a path starting
            with ``~`` (not expanded: a folder named so is ``./~``), or a path outside
            ``root`` without ``allow_outside_root`` (the config's ``data.allow_outside_root``).
    """
    if not text.strip():
        raise ValueError(f"{where}: empty path")
    if "\x00" in text:
        raise ValueError(f"{where}: path {text!r} contains a NUL byte")
    if text.strip().startswith("~"):
        # WHY refused, not expanded: config paths expand ~ (config.strict), but a row naming the home folder
        # leaves the data root, and read literally ~/x.mp4 is a folder "~" beside the file, whose rows were
        # then skipped as missing media, within data.max_skip, for what the user meant as home
        raise ValueError(
            f"{where}: path {text!r} starts with '~', which a dataset file does not expand: its paths are "
            f"relative to {base}; write it relative to that folder (or absolute, with "
            "data.allow_outside_root: true), or './~...' for a folder really named so"
        )
    path = base / text  # an absolute ``text`` replaces ``base``
    if not allow_outside_root:
        full, top = _lexical_key(path), _lexical_key(root)
        if os.path.commonpath([full, top]) != top:
            raise ValueError(
                f"{where}: path {text!r} leads outside the data root {root} (to {full}); move the data "
                "under the root, or set data.allow_outside_root: true if this is intended"
            )
    return path
