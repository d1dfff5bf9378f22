"""The per-face summary of a whole video (``Prediction.summary``, ``NAME_summary.csv``): one row per track.

Built from the frames table alone (one row per frame with the face, with its distribution, ``top`` and
``state``), so any frames table, also one read back from a CSV, gives the same summary. Times are the
frames table's (presentation time); a frame lasts ``step`` seconds (the video's mean frame step), so a
share of frames is a share of time. docs/OUTPUTS.md documents the columns.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

# A run of one top emotion is a "main" run, shown in the transitions, when it lasts at least this long:
# shorter runs are flicker between frames (a blink, a frame the detector cropped badly).
MIN_RUN_SECONDS = 1.0


def main_runs(
    times: np.ndarray, tops: list[str], step: float, min_seconds: float = MIN_RUN_SECONDS
) -> list[dict[str, Any]]:
    """The main runs of one face's top emotion, in time order.

    A run is a stretch of consecutive classified frames with the same top class (frames without a
    distribution are left out before). Runs lasting at least ``min_seconds`` (frames x ``step``) are main;
    consecutive main runs of the same class are merged (what lay between them was shorter flicker). A face
    whose runs are all shorter (a photo, a face seen briefly) keeps its longest run.

    Returns:
        [{"top", "start", "end", "seconds"}]: start is the first frame's time, end the last frame's time
        plus ``step``, seconds = end - start.
    """
    runs: list[list[Any]] = []  # [top, first time, last time, frames]
    for t, top in zip(times, tops, strict=True):
        if runs and runs[-1][0] == top:
            runs[-1][2], runs[-1][3] = t, runs[-1][3] + 1
        else:
            runs.append([top, t, t, 1])
    if not runs:
        return []
    kept = [r for r in runs if r[3] * step >= min_seconds - 1e-9] or [max(runs, key=lambda r: r[3])]
    merged: list[list[Any]] = []
    for r in kept:
        if merged and merged[-1][0] == r[0]:
            merged[-1][2] = r[2]
        else:
            merged.append(list(r))
    out = []
    for top, first, last, _ in merged:
        start, end = float(first), float(last) + step
        out.append({"top": top, "start": start, "end": end, "seconds": end - start})
    return out


def transitions_text(runs: list[dict[str, Any]]) -> str:
    """``sad 0.0-4.0 s > fear 4.0-6.0 s > happy 6.0-10.0 s``."""
    return " > ".join(f"{r['top']} {r['start']:.1f}-{r['end']:.1f} s" for r in runs)


def _track_row(rows: pd.DataFrame, classes: list[str], step: float, min_run: float) -> dict[str, Any]:
    rows = rows.sort_values("frame", kind="stable")
    known = rows[rows["state"] != "no_face"]
    n = max(len(known), 1)  # shares of a face never classified are NaN below, not a division by zero
    row: dict[str, Any] = {
        "track": int(rows["track"].iloc[0]),
        "frames": len(rows),
        "first_time": float(rows["time"].iloc[0]),
        "last_time": float(rows["time"].iloc[-1]),
        "time_on_screen": len(rows) * step,
        "time_classified": len(known) * step,
    }
    for c in classes:
        row[f"p_{c}"] = float(known[f"p_{c}"].mean()) if len(known) else np.nan
    for c in classes:
        row[f"share_{c}"] = float((known["top"] == c).sum() / n) if len(known) else np.nan
    row["share_ambiguous"] = float((known["state"] == "ambiguous").sum() / n) if len(known) else np.nan
    runs = main_runs(known["time"].to_numpy(float), list(known["top"]), step, min_run)
    row["transitions"] = transitions_text(runs)
    row["runs"] = runs
    return row


def summary_table(
    frames: pd.DataFrame, classes: list[str], step: float, *, min_run: float = MIN_RUN_SECONDS
) -> pd.DataFrame:
    """One row per track of a frames table: time on screen and classified, mean distribution, share of
    time per top emotion and ambiguous, the main transitions (text) and runs (a list of dicts).

    Args:
        frames: the frames table (``frame``, ``time``, ``track``, ``p_<class>``, ``top``, ``state``).
        classes: the class names of its ``p_`` columns.
        step: seconds per frame (0 for a photo).
        min_run: the shortest main run in seconds (``main_runs``).
    """
    columns = ["track", "frames", "first_time", "last_time", "time_on_screen", "time_classified"]
    columns += [f"p_{c}" for c in classes] + [f"share_{c}" for c in classes]
    columns += ["share_ambiguous", "transitions", "runs"]
    if frames.empty:
        return pd.DataFrame(columns=columns)
    rows = [_track_row(r, classes, step, min_run) for _, r in frames.groupby("track", sort=True)]
    return pd.DataFrame(rows, columns=columns)
