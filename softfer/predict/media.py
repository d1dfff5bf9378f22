"""`softfer predict MEDIA --checkpoint CKPT`: every face of a video, a photo or a folder of both.

For each media file ``NAME`` (its path below the folder given, suffix kept) the outputs are
``OUT/NAME.json``, ``OUT/NAME_frames.csv``, ``OUT/NAME_windows.csv``, ``OUT/NAME_timeline.png`` and
``OUT/NAME_summary.csv`` (docs/OUTPUTS.md), with ``annotate`` ``OUT/NAME_annotated.mp4`` (videos) or
``_annotated.jpg`` (photos), with ``html`` the viewer page ``OUT/NAME.html``.
Nothing is overwritten without ``overwrite``; in a folder, a file that fails is reported and the others are
predicted. A folder's pictures and videos that an earlier run wrote (``is_own_output``: a timeline or an
annotated copy beside its ``NAME.json``) are skipped, and the skip is logged, so outputs kept below the
media folder are never predicted as media.
"""

from __future__ import annotations

import contextlib
import logging
import mimetypes
import os
from pathlib import Path
from typing import Any

from softfer.faces.predict_outputs import is_own_output  # one rule, preprocess's too
from softfer.io.console import progress
from softfer.io.errors import MediaError
from softfer.io.files import IMAGE_SUFFIXES, VIDEO_SUFFIXES, write_json_atomic
from softfer.io.outputs import check_outputs, json_holding
from softfer.predict.annotate import annotate_photo, annotate_video
from softfer.predict.api import Predictor
from softfer.predict.results import IS_RESULT_JSON
from softfer.predict.view import write_page

log = logging.getLogger(__name__)

REPORT = "predict_report.json"  # a folder's run: what failed and what was skipped
TAILS = (".json", "_frames.csv", "_windows.csv", "_timeline.png", "_summary.csv")


def output_paths(out: Path, name: Path, *, annotate: bool = False, html: bool = False) -> list[Path]:
    """The outputs of one media file, keyed by its full name (suffix included) and sub-folder.

    Args:
        out: The output folder.
        name: The media file's path relative to the folder given to `predict_media` (its bare name
            when a single file was given), e.g. ``clip.mp4`` or ``day1/clip.mp4``.
        annotate: also the annotated video or photo.
        html: also the viewer page (``softfer.predict.view``).

    Returns:
        ``out/<name>.json``, ``_frames.csv``, ``_windows.csv``, ``_timeline.png``, ``_summary.csv`` (and
        ``_annotated.mp4`` for a video, ``_annotated.jpg`` for a photo, and ``.html``); ``x.jpg``, ``x.mp4``
        and ``a/x.jpg`` never share an output.
    """
    target = out / name
    video = name.suffix.lower() in VIDEO_SUFFIXES
    tails = TAILS + ((("_annotated.mp4",) if video else ("_annotated.jpg",)) if annotate else ())
    tails += (".html",) if html else ()
    return [target.with_name(f"{target.name}{tail}") for tail in tails]


def is_unsupported_media(name: str) -> bool:
    """Whether ``name`` is a picture or video of a kind predict does not read (.gif, .webp, .tiff, .ico,
    .wmv, ...: an image/ or video/ MIME type by its suffix, not one of the supported suffixes)."""
    kind = mimetypes.guess_type(name)[0] or ""
    supported = Path(name).suffix.lower() in VIDEO_SUFFIXES + IMAGE_SUFFIXES
    return kind.startswith(("image/", "video/")) and not supported


def _media_files(media: Path, out: Path) -> tuple[list[tuple[Path, Path]], list[Path]]:
    """((file, name relative to ``media``) of every video and image under a folder, or of one file;
    the pictures and videos of unsupported kinds found, ``is_unsupported_media``: listed, not predicted).

    Sub-folders are searched too; hidden files and folders, the output folder itself (when it lies
    inside ``media``) and earlier runs' outputs anywhere below (``is_own_output``) are skipped, so a second
    run does not classify the timeline PNGs of the first.
    """
    suffixes = VIDEO_SUFFIXES + IMAGE_SUFFIXES
    if media.is_file():
        if media.suffix.lower() not in suffixes:
            raise ValueError(f"{media}: not a video or image file ({', '.join(suffixes)})")
        return [(media, Path(media.name))], []
    if not media.is_dir():
        raise ValueError(f"{media}: no such file or folder")
    skip = out.resolve()
    files, unsupported = [], []
    for folder, dirs, names in os.walk(media):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (here / d).resolve() != skip)
        files += [here / n for n in names if not n.startswith(".") and Path(n).suffix.lower() in suffixes]
        unsupported += [here / n for n in names if not n.startswith(".") and is_unsupported_media(n)]
    unsupported.sort()
    if unsupported:
        shown = ", ".join(str(f.relative_to(media)) for f in unsupported[:5])
        log.warning(
            "%s: %d picture or video file(s) of an unsupported kind skipped (%s%s); predict reads %s: "
            "convert them to one of these",
            media,
            len(unsupported),
            shown,
            ", ..." if len(unsupported) > 5 else "",
            ", ".join(suffixes),
        )
    own = {f for f in files if is_own_output(f)}
    if own:
        log.info("%s: %d file(s) skipped as predict's own outputs (first: %s)", media, len(own), min(own))
        files = [f for f in files if f not in own]
    if not files:
        raise ValueError(f"{media}: no videos or images ({', '.join(suffixes)})")
    return sorted((f, f.relative_to(media)) for f in files), unsupported


def _check_outputs(
    media: Path, out: Path, files: list[Path], planned: list[list[Path]], overwrite: bool
) -> None:
    """The output rule (``softfer.io.outputs``), before any work: never onto a media file, never replacing
    an existing file without ``overwrite``. The output folder may lie below a media folder (it is skipped
    when listing), but may not be the media folder itself: its timeline PNGs would be inputs of the next run.
    """
    if media.is_dir() and out.resolve() == media.resolve():
        raise ValueError(
            f"--out {out} is the media folder {media}: the next run would predict its own outputs; choose "
            "another --out (a sub-folder is fine, it is skipped)"
        )
    report = json_holding("files", "predicted", "failed")
    # with --overwrite too, a NAME.json that is no predict result (a photo's sidecar, say) is neither
    # replaced nor removed when its file fails (found by review)
    check_outputs(
        [p for paths in planned for p in paths],
        inputs=files,
        overwrite=overwrite,
        kind="file",
        ours=lambda p: report(p) if p.name == REPORT else IS_RESULT_JSON(p),
    )


def _remove_earlier_outputs(out: Path, names: list[Path], planned: list[list[Path]]) -> None:
    """With --overwrite, before any work: the outputs an earlier predict wrote for these media that this
    run does not write (a viewer page, an annotated copy) are removed, where ``NAME.json`` beside them is
    a predict result; left standing, the page would show the earlier model's faces beside this run's
    tables (found by audit). Results of media no longer given are named, not removed. Runs after
    ``_check_outputs``, which refused every existing ``NAME.json`` that is no predict result."""
    stale = []
    for name, paths in zip(names, planned, strict=True):
        if paths[0].is_file():  # a predict result (checked above): not read a second time
            every = output_paths(out, name, annotate=True, html=True)
            stale += [p for p in every if p not in paths and p.is_file()]
    for path in stale:
        path.unlink()
    if stale:
        log.warning("%s: removed %d earlier output(s) this run does not write: %s", out, len(stale), stale[0])
    given = {p[0] for p in planned}
    # predict's pattern, NAME.json beside NAME_frames.csv: cheaper than reading every result
    others = [
        j
        for j in sorted(out.rglob("*.json"))
        if j not in given and j.with_name(j.name[:-5] + "_frames.csv").is_file()
    ]
    if others:
        log.warning(
            "%s holds %d earlier result(s) of media this run was not given (first: %s): not part of this run",
            out,
            len(others),
            others[0],
        )


def failure_reason(exc: BaseException, media: Path) -> str:
    """Why ``media`` could not be predicted, without its path: the console and ``predict_report.json``
    name the file once, beside the reason, while softfer's errors start with it (``PATH: ...``) and an
    OSError's end with it (``[Errno N] ...: 'PATH'``; ``io.video`` gives PyAV's by their strerror)."""
    text, name = str(exc), str(media)
    text = text.removeprefix(f"{name}: ").replace(f": {name!r}", "")
    if not isinstance(exc, ValueError | OSError | MediaError):
        text = f"{type(exc).__name__}: {text}"  # an unexpected error: its kind says where to look
    return text


def _summary(media: Path, prediction, paths: list[Path]) -> dict[str, Any]:
    d = prediction.to_dict()
    return {
        "media": str(media),
        "outputs": [str(p) for p in paths],
        "note": prediction.meta["note"],
        "faces": prediction.meta["faces"],
        "duration": prediction.meta["duration"],
        "frames": prediction.meta["frames"],
        "windows": d["windows"],
        "tracks": prediction.meta["tracks"],
    }


def _predict_one(f: Path, paths: list[Path], predictor: Predictor, overwrite: bool) -> dict[str, Any]:
    """Predict one media file and write its planned outputs (``output_paths``); its summary dict."""
    prediction = predictor.predict(f)
    prefix = paths[0].with_name(paths[0].name[: -len(".json")])
    written = prediction.save(prefix, overwrite=overwrite)
    for path in paths[len(TAILS) :]:  # what was asked beyond the tables: pictures, the page
        if path.name.endswith(".html"):
            written.append(write_page(prediction.to_dict(), f, path))
        else:
            draw = annotate_video if path.suffix == ".mp4" else annotate_photo
            written.append(draw(f, prediction, path))
    return _summary(f, prediction, written)


def predict_media(
    media: str | Path,
    predictor: Predictor,
    out: str | Path,
    *,
    overwrite: bool = False,
    annotate: bool = False,
    html: bool = False,
) -> list[dict[str, Any]]:
    """Predict for a video, an image, or every video and image of a folder (sub-folders included).

    Args:
        media: A video, an image or a folder of them.
        predictor: The loaded model and settings (``Predictor.from_checkpoint``).
        out: The output folder (see ``output_paths``).
        overwrite: Replace outputs that already exist; without it an existing output is an error,
            raised before anything is predicted (as are outputs onto a media file, or ``out`` being the
            media folder itself, with it too).
        annotate: Also write each video or photo with boxes, track ids and top emotions drawn.
        html: Also write each file's viewer page (``NAME.html``, as ``softfer view``).

    Returns:
        One summary dict per media file, in path order. For a folder, a file that cannot be read or
        predicted does not stop the others: its dict has ``error`` (the reason; ``media`` names the
        file) and no ``outputs``, and ``OUT/predict_report.json`` lists every failure, and under
        ``skipped`` every picture or video of an unsupported kind (.gif, .webp, ...; also logged). A
        single file's failure is raised.
    """
    media, out = Path(media), Path(out)
    files, unsupported = _media_files(media, out)
    planned = [output_paths(out, name, annotate=annotate, html=html) for _, name in files]
    report = [out / REPORT] if media.is_dir() else []
    _check_outputs(media, out, [f for f, _ in files], [*planned, report], overwrite)
    if overwrite and out.is_dir():
        _remove_earlier_outputs(out, [name for _, name in files], planned)
    results = []
    for (f, _), paths in progress(list(zip(files, planned, strict=True)), description="predict"):
        try:
            results.append(_predict_one(f, paths, predictor, overwrite))
        except Exception as exc:  # one bad file of a folder must not cost the others (issue 14)
            if not media.is_dir():
                raise
            reason = failure_reason(exc, f)
            log.error("%s: failed: %s", f, reason)
            # a failed file has no outputs: what this run wrote of it, or an earlier run's (--overwrite:
            # checked as replaceable above), would read as this run's result
            for path in paths:
                with contextlib.suppress(OSError):  # a name too long to write is too long to unlink
                    path.unlink(missing_ok=True)
            results.append(
                {"media": str(f), "error": reason, "windows": [], "outputs": [], "note": predictor.note}
            )
    if media.is_dir():
        failed = [{"media": r["media"], "error": r["error"]} for r in results if "error" in r]
        report = {"files": len(results), "predicted": len(results) - len(failed), "failed": failed}
        report["skipped"] = [
            {"media": str(f), "reason": f"unsupported suffix {f.suffix}"} for f in unsupported
        ]
        write_json_atomic(out / REPORT, report)
    return results
