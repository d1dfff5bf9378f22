"""Synthetic data laid out as FERV39k, AFEW, Aff-Wild and MorphSet ship, and a smoke tree for every config.

The writers render nothing themselves: they hard-link (or copy, across file systems) the frames of a
synthetic DFEW set (``generate_dfew``) and the stills of a synthetic AffectNet set (``generate_affectnet``)
into each dataset's own on-disk layout, so softfer's readers read them unmodified:

- FERV39k: ``4_setups/All_scenes/{train,test}_All.csv`` ("Scene/Class/NNNN Class", space separated, no
  header), ``2_ClipsforFaceCrop/Scene/Class/NNNN/NN.jpg``, plus a FERV39k-Plus vote table (clip + one
  column per class in FERV39k's order).
- AFEW: ``{Train,Val}/<Class>/<clip>/NNNNNN.jpg`` (aligned frame folders, as ``softfer preprocess``
  writes them).
- Aff-Wild: ``annotations/{valence,arousal}/<video>.txt`` (one value per frame) and
  ``frames/<video>/NNNNN.jpg``, plus the AffectNet VA statistics JSON that labels it.
- MorphSet: ``manifest.csv`` (path, label, valence, arousal, split) over ``images/NNNNN.jpg``.

``build_smoke_tree`` writes all of them (and DFEW, AffectNet, and random-weight ResNet-18 / R3D-18 files)
at the paths the shipped configs name relative to the working directory.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np

from softfer.classes import AFFECTNET_CLASSES, DFEW_CLASSES
from softfer.data.formats.affectnet import read_affectnet
from softfer.data.formats.ferv39k import FERV39K_CLASSES
from softfer.data.synthetic.ferplus import generate_ferplus
from softfer.data.synthetic.generate import (
    ClipRecord,
    _folds,
    generate_affectnet,
    generate_dfew,
    staging,
)
from softfer.data.synthetic.model import SynthConfig
from softfer.io.files import write_json_atomic
from softfer.io.outputs import check_folder
from softfer.io.tables import CLASS_SYNONYMS, write_csv
from softfer.labels.affect import AffectStats, fit_affect_stats, gmm_labels

FERV39K_SOFT_NAME = "ferv39k_plus_votes.csv"
# Placeholder scene names: the release has 22 scenes; only the Scene/Class/NNNN structure matters here.
FERV39K_SCENES = ("Action", "Daily_life")
AFEW_SPLIT_FOLDERS = ("Train", "Val")
SMOKE_DFEW_CLIPS = 70  # ~53 training clips per fold; with seed 0 every class in every fold's test split
SMOKE_AFFECTNET_IMAGES = 400  # > 256 training images for AffectNet and MorphSet (batch 256)
SMOKE_AFFWILD_VIDEOS = 20  # 16 training videos x 18 frames = 288 frames
SMOKE_AFFWILD_FRAMES = 18
SMOKE_FERPLUS_IMAGES = 120  # FER+ rows: about 96 Training, 12 PublicTest, 12 PrivateTest


def link_file(src: Path, dst: Path) -> None:
    """Hard-link ``src`` at ``dst`` (a copy when the two are on different file systems)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def dfew_frame_paths(dfew_root: Path, rec: ClipRecord) -> list[Path]:
    """The frame files ``generate_dfew`` wrote for one clip, in temporal order."""
    folder = Path(dfew_root) / "Clip" / "clip_224x224" / f"{rec.index:05d}"
    return [folder / f"{rec.index:05d}_{t + 1:05d}.jpg" for t in range(rec.num_frames)]


def affectnet_code(rec: ClipRecord) -> int:
    """The expression code ``generate_affectnet`` wrote for an image (its one annotator's vote, or 8-10)."""
    return int(rec.extra.get("code", rec.votes.argmax()))


def _link_clip(frames: list[Path], folder: Path, width: int) -> None:
    # Zero-padded names wide enough for the clip, so sorted names are temporal order.
    width = max(width, len(str(len(frames))))
    for t, src in enumerate(frames):
        link_file(src, folder / f"{t:0{width}d}.jpg")


def write_ferv39k(
    out: str | Path,
    dfew_root: str | Path,
    records: list[ClipRecord],
    *,
    seed: int = 0,
    test_share: float = 0.2,
    soft_name: str = FERV39K_SOFT_NAME,
) -> Path:
    """Lay the clips of a synthetic DFEW set out as FERV39k, with a FERV39k-Plus vote table.

    Every clip gets its majority vote as label (class name, as the release writes it); 1 in
    ``round(1 / test_share)`` clips of each class goes to test_All.csv. The vote table ``out/soft_name``
    has a ``clip`` column and one vote column per class, headed and ordered as FERV39k's classes (Angry
    ... Surprise). Returns its path.
    """
    out, dfew_root = Path(out), Path(dfew_root)
    if not 0 < test_share < 1:
        raise ValueError(f"test_share must be in (0, 1), got {test_share}")
    votes = np.array([r.votes for r in records])
    majority = votes.argmax(axis=1)
    is_test = _folds(majority, seed, k=round(1 / test_share)) == 0
    names = [c.capitalize() for c in FERV39K_CLASSES]
    to_ferv = [DFEW_CLASSES.index(c) for c in FERV39K_CLASSES]  # FERV39k column j holds DFEW class to_ferv[j]
    lines: dict[str, list[str]] = {"train": [], "test": []}
    soft_rows, counts = [], {}
    with staging(out) as tmp:
        for i, rec in enumerate(records):
            folder = DFEW_CLASSES[majority[i]].capitalize()
            scene = FERV39K_SCENES[i % len(FERV39K_SCENES)]
            counts[scene, folder] = counts.get((scene, folder), 0) + 1
            clip = f"{scene}/{folder}/{counts[scene, folder]:04d}"
            _link_clip(dfew_frame_paths(dfew_root, rec), tmp / "2_ClipsforFaceCrop" / clip, width=2)
            lines["test" if is_test[i] else "train"].append(f"{clip} {folder}")
            soft_rows.append([clip, *(int(votes[i, k]) for k in to_ferv)])
        setups = tmp / "4_setups" / "All_scenes"
        setups.mkdir(parents=True)
        for split, rows in lines.items():
            (setups / f"{split}_All.csv").write_text("".join(f"{line}\n" for line in rows))
        write_csv(tmp / soft_name, ["clip", *names], soft_rows)
    return out / soft_name


def write_afew(out: str | Path, dfew_root: str | Path, records: list[ClipRecord], *, seed: int = 0) -> None:
    """Lay the clips of a synthetic DFEW set out as aligned AFEW: half of each class in Train, half in Val.

    Labels are the majority votes; clip folders are named like AFEW's clips (9 digits).
    """
    out, dfew_root = Path(out), Path(dfew_root)
    majority = np.array([r.votes.argmax() for r in records])
    is_val = _folds(majority, seed + 1, k=2) == 0
    with staging(out) as tmp:
        for i, rec in enumerate(records):
            split = AFEW_SPLIT_FOLDERS[int(is_val[i])]
            folder = tmp / split / DFEW_CLASSES[majority[i]].capitalize() / f"{rec.index:09d}"
            for t, src in enumerate(dfew_frame_paths(dfew_root, rec)):
                link_file(src, folder / f"{t + 1:06d}.jpg")


def write_affectnet_stats(
    affectnet_root: str | Path, out: str | Path, *, num_classes: int = 8
) -> AffectStats:
    """Fit the per-class VA statistics on AffectNet's training list and write them as JSON.

    The rows are those ``read_affectnet`` keeps (codes below ``num_classes``, VA not -2): the JSON is what
    ``data.affectnet_stats`` expects (``AffectStats.to_dict``).
    """
    recs = read_affectnet(affectnet_root, split="train", num_classes=num_classes)
    # Only class rows with VA: a reader that also returns unlabelled rows (code 8) must not shift the fit.
    recs = [r for r in recs if r.va is not None and 0 <= r.label < num_classes]
    va, labels = np.stack([r.va for r in recs]), np.array([r.label for r in recs])
    # the class names are recorded: data.affectnet_stats refuses statistics of another class order
    stats = fit_affect_stats(va, labels, num_classes, classes=AFFECTNET_CLASSES[:num_classes])
    write_json_atomic(out, stats.to_dict())
    return stats


def va_points_by_class(stats: AffectStats, *, step: float = 0.02, nearest: int = 40) -> list[np.ndarray]:
    """For each class, up to ``nearest`` VA grid points nearest its mean whose GMM argmax is that class.

    Raises:
        ValueError: when a class is the most probable one nowhere on the grid (no frame could carry it).
    """
    axis = np.round(np.arange(-1.0, 1.0 + step / 2, step), 6)
    grid = np.stack(np.meshgrid(axis, axis), axis=-1).reshape(-1, 2)
    winner = gmm_labels(grid, stats).argmax(axis=1)
    points = []
    for k in range(stats.num_classes):
        own = grid[winner == k]
        if len(own) < 3:
            raise ValueError(f"class {k} is the GMM argmax at only {len(own)} VA grid points; need 3")
        dist = np.linalg.norm(own - stats.means[k], axis=1)
        points.append(own[np.argsort(dist, kind="stable")[:nearest]])
    return points


def write_affwild(
    out: str | Path,
    affectnet_root: str | Path,
    affectnet_records: list[ClipRecord],
    stats: AffectStats,
    *,
    videos: int = SMOKE_AFFWILD_VIDEOS,
    frames: int = SMOKE_AFFWILD_FRAMES,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Write Aff-Wild-style videos whose per-frame VA covers every class of ``stats``.

    Each video is a run of segments, one per class in a random order; a segment's frames take VA points
    whose GMM argmax (under ``stats``) is that class, and AffectNet stills of that class as images. Every
    video holds every class, so any split by video keeps all classes. Returns the class written for each
    frame, keyed by video (what ``read_affwild`` should derive).
    """
    out, affectnet_root = Path(out), Path(affectnet_root)
    k = stats.num_classes
    if frames < k:
        raise ValueError(f"frames per video ({frames}) must be at least the number of classes ({k})")
    images = Path(affectnet_root) / "Manually_Annotated_Images"
    stills = [
        [images / r.extra["path"] for r in affectnet_records if affectnet_code(r) == c] for c in range(k)
    ]
    if any(not s for s in stills):
        raise ValueError(f"{affectnet_root}: every class 0..{k - 1} needs at least one still image")
    points = va_points_by_class(stats)
    rng = np.random.default_rng([seed, 31])
    written = {}
    with staging(out) as tmp:
        for v in range(videos):
            name = f"{100 + v}"
            seg = np.full(k, frames // k)
            seg[: frames % k] += 1
            classes = np.repeat(rng.permutation(k), seg)
            va = np.stack([points[c][rng.integers(len(points[c]))] for c in classes])
            for t, c in enumerate(classes):
                link_file(stills[c][rng.integers(len(stills[c]))], tmp / "frames" / name / f"{t + 1:05d}.jpg")
            for j, dim in enumerate(("valence", "arousal")):
                folder = tmp / "annotations" / dim
                folder.mkdir(parents=True, exist_ok=True)
                (folder / f"{name}.txt").write_text("".join(f"{x:.2f}\n" for x in va[:, j]))
            written[name] = classes
    return written


def write_morphset(
    out: str | Path,
    affectnet_root: str | Path,
    affectnet_records: list[ClipRecord],
    *,
    seed: int = 0,
    val_share: float = 0.2,
) -> Path:
    """A MorphSet-style manifest over AffectNet stills of the 7 DFEW classes (contempt and codes 8-10 left
    out); labels in DFEW order, VA from AffectNet, splits "train" and "val". Returns the manifest path."""
    out = Path(out)
    images = Path(affectnet_root) / "Manually_Annotated_Images"
    dfew_label = {
        code: DFEW_CLASSES.index(CLASS_SYNONYMS[name])
        for code, name in enumerate(AFFECTNET_CLASSES)
        if CLASS_SYNONYMS[name] in DFEW_CLASSES
    }
    kept = [r for r in affectnet_records if affectnet_code(r) in dfew_label]
    labels = np.array([dfew_label[affectnet_code(r)] for r in kept])
    is_val = _folds(labels, seed + 2, k=round(1 / val_share)) == 0
    rows = []
    with staging(out) as tmp:
        for i, rec in enumerate(kept):
            rel = f"images/{i + 1:05d}.jpg"
            link_file(images / rec.extra["path"], tmp / rel)
            split = "val" if is_val[i] else "train"
            rows.append([rel, int(labels[i]), f"{rec.va[0]:.4f}", f"{rec.va[1]:.4f}", split])
        write_csv(tmp / "manifest.csv", ["path", "label", "valence", "arousal", "split"], rows)
    return out / "manifest.csv"


def write_weights(out: str | Path, *, seed: int = 0) -> dict[str, Path]:
    """Random-weight ResNet-18 and R3D-18 state dicts with torchvision's real key layout.

    Written as ``resnet18_imagenet.pth`` and ``r3d_18_kinetics400.pth`` (the names the configs use);
    torch's global RNG is left as it was.
    """
    import torch
    from torchvision.models import resnet18
    from torchvision.models.video import r3d_18

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"resnet18": out / "resnet18_imagenet.pth", "r3d_18": out / "r3d_18_kinetics400.pth"}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.save(resnet18(weights=None).state_dict(), paths["resnet18"])
        torch.save(r3d_18(weights=None).state_dict(), paths["r3d_18"])
    return paths


def build_smoke_tree(root: str | Path, *, size: int = 32, seed: int = 0) -> dict[str, Path]:
    """Every dataset and weight file the shipped configs name, small and synthetic, under ``root``.

    Paths (relative to ``root``, as the configs give them relative to the working directory):
    data/DFEW, data/FERV39k (+ data/FERV39k/ferv39k_plus_votes.csv), data/AFEW, data/AffectNet,
    data/affectnet_va_stats.json, data/Aff-Wild, data/MorphSet/manifest.csv, data/FERPlus (FER+ as
    distributed, and its folder layout in data/FERPlus/images), weights/resnet18_imagenet.pth,
    weights/r3d_18_kinetics400.pth. Returns the paths by name.

    Sizes: 70 DFEW clips (about 53 training / 13 test per fold, balanced class priors), reused as 70
    FERV39k clips (56 train / 14 test) and 70 AFEW clips (35 Train / 35 Val); 400 AffectNet images
    (360 training, 40 validation, plus 3 rows each with codes 8-10), reused as 20 Aff-Wild videos of 18
    frames (288 training frames) and a 375-image MorphSet manifest (300 train / 75 val); 120 FER+ rows of
    48 px faces (``softfer.data.synthetic.ferplus``). The image
    datasets' training splits hold more than 256 images, one batch of the dual-domain configs.
    """
    root = Path(root)
    data = root / "data"
    for name in ("DFEW", "FERV39k", "AFEW", "AffectNet", "Aff-Wild", "MorphSet", "FERPlus"):
        check_folder(data / name, staged=True)  # each is staged: all refused before the first is rendered
    # Balanced classes and short clips: every class in every split, and few frames to write.
    cfg = SynthConfig(priors=(1 / len(DFEW_CLASSES),) * len(DFEW_CLASSES), max_frames=32)
    dfew = generate_dfew(
        data / "DFEW", clips=SMOKE_DFEW_CLIPS, size=size, seed=seed, workers=1, cfg=replace(cfg, size=size)
    )
    soft = write_ferv39k(data / "FERV39k", data / "DFEW", dfew, seed=seed)
    write_afew(data / "AFEW", data / "DFEW", dfew, seed=seed)
    stills = generate_affectnet(
        data / "AffectNet", images=SMOKE_AFFECTNET_IMAGES, size=size, seed=seed, workers=1, non_class_rows=3
    )
    stats = write_affectnet_stats(data / "AffectNet", data / "affectnet_va_stats.json")
    write_affwild(data / "Aff-Wild", data / "AffectNet", stills, stats, seed=seed)
    manifest = write_morphset(data / "MorphSet", data / "AffectNet", stills, seed=seed)
    weights = write_weights(root / "weights", seed=seed)
    generate_ferplus(data / "FERPlus", images=SMOKE_FERPLUS_IMAGES, seed=seed)  # 48 px whatever ``size``
    return {
        "dfew": data / "DFEW",
        "ferv39k": data / "FERV39k",
        "ferv39k_soft_labels": soft,
        "afew": data / "AFEW",
        "affectnet": data / "AffectNet",
        "affectnet_stats": data / "affectnet_va_stats.json",
        "affwild": data / "Aff-Wild",
        "morphset": manifest,
        "ferplus": data / "FERPlus",
        "ferplus_folders": data / "FERPlus" / "images",
        **weights,
    }
