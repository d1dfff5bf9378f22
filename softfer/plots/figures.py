"""Figures: confusion matrix (MIDAS Fig. 6), coexisting emotions (Fig. 5), reliability diagram,
per-class recall and training curves (the comparison of configs over folds and seeds is in
``softfer.plots.compare``).

Each figure has a ``*_figure`` function that builds and returns the matplotlib Figure (what the tests
inspect) and a ``*_png`` wrapper that saves it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.ticker import MaxNLocator

from softfer import metrics
from softfer.io.files import atomic_write

MISSING_COLOUR = "0.85"  # cells with no colour of their own: a class absent from the rows, a masked diagonal


def _save(fig, path: str | Path) -> None:
    fig.tight_layout()
    with atomic_write(path, "wb") as f:
        fig.savefig(f, dpi=120, format="png")
    plt.close(fig)


def with_support(classes: Sequence[str], support: Sequence[float]) -> list[str]:
    """Row labels that carry each row's sample count: ``"angry (n=123)"``."""
    return [f"{c} (n={int(n)})" for c, n in zip(classes, support, strict=True)]


def _heatmap(
    ax,
    shown: np.ma.MaskedArray,
    values: np.ndarray,
    classes: Sequence[str],
    rows: Sequence[str],
    *,
    cmap: str,
    vmax: float | None = None,
) -> AxesImage:
    """``shown`` gives the colours (masked cells in grey) up to ``vmax`` (default: its largest value),
    ``values`` the numbers written in the cells."""
    colours = plt.get_cmap(cmap).with_extremes(bad=MISSING_COLOUR)
    top = vmax if vmax is not None else float(shown.max()) if shown.count() else 1.0
    image = ax.imshow(shown, cmap=colours, vmin=0, vmax=max(top, 1e-9))
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    for i, j in zip(*np.nonzero(~np.isnan(values)), strict=True):
        dark = not np.ma.is_masked(shown[i, j]) and shown[i, j] > 0.6 * top
        ax.text(
            j,
            i,
            f"{values[i, j]:.2f}",
            ha="center",
            va="center",
            fontsize=7,
            color="white" if dark else "black",
        )
    return image


def confusion_figure(cm: np.ndarray, classes: Sequence[str], run: str = "") -> Figure:
    """Confusion matrix with rows normalised: cell (i, j) is the share of true class i predicted as j, so
    the diagonal is each class's recall. Colours span 0..1 whatever the run (figures of two runs compare);
    each row's label gives its support (clips of that true class); a class absent from the data is a grey
    row with n=0."""
    cm = np.asarray(cm, dtype=np.float64)
    support = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        norm = cm / support[:, None]
    fig, ax = plt.subplots(figsize=(6.4, 5.2))
    rows = with_support(classes, support)
    image = _heatmap(ax, np.ma.masked_invalid(norm), norm, classes, rows, cmap="Blues", vmax=1.0)
    fig.colorbar(image, ax=ax, label="share of the true class (row-normalised)")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true (support)")
    what = f"confusion matrix, rows normalised ({int(support.sum())} clips)"
    ax.set_title(f"{run}\n{what}" if run else what, fontsize=9)
    return fig


def confusion_matrix_png(cm: np.ndarray, classes: Sequence[str], path: str | Path, run: str = "") -> None:
    """Save ``confusion_figure`` (MIDAS Fig. 6) with the run's name in the title."""
    _save(confusion_figure(cm, classes, run), path)


def coexistence_matrix(soft: np.ndarray, hard: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(K, K) mean soft label of the clips of each majority class (NaN rows for absent classes), counts."""
    matrix = np.full((k, k), np.nan)
    counts = np.bincount(np.asarray(hard, dtype=np.int64), minlength=k)[:k]
    for c in np.flatnonzero(counts):
        matrix[c] = soft[hard == c].mean(axis=0)
    return matrix, counts


def coexistence_figure(matrix: np.ndarray, classes: Sequence[str], counts: Sequence[int]) -> Figure:
    """The coexisting-emotion heatmap (MIDAS Fig. 5). The diagonal (the majority emotion's own share, far
    larger than the rest) is written but not coloured, so the colour scale spans the off-diagonal shares
    only and their structure stays visible."""
    k = len(classes)
    shown = np.ma.masked_where(np.eye(k, dtype=bool) | np.isnan(matrix), matrix)
    fig, ax = plt.subplots(figsize=(6.4, 5.2))
    image = _heatmap(ax, shown, matrix, classes, with_support(classes, counts), cmap="Purples")
    fig.colorbar(image, ax=ax, label="mean share of a co-voted emotion (diagonal in grey, not to scale)")
    ax.set_xlabel("co-voted emotion")
    ax.set_ylabel("majority emotion (clips)")
    ax.set_title("coexisting emotions: mean soft label per majority class", fontsize=9)
    return fig


def coexistence_png(
    soft: np.ndarray, hard: np.ndarray, classes: Sequence[str], path: str | Path
) -> np.ndarray:
    """Save ``coexistence_figure`` of the soft labels grouped by majority class; returns the matrix."""
    matrix, counts = coexistence_matrix(soft, hard, len(classes))
    _save(coexistence_figure(matrix, classes, counts), path)
    return matrix


def reliability_figure(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> tuple[Figure, float]:
    """Reliability diagram with the ECE in the title; returns it and the ECE.

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
    return fig, ece


def reliability_png(probs: np.ndarray, labels: np.ndarray, path: str | Path, n_bins: int = 15) -> float:
    """Save ``reliability_figure``; returns the ECE."""
    fig, ece = reliability_figure(probs, labels, n_bins)
    _save(fig, path)
    return ece


def recall_figure(
    recall: dict[str, float | None],
    title: str = "per-class recall",
    *,
    uar: float | None = None,
    support: Sequence[int] | None = None,
) -> Figure:
    """Bars of each class's recall with their values, the UAR and chance (1/K) as lines.

    A class absent from the test set (recall None or NaN) has no bar but the word "absent", so it cannot
    be read as a recall of 0. ``uar`` defaults to the mean recall of the present classes (``metrics.uar``);
    ``support`` (clips per class) is added to the class names.
    """
    names = list(recall)
    k = len(names)
    values = np.array([np.nan if recall[n] is None else float(recall[n]) for n in names])
    present = np.flatnonzero(~np.isnan(values))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.75 * k + 2), 3.8))
    bars = ax.bar(present, values[present], color="tab:green", label="recall")
    ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
    for i in np.flatnonzero(np.isnan(values)):
        ax.text(
            i,
            0.03,
            "absent",
            rotation=90,
            ha="center",
            va="bottom",
            color="0.3",
            style="italic",
            zorder=4,  # over the UAR and chance lines
            bbox={"facecolor": "white", "edgecolor": "0.6", "boxstyle": "round"},
        )
    if uar is None and present.size:
        uar = float(values[present].mean())
    if uar is not None:
        ax.axhline(uar, color="tab:blue", lw=1.2, label=f"UAR {uar:.3f}")
    ax.axhline(1 / k, color="0.3", ls="--", lw=1, label=f"chance 1/{k} = {1 / k:.3f}")
    ax.set_xticks(
        range(k), names if support is None else with_support(names, support), rotation=45, ha="right"
    )
    ax.set_xlim(-0.6, k - 0.4)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("recall")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7)  # outside: no bar hidden
    return fig


def recall_png(
    recall: dict[str, float | None],
    path: str | Path,
    title: str = "per-class recall",
    *,
    uar: float | None = None,
    support: Sequence[int] | None = None,
) -> None:
    """Save ``recall_figure``."""
    _save(recall_figure(recall, title, uar=uar, support=support), path)


def curves_figure(history: list[dict[str, float]]) -> Figure:
    """Training loss and validation UAR (right axis, when validated) per epoch, and below them the learning
    rate each epoch ended with (when the history has it); integer epochs, every line in a legend."""
    epochs = [int(h["epoch"]) for h in history]
    has_lr = any("lr" in h for h in history)
    fig, axes = plt.subplots(
        2 if has_lr else 1, 1, sharex=True, figsize=(5.5, 5 if has_lr else 3.5), squeeze=False
    )
    ax = axes[0][0]
    lines = ax.plot(
        epochs, [h.get("train_loss", np.nan) for h in history], marker="o", ms=3, label="train loss"
    )
    ax.set_ylabel("loss")
    if any("val_uar" in h for h in history):
        ax2 = ax.twinx()
        uar = [h.get("val_uar", np.nan) for h in history]
        lines += ax2.plot(epochs, uar, color="tab:orange", marker="o", ms=3, label="val UAR")
        ax2.set_ylabel("val UAR")
        ax2.set_ylim(0, 1)
    ax.legend(lines, [line.get_label() for line in lines], fontsize=7)
    ax.set_title("training")
    if has_lr:
        lax = axes[1][0]
        lr = [h.get("lr", np.nan) for h in history]
        lax.plot(epochs, lr, color="tab:purple", marker="o", ms=3, label="learning rate (end of epoch)")
        lax.set_ylabel("learning rate")
        lax.legend(fontsize=7)
    for row in axes:
        row[0].xaxis.set_major_locator(MaxNLocator(integer=True))
        if len(epochs) < 3:  # around a single point the locator falls back to fractional ticks
            row[0].set_xlim(min(epochs) - 0.5, max(epochs) + 0.5)
            row[0].set_xticks(list(epochs))
    axes[-1][0].set_xlabel("epoch")
    return fig


def curves_png(history: list[dict[str, float]], path: str | Path) -> None:
    """Save ``curves_figure``."""
    _save(curves_figure(history), path)
