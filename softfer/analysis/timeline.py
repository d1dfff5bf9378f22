"""The emotion timeline figure of `softfer predict`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def timeline_png(result: dict[str, Any], classes: Sequence[str], path: str | Path) -> None:
    """Stacked per-window probabilities over time (window centres); grey where no face was found."""
    wins = result["windows"]
    centres = np.array([(w["start"] + w["end"]) / 2 for w in wins])
    probs = np.array([w["probs"] if w["probs"] else [np.nan] * len(classes) for w in wins], dtype=np.float64)
    fig, ax = plt.subplots(figsize=(9, 3.2))
    if len(wins) > 1:
        # Each window's distribution is drawn at its centre; the first and last are held to the video's
        # ends so the timeline spans the whole video.
        end = max(result.get("duration", wins[-1]["end"]), wins[-1]["end"])
        xs = np.concatenate([[0.0], centres, [end]])
        ys = np.nan_to_num(np.vstack([probs[:1], probs, probs[-1:]]))
        ax.stackplot(xs, ys.T, labels=list(classes), alpha=0.85)
        for w in wins:
            if w["probs"] is None:
                ax.axvspan(w["start"], w["end"], color="0.85", zorder=0)
        ax.set_xlim(0, max(result.get("duration", centres[-1]), 1e-3))
        ax.set_xlabel("time (s)")
    else:
        ax.bar(list(classes), np.nan_to_num(probs[0]))
    ax.set_ylim(0, 1)
    ax.set_ylabel("probability")
    ax.set_title(Path(result.get("media", "")).name, fontsize=9)
    if len(wins) > 1:
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)
