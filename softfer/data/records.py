"""The common record type every format reader returns, and the checks they share."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from softfer.io.files import IMAGE_SUFFIXES, VIDEO_SUFFIXES

log = logging.getLogger(__name__)


@dataclass
class Record:
    """One clip or image with whatever labels its dataset provides.

    ``frames`` is the per-clip frame index (sorted frame file names) built once when the dataset is read,
    so items never glob the disk. ``soft`` is a probability vector (votes / total, or given
    probabilities); ``label`` is the hard label (-1 when unknown); ``va`` is (valence, arousal) or None.
    """

    id: str
    path: Path
    label: int = -1
    soft: np.ndarray | None = None
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
    """Media problems found while reading a dataset: skipped records and why."""

    total: int = 0
    skipped: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return f"{self.total - len(self.skipped)} of {self.total} records usable, {len(self.skipped)} skipped"


def frame_index(folder: Path) -> tuple[str, ...]:
    """Sorted image file names of a frame folder (empty if the folder is missing)."""
    try:
        with os.scandir(folder) as it:
            names = [e.name for e in it if e.name.lower().endswith(IMAGE_SUFFIXES)]
    except (FileNotFoundError, NotADirectoryError):
        return ()
    return tuple(sorted(names))


def attach_frames(
    records: Iterable[Record], *, max_skip: float = 0.01, report: ReadReport | None = None, source: str = ""
) -> list[Record]:
    """Index each frame folder once; records whose media is missing or empty are skipped under a cap.

    A still image (``Record.is_image_file``) or a video file needs only to exist; a frame folder needs at
    least one image.

    Raises:
        ValueError: when more than ``max_skip`` (a fraction) of the records have no media, naming them.
    """
    records = list(records)
    report = report if report is not None else ReadReport()
    kept = []
    for r in records:
        if r.is_image_file or r.is_video_file:
            if r.path.is_file():
                kept.append(r)
            else:
                kind = "image" if r.is_image_file else "video file"
                report.skipped.append(f"{r.id}: {kind} missing ({r.path})")
            continue
        if not r.frames:
            r.frames = frame_index(r.path)
        if r.frames:
            kept.append(r)
        else:
            reason = "frame folder missing" if not r.path.exists() else "frame folder empty"
            report.skipped.append(f"{r.id}: {reason} ({r.path})")
    report.total += len(records)
    check_skips(report, max_skip, source)
    return kept


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


def check_unique(ids: Iterable[str], where: list[str]) -> None:
    """Raise naming the row of the first duplicate id."""
    seen: dict[str, str] = {}
    for i, w in zip(ids, where, strict=True):
        if i in seen:
            raise ValueError(f"{w}: duplicate id {i!r} (first at {seen[i]})")
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
