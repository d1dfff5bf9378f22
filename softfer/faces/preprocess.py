"""`softfer preprocess INPUT OUT`: videos -> aligned face frame folders + manifest + report.

Two passes per video: the first decodes, detects and tracks the main face (landmarks only, little
memory); the second decodes again and writes the aligned crops of the frames that have a face. Each
clip is written into a temporary folder renamed into place when complete; a video that fails leaves
nothing behind and is listed in the report with the reason.
"""

from __future__ import annotations

import csv
import logging
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from softfer.faces.align import align_face
from softfer.faces.detect import FaceDetector
from softfer.faces.predict_outputs import is_own_output
from softfer.faces.preprocess_manifest import (
    MANIFEST_COLUMNS,
    earlier_clips,
    earlier_names,
    earlier_rows,
    frames_only,
    frames_root_of,
    kept_rows,
    layout_rows,
    video_key,
)
from softfer.faces.track import FaceTrack, track_main_face
from softfer.io.console import progress
from softfer.io.files import (
    VIDEO_SUFFIXES,
    atomic_write,
    remove_stale_staging,
    staged_folder,
    write_json_atomic,
)
from softfer.io.outputs import check_outputs, safe_name
from softfer.io.video import iter_frames, still_image_format

log = logging.getLogger(__name__)

NOT_VIDEOS = "preprocess reads videos; predict reads photos"  # said of a folder's other files


@dataclass
class FaceOptions:
    """Detection/alignment settings shared by preprocess and predict."""

    size: int = 224
    every: int = 5
    max_gap: int = 12
    detect_max_side: int = 320
    min_face: int = 40
    device: str = "cpu"
    _detector: FaceDetector | None = field(default=None, init=False, repr=False, compare=False)

    def detector(self) -> FaceDetector:
        """The MTCNN detector of these options, built once (predicting a folder reuses it per file)."""
        if self._detector is None:
            self._detector = FaceDetector(
                device=self.device, max_side=self.detect_max_side, min_face=self.min_face
            )
        return self._detector


def aligned_frames(path: Path, track: FaceTrack, size: int) -> Iterator[tuple[int, float, np.ndarray]]:
    """(frame index, time, aligned RGB crop) for every frame of ``path`` that has a face in ``track``."""
    present = track.present

    def shown(i: int, _last: bool) -> bool:  # frames without the face are decoded but not converted
        return i < len(present) and bool(present[i])

    for i, (t, frame) in enumerate(iter_frames(path, keep=shown)):
        if frame is not None:
            yield i, t, align_face(frame, track.landmarks[i], size)


def check_video(path: Path) -> None:
    """Refuse a still image named as a video (``photo.mp4`` holding a JPEG) before anything is written; the
    video reader refuses it too (``softfer.io.video``), this names it up front. Decided by the content, as
    FFmpeg opens it; a file it cannot open passes here (decoding then says why)."""
    still = still_image_format(path)
    if still:
        raise ValueError(
            f"{path} is a still image ({still}) named as a video: preprocess takes videos; give a photo "
            "its own suffix (.jpg, .png) and predict it with `softfer predict`"
        )


def list_videos(src: Path) -> list[Path]:
    """The video files of a folder (sorted), or the file itself (``list_inputs``)."""
    return list_inputs(src)[0]


def list_inputs(src: Path) -> tuple[list[Path], list[Path]]:
    """(the video files of a folder, its other files: photos, labels, ...), sorted; or the file itself.

    In a folder, `predict`'s annotated copies (``NAME_annotated.mp4`` beside that run's ``NAME.json``,
    ``is_own_output``: the rule predict's own listing uses) are skipped and the skip is logged: their
    pixels hold predict's boxes and emotion text, and aligned they would be a second, drawn-over clip.
    The other files are left to the caller to count and say (``preprocess_videos``).
    """
    if src.is_file():
        if src.suffix.lower() not in VIDEO_SUFFIXES:
            raise ValueError(
                f"{src} is a file but not a video ({', '.join(VIDEO_SUFFIXES)}): preprocess takes a video "
                "or a folder of videos"
            )
        check_video(src)
        return [src], []
    if not src.is_dir():
        raise ValueError(f"{src}: no such file or folder")
    found = sorted(src.rglob("*"))
    videos = [p for p in found if p.suffix.lower() in VIDEO_SUFFIXES]
    others = [p for p in found if p.suffix.lower() not in VIDEO_SUFFIXES and p.is_file()]
    own = [p for p in videos if is_own_output(p)]
    if own:
        log.info("%s: %d file(s) skipped as predict's own outputs (first: %s)", src, len(own), own[0])
        videos = [p for p in videos if p not in own]
    if not videos:
        more = f"; {len(others)} other file(s) not read: {NOT_VIDEOS}" if others else ""
        raise ValueError(f"{src}: no video files ({', '.join(VIDEO_SUFFIXES)}){more}")
    return videos, others


def _check_out_folder(out: Path) -> None:
    """Refuse an OUT that is a file, or lies below one: preprocess writes a folder of clips there."""
    for p in (out, *out.parents):
        if p.exists():
            if not p.is_dir():
                what = f"OUT {out} is" if p == out else f"OUT {out} cannot be made: {p} is"
                raise ValueError(
                    f"{what} a file, not a folder: preprocess writes a folder of clips; choose a new or "
                    "empty folder"
                )
            return


LAYOUTS = ("dfew", "folders", "mirror")


def clip_names(
    src: Path, videos: list[Path], layout: str, earlier: tuple[dict[Path, str], set[str]] | None = None
) -> list[str]:
    """The clip folder of each video below the frames root: unique and safe, in the order of ``videos``.

    A video that ``earlier`` (video -> its clip id, every id an earlier run's manifest holds:
    ``earlier_names``) lists keeps its id, in every layout; the others get ids that no earlier row holds,
    so an id never passes to another video. "dfew" numbers the clips (00001, 00002, ...; new videos after
    the highest number). "folders" flattens the video's path below ``src`` without its suffix
    (``a/b/x.mp4`` -> ``a__b__x``); "mirror" keeps the folders (``a/b/x``). Every part is restricted to
    letters, digits and ``._-`` (others become ``_``), never starts with a dot and is never empty, so a
    name cannot reach outside the frames root. Names that still coincide (``x.mp4`` and ``x.avi``, names
    equal once sanitised or but for case, or a name an earlier row holds) get ``-2``, ``-3``, ... in
    sorted order, as does a mirror clip whose folder would hold another clip (``a/b.mp4`` beside
    ``a/b/x.mp4``) or lie inside one.
    """
    known, taken = earlier or ({}, set())
    names = {v: known[video_key(v)] for v in videos if video_key(v) in known}
    used = {n.lower() for n in taken}  # case-insensitive file systems would merge them too
    holding = {p.as_posix() for n in used for p in Path(n).parents}  # the folders that hold a clip folder
    last = max((int(n) for n in taken), default=0) if layout == "dfew" else 0
    for video in videos:
        if video in names:
            continue
        if layout == "dfew":
            last += 1
            names[video] = f"{last:05d}"
            continue
        rel = Path(video.name) if video == src else video.relative_to(src)
        stem = rel.name[: -len(rel.suffix)] if rel.suffix else rel.name
        parts = [safe_name(p) for p in (*rel.parent.parts, stem)]
        name = _free_name(parts if layout == "mirror" else ["__".join(parts)], used, holding)
        used.add(name.lower())
        holding.update(p.as_posix() for p in Path(name.lower()).parents)
        names[video] = name
    return [names[v] for v in videos]


def _free_name(parts: list[str], used: set[str], holding: set[str]) -> str:
    """``parts`` joined, each part given ``-2``, ``-3``, ... until no folder on the way is a clip
    (``used``) and the clip folder itself is neither a clip nor holds one (``holding``)."""
    parts = list(parts)
    for depth, base in enumerate(parts):
        k = 2
        while True:
            prefix = "/".join(parts[: depth + 1]).lower()
            if prefix not in used and (depth < len(parts) - 1 or prefix not in holding):
                break
            parts[depth], k = f"{base}-{k}", k + 1
    return "/".join(parts)


def _inside(root: Path, target: Path) -> Path:
    """``target``, checked to lie strictly inside ``root``: nothing else is ever removed or replaced."""
    r, t = root.resolve(), target.resolve()
    if t == r or r not in t.parents:
        raise RuntimeError(f"refusing to write {target}: it is not inside the output folder {root}")
    return target


def _check_clip_folders(finals: list[Path], overwrite: bool, out: Path, ours: set[Path]) -> None:
    """With ``overwrite``, an existing clip folder is replaced only when it holds frames and nothing else
    and OUT/manifest.csv lists it as a clip preprocess wrote: preprocess never removes a folder it did not
    make (e.g. a user's folder of photos with a clip's name)."""
    if not overwrite:
        return  # existing ones were refused by check_outputs
    existing = [f for f in finals if f.exists() or f.is_symlink()]
    other = [f for f in existing if not frames_only(f)]
    if other:
        raise ValueError(
            f"{other[0]} exists and is not a folder of frames ({len(other)} such): preprocess replaces "
            "earlier clips only; move it away or choose another OUT"
        )
    foreign = [f for f in existing if f.resolve() not in ours]
    if foreign:
        raise ValueError(
            f"{foreign[0]} exists, but {out / 'manifest.csv'} does not list it as a clip preprocess wrote "
            f"({len(foreign)} such): preprocess replaces its own earlier clips only; move it away or "
            "choose another OUT"
        )


def _write_clip(video: Path, clip_id: str, final: Path, opts: FaceOptions, layout: str, detector) -> list:
    """Track and align one video into ``final`` (through a temporary folder of this process); its manifest
    row. An existing ``final`` (checked to be an earlier clip, ``_check_clip_folders``) is replaced."""
    # a still image named as a video is refused by the video reader itself (softfer.io.video)
    frames = progress(iter_frames(video), description=f"faces in {video.name}")
    track = track_main_face(frames, detector, every=opts.every, max_gap=opts.max_gap)
    if not track.present.any():
        return [clip_id, str(video), len(track.times), 0, "no face"]
    written = 0
    with staged_folder(final, clean=False) as tmp:  # stale ones: once per folder, in preprocess_videos
        for i, _, crop in aligned_frames(video, track, opts.size):
            written += 1
            name = (
                f"{clip_id.rsplit('/', 1)[-1]}_{written:05d}.jpg" if layout == "dfew" else f"{i + 1:06d}.jpg"
            )
            bgr = cv2.cvtColor(crop, cv2.COLOR_RGB2BGR)
            # encoded here and written by Python, which raises on a full disk naming the file (imwrite
            # returns False and writes what fits)
            ok, jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 95])
            if not ok:
                raise ValueError(f"{video}: frame {i} could not be encoded as JPEG")
            (tmp / name).write_bytes(jpeg.tobytes())
        if frames_only(final):
            shutil.rmtree(final)
        tmp.rename(final)
    dropped = f"{track.counts()['missing']} frames without a face dropped"
    return [clip_id, str(video_key(video)), len(track.times), written, dropped]


def preprocess_videos(
    src: str | Path,
    out: str | Path,
    *,
    layout: str = "dfew",
    options: FaceOptions | None = None,
    overwrite: bool = False,
) -> dict:
    """Align the main face of every video; returns the report (also written to OUT/preprocess_report.json).

    Layouts: "dfew" (OUT/Clip/clip_SxS/00001/00001_00001.jpg, numbered in sorted order), "folders"
    (OUT/frames/<path below SRC flattened, a__b__x>/000001.jpg), "mirror" (OUT/<path of the video below
    SRC, without its suffix>/000001.jpg: keeps a dataset's own folder structure, e.g. AFEW's
    Val/Angry/<clip>/). Names are made safe and unique (``clip_names``); a rerun into the same OUT keeps
    every video's clip id from OUT/manifest.csv, in every layout, and gives new videos ids no earlier row
    holds (``earlier_names``). The manifest's ``source`` column gives each clip's video. A video that
    fails is listed in ``failed`` and the others are written; a folder's other files (photos) are
    counted in ``files_skipped`` and said once.

    Before any video is read, every output is checked (``softfer.io.outputs``): nothing is written inside
    ``src``; an existing clip folder, manifest or report is refused without ``overwrite``, and with it only
    a folder of frames that OUT/manifest.csv lists (a clip of an earlier preprocess) is replaced; the
    earlier clips not written again stay and keep their manifest rows (``kept_rows``). A still
    image named as a video is refused (given alone: ``check_video``; in a folder: the video reader).
    """
    opts = options or FaceOptions()
    out = Path(out)
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    src = Path(src)
    videos, others = list_inputs(src)
    _check_out_folder(out)
    frames_root = frames_root_of(out, layout, opts.size)
    # without --overwrite an earlier manifest is refused below; with it, its videos keep their clip ids
    earlier = earlier_rows(out) if overwrite else []
    ours = layout_rows(earlier, layout)
    names = clip_names(src, videos, layout, earlier_names(out, ours, layout))
    finals = [_inside(frames_root, frames_root / n) for n in names]
    summary = [out / "manifest.csv", out / "preprocess_report.json"]
    check_outputs([*finals, *summary], inputs=[src], overwrite=overwrite, what="OUT")
    _check_clip_folders(finals, overwrite, out, earlier_clips(out, earlier))
    if others:  # said once: a photo in a folder of videos is otherwise dropped without a word
        log.warning("%s: %d file(s) skipped: %s (first: %s)", src, len(others), NOT_VIDEOS, others[0])
    report: dict = {"videos": len(videos), "files_skipped": len(others), "no_face": [], "failed": []}
    rows = _write_clips(list(zip(videos, names, finals, strict=True)), opts, layout, frames_root, report)
    written = [[(frames_root.relative_to(out) / r[0]).as_posix(), *r] for r in rows if r[3] > 0]
    kept = kept_rows(out, ours, {(out / r[0]).resolve() for r in written}, frames_root)
    report["earlier_clips_kept"] = len(kept)
    with atomic_write(out / "manifest.csv", newline="") as f:
        w = csv.writer(f)
        w.writerow(MANIFEST_COLUMNS)
        # in the order of the clip folders (dfew: by number, also when kept and new clips interleave)
        w.writerows(sorted(written + [[r[c] for c in MANIFEST_COLUMNS] for r in kept], key=lambda r: r[0]))
    report["clips_written"] = sum(r[3] > 0 for r in rows)
    report["frames_total"] = sum(r[2] for r in rows)
    report["frames_with_face"] = sum(r[3] for r in rows)
    report["frames_dropped"] = report["frames_total"] - report["frames_with_face"]
    write_json_atomic(out / "preprocess_report.json", report)
    return report


def _write_clips(
    jobs: list[tuple[Path, str, Path]], opts: FaceOptions, layout: str, frames_root: Path, report: dict
) -> list[list]:
    """Write each (video, clip id, clip folder) job; a failed video is listed in ``report``, not raised."""
    detector = opts.detector()
    frames_root.mkdir(parents=True, exist_ok=True)
    by_parent: dict[Path, list[str]] = {}
    for _, _, final in jobs:
        by_parent.setdefault(final.parent, []).append(final.name)
    for parent, clip_folders in by_parent.items():  # what killed runs left while writing a clip
        remove_stale_staging(parent, clip_folders)
    rows = []
    for video, clip_id, final in progress(jobs, description="preprocess"):
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            rows.append(_write_clip(video, clip_id, final, opts, layout, detector))
        except Exception as exc:  # one bad video must not cost the others: listed in the report
            reason = str(exc) if isinstance(exc, ValueError | OSError) else f"{type(exc).__name__}: {exc}"
            reason = reason if str(video) in reason else f"{video}: {reason}"
            log.error("%s", reason)
            report["failed"].append({"video": str(video), "error": reason})
            rows.append([clip_id, str(video_key(video)), 0, 0, f"failed: {reason}"])
        if rows[-1][4] == "no face":
            report["no_face"].append(str(video))
    return rows
