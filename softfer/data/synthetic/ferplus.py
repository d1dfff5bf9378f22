"""Synthetic FER+ in both layouts softfer reads (``softfer synth ferplus OUT``), so the FER+ recipes run
without the licensed faces.

Each face is a synthetic still (the renderer of the benchmark, eight classes in FER+'s order) turned grey
and shrunk to 48x48 like FER2013's, with ten annotators' votes. Unknown and "not a face" votes are added
as FER+ has them: about 3 % of rows are not a face (ten NF votes, no image name, a background without a
face), about 5 % have a majority of unknown votes, and about 12 % carry one unknown vote. Written:

- ``OUT/fer2013.csv`` (emotion, pixels, Usage) and ``OUT/fer2013new.csv`` (Usage, Image name, the ten vote
  columns), rows aligned, as FER2013 and FER+ are distributed;
- ``OUT/images/FER2013Train``, ``FER2013Valid``, ``FER2013Test``: the PNGs and ``label.csv`` (image name,
  box, ten votes; no header) as the FER+ repository ships them;
- the generator's ground truth (``softfer_ground_truth.csv``) at both roots, the marker that makes a model
  trained on them say it was trained on synthetic faces.

Usage is stratified by majority class: 1 in 10 faces PublicTest (``val``), 1 in 10 PrivateTest (``test``).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from softfer.classes import FERPLUS_CLASSES
from softfer.data.formats.ferplus import FOLDERS, USAGE, VOTE_COLUMNS
from softfer.data.provenance import GROUND_TRUTH
from softfer.data.synthetic.generate import _folds, _run, require_space, staging
from softfer.data.synthetic.model import SynthConfig, sample_clip
from softfer.data.synthetic.render import render_frame, sample_identity, sample_scene
from softfer.io.files import atomic_write
from softfer.io.tables import write_csv

RENDER_SIZE = 96  # rendered at twice FER2013's size, then area-averaged to 48 px
SIDE = 48
# The renderer names FER+'s classes as softfer does (FERPLUS_CLASSES); priors keep every class present in
# small sets (FER+'s own are far from uniform: neutral and happy hold more than half the faces).
FERPLUS_PRIORS = (0.22, 0.2, 0.14, 0.14, 0.12, 0.06, 0.07, 0.05)
NOT_A_FACE, UNCLEAR, ONE_UNKNOWN = 0.03, 0.05, 0.12  # shares of rows (cumulative draw)
# FER2013's own emotion codes (angry, disgust, fear, happy, sad, surprise, neutral) of each FER+ class;
# FER2013 has no contempt, such faces get neutral.
FER2013_CODE = {"angry": 0, "disgust": 1, "fear": 2, "happy": 3, "sad": 4, "surprise": 5, "neutral": 6}
SPLIT_USAGE = {split: usage for usage, split in USAGE.items()}


@dataclass
class Face:
    """One row of the synthetic FER+ set."""

    index: int
    pixels: np.ndarray  # (48, 48) uint8
    votes: np.ndarray  # (10,) counts: 8 classes, unknown, NF
    mixture: np.ndarray
    primary: int
    apex: float
    is_face: bool


def _votes(class_votes: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    """Ten FER+ vote columns from the eight class votes: (votes, is a face)."""
    votes = np.zeros(len(VOTE_COLUMNS), dtype=np.int64)
    draw = rng.random()
    if draw < NOT_A_FACE:
        votes[9] = class_votes.sum()
        return votes, False
    votes[:8] = class_votes
    if draw < NOT_A_FACE + UNCLEAR:  # most taggers could not tell: a majority of unknown
        top = int(class_votes.argmax())
        votes[:8] = 0
        votes[top], votes[8] = 4, class_votes.sum() - 4
    elif draw < NOT_A_FACE + UNCLEAR + ONE_UNKNOWN:  # one tagger could not tell
        voted = np.flatnonzero(class_votes)
        moved = int(rng.choice(voted))
        votes[moved] -= 1
        votes[8] = 1
    return votes, True


def _render_face(job: tuple[int, int, SynthConfig]) -> Face:
    index, seed, cfg = job
    rng = np.random.default_rng([seed, index, 48])
    spec = sample_clip(cfg, rng, still=True)
    ident = sample_identity(rng)
    scene = sample_scene(cfg.size, rng, occlusion_rate=cfg.occlusion_rate, jpeg=cfg.jpeg_quality)
    votes, is_face = _votes(spec.votes, rng)
    if is_face:
        bgr, _ = render_frame(spec.controls[0], ident, scene, 0.5, rng)
    else:  # FER2013's non-faces are web images without a face: the background alone
        bgr = np.clip(scene.background * scene.light, 0, 255).astype(np.uint8)
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    pixels = cv2.resize(grey, (SIDE, SIDE), interpolation=cv2.INTER_AREA)
    return Face(index, pixels, votes, spec.mixture, spec.primary, spec.apex, is_face)


def _box_cell() -> str:
    return f"(0, 0, {SIDE}, {SIDE})"


def _write_csv_layout(tmp: Path, faces: list[Face], usage: list[str], names: list[str]) -> None:
    fer_rows, new_rows = [], []
    for face, use, name in zip(faces, usage, names, strict=True):
        top = FERPLUS_CLASSES[int(face.votes[:8].argmax())]
        fer_rows.append([FER2013_CODE.get(top, 6), " ".join(map(str, face.pixels.ravel())), use])
        new_rows.append([use, name, *map(int, face.votes)])
    write_csv(tmp / "fer2013.csv", ["emotion", "pixels", "Usage"], fer_rows)
    write_csv(tmp / "fer2013new.csv", ["Usage", "Image name", *VOTE_COLUMNS], new_rows)


def _write_folder_layout(tmp: Path, faces: list[Face], usage: list[str], names: list[str]) -> None:
    labels: dict[str, list[list[object]]] = {split: [] for split in FOLDERS}
    for face, use, name in zip(faces, usage, names, strict=True):
        if not name:  # the FER+ script writes no image for a row without a name
            continue
        split = USAGE[use]
        folder = tmp / FOLDERS[split]
        folder.mkdir(parents=True, exist_ok=True)
        ok, png = cv2.imencode(".png", face.pixels)
        assert ok
        (folder / name).write_bytes(png.tobytes())
        labels[split].append([name, _box_cell(), *map(int, face.votes)])
    for split, rows in labels.items():
        with atomic_write(tmp / FOLDERS[split] / "label.csv", newline="") as f:
            csv.writer(f, lineterminator="\n").writerows(rows)  # no header, as the repository's files


def _write_truth(path: Path, faces: list[Face], names: list[str]) -> None:
    header = ["row", "image_name", "primary", "primary_name", *(f"w_{c}" for c in FERPLUS_CLASSES), "apex"]
    rows = (
        [f.index, n, f.primary, FERPLUS_CLASSES[f.primary], *(f"{w:.4f}" for w in f.mixture), f"{f.apex:.4f}"]
        for f, n in zip(faces, names, strict=True)
    )
    write_csv(path, header, rows)


def min_bytes(rows: int) -> int:
    """A lower bound of the bytes a set of ``rows`` writes: the pixel column of fer2013.csv alone, at least a
    digit and a separator (a space, or the comma after the last) per pixel and row. The PNGs, the vote
    tables and the ground truth come on top; rows that are not a face have no PNG, so none is counted."""
    return rows * 2 * SIDE * SIDE


def generate_ferplus(
    out: str | Path,
    *,
    images: int = 600,
    seed: int = 0,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
) -> list[Face]:
    """Write a synthetic FER+ set of ``images`` rows in both layouts (module text); returns its faces.

    ``out`` and the free space are checked first (``min_bytes``), before any face is listed or rendered.

    Raises:
        ValueError: ``out`` exists and is not empty, fewer than 10 rows are asked for, or they cannot fit.
    """
    if images < 10:
        raise ValueError(f"a FER+ set needs at least 10 rows (one in ten per evaluation split), got {images}")
    out = Path(out)
    cfg = SynthConfig(classes=FERPLUS_CLASSES, priors=FERPLUS_PRIORS, annotators=10, size=RENDER_SIZE)
    with staging(out) as tmp:
        detail = f"{images} rows of fer2013.csv of at least {min_bytes(1)} bytes"
        require_space(tmp, min_bytes(images), f"--images {images}", detail)
        faces = _run(_render_face, [(i, seed, cfg) for i in range(images)], workers, progress)
        majority = np.array([int(f.votes.argmax()) for f in faces])
        fold = _folds(majority, seed, k=10)
        usage = [SPLIT_USAGE["val" if k == 0 else "test" if k == 1 else "train"] for k in fold]
        names = [f"fer{f.index:07d}.png" if f.is_face else "" for f in faces]
        _write_csv_layout(tmp, faces, usage, names)
        _write_folder_layout(tmp / "images", faces, usage, names)
        _write_truth(tmp / GROUND_TRUTH, faces, names)
        _write_truth(tmp / "images" / GROUND_TRUTH, faces, names)
    return faces
