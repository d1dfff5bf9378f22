"""Aff-Wild (Kollias et al.): per-frame valence/arousal, with class labels derived from AffectNet's GMM.

Layout::

    ROOT/annotations/{valence,arousal}/<video>.txt      (one value per frame)
    ROOT/frames/<video>/<frame>.jpg                      (one image per annotated frame)

Frame i of a video (in ``frame_order``: ``1.jpg ... 10.jpg`` by number, as ffmpeg's ``%d`` writes them,
or zero-padded names) takes line i of its annotation files.

Categorical labels are derived from VA with the GMM statistics given (dual-domain paper, section 4.1):
AffectNet's, fitted by ``softfer labels va --save-stats`` (``read_affect_stats``); statistics whose
recorded class names are not AffectNet's first ``data.num_classes``, in order, are refused. Aff-Wild
ships no test split of its own here: splits "train" and "test" are a seeded split by video
(``affwild_videos``); there is no "val".
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from softfer.classes import AFFECTNET_CLASSES
from softfer.data.formats.base import DatasetFormat, ReadRequest
from softfer.data.records import ReadReport, Record, add_notes, check_split, frame_folder_notes, frame_index
from softfer.io.tables import read_text
from softfer.labels.affect import AffectStats, check_stats_classes, gmm_labels

AFFWILD_SPLITS = ("train", "test")  # a seeded split by video, ``test_share`` of the videos for test


def read_affect_stats(path: str | Path | None) -> AffectStats:
    """AffectNet's VA statistics (``softfer labels va --save-stats``) that Aff-Wild's labels come from.

    Raises:
        ValueError: when no path is given, or the file is not such a statistics file.
    """
    if not path:
        raise ValueError(
            "Aff-Wild labels need data.affectnet_stats (softfer labels va --save-stats on AffectNet)"
        )
    path = Path(path)
    try:
        return AffectStats.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(
            f"{path}: not a statistics file written by softfer labels va --save-stats ({exc})"
        ) from exc


def _read_values(path: Path, what: str) -> np.ndarray:
    """The numbers of an annotation file (one per line); a bad one raises naming its line."""
    values, lines = [], []
    for i, line in enumerate(read_text(path).split("\n"), start=1):
        for cell in line.split():
            try:
                values.append(float(cell))
            except ValueError:
                raise ValueError(f"{path}:line {i}: {what} {cell!r} is not a number") from None
            lines.append(i)
    arr = np.array(values)
    bad = ~np.isfinite(arr) | (np.abs(arr) > 1)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{path}:line {lines[k]}: {what} {arr[k]} outside [-1, 1]")
    return arr


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
    root: str | Path,
    stats: AffectStats,
    *,
    split: str = "train",
    test_share: float = 0.2,
    seed: int = 0,
    report: ReadReport | None = None,
) -> list[Record]:
    """Per-frame Aff-Wild records with VA and GMM-derived class labels.

    ``split`` is one of ``AFFWILD_SPLITS``; the split is by video (``affwild_videos``), so no video has
    frames in both. `softfer predict`'s own pictures in a frame folder are no frames (``frame_index``):
    they are noted in ``report.notes`` and logged.
    """
    root = Path(root)
    report = report if report is not None else ReadReport()
    videos = affwild_videos(root, split, test_share=test_share, seed=seed)
    val_dir, aro_dir = root / "annotations" / "valence", root / "annotations" / "arousal"
    records = []
    for video in videos:
        v = _read_values(val_dir / f"{video}.txt", "valence")
        a = _read_values(aro_dir / f"{video}.txt", "arousal")
        if len(v) != len(a):
            raise ValueError(f"{video}: {len(v)} valence values but {len(a)} arousal values")
        own: list[str] = []
        frames = frame_index(root / "frames" / video, own=own)
        add_notes(report, frame_folder_notes(video, [], own), str(root))
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
                    soft_is_votes=False,  # GMM probabilities from valence/arousal, not annotators
                    va=va[i],
                    split=split,
                )
            )
    return records


def _read(request: ReadRequest) -> list[Record]:
    stats = read_affect_stats(request.affectnet_stats)
    # The labels are argmaxes over the statistics' classes, which the model's head reads in AffectNet's
    # order: statistics of another size, names or order would give each class another's frames.
    if stats.num_classes != request.num_classes:
        raise ValueError(
            f"{request.affectnet_stats}: statistics of {stats.num_classes} classes, but data.num_classes is "
            f"{request.num_classes}; Aff-Wild labels take the classes of the AffectNet statistics"
        )
    whose = f"Aff-Wild's classes (AffectNet's first data.num_classes={request.num_classes})"
    names = AFFECTNET_CLASSES[: request.num_classes]
    stats = check_stats_classes(stats, names, str(request.affectnet_stats), whose)
    return read_affwild(
        request.root,
        stats,
        split=request.split,  # type: ignore[arg-type]  # None is refused by the split check
        seed=0,
        report=request.report,
    )


FORMAT = DatasetFormat(
    name="affwild",
    read=_read,
    splits=AFFWILD_SPLITS,
    classes=AFFECTNET_CLASSES,  # labels are the argmax of AffectNet's GMM posterior
    media="image",
    default_test_split="test",
    description="Aff-Wild: per-frame valence/arousal, labels from AffectNet's GMM (data.affectnet_stats)",
    borrows_va_stats=True,  # dual-domain 5.1: AffectNet's p(y|x)_GMM for each VA annotation
    class_counts=(7, 8),
    reads=("affectnet_stats",),  # the labels are AffectNet's GMM posteriors of each frame's VA
)
