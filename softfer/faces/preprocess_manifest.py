"""OUT/manifest.csv of `softfer preprocess`: what an earlier run into the same OUT wrote.

A rerun (``--overwrite``) reads it to replace only the clips preprocess wrote, to keep every video's
clip number in the dfew layout (labels written for ``00002`` keep describing the same video when videos
are added), and to go on listing the clips it does not write again.
"""

from __future__ import annotations

import csv
import logging
import os
from pathlib import Path

from softfer.io.files import IMAGE_SUFFIXES

log = logging.getLogger(__name__)

MANIFEST_COLUMNS = ["path", "id", "source", "frames", "aligned_frames", "note"]
DFEW_FRAMES = "Clip"  # the dfew layout's clips lie in OUT/Clip/clip_SxS/NNNNN, at every size


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


def _dfew_rows(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [r for r in rows if r["path"].startswith(f"{DFEW_FRAMES}/") and r["id"].isdigit()]


def dfew_numbers(out: Path, rows: list[dict[str, str]]) -> tuple[dict[Path, int], int]:
    """(video -> its clip number, the highest number used) of the earlier dfew-layout rows, keyed by
    ``video_key``.

    A video keeps its number at every size (``clip_224x224/00002`` and ``clip_112x112/00002`` are one
    video, as in DFEW). Sources are matched by their absolute path (``video_key``: a link to a video is a
    video of its own, as the listing counts it): a video moved or renamed since is a new video and gets a
    new number (its earlier clip stays on disk, under its own number).

    Raises:
        ValueError: the manifest gives one number to two videos or two numbers to one video (not as
            preprocess writes it), naming both.
    """
    numbers: dict[Path, int] = {}
    owner: dict[int, Path] = {}
    for row in _dfew_rows(rows):
        source, n = video_key(row["source"]), int(row["id"])
        if numbers.setdefault(source, n) != n or owner.setdefault(n, source) != source:
            raise ValueError(
                f"{out / 'manifest.csv'}: clip {row['id']} of {row['source']} conflicts with an earlier row "
                f"(clip {numbers[source]:05d} of this video, or clip {n:05d} of {owner[n]}): not as "
                "preprocess writes it; correct the file or choose another OUT"
            )
    return numbers, max(owner, default=0)


def video_key(video: str | Path) -> Path:
    """A video as the manifest's ``source`` names it and reruns match it: its absolute path, links not
    followed (two links to one file are two videos of the listing, each with its own clip)."""
    return Path(os.path.abspath(video))


def kept_rows(
    out: Path, rows: list[dict[str, str]], written: set[Path], videos: set[Path], frames_root: Path
) -> list[dict[str, str]]:
    """The earlier rows of a video this run was not given (gone or moved since: ``videos`` holds this
    run's ``video_key``s) whose clip lies in this run's ``frames_root`` and still holds frames: the clip
    stays in OUT, so the manifest keeps listing it as it was written. A video of this run that failed or
    had no face this time is listed as this run found it, and clips of another size or layout are not
    listed (they would give one video two rows, one id twice). Logged, naming the first."""
    root = frames_root.resolve()
    kept = []
    for row in rows:
        folder = (out / row["path"]).resolve()
        mine = video_key(row["source"]) in videos or folder in written
        if not mine and root in folder.parents and frames_only(folder):
            kept.append(row)
    if kept:
        log.warning(
            "%s: %d earlier clip(s) not written again kept as they are, with their numbers and manifest "
            "rows (first: %s from %s)",
            out,
            len(kept),
            kept[0]["path"],
            kept[0]["source"],
        )
    return kept
