"""FER2013's faces (2,304 numbers in a CSV cell each) as PNG files, written once into a cache folder.

``face_cache(fer2013.csv, root, cache_dir)`` returns the folder ``<cache>/fer2013_png/<hash>/`` holding row
i's face as ``NNNNNN.png`` (i zero-based, six digits) and each row's ``Usage``. ``<cache>`` is
``data.cache_dir`` when set, else softfer's per-user cache folder (``user_cache_dir``), and never lies in the
data root: a dataset folder may be read-only, shared by a lab or hashed by other tools (the outputs rule).
Why softfer converts at all rather than read pixels from the CSV in the loader: see
``softfer.data.formats.ferplus``.

The folder is keyed by the bytes of the CSV, built under a temporary name without a sync per file and
renamed into place when complete, so an interrupted build is never read and two processes building at once
(DDP ranks) agree. A complete folder that an earlier softfer wrote into the data root
(``root/softfer_fer2013_png/<hash>/``) is read as it is, never written or removed: nobody pays the
conversion twice, and runs trained on it keep the media signature their fingerprints recorded.

Every PNG's modification time is set from the content key (``face_time_ns``): the data fingerprint's media
signature (name, size, mtime of each file) of a cache rebuilt from the same fer2013.csv (another machine's
cache folder, a cleared cache) is then the same, so a finished run stays reusable, while an edited
fer2013.csv (one pixel: the PNG's size often stays) dates every face anew, so the runs trained on the old
faces are not reused; editing a PNG still changes it.

The cache is softfer's own, so a damaged one is softfer's to mend, not the user's data to blame: each time a
folder is opened it is checked complete by one listing (every row's face there, not empty, of the size its
build wrote when ``index.json`` records the sizes; no PNG decoded) and an incomplete one (a cache cleaner, a
partial copy, an index.json that does not parse or lists a Usage FER2013 has not) is built again, staged
as the first build, with a warning saying why. The index's Usage list is never trusted over fer2013.csv:
when it disagrees with FER+'s fer2013new.csv, fer2013.csv itself is read (``verify_face_cache``) before the
user's files are blamed, and a cache that says otherwise than the file it was written from is built again
in the same way. An earlier softfer's folder in the data root found incomplete or wrong is left as it is
(the data folder is an input) and the faces are read from (or built in) the cache folder instead.

Errors and advice name the setting that chose ``<cache>`` as the running command spells it:
``data.cache_dir``, or within ``cache_setting("--cache-dir")`` that option (``data inspect``, whose reads
reach ``face_cache`` through the format table, which carries no such name).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import numpy as np

from softfer.data.formats.fer2013_index import FER_USAGES, cached_usage, complete_cache
from softfer.data.records import parse_int
from softfer.io.files import remove_stale_staging, staged_folder
from softfer.io.outputs import check_output
from softfer.io.tables import iter_table_chunks

FER_COLUMNS = ("emotion", "pixels", "Usage")
FER_EMOTIONS = 7  # fer2013.csv's emotion codes 0..6 (angry ... neutral); checked, not used as labels
SIDE = 48  # FER2013's faces are 48x48 grey
CACHE_FOLDER = "fer2013_png"  # below data.cache_dir or the per-user cache folder
LEGACY_FOLDER = "softfer_fer2013_png"  # where softfer wrote them before, inside the data root: read only
_FACE_EPOCH_S = 1_451_606_400  # 2016-01-01 UTC, FER+'s year
_FACE_SPAN_S = 10 * 365 * 86_400  # the faces' times lie within ten years of it
CHUNK_ROWS = 1000  # rows of fer2013.csv parsed at once (~9 MB of text), whatever the size of the file
_FACE_FILE = re.compile(r"[0-9]{6}\.png")  # a face: NNNNNN.png in <key>/
_FACE_KEY = re.compile(r"[0-9a-f]{16}")  # ``_content_key``
log = logging.getLogger(__name__)
_ANNOUNCED: set[str] = set()  # what this process has said once: earlier versions' folders, a bad XDG value
_SETTING: ContextVar[str] = ContextVar("fer2013_cache_setting", default="data.cache_dir")


@contextmanager
def cache_setting(name: str) -> Iterator[None]:
    """Within the block, errors and advice name ``name`` (``--cache-dir``) as the setting that chooses the
    cache folder, instead of ``data.cache_dir``: the option of the command that is running."""
    token = _SETTING.set(name)
    try:
        yield
    finally:
        _SETTING.reset(token)


def user_cache_dir() -> Path:
    """softfer's per-user cache folder: ``$XDG_CACHE_HOME/softfer``, else ``~/.cache/softfer``.

    A relative ``XDG_CACHE_HOME`` is ignored (with a warning), as the XDG base directory specification says:
    it would put the cache wherever a command happens to run.

    Raises:
        ValueError: when there is no home folder to put it in (set data.cache_dir, or the option
            ``cache_setting`` names, or XDG_CACHE_HOME).
    """
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "softfer"
    if xdg and f"XDG_CACHE_HOME={xdg}" not in _ANNOUNCED:
        _ANNOUNCED.add(f"XDG_CACHE_HOME={xdg}")
        log.warning("XDG_CACHE_HOME=%s is not an absolute path: ignored, as the XDG specification says", xdg)
    try:
        home = Path.home()
    except RuntimeError:  # no HOME and no password entry (a bare container)
        home = Path()
    if not home.is_absolute():  # the cache would land wherever a command runs
        raise ValueError(
            f"no home folder for softfer's cache of the FER2013 faces: set {_SETTING.get()}, or "
            "XDG_CACHE_HOME to an absolute path"
        )
    return home / ".cache" / "softfer"


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


def face_time_ns(key: str) -> int:
    """The modification time of every face PNG of the fer2013.csv whose content key is ``key``: the same
    for a rebuild of the same file, another for any edit of it (the module text says why)."""
    return (_FACE_EPOCH_S + int(key[:12], 16) % _FACE_SPAN_S) * 10**9


def _write_faces(csv_path: Path, staging: Path, key: str) -> list[str]:
    """Every face of fer2013.csv as ``staging/NNNNNN.png`` (row order, each dated ``face_time_ns(key)``);
    returns each row's Usage."""
    import cv2  # here, not at import: the CLI's parser reads the format table without loading OpenCV

    usage, sizes, when = [], [], face_time_ns(key)
    for i, (where, (emotion_text, pixels, use)) in enumerate(_fer_rows(csv_path)):
        emotion = parse_int(emotion_text, where, "emotion")
        if not 0 <= emotion < FER_EMOTIONS:
            raise ValueError(f"{where}: emotion {emotion} outside 0..{FER_EMOTIONS - 1}")
        _check_usage(use, where)  # an index holds only these: any other Usage in it is damage
        ok, png = cv2.imencode(".png", face_pixels(pixels, where))
        if not ok:
            raise ValueError(f"{where}: the face could not be encoded as PNG")
        path = staging / f"{i:06d}.png"
        path.write_bytes(png.tobytes())
        os.utime(path, ns=(when, when))  # a rebuilt cache: the same media signature
        usage.append(use)
        sizes.append(len(png))  # what the completeness check compares (``_lacking``)
    index = {"source": csv_path.name, "usage": usage, "sizes": sizes}
    (staging / "index.json").write_text(json.dumps(index))
    return usage


def _check_usage(use: str, where: str) -> None:
    if use not in FER_USAGES:
        raise ValueError(f"{where}: Usage {use!r} is not one of {', '.join(FER_USAGES)}")


def csv_usage(csv_path: Path) -> list[str]:
    """Each row's Usage, read from fer2013.csv itself (every row parsed, as a build does; no PNG written)."""
    usage = []
    for where, (_, _, use) in _fer_rows(csv_path):
        _check_usage(use, where)
        usage.append(use)
    return usage


def first_face_cache_advice(records: Iterable[Any]) -> str:
    """``"; ID: advice"`` (``face_cache_advice``) for the first of ``records`` (each with ``id`` and ``path``)
    that is a face of softfer's FER2013 cache, else "": for a summary of unreadable items, which says the
    folder to delete as each item's warning does (one folder per run)."""
    return next((f"; {r.id}: {a}" for r in records if (a := face_cache_advice(r.path))), "")


def face_cache_advice(path: Path) -> str | None:
    """What to do about an unreadable ``path`` that is a face of a FER2013 face cache softfer wrote (its
    ``<key>/NNNNNN.png`` beside index.json, or an earlier softfer's in the data root), or None for any other
    file: one wording for the loader's warning, the epoch's summary and ``data inspect --verify``."""
    # WHY: the completeness check compares sizes only, so bytes damaged in place (bit rot) are met by a
    # decode, and the file is softfer's to write again, not the dataset's to blame.
    folder = path.parent
    kind = {CACHE_FOLDER: "cache", LEGACY_FOLDER: "earlier"}.get(folder.parent.name)
    if not (kind and _FACE_FILE.fullmatch(path.name) and _FACE_KEY.fullmatch(folder.name)):
        return None
    if not (folder / "index.json").is_file():
        return None
    if kind == "earlier":
        return (
            f"it is a face an earlier softfer wrote from fer2013.csv into the data root, not a file of the "
            f"dataset: delete {folder} and softfer writes the faces again, into its own cache"
        )
    return (
        f"it is a face of softfer's cache of the FER2013 faces, written from fer2013.csv, not a file of the "
        f"dataset: delete {folder} and softfer writes it again"
    )


def _advice(option: str) -> str:
    return (
        f"set {option} to a writable folder outside the data, or read the folders the FER+ repository's "
        "generate_training_data.py writes (docs/DATASETS.md)"
    )


def _cache_base(root: Path, cache_dir: str | Path | None) -> tuple[Path, str]:
    """(the folder the face caches go in, the setting that chose it), refused inside the data root.

    Raises:
        ValueError: the folder lies inside ``root`` (or is it), or where a file is, naming the setting.
    """
    if cache_dir:
        base, option = Path(cache_dir) / CACHE_FOLDER, _SETTING.get()
    else:
        base, option = user_cache_dir() / CACHE_FOLDER, f"{_SETTING.get()} (or XDG_CACHE_HOME)"
    check_output(base, inputs=[root], overwrite=True, what=option, kind="folder")
    return base, option


def _legacy_cache(root: Path, key: str) -> tuple[Path, list[str]] | None:
    """The complete folder of ``key`` an earlier softfer wrote into the data root, logged once, or None."""
    folder = root / LEGACY_FOLDER / key
    usage, why = complete_cache(folder)
    if usage is None:
        if why and f"incomplete {folder}" not in _ANNOUNCED:
            _ANNOUNCED.add(f"incomplete {folder}")
            log.warning(
                "%s: the FER2013 faces an earlier softfer wrote into the data root are incomplete (%s): "
                "left as they are (softfer writes nothing into the data) and read from softfer's cache "
                "instead",
                folder,
                why,
            )
        return None
    if str(folder) not in _ANNOUNCED:
        _ANNOUNCED.add(str(folder))
        log.info(
            "reading the FER2013 faces an earlier softfer wrote into the data root, %s, as they are (softfer "
            "no longer writes there; runs trained on them stay reusable while the folder stays)",
            folder,
        )
    return folder, usage


def face_cache(csv_path: Path, root: Path, cache_dir: str | Path | None = None) -> tuple[Path, list[str]]:
    """(folder of the faces of fer2013.csv as PNGs, each row's Usage), built once (see the module text).

    Args:
        csv_path: fer2013.csv.
        root: the data root: an earlier version's complete cache there is read; nothing is written there.
        cache_dir: ``data.cache_dir``; None: the per-user cache folder (``user_cache_dir``).

    Raises:
        ValueError: naming fer2013.csv and the row of a bad cell, or the folder when it cannot be written
            or lies inside the data root.
    """
    root = Path(root)
    key = _content_key(csv_path)
    legacy = _legacy_cache(root, key)  # first: it writes nothing, and earlier runs' media stay theirs
    if legacy is not None:
        return legacy
    base, option = _cache_base(root, cache_dir)
    folder = base / key
    usage, why = complete_cache(folder)
    if usage is not None:
        return folder, usage
    if why:  # softfer's own files, not the user's data: mended, not reported as unusable media
        log.warning(
            "%s: softfer's cache of the FER2013 faces is incomplete (%s): writing it again", folder, why
        )
    return folder, _build(csv_path, folder, option)


def verify_face_cache(
    csv_path: Path, root: Path, cache_dir: str | Path | None, folder: Path, cached: list[str]
) -> tuple[Path, list[str]]:
    """(folder, each row's Usage) once ``face_cache``'s answer (``folder``, ``cached``) disagrees with
    FER+'s fer2013new.csv: ``cached`` when fer2013.csv itself says the same (the user's files disagree);
    else the cache is softfer's damage (an edited index.json), built again with a warning, as an
    incomplete one is (an earlier softfer's folder in the data root: left as it is, the cache used)."""
    usage = csv_usage(csv_path)
    if usage == cached:
        return folder, cached
    if len(usage) != len(cached):
        why = f"{len(cached)} rows in its index.json, {len(usage)} in the file"
    else:
        i = next(i for i, (a, b) in enumerate(zip(cached, usage, strict=True)) if a != b)
        why = f"row {i + 1}'s Usage {cached[i]!r} in its index.json, {usage[i]!r} in the file"
    base, option = _cache_base(root, cache_dir)
    own = base / folder.name  # the same folder, or softfer's cache in place of an earlier one in the root
    then = (
        "writing it again from the file"
        if own == folder
        else f"left as it is (delete it); the faces are read from {own}"
    )
    log.warning(
        "%s: softfer's cache of the FER2013 faces disagrees with %s (%s): %s", folder, csv_path, why, then
    )
    if own != folder and cached_usage(own) == usage:
        return own, usage
    return own, _build(csv_path, own, option, expect=usage)


def _build(csv_path: Path, folder: Path, option: str, expect: list[str] | None = None) -> list[str]:
    """Write the faces of ``csv_path`` into ``folder`` through a staging folder; returns each row's Usage.
    A complete copy another process renamed into place first is taken when its Usage is the file's
    (``expect``: the file's, read before; None: unknown until written)."""
    base = folder.parent
    try:
        base.mkdir(parents=True, exist_ok=True)
        remove_stale_staging(base)  # of any content key: an older fer2013.csv's build killed midway too
    except OSError as exc:
        raise ValueError(
            f"{base}: cannot write the FER2013 faces as PNG files there ({exc.strerror or exc}); "
            f"{_advice(option)}"
        ) from None
    log.info("%s: writing each face as a PNG into %s (once)", csv_path, folder)
    usage = expect
    try:
        with staged_folder(folder, clean=False) as staging:
            usage = _write_faces(csv_path, staging, folder.name)
            # another process (a DDP rank) finished the same folder first; one that says otherwise than
            # the file (``verify_face_cache``'s) is replaced
            if cached_usage(folder) == usage:
                shutil.rmtree(staging, ignore_errors=True)
                return usage
            _replace(staging, folder)
    except OSError as exc:
        theirs = cached_usage(folder)
        if theirs is not None and (usage is None or theirs == usage):  # another process's copy, renamed in
            return theirs
        raise ValueError(
            f"{folder}: cannot write the FER2013 faces ({exc.strerror or exc}); {_advice(option)}"
        ) from None
    return usage


def _replace(staging: Path, folder: Path) -> None:
    """Rename the complete ``staging`` to ``folder``, an incomplete ``folder`` first moved aside and removed
    after: a reader finds neither for two renames, not for the removal of a tree of 36,000 files."""
    # a staging name (``staging_path``'s form), so remove_stale_staging clears one a killed process left
    aside = folder.with_name(f".{folder.name}-incomplete.{os.getpid()}.partial")
    shutil.rmtree(aside, ignore_errors=True)
    try:
        os.replace(folder, aside)
    except FileNotFoundError:  # none there, or another process moved it aside first
        pass
    try:
        os.replace(staging, folder)
    finally:
        if os.path.islink(aside):  # a link someone put at the folder's name: the link goes, not its target
            os.unlink(aside)
        shutil.rmtree(aside, ignore_errors=True)
