"""The files a run leaves: test-set evaluation with its metrics, predictions and figures, and model.pt."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from softfer.config import ExperimentConfig
from softfer.data.datasets import collate_items
from softfer.data.formats import FORMATS
from softfer.data.formats.fer2013_faces import first_face_cache_advice
from softfer.engine.data import DataBundle, trained_on
from softfer.engine.evaluate import (
    PREDICTIONS_DIGEST,
    compute_metrics,
    predict,
    unreadable_record,
    write_metrics,
    write_predictions,
)
from softfer.engine.resume import run_fingerprint
from softfer.inference.checkpoint import save_checkpoint
from softfer.io.threads import loader_workers
from softfer.metrics import CLEAR_THRESHOLD
from softfer.plots import figures as plots

log = logging.getLogger(__name__)
# What ``write_run_outputs`` writes into a run or eval folder (curves.png only after training): the files
# ``softfer eval`` and ``softfer train`` refuse to replace without --overwrite (softfer.io.outputs).
RESULT_FILES = (
    "metrics.json",
    "predictions.csv",
    "confusion_matrix.png",
    "reliability.png",
    "per_class_recall.png",
    "curves.png",
)
# What a run writes beside RESULT_FILES, and what softfer's other commands write into a run folder under
# their default names: ``eval`` (``eval_folder``), ``analyze`` (analysis/), ``calibrate``
# (<checkpoint>_calibrated.pt and its .json), ``report`` (report.html). They describe the run in the folder,
# so a new run that replaces it (``--overwrite``, a study's plan "overwrite") removes them with it
# (``remove_earlier_run``). config.yaml and environment.json are not listed: every run writes them anew.
RUN_ARTEFACTS = (
    "log.csv",
    "last.pt",
    "best.pt",
    "model.pt",
    *RESULT_FILES,
    *(f"{stem}_calibrated{ext}" for stem in ("model", "best", "last") for ext in (".pt", ".json")),
    "report.html",
)
# What `softfer analyze` writes into RUN/analysis (softfer.analysis.report): named here, on the engine's
# floor, so that a new run replacing an earlier one removes them (an analysis is replaced only with
# --overwrite).
ANALYSIS_FILES = (
    "confusion_matrix.png",
    "reliability.png",
    "coexisting_emotions.png",
    "gradcam.png",
    "analysis.json",
    "analysis.md",
)
SHOWN_REMOVED = 6  # files named in the warning of remove_earlier_run
TENSORBOARD_EVENTS = "events.out.tfevents.*"  # SummaryWriter's file names, in RUN/tensorboard/


def eval_loader(ds: Dataset, cfg: ExperimentConfig, rank: int = 0, world: int = 1) -> DataLoader:
    """This rank's share (every ``world``-th item) of ``ds`` in order; ``predict`` gathers the shares."""
    idx = list(range(len(ds)))[rank::world]  # type: ignore[arg-type]
    return DataLoader(
        ds,
        batch_size=max(cfg.optim.batch_size, 8),
        sampler=idx,
        num_workers=loader_workers(cfg.data.num_workers),
        collate_fn=collate_items,
    )


def evaluate_and_write(
    model: torch.nn.Module,
    data: DataBundle,
    cfg: ExperimentConfig,
    run_dir: Path,
    device: torch.device,
    rank: int = 0,
    world: int = 1,
    history: list[dict] | None = None,
    *,
    save_model: bool = True,
    cut_short: dict | None = None,
    notes: dict[str, Any] | None = None,
    temperature: float = 1.0,
) -> dict[str, Any]:
    """Test-set predictions and metrics; rank 0 writes model.pt, metrics, predictions and figures.

    ``cut_short`` (e.g. {"max_steps": 2}) is recorded in metrics.json when training stopped early.
    Test items whose media cannot be read are left out of every metric and listed in metrics.json as
    ``skipped`` ({"count", "ids"}); more than ``data.max_skip`` of them fail the evaluation. What the
    dataset readers left out of each split is recorded as ``data_reading`` (``reading_record``), what the
    run came from as ``fingerprint`` (``engine.resume.run_fingerprint``), and ``notes`` entries as given.
    ``temperature``: a calibrated model's (``softfer.inference.calibration``) divides the logits.
    Every rank must call this (the predictions are gathered); ranks other than 0 return {}.
    """
    cap = data.test.max_unreadable
    loader = eval_loader(data.test, cfg, rank, world)
    pred = predict(model, loader, device, amp=cfg.run.amp, max_unreadable=cap, temperature=temperature)
    if rank != 0:
        return {}
    ids = [r.id for r in data.test.records]
    skipped = unreadable_record(
        pred["unreadable"], ids, cap, f"{cfg.data.test_format or cfg.data.format} test"
    )
    if skipped["count"]:
        left_out = [data.test.records[int(i)] for i in sorted(set(pred["unreadable"].tolist()))]
        log.warning(
            "%d unreadable test items left out of the metrics: %s%s",
            skipped["count"],
            ", ".join(skipped["ids"]),
            first_face_cache_advice(left_out),  # the folder to delete where they are softfer's cache
        )
    if save_model:
        write_model(model, data, cfg, run_dir)
    # what the readers left out before any item was loaded (missing media, rows dropped by rule)
    extra: dict[str, Any] = {"skipped": skipped, "data_reading": data.reading, **(notes or {})}
    extra["fingerprint"] = run_fingerprint(cfg, data.fingerprint)
    if cut_short:
        extra["cut_short"] = cut_short
    return write_run_outputs(
        run_dir,
        pred,
        ids,
        data.classes,
        history or [],
        extra=extra,
        name=cfg.name,
        clear_threshold=cfg.data.clear_threshold,
    )


def write_model(model: torch.nn.Module, data: DataBundle, cfg: ExperimentConfig, run_dir: Path) -> None:
    """RUN/model.pt: the weights, the config, the class names, what the model was trained on, the run's
    fingerprint and digests of its training items (``softfer.data.fingerprint.training_items``)."""
    save_checkpoint(
        {
            "model": model.state_dict(),
            "config": cfg.model_dump(mode="json"),
            "classes": list(data.classes),
            "trained_on": trained_on(cfg, data),
            "fingerprint": run_fingerprint(cfg, data.fingerprint),
            "training_items": data.training_items,
        },
        run_dir / "model.pt",
    )


def write_run_outputs(
    run_dir: Path,
    pred: dict[str, np.ndarray],
    ids: list[str],
    classes: tuple[str, ...],
    history: list[dict],
    *,
    extra: dict[str, Any] | None = None,
    name: str = "",
    clear_threshold: float = CLEAR_THRESHOLD,
) -> dict[str, Any]:
    """metrics.json, predictions.csv, confusion/reliability/recall figures and training curves.

    ``extra`` entries (e.g. how a run was cut short) are added to metrics.json. ``name`` (the run's
    name; default: the folder's) heads the confusion matrix and the recall figure. ``clear_threshold``
    splits the test clips into clear and ambiguous ones (``metrics.clear_vs_ambiguous``).
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    report = compute_metrics(pred, classes, clear_threshold=clear_threshold)
    report["history"] = history
    report.update(extra or {})
    # predictions.csv first: metrics.json marks a finished run and records the digest of the file written
    # with it (``PREDICTIONS_DIGEST``), which ties that file to it
    report[PREDICTIONS_DIGEST] = write_predictions(run_dir / "predictions.csv", pred, ids, classes)
    write_metrics(run_dir / "metrics.json", report)
    keep = pred["label"] >= 0
    name = name or run_dir.name
    cm = np.array(report["confusion_matrix"])
    plots.confusion_matrix_png(cm, classes, run_dir / "confusion_matrix.png", run=name)
    plots.reliability_png(pred["probs"][keep], pred["label"][keep], run_dir / "reliability.png")
    plots.recall_png(
        report["per_class_recall"],
        run_dir / "per_class_recall.png",
        f"{name}: per-class recall",
        uar=report["uar"],
        support=cm.sum(axis=1).astype(int).tolist(),
    )
    if history:
        plots.curves_png(history, run_dir / "curves.png")
    return report


def eval_folder(fmt: str, checkpoint: str | Path) -> str:
    """`softfer eval`'s default folder name for ``checkpoint`` on ``fmt`` data: eval_<format> for model.pt
    (and model.safetensors), eval_<format>_<stem> for any other (eval_dfew_model_calibrated), so that the
    calibrated copy's results do not land on the model's."""
    stem = Path(checkpoint).stem
    return f"eval_{fmt}" if stem == "model" else f"eval_{fmt}_{stem}"


def earlier_run_files(run_dir: Path) -> list[Path]:
    """The files of an earlier run in ``run_dir`` that a new run would leave standing beside its own:
    ``RUN_ARTEFACTS``, the TensorBoard event files in tensorboard/, ``ANALYSIS_FILES`` in analysis/ and
    ``RESULT_FILES`` in the ``eval_folder`` of every checkpoint in ``RUN_ARTEFACTS`` on every format
    softfer reads. Nothing else in the folder."""
    found = [run_dir / n for n in RUN_ARTEFACTS]
    found += sorted((run_dir / "tensorboard").glob(TENSORBOARD_EVENTS))
    found += [run_dir / "analysis" / n for n in ANALYSIS_FILES]
    checkpoints = [n for n in RUN_ARTEFACTS if n.endswith(".pt")]
    evals = {eval_folder(fmt, c) for fmt in FORMATS for c in checkpoints}
    found += [run_dir / e / n for e in sorted(evals) for n in RESULT_FILES]
    # only in the run's own folders: a linked analysis/ or eval folder holds someone else's files
    real = run_dir.resolve()
    own = {run_dir / d for d in ("tensorboard", "analysis", *evals) if (run_dir / d).resolve() == real / d}
    return [p for p in found if (p.parent == run_dir or p.parent in own) and (p.is_file() or p.is_symlink())]


def remove_earlier_run(run_dir: Path, stale: list[Path]) -> list[Path]:
    """Remove ``stale`` (``earlier_run_files(run_dir)``, as the caller checked it against the run's
    inputs) and the softfer folders that this leaves empty; one warning names what was removed. Returns
    the removed files.

    Only for a new run that may replace the one there (``--overwrite``, a study's plan): a model.pt,
    best.pt or analysis left standing would describe the earlier run under the new run's config.
    """
    stale = [p for p in stale if p.is_file() or p.is_symlink()]  # gone since the check: nothing to remove
    for path in stale:
        path.unlink()
    for folder in {p.parent for p in stale} - {run_dir}:
        if not any(folder.iterdir()):  # a folder holding other files than softfer's stays
            folder.rmdir()
    if stale:
        names = [str(p.relative_to(run_dir)) for p in stale]
        # the first few name what it was (a run, an evaluation); a long list repeated per run of a study
        # (reproduce --smoke again, say) would hide the other messages
        shown = ", ".join(names[:SHOWN_REMOVED]) + (
            f" and {len(names) - SHOWN_REMOVED} more" if len(names) > SHOWN_REMOVED else ""
        )
        log.warning(
            "%s: a new run replaces the earlier one there; removed its %d files: %s",
            run_dir,
            len(names),
            shown,
        )
    return stale
