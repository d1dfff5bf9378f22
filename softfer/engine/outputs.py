"""The files every run writes next to its resolved config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from softfer.engine.evaluate import compute_metrics, write_metrics, write_predictions
from softfer.plots import figures as plots


def write_run_outputs(
    run_dir: Path,
    pred: dict[str, np.ndarray],
    ids: list[str],
    classes: tuple[str, ...],
    history: list[dict],
    *,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """metrics.json, predictions.csv, confusion/reliability/recall figures and training curves.

    ``extra`` entries (e.g. how a run was cut short) are added to metrics.json.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    report = compute_metrics(pred, classes)
    report["history"] = history
    report.update(extra or {})
    write_metrics(run_dir / "metrics.json", report)
    write_predictions(run_dir / "predictions.csv", pred, ids, classes)
    keep = pred["label"] >= 0
    plots.confusion_matrix_png(
        np.array(report["confusion_matrix"]), classes, run_dir / "confusion_matrix.png"
    )
    plots.reliability_png(pred["probs"][keep], pred["label"][keep], run_dir / "reliability.png")
    plots.recall_png(report["per_class_recall"], run_dir / "per_class_recall.png")
    if history:
        plots.curves_png(history, run_dir / "curves.png")
    return report
