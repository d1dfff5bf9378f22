"""Figures: confusion matrix (MIDAS Fig. 6), coexisting emotions (Fig. 5), reliability diagram,
per-class recall, training curves, and a comparison of regimes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from softfer import metrics
from softfer.io.files import atomic_write


def _save(fig, path: str | Path) -> None:
    fig.tight_layout()
    with atomic_write(path, "wb") as f:
        fig.savefig(f, dpi=120, format="png")
    plt.close(fig)


def _heatmap(ax, matrix: np.ndarray, classes: Sequence[str], fmt: str, xlabel: str, ylabel: str) -> None:
    ax.imshow(matrix, cmap="Blues", vmin=0, vmax=max(float(np.nanmax(matrix)), 1e-9))
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    top = np.nanmax(matrix) if matrix.size else 1.0
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            v = matrix[i, j]
            if not np.isnan(v):
                ax.text(
                    j,
                    i,
                    format(v, fmt),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if v > 0.6 * top else "black",
                )


def confusion_matrix_png(cm: np.ndarray, classes: Sequence[str], path: str | Path, title: str = "") -> None:
    """Row-normalised confusion matrix (recall per true class), as in MIDAS Fig. 6."""
    cm = np.asarray(cm, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        norm = cm / cm.sum(axis=1, keepdims=True)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    _heatmap(ax, norm, classes, ".2f", "predicted", "true")
    ax.set_title(title or "confusion matrix (row-normalised)")
    _save(fig, path)


def coexistence_png(
    soft: np.ndarray, hard: np.ndarray, classes: Sequence[str], path: str | Path
) -> np.ndarray:
    """Mean soft label of the clips of each majority class (MIDAS Fig. 5); returns the matrix."""
    k = len(classes)
    matrix = np.full((k, k), np.nan)
    for c in range(k):
        if (hard == c).any():
            matrix[c] = soft[hard == c].mean(axis=0)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    _heatmap(ax, matrix, classes, ".2f", "co-voted emotion", "majority emotion")
    ax.set_title("coexisting emotions (mean soft label per class)")
    _save(fig, path)
    return matrix


def reliability_png(probs: np.ndarray, labels: np.ndarray, path: str | Path, n_bins: int = 15) -> float:
    """Reliability diagram with the ECE in the title; returns the ECE.

    Each non-empty bin gets a solid accuracy bar (its top is the bin's accuracy, whatever the confidence),
    an unfilled hatched bar spanning accuracy to mean confidence (above the accuracy bar when over-confident,
    inside it when under-confident, so it never hides where accuracy ends), and its sample count. Empty
    bins draw nothing.
    """
    bins = metrics.reliability_bins(probs, labels, n_bins=n_bins)
    ece = metrics.ece(probs, labels, n_bins=n_bins)
    centres = (bins["edges"][:-1] + bins["edges"][1:]) / 2
    width = 0.95 / n_bins
    full = bins["count"] > 0
    x, acc, conf, count = centres[full], bins["accuracy"][full], bins["confidence"][full], bins["count"][full]
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.bar(x, acc, width=width, color="tab:blue", edgecolor="navy", lw=0.6, label="accuracy", zorder=2)
    for over, colour, name in ((True, "tab:red", "over-confident"), (False, "tab:purple", "under-confident")):
        sel = (conf > acc) if over else (conf < acc)
        if not sel.any():
            continue
        ax.bar(
            x[sel],
            np.abs(conf - acc)[sel],
            bottom=np.minimum(acc, conf)[sel],
            width=width,
            facecolor="none",
            edgecolor=colour,
            hatch="///" if over else "\\\\\\",
            lw=1.0,
            label=f"gap to confidence ({name})",
            zorder=3,
        )
    for xi, top, n in zip(x, np.maximum(acc, conf), count, strict=True):
        ax.text(xi, min(top + 0.015, 0.98), str(int(n)), ha="center", va="bottom", fontsize=6, rotation=90)
    ax.plot([0, 1], [0, 1], "k--", lw=1, zorder=1)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("confidence (numbers: samples per bin)")
    ax.set_ylabel("accuracy")
    ax.set_title(f"reliability (ECE {ece:.3f}, {n_bins} bins)")
    ax.legend(loc="upper left", fontsize=7)
    _save(fig, path)
    return ece


def recall_png(recall: dict[str, float | None], path: str | Path, title: str = "per-class recall") -> None:
    """Bar chart of each class's recall."""
    names = list(recall)
    values = [np.nan if recall[n] is None else recall[n] for n in names]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar(names, values, color="tab:green")
    ax.set_ylim(0, 1)
    ax.set_ylabel("recall")
    ax.set_title(title)
    ax.tick_params(axis="x", rotation=45)
    _save(fig, path)


def curves_png(history: list[dict[str, float]], path: str | Path) -> None:
    """Training loss (and validation UAR when present) per epoch."""
    epochs = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(epochs, [h["train_loss"] for h in history], label="train loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    if any("val_uar" in h for h in history):
        ax2 = ax.twinx()
        ax2.plot(epochs, [h.get("val_uar", np.nan) for h in history], color="tab:orange", label="val UAR")
        ax2.set_ylabel("val UAR")
    ax.set_title("training")
    _save(fig, path)


def compare_png(
    results: dict[str, dict[str, float]], path: str | Path, keys: Sequence[str] = ("uar", "war")
) -> None:
    """Grouped bars of the given metrics for several regimes."""
    names = list(results)
    x = np.arange(len(names))
    width = 0.8 / len(keys)
    fig, ax = plt.subplots(figsize=(1.8 + 1.4 * len(names), 3.5))
    for i, k in enumerate(keys):
        ax.bar(x + i * width, [results[n][k] for n in names], width, label=k.upper())
    ax.set_xticks(x + width * (len(keys) - 1) / 2, names)
    ax.set_ylim(0, 1)
    ax.legend()
    ax.set_title("held-out clips")
    _save(fig, path)
