"""The comparison figure: each (fold, seed) as paired points joined by a line, means with intervals and
the chance level."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from softfer.io.files import atomic_write

LABELS = {"uar": "UAR", "war": "WAR", "macro_f1": "macro-F1", "nll": "NLL", "ece": "ECE", "aurc": "AURC"}


def paired_runs_figure(
    summary: dict[str, Any], rows: Sequence[dict[str, Any]], metrics: Sequence[str] = ("uar", "war")
) -> Figure:
    """One panel per metric: a grey line per (fold, seed) through the configs' values, each config's mean
    with its confidence interval, the chance level (dashed) where the metric has one.

    Args:
        summary: ``summarize_comparison``'s result (configs, intervals, chance levels).
        rows: the per-run rows (config, fold, seed and metric values).
        metrics: the metrics to draw (those missing from ``summary`` are left out).
    """
    names = summary["configs"]
    shown = [m for m in metrics if m in summary["metrics"]]
    fig, axes = plt.subplots(1, len(shown), figsize=(1.6 + 1.5 * len(names) * len(shown), 3.8), squeeze=False)
    x = np.arange(len(names))
    for ax, metric in zip(axes[0], shown, strict=True):
        stats = summary["metrics"][metric]
        for j, (fold, seed) in enumerate(summary["pairs_of_runs"]):
            y = [_value(rows, n, fold, seed, metric) for n in names]
            label = "one (fold, seed)" if j == 0 else None
            ax.plot(x, y, color="0.6", lw=0.8, marker="o", ms=3, zorder=1, label=label, gid="pair")
        for i, n in enumerate(names):
            c = stats["per_config"][n]
            low, high = c["ci_low"], c["ci_high"]
            if low is not None and high is not None:
                ax.errorbar(
                    i,
                    c["mean"],
                    yerr=[[c["mean"] - low], [high - c["mean"]]],
                    fmt="none",
                    ecolor="k",
                    capsize=6,
                    lw=1.5,
                    zorder=3,
                )
            ax.plot(i, c["mean"], marker="D", color="tab:blue", ms=7, zorder=4, gid="mean")
            ax.annotate(
                f"{c['mean']:.3f}", (i, c["mean"]), xytext=(8, 0), textcoords="offset points", va="center"
            )
        chance = summary["chance"].get(metric)
        if chance is not None:
            ax.axhline(chance, color="tab:red", ls="--", lw=1, label=f"chance {chance:.3f}")
        ax.legend(loc="best", fontsize=8)
        ax.set_xticks(x, names)
        ax.set_xlim(-0.5, len(names) - 0.5)
        ax.set_ylabel(LABELS.get(metric, metric))
        level = round(100 * summary["confidence"])
        ax.set_title(f"{LABELS.get(metric, metric)}: mean, {level}% CI", fontsize=10)
    fig.suptitle(f"{len(summary['pairs_of_runs'])} paired runs per config ({summary['grid']})", fontsize=9)
    fig.tight_layout()
    return fig


def _value(rows: Sequence[dict[str, Any]], name: str, fold: int, seed: int, metric: str) -> float:
    for r in rows:
        if r["config"] == name and r["fold"] == fold and r["seed"] == seed:
            return np.nan if r.get(metric) is None else float(r[metric])
    return np.nan


def paired_runs_png(
    summary: dict[str, Any],
    rows: Sequence[dict[str, Any]],
    path: str | Path,
    metrics: Sequence[str] = ("uar", "war"),
) -> None:
    """Save ``paired_runs_figure`` as a PNG (atomically)."""
    fig = paired_runs_figure(summary, rows, metrics)
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png", dpi=120)
    plt.close(fig)
