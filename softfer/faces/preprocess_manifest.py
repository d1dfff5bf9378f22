"""OUT/manifest.csv of `softfer preprocess`: what an earlier run into the same OUT wrote.

A rerun (``--overwrite``) reads it to replace only the clips preprocess wrote, to keep every video's
clip id in every layout (labels written for ``00002`` or for ``Val/Angry/x`` keep describing the same
video when videos are added or removed), and to go on listing the clips it does not write again.
"""

from __future__ import annotations

import csv
import logging
import os
from pathlib import Path

from softfer.io.files import IMAGE_SUFFIXES
from softfer.io.outputs import safe_name

log = logging.getLogger(__name__)

MANIFEST_COLUMNS = ["path", "id", "source", "frames", "aligned_frames", "note"]
DFEW_FRAMES = "Clip"  # the dfew layout's clips lie in OUT/Clip/clip_SxS/NNNNN, at every size
FOLDERS_FRAMES = "frames"  # the folders layout's in OUT/frames/<a__b__x>; mirror's in OUT/<a/b/x>


def frames_root_of(out: Path, layout: str, size: int) -> Path:
    """The folder below which ``layout`` writes its clips (their manifest paths start with it)."""
    if layout == "dfew":
        return out / DFEW_FRAMES / f"clip_{size}x{size}"
    return out / FOLDERS_FRAMES if layout == "folders" else out


def frames_only(folder: Path) -> bool:
    """An earlier clip: a real folder holding image files only (what --overwrite may replace)."""
    return (
        folder.is_dir()
        and not folder.is_symlink()
        and all(p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES for p in folder.iterdir())
    )


def earlier_rows(out: Path) -> list[dict[str, str]]:
    """The rows of OUT/manifest.csv as an earlier preprocess wrote them: none without one of preprocess's
    own columns (what preprocess cannot show it wrote, it never replaces)."""
    try:
        with (out / "manifest.csv").open(newline="") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames != MANIFEST_COLUMNS:
                return []
            return [row for row in reader if row.get("path")]
    except (OSError, UnicodeDecodeError, csv.Error):
        return []


def earlier_clips(out: Path, rows: list[dict[str, str]]) -> set[Path]:
    """The clip folders (resolved) that the earlier ``rows`` list."""
    return {(out / row["path"]).resolve() for row in rows}


def layout_rows(rows: list[dict[str, str]], layout: str) -> list[dict[str, str]]:
    """The earlier ``rows`` that ``layout`` wrote, told apart by how each writes ``path`` and ``id``: dfew
    ``Clip/clip_SxS/NNNNN`` (id the number, at every size), folders ``frames/<id>`` (one safe name), mirror
    ``<id>`` (path and id alike, each part a safe name). Rows of another layout are not this run's clips."""
    if layout == "dfew":
        return [r for r in rows if r["path"].startswith(f"{DFEW_FRAMES}/") and _number(r["id"])]
    if layout == "folders":
        return [r for r in rows if r["path"] == f"{FOLDERS_FRAMES}/{r['id']}" and _safe(r["id"])]
    return [r for r in rows if r["path"] == r["id"] and all(_safe(p) for p in r["id"].split("/"))]


def _number(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _safe(part: str) -> bool:
    return part == safe_name(part)


def earlier_names(out: Path, rows: list[dict[str, str]], layout: str) -> tuple[dict[Path, str], set[str]]:
    """(video -> the clip id an earlier run gave it, every clip id those rows hold) of ``layout``'s rows
    (``layout_rows``), videos keyed by ``video_key``: the one rule of every layout, so that a clip's id
    never passes to another video (``clip_names`` keeps these and gives new videos ids none of them holds).

    A dfew video keeps its number at every size (``clip_224x224/00002`` and ``clip_112x112/00002`` are one
    video, as in DFEW). Sources are matched by their absolute path (``video_key``: a link to a video is a
    video of its own, as the listing counts it): a video moved or renamed since is a new video and gets a
    new id (its earlier clip stays on disk, under its own id).

    Raises:
        ValueError: the manifest gives one id to two videos or two ids to one video (not as preprocess
            writes it), naming both.
    """
    names: dict[Path, str] = {}
    owner: dict[str, Path] = {}
    for row in layout_rows(rows, layout):
        source = video_key(row["source"])
        name = f"{int(row['id']):05d}" if layout == "dfew" else row["id"]
        if names.setdefault(source, name) != name or owner.setdefault(name, source) != source:
            raise ValueError(
                f"{out / 'manifest.csv'}: clip {name} of {row['source']} conflicts with an earlier row "
                f"(clip {names[source]} of this video, or clip {name} of {owner[name]}): not as "
                "preprocess writes it; correct the file or choose another OUT"
            )
    return names, set(owner)


def video_key(video: str | Path) -> Path:
    """A video as the manifest's ``source`` names it and reruns match it: its absolute path, links not
    followed (two links to one file are two videos of the listing, each with its own clip)."""
    return Path(os.path.abspath(video))


def kept_rows(
    out: Path, rows: list[dict[str, str]], written: set[Path], frames_root: Path
) -> list[dict[str, str]]:
    """The earlier rows (of this run's layout: ``layout_rows``) whose clip this run did not write (its video
    is gone or moved since, failed or had no face this time) and that lie in this run's ``frames_root``
    and still hold frames: the clip stays in OUT, so the manifest keeps listing it as it was written, and
    its id stays its video's (a video that failed once gets its own clip back on the next run, and no
    folder is left on disk that the manifest does not list). Clips of another size or layout are not
    listed (they would give one video two rows, one id twice). Logged, naming the first."""
    root = frames_root.resolve()
    kept = []
    for row in rows:
        folder = (out / row["path"]).resolve()
        if folder not in written and root in folder.parents and frames_only(folder):
            kept.append(row)
    if kept:
        log.warning(
            "%s: %d earlier clip(s) not written again kept as they are, with their clip ids and "
            "manifest rows (first: %s from %s)",
            out,
            len(kept),
            kept[0]["path"],
            kept[0]["source"],
        )
    return kept
