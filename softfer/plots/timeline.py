"""The emotion timeline figure of `softfer predict`.

Each window's distribution is drawn at the window's centre and holds the share of the time axis closest to
that centre (half-way to the neighbouring centres; the first and last reach the video's ends). Windows
without a face were not classified: their share is left empty and marked "no face", never drawn as zeros.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

# Figures are built with matplotlib's object API, not pyplot: no global figure registry to close, no
# backend to choose, and `predict` does not pay pyplot's import (0.3 s) for its timeline.
from matplotlib.figure import Figure

from softfer.io.files import atomic_write

NO_FACE_LABEL = "no face (window not classified)"


def _runs(flags: np.ndarray) -> list[tuple[int, int, bool]]:
    """Maximal runs ``(first, stop, value)`` of equal values of a boolean array."""
    cuts = np.flatnonzero(np.diff(flags.astype(np.int8))) + 1
    bounds = [0, *cuts.tolist(), len(flags)]
    return [(a, b, bool(flags[a])) for a, b in pairwise(bounds)]


def timeline_series(
    centres: np.ndarray, probs: np.ndarray, end: float
) -> tuple[np.ndarray, np.ndarray, list[tuple[float, float]]]:
    """The drawn time axis, the drawn (T, K) probabilities with NaN rows at gaps, and the no-face spans.

    Args:
        centres: (N,) window centres in seconds, increasing.
        probs: (N, K) window distributions; a row of NaN for a window without a face.
        end: The video's end in seconds.

    Returns:
        ``xs``, ``ys`` for a stack plot (each run of face windows held to its share's edges, runs separated
        by a NaN row so nothing is drawn between them) and the ``(start, end)`` of every no-face share.
    """
    has = ~np.isnan(probs).any(axis=1)
    edges = np.concatenate([[0.0], (centres[:-1] + centres[1:]) / 2, [end]])  # window i owns edges[i:i+2]
    xs: list[float] = []
    ys: list[np.ndarray] = []
    gaps: list[tuple[float, float]] = []
    gap_row = np.full(probs.shape[1], np.nan)
    for a, b, face in _runs(has):
        if not face:
            gaps.append((float(edges[a]), float(edges[b])))
            xs.append(float((edges[a] + edges[b]) / 2))
            ys.append(gap_row)
            continue
        xs += [float(edges[a]), *centres[a:b].tolist(), float(edges[b])]
        ys += [probs[a], *probs[a:b], probs[b - 1]]
    return np.asarray(xs), np.vstack(ys), gaps


def _draw_stack(
    ax, wins: list[dict[str, Any]], probs: np.ndarray, classes: Sequence[str], end: float
) -> None:
    centres = np.array([(w["start"] + w["end"]) / 2 for w in wins])
    xs, ys, gaps = timeline_series(centres, probs, end)
    if not np.isnan(ys).all():
        ax.stackplot(xs, ys.T, labels=list(classes), alpha=0.85)
    for i, (a, b) in enumerate(gaps):
        ax.axvspan(
            a,
            b,
            facecolor="0.92",
            edgecolor="0.6",
            hatch="//",
            lw=0,
            zorder=0,
            label=NO_FACE_LABEL if i == 0 else None,
        )
    ax.set_xlim(0, max(end, 1e-3))
    ax.set_xlabel("time (s)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7)


def timeline_figure(result: dict[str, Any], classes: Sequence[str]) -> Figure:
    """The timeline of a `predict` result: stacked per-window probabilities over time, gaps where no face.

    A single window (a photo or a short video) is drawn as a bar chart, or as a "no face found" note.
    """
    wins = result["windows"]
    probs = np.array([w["probs"] if w["probs"] else [np.nan] * len(classes) for w in wins], dtype=np.float64)
    fig = Figure(figsize=(9, 3.2))
    ax = fig.subplots()
    if len(wins) > 1:
        end = max(result.get("duration", wins[-1]["end"]), wins[-1]["end"])
        _draw_stack(ax, wins, probs, classes, end)
    else:
        ax.set_xticks(range(len(classes)), list(classes))
        if wins[0]["probs"]:
            ax.bar(range(len(classes)), probs[0])
        else:
            ax.text(0.5, 0.5, "no face found", transform=ax.transAxes, ha="center", va="center")
    ax.set_ylim(0, 1)
    ax.set_ylabel("probability")
    ax.set_title(Path(result.get("media", "")).name, fontsize=9)
    fig.tight_layout()
    return fig


def timeline_png(result: dict[str, Any], classes: Sequence[str], path: str | Path) -> None:
    """Write `timeline_figure` of a `predict` result as a PNG."""
    fig = timeline_figure(result, classes)
    with atomic_write(path, "wb") as f:
        fig.savefig(f, dpi=110, format="png")


def tracks_timeline_figure(data: dict[str, Any], classes: Sequence[str], note: str = "") -> Figure:
    """One panel per tracked face: its stacked per-window distributions over time, gaps where the face
    is not seen (hatched, "no face"), and the model's provenance stamped under the panels.

    Args:
        data: {"media", "duration", "tracks": [{"id", "windows": [{"start", "end", "probs"}]}]}.
        classes: the class names, in the order of the probabilities.
        note: where the model comes from (what it was trained on), printed on the figure.
    """
    tracks = data["tracks"]
    rows = max(len(tracks), 1)
    fig = Figure(figsize=(9, 1.2 + 2.1 * rows))
    axes = fig.subplots(rows, 1, squeeze=False, sharex=True)
    if not tracks:
        axes[0, 0].text(0.5, 0.5, "no face found", transform=axes[0, 0].transAxes, ha="center", va="center")
    for ax, track in zip(axes[:, 0], tracks, strict=False):
        wins = track["windows"]
        probs = np.array(
            [w["probs"] if w["probs"] else [np.nan] * len(classes) for w in wins], dtype=np.float64
        )
        if len(wins) > 1 or wins[0]["end"] > wins[0]["start"]:
            end = max(data.get("duration", 0.0), wins[-1]["end"])
            _draw_stack(ax, wins, probs, classes, end)
        elif wins[0]["probs"]:  # a photo: one distribution per face
            ax.bar(range(len(classes)), probs[0], color=[f"C{k}" for k in range(len(classes))])
            ax.set_xticks(range(len(classes)), list(classes), fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_ylabel(f"face {track['id']}")
    axes[0, 0].set_title(Path(data.get("media", "")).name, fontsize=9)
    if note:
        fig.text(0.01, 0.005, f"model: {note}", fontsize=7, va="bottom", wrap=True)
    fig.tight_layout(rect=(0, 0.05 if note else 0, 1, 1))
    return fig


def tracks_timeline_png(data: dict[str, Any], classes: Sequence[str], note: str, path: str | Path) -> None:
    """Write ``tracks_timeline_figure`` as a PNG."""
    fig = tracks_timeline_figure(data, classes, note)
    with atomic_write(path, "wb") as f:
        fig.savefig(f, dpi=110, format="png")
