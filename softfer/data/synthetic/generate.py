"""Writing the synthetic benchmark in the DFEW release layout and in the AffectNet layout.

Each clip/image is rendered by a worker process from an RNG seeded with (seed, index), so the output is
byte-identical for a given seed whatever the number of workers. Files are written into a temporary
folder that is renamed into place at the end, so an interrupted run never looks complete; Ctrl-C or SIGTERM
removes it (``staging``, ``terminate_as_interrupt``), whoever calls the writers.
"""

from __future__ import annotations

import io
import logging
import os
import signal
import threading
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from itertools import islice
from multiprocessing import active_children, get_context
from pathlib import Path

import numpy as np

from softfer.classes import AFFECTNET_CLASSES, DFEW_CLASSES
from softfer.data.formats.affectnet import AFFECTNET_COLUMNS
from softfer.data.provenance import GROUND_TRUTH
from softfer.data.synthetic.landmarks import landmarks68
from softfer.data.synthetic.model import AFFECTNET_PRIORS, SynthConfig, is_single_labelled, sample_clip
from softfer.data.synthetic.render import encode_jpeg, render_frame, sample_identity, sample_scene
from softfer.data.synthetic.space import check_free_space
from softfer.io.files import staged_folder
from softfer.io.outputs import check_folder
from softfer.io.tables import write_csv

log = logging.getLogger(__name__)

FRAME_VA = "softfer_frame_va.csv"
NUM_FOLDS = 5
_FIXED_MODIFIED = '<dcterms:modified xsi:type="dcterms:W3CDTF">2020-01-01T00:00:00Z</dcterms:modified>'
# AffectNet names the angry class "anger"; the renderer's prototypes use "angry".
_AFFECTNET_SYNTH_CLASSES = tuple("angry" if c == "anger" else c for c in AFFECTNET_CLASSES)


@dataclass
class ClipRecord:
    """What the writer needs to know about one rendered clip or image."""

    index: int
    votes: np.ndarray
    mixture: np.ndarray
    primary: int
    apex: float
    va: np.ndarray
    frame_va: np.ndarray
    num_frames: int
    extra: dict


def _render_clip(job: tuple[int, int, SynthConfig, str]) -> ClipRecord:
    index, seed, cfg, folder = job
    rng = np.random.default_rng([seed, index])
    spec = sample_clip(cfg, rng)
    ident = sample_identity(rng)
    scene = sample_scene(cfg.size, rng, occlusion_rate=cfg.occlusion_rate, jpeg=cfg.jpeg_quality)
    out = Path(folder) / f"{index:05d}"
    out.mkdir(parents=True, exist_ok=True)
    n = len(spec.intensity)
    for t in range(n):
        img, _ = render_frame(spec.controls[t], ident, scene, t / max(n - 1, 1), rng)
        (out / f"{index:05d}_{t + 1:05d}.jpg").write_bytes(encode_jpeg(img, scene.jpeg_quality))
    return ClipRecord(index, spec.votes, spec.mixture, spec.primary, spec.apex, spec.va, spec.frame_va, n, {})


def _render_image(job: tuple[int, int, SynthConfig, str]) -> ClipRecord:
    index, seed, cfg, folder = job
    rng = np.random.default_rng([seed, index])
    spec = sample_clip(cfg, rng, still=True)
    ident = sample_identity(rng)
    scene = sample_scene(cfg.size, rng, occlusion_rate=cfg.occlusion_rate, jpeg=cfg.jpeg_quality)
    img, _ = render_frame(spec.controls[0], ident, scene, 0.5, rng)
    rel = f"{index // 1000 + 1}/{index:07d}.jpg"
    (Path(folder) / rel).parent.mkdir(parents=True, exist_ok=True)
    (Path(folder) / rel).write_bytes(encode_jpeg(img, scene.jpeg_quality))
    pose = scene.pose_start + (scene.pose_end - scene.pose_start) * 0.5
    marks = landmarks68(spec.controls[0], ident, pose, cfg.size)
    lo, hi = marks.min(axis=0), marks.max(axis=0)
    box = np.round([lo[0], lo[1] - 0.35 * (hi[1] - lo[1]), hi[0] - lo[0], 1.35 * (hi[1] - lo[1])]).astype(int)
    extra = {"path": rel, "box": box.tolist(), "landmarks": marks}
    return ClipRecord(
        index, spec.votes, spec.mixture, spec.primary, spec.apex, spec.va, spec.frame_va, 1, extra
    )


def _run(
    fn: Callable, jobs: Iterable, workers: int, progress: Callable[[int], None] | None, window: int = 0
) -> list:
    """``fn`` of every job, in order; ``window`` jobs handed to the workers at a time (0: all, a list)."""
    return list(iter_run(fn, jobs, workers, progress, window or max(1, len(jobs))))  # type: ignore[arg-type]


def iter_run(
    fn: Callable, jobs: Iterable, workers: int, progress: Callable[[int], None] | None, window: int
) -> Iterator:
    """``fn`` of each job, in order, the jobs drawn and handed to the workers ``window`` at a time: a writer
    that consumes the results as they come holds at most a window of them, however many jobs there are.
    Close it (``contextlib.closing``) when the consumer can fail: that stops the workers at once."""
    workers = workers or os.cpu_count() or 1
    jobs = iter(jobs)
    if workers == 1:
        for job in jobs:
            yield fn(job)
            if progress:
                progress(1)
        return
    others = set(active_children())  # children of this process before the pool's: not the pool's to stop
    # spawn: workers must not inherit a parent's threads (torch, BLAS) through fork.
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        try:
            while batch := list(islice(jobs, window)):
                for rec in pool.map(fn, batch, chunksize=max(1, len(batch) // (workers * 8))):
                    yield rec
                    if progress:
                        progress(1)
        except BaseException:  # an interrupt, or the consumer's own failure (GeneratorExit on close)
            _stop_workers(pool, others)
            raise


def _stop_workers(pool: ProcessPoolExecutor, others: set) -> None:
    """Cancel the queued jobs of ``pool`` and stop its workers (this process's children but ``others``)."""
    # Ctrl-C or SIGTERM of this process alone (not its group): else the pool renders every queued clip first,
    # and workers still rendering write into the staging folder while it is removed. Its worker table is
    # private (3.14 adds terminate_workers); a multiprocessing Pool's imap waits for ever on a dead worker.
    pool.shutdown(wait=False, cancel_futures=True)
    deadline = time.monotonic() + 10  # again until none is left: the pool may start one while it shuts down
    while (workers := [p for p in active_children() if p not in others]) and time.monotonic() < deadline:
        for proc in workers:
            proc.terminate()
        for proc in workers:
            proc.join(1)


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Inside the block SIGTERM (``timeout``, ``kill``, a scheduler's stop) ends the command as Ctrl-C does:
    a KeyboardInterrupt, on which the staging folder of this process is removed (``staged_folder``) and
    the command exits 130, not die at once leaving ``.OUT.PID.partial``. ``staging`` holds it, so every
    writer here has it. Only the default (die) is replaced: a handler the program set is its own."""
    main = threading.current_thread() is threading.main_thread()  # where signal handlers live
    if not main or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:  # SIGTERM ignored, or handled
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the clean-up short
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def write_xlsx(path: Path, header: list[str], rows: list[list[object]]) -> None:
    """An .xlsx file whose bytes depend only on its content (fixed document and zip timestamps)."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "annotation"
    ws.append(header)
    for r in rows:
        ws.append(r)
    fixed = datetime(2020, 1, 1)
    wb.properties.created = wb.properties.modified = fixed
    buf = io.BytesIO()
    wb.save(buf)
    with (
        zipfile.ZipFile(io.BytesIO(buf.getvalue())) as src,
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                # openpyxl stamps "modified" with the current time on save.
                text = data.decode()
                start = text.find("<dcterms:modified")
                end = text.find("</dcterms:modified>") + len("</dcterms:modified>")
                if start >= 0:
                    text = text[:start] + _FIXED_MODIFIED + text[end:]
                data = text.encode()
            dst.writestr(
                zipfile.ZipInfo(info.filename, date_time=(2020, 1, 1, 0, 0, 0)), data, zipfile.ZIP_DEFLATED
            )


def _folds(labels: np.ndarray, seed: int, k: int = NUM_FOLDS) -> np.ndarray:
    """Stratified fold index per item: each class dealt round-robin in a seeded random order."""
    rng = np.random.default_rng([seed, 99])
    fold = np.zeros(len(labels), dtype=np.int64)
    offset = 0
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        fold[idx] = (np.arange(len(idx)) + offset) % k
        offset += len(idx)
    return fold


@contextmanager
def staging(out: Path) -> Iterator[Path]:
    """A folder of this process beside ``out`` (``softfer.io.files.staged_folder``), renamed to ``out`` on
    success and removed on failure: nothing else is ever removed, but the staging folders of ``out`` that
    runs killed an hour or more ago left. ``out`` must be new or empty (``check_folder(staged=True)``)."""
    check_folder(out, staged=True)
    final = out.resolve()
    final.parent.mkdir(parents=True, exist_ok=True)
    with terminate_as_interrupt(), staged_folder(final) as tmp:  # SIGTERM removes it too, whoever calls
        yield tmp
        try:
            if final.is_dir() and not any(final.iterdir()):
                final.rmdir()
            tmp.rename(final)
        except OSError as exc:
            if final.exists():  # made (and filled) by another process since the check
                raise ValueError(f"{out}: another process wrote it meanwhile; it is left as it is") from exc
            raise


def generate_dfew(
    out: str | Path,
    *,
    clips: int = 1500,
    size: int = 112,
    seed: int = 0,
    workers: int = 0,
    progress=None,
    cfg: SynthConfig | None = None,
) -> list[ClipRecord]:
    """Write a synthetic set in the DFEW release layout (see docs/SYNTHETIC.md); returns the records."""
    if clips < NUM_FOLDS:
        raise ValueError(f"need at least {NUM_FOLDS} clips for 5 folds, got {clips}")
    out = Path(out)
    cfg = replace(cfg or SynthConfig(), size=size)
    with staging(out) as tmp:
        check_free_space(tmp, clips * cfg.min_frames, size, min(cfg.jpeg_quality), f"--clips {clips}")
        frames_dir = tmp / "Clip" / "clip_224x224"
        jobs = [(i, seed, cfg, str(frames_dir)) for i in range(1, clips + 1)]
        records = _run(_render_clip, jobs, workers, progress)
        votes = np.array([r.votes for r in records])
        single = np.array([is_single_labelled(v, cfg) for v in votes])
        majority = votes.argmax(axis=1)
        fold = _folds(np.where(single, majority, -1), seed)
        _write_dfew_splits(tmp / "EmoLabel_DataSplit", records, majority, single, fold)
        _write_dfew_annotation(tmp / "Annotation", records, majority, single)
        _write_dfew_truth(tmp, records, single, fold)
    return records


def _write_dfew_splits(
    folder: Path, records: list[ClipRecord], majority: np.ndarray, single: np.ndarray, fold: np.ndarray
) -> None:
    """DFEW's five train/test split lists of the single-labelled clips (labels 1-based)."""
    for k in range(NUM_FOLDS):
        test = [(r.index, majority[i] + 1) for i, r in enumerate(records) if single[i] and fold[i] == k]
        train = [(r.index, majority[i] + 1) for i, r in enumerate(records) if single[i] and fold[i] != k]
        write_csv(folder / "test(single-labeled)" / f"set_{k + 1}.csv", ["video_name", "label"], test)
        write_csv(folder / "train(single-labeled)" / f"set_{k + 1}.csv", ["video_name", "label"], train)


def _write_dfew_annotation(
    folder: Path, records: list[ClipRecord], majority: np.ndarray, single: np.ndarray
) -> None:
    """annotation.xlsx: per-clip vote counts, the majority label (0 when not single-labelled) and the flag."""
    folder.mkdir()
    header = ["order", "video_name", *DFEW_CLASSES, "label", "single_labeled"]
    rows = [
        [
            i + 1,
            f"{r.index:05d}",
            *map(int, r.votes),
            int(majority[i] + 1) if single[i] else 0,
            int(single[i]),
        ]
        for i, r in enumerate(records)
    ]
    write_xlsx(folder / "annotation.xlsx", header, rows)


def _write_dfew_truth(root: Path, records: list[ClipRecord], single: np.ndarray, fold: np.ndarray) -> None:
    """The generator's ground truth per clip (mixture, apex, valence/arousal, fold) and per frame."""
    gt_header = ["video_name", "primary", "primary_name", *(f"w_{c}" for c in DFEW_CLASSES)]
    gt_header += ["apex", "num_frames", "valence", "arousal", "single_labeled", "fold"]
    rows = (
        [f"{r.index:05d}", r.primary, DFEW_CLASSES[r.primary], *(f"{w:.4f}" for w in r.mixture)]
        + [f"{r.apex:.4f}", r.num_frames, *(f"{v:.4f}" for v in r.va), int(single[i]), int(fold[i]) + 1]
        for i, r in enumerate(records)
    )
    write_csv(root / GROUND_TRUTH, gt_header, rows)
    write_csv(
        root / FRAME_VA,
        ["video_name", "frame", "valence", "arousal"],
        (
            [f"{r.index:05d}", t + 1, f"{v:.4f}", f"{a:.4f}"]
            for r in records
            for t, (v, a) in enumerate(r.frame_va)
        ),
    )


def _affectnet_row(r: ClipRecord, code: int) -> list[object]:
    marks = ";".join(f"{v:.2f}" for v in r.extra["landmarks"].ravel())
    # AffectNet gives "uncertain" (9) and "no-face" (10) images no valence/arousal: -2 in both columns.
    va = ("-2", "-2") if code in (9, 10) else (f"{r.va[0]:.4f}", f"{r.va[1]:.4f}")
    return [r.extra["path"], *r.extra["box"], marks, code, *va]


def generate_affectnet(
    out: str | Path,
    *,
    images: int = 5000,
    size: int = 112,
    seed: int = 0,
    workers: int = 0,
    progress=None,
    non_class_rows: int = 0,
) -> list[ClipRecord]:
    """Write still images with AffectNet-style CSVs (training.csv / validation.csv).

    ``non_class_rows`` further images are appended to each list with codes 8, 9, 10 in turn (none,
    uncertain, no-face; 9 and 10 with valence/arousal -2), as AffectNet's own lists hold; their records
    carry the code in ``extra["code"]``.
    """
    out = Path(out)
    cfg = SynthConfig(
        classes=_AFFECTNET_SYNTH_CLASSES, priors=tuple(AFFECTNET_PRIORS), annotators=1, size=size
    )
    with staging(out) as tmp:
        total = images + 2 * non_class_rows
        check_free_space(tmp, total, size, min(cfg.jpeg_quality), f"--images {images}")
        jobs = [(i, seed, cfg, str(tmp / "Manually_Annotated_Images")) for i in range(total)]
        records = _run(_render_image, jobs, workers, progress)
        labels = np.array([int(r.votes.argmax()) for r in records[:images]])  # one annotator, as in AffectNet
        is_val = _folds(labels, seed, k=10) == 0
        extra = records[images:]
        for j, r in enumerate(extra):
            r.extra["code"] = 8 + j % 3
        header = list(AFFECTNET_COLUMNS)  # the reader's columns, in AffectNet's order
        lists = (
            ("training.csv", ~is_val, extra[:non_class_rows]),
            ("validation.csv", is_val, extra[non_class_rows:]),
        )
        for name, mask, others in lists:
            rows = [
                _affectnet_row(r, int(lab))
                for r, lab, keep in zip(records[:images], labels, mask, strict=True)
                if keep
            ]
            rows += [_affectnet_row(r, r.extra["code"]) for r in others]
            write_csv(tmp / "Manually_Annotated_file_lists" / name, header, rows)
        gt_header = ["subDirectory_filePath", "primary", *(f"w_{c}" for c in AFFECTNET_CLASSES), "apex"]
        write_csv(
            tmp / GROUND_TRUTH,
            gt_header,
            (
                [r.extra["path"], r.primary, *(f"{w:.4f}" for w in r.mixture), f"{r.apex:.4f}"]
                for r in records
            ),
        )
    return records
