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
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from softfer.classes import FERPLUS_CLASSES
from softfer.data.formats.ferplus import FOLDERS, USAGE, VOTE_COLUMNS
from softfer.data.provenance import GROUND_TRUTH
from softfer.data.synthetic.generate import _folds, _run, iter_run, staging
from softfer.data.synthetic.model import SynthConfig, sample_clip
from softfer.data.synthetic.render import render_frame, sample_identity, sample_scene
from softfer.data.synthetic.space import require_space
from softfer.io.files import atomic_write

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
# Faces rendered and written at a time: all that memory holds of pixels and rows, whatever --images (a set
# held whole took about 12 KB a row: 12 GB for a million).
CHUNK_FACES = 1000


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


def _draw(job: tuple[int, int, SynthConfig]) -> tuple:
    """A face's random draws before its rendering: (rng, clip spec, identity, scene, votes, is a face)."""
    index, seed, cfg = job
    rng = np.random.default_rng([seed, index, 48])
    spec = sample_clip(cfg, rng, still=True)
    ident = sample_identity(rng)
    scene = sample_scene(cfg.size, rng, occlusion_rate=cfg.occlusion_rate, jpeg=cfg.jpeg_quality)
    votes, is_face = _votes(spec.votes, rng)
    return rng, spec, ident, scene, votes, is_face


def _majority(job: tuple[int, int, SynthConfig]) -> int:
    """The vote column holding a face's majority (Usage is stratified by it), drawn without rendering the
    face (a twentieth of its cost)."""
    return int(_draw(job)[4].argmax())


def _render_face(job: tuple[int, int, SynthConfig]) -> Face:
    index = job[0]
    rng, spec, ident, scene, votes, is_face = _draw(job)
    if is_face:
        bgr, _ = render_frame(spec.controls[0], ident, scene, 0.5, rng)
    else:  # FER2013's non-faces are web images without a face: the background alone
        bgr = np.clip(scene.background * scene.light, 0, 255).astype(np.uint8)
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    pixels = cv2.resize(grey, (SIDE, SIDE), interpolation=cv2.INTER_AREA)
    return Face(index, pixels, votes, spec.mixture, spec.primary, spec.apex, is_face)


def _box_cell() -> str:
    return f"(0, 0, {SIDE}, {SIDE})"


TRUTH_HEADER = ["row", "image_name", "primary", "primary_name", *(f"w_{c}" for c in FERPLUS_CLASSES), "apex"]


def _write_faces(tmp: Path, faces: Iterator[Face], usage: Callable[[int], str]) -> None:
    """Both layouts' files, each face written as it comes (its row of every table, its PNG) and dropped:
    memory holds the faces of one chunk (``CHUNK_FACES``), not the set."""
    images = tmp / "images"
    with ExitStack() as files:

        def table(path: Path, header: list[str] | None = None):  # csv.writer's rows, LF, as write_csv's
            rows = csv.writer(files.enter_context(atomic_write(path, newline="")), lineterminator="\n")
            if header:
                rows.writerow(header)
            return rows

        fer = table(tmp / "fer2013.csv", ["emotion", "pixels", "Usage"])
        new = table(tmp / "fer2013new.csv", ["Usage", "Image name", *VOTE_COLUMNS])
        truths = [table(tmp / GROUND_TRUTH, TRUTH_HEADER), table(images / GROUND_TRUTH, TRUTH_HEADER)]
        # no header, as the repository's files; every split's, an empty one too
        labels = {split: table(images / folder / "label.csv") for split, folder in FOLDERS.items()}
        for face in faces:
            use, votes = usage(face.index), [int(v) for v in face.votes]
            name = f"fer{face.index:07d}.png" if face.is_face else ""
            top = FERPLUS_CLASSES[int(face.votes[:8].argmax())]
            fer.writerow([FER2013_CODE.get(top, 6), " ".join(map(str, face.pixels.ravel())), use])
            new.writerow([use, name, *votes])
            for truth in truths:
                truth.writerow(
                    [face.index, name, face.primary, FERPLUS_CLASSES[face.primary]]
                    + [*(f"{w:.4f}" for w in face.mixture), f"{face.apex:.4f}"]
                )
            if name:  # the FER+ script writes no image for a row without a name
                split = USAGE[use]
                ok, png = cv2.imencode(".png", face.pixels)
                assert ok
                (images / FOLDERS[split] / name).write_bytes(png.tobytes())
                labels[split].writerow([name, _box_cell(), *votes])


def min_bytes(rows: int) -> int:
    """A lower bound of the bytes a set of ``rows`` writes: the pixel column of fer2013.csv alone, at least a
    digit and a separator (a space, or the comma after the last) per pixel and row. The PNGs, the vote
    tables and the ground truth come on top; rows that are not a face have no PNG, so none is counted."""
    return rows * 2 * SIDE * SIDE


@dataclass
class FerplusSet:
    """What ``generate_ferplus`` wrote, without its pixels (they are in its files: ``render_faces`` draws
    any face again): per row, the vote column holding its majority (8 classes, unknown, NF)."""

    majority: np.ndarray
    seed: int

    def __len__(self) -> int:
        return len(self.majority)


def _config() -> SynthConfig:
    return SynthConfig(classes=FERPLUS_CLASSES, priors=FERPLUS_PRIORS, annotators=10, size=RENDER_SIZE)


def render_faces(rows: Iterable[int], seed: int) -> list[Face]:
    """The faces of ``rows`` of the set ``generate_ferplus`` writes with ``seed``, as it rendered them."""
    return [_render_face((i, seed, _config())) for i in rows]


def generate_ferplus(
    out: str | Path,
    *,
    images: int = 600,
    seed: int = 0,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
) -> FerplusSet:
    """Write a synthetic FER+ set of ``images`` rows in both layouts (module text).

    ``out`` and the free space are checked first (``min_bytes``), before any face is listed or rendered.
    Memory stays bounded whatever ``images``: a first pass draws each face's votes only (Usage is stratified
    over the whole set), then the faces are rendered and written ``CHUNK_FACES`` at a time.

    Raises:
        ValueError: ``out`` exists and is not empty, fewer than 10 rows are asked for, or they cannot fit.
    """
    if images < 10:
        raise ValueError(f"a FER+ set needs at least 10 rows (one in ten per evaluation split), got {images}")
    out = Path(out)
    cfg = _config()
    with staging(out) as tmp:
        detail = f"{images} rows of fer2013.csv of at least {min_bytes(1)} bytes"
        require_space(tmp, min_bytes(images), f"--images {images}", detail)
        jobs = ((i, seed, cfg) for i in range(images))  # drawn as the workers take them, never listed
        majority = np.array(_run(_majority, jobs, workers, None, CHUNK_FACES), dtype=np.int64)
        fold = _folds(majority, seed, k=10)

        def usage(i: int) -> str:
            return SPLIT_USAGE["val" if fold[i] == 0 else "test" if fold[i] == 1 else "train"]

        jobs = ((i, seed, cfg) for i in range(images))
        with closing(iter_run(_render_face, jobs, workers, progress, CHUNK_FACES)) as faces:
            _write_faces(tmp, faces, usage)
    return FerplusSet(majority, seed)
