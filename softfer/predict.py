"""`softfer predict MEDIA --checkpoint CKPT`: emotion timelines for videos, predictions for photos.

The main face is tracked and aligned (the same pipeline as `softfer preprocess`); for a video, sliding
windows of the aligned frames are sampled like the model's training clips and classified, giving one
emotion distribution per window with its start and end time. Outputs per media file: JSON, CSV and a
timeline PNG named after the file's full name and sub-folder (``x.mp4.json``, ``day1/x.jpg.csv``), written
atomically; an existing output is an error unless ``overwrite=True`` (``--overwrite``).
"""

from __future__ import annotations

import csv
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from softfer.engine.batch import forward, frames_input, probabilities
from softfer.engine.checkpoint import load_checkpoint
from softfer.engine.runs import model_from_state
from softfer.faces.align import align_face
from softfer.faces.preprocess import FaceOptions, aligned_frames
from softfer.faces.track import track_main_face
from softfer.io.console import progress
from softfer.io.files import IMAGE_SUFFIXES, VIDEO_SUFFIXES, atomic_write, write_json_atomic
from softfer.io.video import iter_frames
from softfer.models import spec_of
from softfer.plots.timeline import timeline_png

log = logging.getLogger(__name__)

SYNTHETIC_NOTE = (
    "this checkpoint was trained on softfer's synthetic benchmark (cartoon faces): its predictions on real "
    "faces are for trying the pipeline, not emotion estimates"
)


def _provenance(state_cfg: Any, trained_on: dict | None) -> str:
    if trained_on and trained_on.get("synthetic"):
        return SYNTHETIC_NOTE
    return (
        f"trained on {state_cfg.data.format} data ({state_cfg.data.root}); "
        "softfer ships no weights trained on licensed data"
    )


def _classify(model, clips: list[np.ndarray], batch: int = 16) -> np.ndarray:
    """(N, K) probabilities for a list of uint8 clips (T, H, W, 3) or images (H, W, 3)."""
    out = []
    with torch.no_grad():
        for i in range(0, len(clips), batch):
            logits, _ = forward(model, frames_input(model, np.stack(clips[i : i + batch])))
            out.append(probabilities(logits).numpy())
    return np.concatenate(out) if out else np.zeros((0, 0))


def _windows(times: np.ndarray, duration: float, window: float, stride: float) -> list[tuple[float, float]]:
    if duration <= window:
        return [(0.0, max(duration, float(times[-1]) if len(times) else 0.0))]
    starts = np.arange(0.0, max(duration - window, 0.0) + 1e-9, stride)
    if starts[-1] + window < duration - 1e-6:
        starts = np.append(starts, duration - window)  # the last window ends with the video
    return [(float(s), float(s + window)) for s in starts]


def predict_video(
    path: Path, model, cfg, opts: FaceOptions, *, window: float, stride: float
) -> dict[str, Any]:
    """Per-window emotion distributions of the main face of a video."""
    frames = progress(iter_frames(path), description=f"faces in {path.name}")
    track = track_main_face(frames, opts.detector(), every=opts.every, max_gap=opts.max_gap)
    crops = {i: (t, crop) for i, t, crop in aligned_frames(path, track, cfg.data.size)}
    times = track.times
    step = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
    duration = float(times[-1] - times[0] + step) if len(times) else 0.0
    frames_needed = cfg.data.segments * cfg.data.frames_per_segment
    spans, clips = [], []
    for start, end in _windows(times - times[0], duration, window, stride):
        inside = [i for i in range(len(times)) if start <= times[i] - times[0] < end]
        with_face = [i for i in inside if i in crops]
        coverage = len(with_face) / max(len(inside), 1)
        spans.append({"start": start, "end": end, "face_fraction": coverage})
        if coverage >= 0.5:
            pick = np.linspace(0, len(with_face) - 1, frames_needed).round().astype(int)
            clips.append(np.stack([crops[with_face[p]][1] for p in pick]))
            spans[-1]["clip"] = len(clips) - 1
    probs = _classify(model, clips) if clips else np.zeros((0, 0))
    for s in spans:
        s["probs"] = probs[s.pop("clip")].tolist() if "clip" in s else None
    return {
        "duration": duration,
        "frames": len(times),
        "frames_with_face": int(track.present.sum()),
        "windows": spans,
    }


def predict_image(path: Path, model, cfg, opts: FaceOptions) -> dict[str, Any]:
    """The emotion distribution of the largest face in a photo (a still clip for video models)."""
    from PIL import Image

    try:
        img = np.asarray(Image.open(path).convert("RGB"))
    except Exception as exc:
        raise ValueError(f"{path}: unreadable image ({exc})") from exc
    faces = opts.detector().detect([img])[0]
    if not faces:
        return {"faces": 0, "windows": [{"start": 0.0, "end": 0.0, "face_fraction": 0.0, "probs": None}]}
    crop = align_face(img, faces[0].landmarks, cfg.data.size)
    item = (
        crop
        if spec_of(model).input_kind == "image"
        else np.stack([crop] * cfg.data.segments * cfg.data.frames_per_segment)
    )
    probs = _classify(model, [item])[0]
    return {
        "faces": len(faces),
        "windows": [{"start": 0.0, "end": 0.0, "face_fraction": 1.0, "probs": probs.tolist()}],
    }


def output_paths(out: Path, name: Path) -> list[Path]:
    """The JSON, CSV and timeline PNG of one media file, keyed by its full name (suffix included).

    Args:
        out: The output folder.
        name: The media file's path relative to the folder given to `predict_media` (its bare name
            when a single file was given), e.g. ``clip.mp4`` or ``day1/clip.mp4``.

    Returns:
        ``out/<name>.json``, ``out/<name>.csv`` and ``out/<name>_timeline.png``; a file in a sub-folder
        is written to the same sub-folder under ``out``, so ``x.jpg``, ``x.mp4`` and ``a/x.jpg`` never
        share an output.
    """
    target = out / name
    return [target.with_name(f"{target.name}{tail}") for tail in (".json", ".csv", "_timeline.png")]


def _write(paths: list[Path], result: dict[str, Any], classes: tuple[str, ...]) -> list[Path]:

    write_json_atomic(paths[0], result)
    with atomic_write(paths[1], newline="") as f:
        w = csv.writer(f)
        w.writerow(["start_s", "end_s", "face_fraction", "top", *classes])
        for win in result["windows"]:
            p = win["probs"]
            top = classes[int(np.argmax(p))] if p else "no face"
            w.writerow(
                [
                    f"{win['start']:.3f}",
                    f"{win['end']:.3f}",
                    f"{win['face_fraction']:.2f}",
                    top,
                    *(f"{v:.4f}" for v in (p or [])),
                ]
            )
    timeline_png(result, classes, paths[2])
    return paths


def _media_files(media: Path, out: Path) -> list[tuple[Path, Path]]:
    """(file, name relative to ``media``) of every video and image under a folder, or of one file.

    Sub-folders are searched too; hidden files and folders and the output folder itself (when it lies
    inside ``media``) are skipped, so a second run does not classify the timeline PNGs of the first.
    """
    suffixes = VIDEO_SUFFIXES + IMAGE_SUFFIXES
    if media.is_file():
        if media.suffix.lower() not in suffixes:
            raise ValueError(f"{media}: not a video or image file ({', '.join(suffixes)})")
        return [(media, Path(media.name))]
    if not media.is_dir():
        raise ValueError(f"{media}: no such file or folder")
    skip = out.resolve()
    files = []
    for folder, dirs, names in os.walk(media):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (here / d).resolve() != skip)
        files += [here / n for n in names if not n.startswith(".") and Path(n).suffix.lower() in suffixes]
    if not files:
        raise ValueError(f"{media}: no videos or images ({', '.join(suffixes)})")
    return sorted((f, f.relative_to(media)) for f in files)


def _refuse_existing(planned: list[list[Path]]) -> None:
    """Raise before any work if an output of this run already exists (a run never overwrites silently)."""
    existing = [p for paths in planned for p in paths if p.exists()]
    if existing:
        shown = ", ".join(str(p) for p in existing[:3]) + (
            f" and {len(existing) - 3} more" if len(existing) > 3 else ""
        )
        raise ValueError(
            f"{shown}: output already exists; pass --overwrite (overwrite=True) to replace it, "
            "or choose another --out folder"
        )


def predict_media(
    media: str | Path,
    checkpoint: str | Path,
    out: str | Path,
    *,
    window: float = 2.0,
    stride: float = 0.5,
    options: FaceOptions | None = None,
    overwrite: bool = False,
) -> list[dict[str, Any]]:
    """Predict for a video, an image, or every video and image of a folder (sub-folders included).

    Args:
        media: A video, an image or a folder of them.
        checkpoint: A softfer checkpoint (RUN/model.pt).
        out: The output folder; each media file gets ``<name>.json``, ``<name>.csv`` and
            ``<name>_timeline.png`` keyed by its full name and sub-folder (see `output_paths`).
        window: Window length in seconds.
        stride: Window step in seconds.
        options: Face detection/alignment settings.
        overwrite: Replace outputs that already exist; without it an existing output is an error,
            raised before anything is predicted.

    Returns:
        One result dict per media file, in path order. For a folder, a file that cannot be read or
        predicted does not stop the others: its dict has ``error`` (the reason) and no ``outputs``, and
        ``OUT/predict_report.json`` lists every failure. A single file's failure is raised.
    """
    media, out = Path(media), Path(out)
    files = _media_files(media, out)
    planned = [output_paths(out, name) for _, name in files]
    if not overwrite:
        _refuse_existing(planned)
    state = load_checkpoint(checkpoint)
    model, cfg, classes = model_from_state(state, checkpoint)
    note = _provenance(cfg, state.get("trained_on"))
    opts = options or FaceOptions()
    results = []
    jobs = list(zip(files, planned, strict=True))
    for (f, _), paths in progress(jobs, description="predict"):
        try:
            if f.suffix.lower() in IMAGE_SUFFIXES:
                result = predict_image(f, model, cfg, opts)
            else:
                result = predict_video(f, model, cfg, opts, window=window, stride=stride)
            result.update(media=str(f), checkpoint=str(checkpoint), classes=list(classes), note=note)
            result["outputs"] = [str(p) for p in _write(paths, result, classes)]
        except Exception as exc:  # one bad file of a folder must not cost the others (issue 14)
            if not media.is_dir():
                raise
            reason = str(exc) if isinstance(exc, ValueError | OSError) else f"{type(exc).__name__}: {exc}"
            log.error("%s: %s", f, reason)
            result = {"media": str(f), "error": reason, "windows": [], "outputs": [], "note": note}
        results.append(result)
    if media.is_dir():
        failed = [{"media": r["media"], "error": r["error"]} for r in results if "error" in r]
        report = {"files": len(results), "predicted": len(results) - len(failed), "failed": failed}
        write_json_atomic(out / "predict_report.json", report)
    return results
