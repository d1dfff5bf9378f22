"""AFEW (Dhall et al.): class folders of videos or frame folders, mapped to DFEW's class order.

Layout (either)::

    ROOT/<split>/<Class>/<clip>.avi | <clip>/frames.jpg      (split: Train, Val, ...)
    ROOT/<Class>/...

with Class in Angry, Disgust, Fear, Happy, Neutral, Sad, Surprise. Used for cross-dataset evaluation of
DFEW-trained models (MIDAS Table 5).
"""

from __future__ import annotations

from pathlib import Path

from softfer.classes import DFEW_CLASSES
from softfer.data.records import VIDEO_SUFFIXES, ReadReport, Record, attach_frames
from softfer.data.tables import CLASS_SYNONYMS

AFEW_FOLDERS = ("Angry", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise")


def read_afew(
    root: str | Path, *, split: str | None = "Val", max_skip: float = 0.01, report: ReadReport | None = None
) -> list[Record]:
    """Records of an AFEW split; labels in DFEW_CLASSES order."""
    root = Path(root)
    base = root / split if split and (root / split).is_dir() else root
    found = (
        [d for d in sorted(base.iterdir()) if d.is_dir() and d.name.lower() in CLASS_SYNONYMS]
        if base.is_dir()
        else []
    )
    if not found:
        raise ValueError(f"{base}: no AFEW class folders ({', '.join(AFEW_FOLDERS)})")
    records = []
    for class_dir in found:
        label = DFEW_CLASSES.index(CLASS_SYNONYMS[class_dir.name.lower()])
        for entry in sorted(class_dir.iterdir()):
            if entry.is_dir() or entry.suffix.lower() in VIDEO_SUFFIXES:
                clip_id = f"{class_dir.name}/{entry.stem if entry.is_file() else entry.name}"
                records.append(Record(id=clip_id, path=entry, label=label, split=split or ""))
    return attach_frames(records, max_skip=max_skip, report=report, source=str(base))
