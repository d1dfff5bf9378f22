"""FER2013's faces (2,304 numbers in a CSV cell each) as PNG files, written once into the data root.

``face_cache(fer2013.csv, root)`` returns the folder ``root/softfer_fer2013_png/<hash>/`` holding row i's
face as ``NNNNNN.png`` (i zero-based, six digits) and each row's ``Usage``. Why softfer does this rather than
read pixels from the CSV in the loader: see ``softfer.data.formats.ferplus``. The folder is keyed by the
bytes of the CSV, built under a temporary name without a sync per file and renamed into place when
complete, so an interrupted build is never read and two processes building at once (DDP ranks) agree.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from softfer.data.records import parse_int
from softfer.io.files import remove_stale_staging, staged_folder
from softfer.io.tables import iter_table_chunks

FER_COLUMNS = ("emotion", "pixels", "Usage")
FER_EMOTIONS = 7  # fer2013.csv's emotion codes 0..6 (angry ... neutral); checked, not used as labels
SIDE = 48  # FER2013's faces are 48x48 grey
CACHE_FOLDER = "softfer_fer2013_png"
CHUNK_ROWS = 1000  # rows of fer2013.csv parsed at once (~9 MB of text), whatever the size of the file
log = logging.getLogger(__name__)


def _content_key(path: Path) -> str:
    """A hash of the file's bytes: an edited fer2013.csv gets its own folder."""
    digest = hashlib.blake2b(digest_size=8)
    try:
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise ValueError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return digest.hexdigest()


def face_pixels(text: str, where: str) -> np.ndarray:
    """A ``pixels`` cell: 2,304 integers 0..255 separated by spaces, as a (48, 48) uint8 image."""
    try:
        values = np.array(text.split(), dtype=np.int64)
    except (ValueError, OverflowError):
        values = np.zeros(0, dtype=np.int64)  # reported below, with the row
    if values.size != SIDE * SIDE or values.min() < 0 or values.max() > 255:
        raise ValueError(f"{where}: pixels must be {SIDE * SIDE} integers 0..255 separated by spaces")
    return values.astype(np.uint8).reshape(SIDE, SIDE)


def _fer_rows(csv_path: Path) -> Iterator[tuple[str, list[str]]]:
    """(where, [emotion, pixels, Usage]) of each row of fer2013.csv, as ``read_table`` reads it.

    Read ``CHUNK_ROWS`` rows at a time (``iter_table_chunks``), so memory holds one chunk of the file: read
    whole as a ``Table`` (text, a copy per character and every row's cells at once) the 287 MB file took
    1.8 GB.
    """
    for chunk in iter_table_chunks(csv_path, delimiter=",", chunk_rows=CHUNK_ROWS):
        cols = [chunk.column(c) for c in FER_COLUMNS]
        for cells, where in zip(chunk.rows, chunk.where, strict=True):
            yield where, [cells[c] for c in cols]


def _write_faces(csv_path: Path, staging: Path) -> list[str]:
    """Every face of fer2013.csv as ``staging/NNNNNN.png`` (row order); returns each row's Usage."""
    import cv2  # here, not at import: the CLI's parser reads the format table without loading OpenCV

    usage = []
    for i, (where, (emotion_text, pixels, use)) in enumerate(_fer_rows(csv_path)):
        emotion = parse_int(emotion_text, where, "emotion")
        if not 0 <= emotion < FER_EMOTIONS:
            raise ValueError(f"{where}: emotion {emotion} outside 0..{FER_EMOTIONS - 1}")
        ok, png = cv2.imencode(".png", face_pixels(pixels, where))
        if not ok:
            raise ValueError(f"{where}: the face could not be encoded as PNG")
        (staging / f"{i:06d}.png").write_bytes(png.tobytes())
        usage.append(use)
    (staging / "index.json").write_text(json.dumps({"source": csv_path.name, "usage": usage}))
    return usage


def _cached_usage(folder: Path) -> list[str] | None:
    """The per-row Usage of a complete cache folder, or None when there is none (or it is damaged)."""
    try:
        index = json.loads((folder / "index.json").read_text())
        usage = index["usage"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(usage, list) or not all(isinstance(u, str) for u in usage):
        return None
    return usage


_ADVICE = (
    "copy fer2013.csv and fer2013new.csv into a writable folder, or read the folders the FER+ repository's "
    "generate_training_data.py writes (docs/DATASETS.md)"
)


def face_cache(csv_path: Path, root: Path) -> tuple[Path, list[str]]:
    """(folder of the faces of fer2013.csv as PNGs, each row's Usage), built once (see the module text).

    Raises:
        ValueError: naming fer2013.csv and the row of a bad cell, or the folder when it cannot be written.
    """
    base = root / CACHE_FOLDER
    folder = base / _content_key(csv_path)
    usage = _cached_usage(folder)
    if usage is not None:
        return folder, usage
    try:
        base.mkdir(parents=True, exist_ok=True)
        remove_stale_staging(base)  # of any content key: an older fer2013.csv's build killed midway too
    except OSError as exc:
        raise ValueError(
            f"{base}: cannot write the FER2013 faces as PNG files there ({exc.strerror or exc}); {_ADVICE}"
        ) from None
    log.info("%s: writing each face as a PNG into %s (once)", csv_path, folder)
    try:
        with staged_folder(folder, clean=False) as staging:
            usage = _write_faces(csv_path, staging)
            theirs = _cached_usage(folder)
            if theirs is not None:  # another process (a DDP rank) finished the same folder first
                shutil.rmtree(staging, ignore_errors=True)
                return folder, theirs
            shutil.rmtree(folder, ignore_errors=True)  # a damaged folder (no readable index)
            os.replace(staging, folder)
    except OSError as exc:
        theirs = _cached_usage(folder)
        if theirs is not None:  # another process renamed its complete copy in between
            return folder, theirs
        raise ValueError(
            f"{folder}: cannot write the FER2013 faces ({exc.strerror or exc}); {_ADVICE}"
        ) from None
    return folder, usage
