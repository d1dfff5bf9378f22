"""What `predict` returns and writes: per-frame and per-window tables, the per-face summary, and how they
are saved.

The columns are documented in docs/OUTPUTS.md. A ``Prediction`` holds two pandas DataFrames and the
metadata (the summary is derived from the frames); it writes nothing until ``save`` is called.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from softfer.faces.multitrack import Track
from softfer.inference.calibration import DEFAULT_MARGIN, face_states, top2
from softfer.io.files import atomic_write, write_json_atomic
from softfer.io.outputs import check_outputs, json_holding
from softfer.plots.timeline import tracks_timeline_png
from softfer.predict.pipeline import Analysis, entropy
from softfer.predict.summary import summary_table

LANDMARKS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
# Seconds: written with 6 decimals (microseconds), whatever their size. The other numbers keep 6
# significant digits, which for times would leave 10 ms steps from 1000 s on (neighbouring frames of a
# long or high-frame-rate video would share one time).
TIME_COLUMNS = frozenset(
    ("time", "start", "end", "first_time", "last_time", "time_on_screen", "time_classified")
)


# Whether an existing NAME.json is a predict result (``to_dict``'s keys): the one test of save and of
# `predict FOLDER`, which may replace only those
IS_RESULT_JSON = json_holding("meta", "frames", "windows")


def _checked_prefix(prefix: str | Path) -> Path:
    """``prefix`` as a path, refused where the user meant something else (audit): a folder (``save("out/")``
    wrote out.json beside it, not inside) or a file name with a suffix save adds (``save("x.json")`` wrote
    x.json.json)."""
    text = str(prefix)
    path = Path(prefix)
    if text.endswith(("/", "\\")) or path.is_dir():
        raise ValueError(
            f"prefix {text!r} is a folder: save writes files named from the prefix, so give one inside it, "
            f"e.g. {str(path / 'result')!r}"
        )
    if path.suffix.lower() in (".json", ".csv"):  # not .png: predict names a photo's outputs x.png.json
        raise ValueError(
            f"prefix {text!r}: save adds .json, _frames.csv, ... itself; give the name without "
            f"{path.suffix}, e.g. {str(path.with_suffix(''))!r}"
        )
    return path


@dataclass
class Prediction:
    """The emotions of every face of one video or photo.

    Attributes:
        frames: one row per (frame, track) with a face: frame, time, track, status, box, landmarks,
            one probability column per class, entropy, top, margin, state, second.
        windows: one row per (track, window): track, start, end, face_share, probabilities (NaN when the
            window was not classified), entropy, top, margin, state, second.
        meta: media, media identity (a file's size and SHA-256; None for pixels), model, classes,
            provenance note, calibration, duration, frame count and size, per-track summary.
        summary: (derived from ``frames``) one row per track over the whole video
            (``softfer.predict.summary``).
    """

    frames: pd.DataFrame
    windows: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def classes(self) -> list[str]:
        return list(self.meta.get("classes", []))

    @property
    def summary(self) -> pd.DataFrame:
        """One row per face over the whole video: time on screen, mean distribution, share of time per top
        emotion and ambiguous, main transitions (``softfer.predict.summary.summary_table``)."""
        frames = int(self.meta.get("frames") or 0)
        step = float(self.meta.get("duration") or 0.0) / frames if frames else 0.0
        return summary_table(self.frames, self.classes, step)

    def save(self, prefix: str | Path, *, overwrite: bool = False) -> list[Path]:
        """Write ``<prefix>.json``, ``<prefix>_frames.csv``, ``<prefix>_windows.csv``,
        ``<prefix>_timeline.png`` and ``<prefix>_summary.csv``; returns the paths.

        The output rule (``softfer.io.outputs``) holds, checked before anything is written: an existing
        file is replaced only with ``overwrite``, and the media predicted (``meta["media"]``) never.

        Raises:
            ValueError: an output is the media file or a folder, or exists without ``overwrite``, or
                ``<prefix>.json`` exists and is no predict result (``overwrite`` does not replace it), or
                ``prefix`` names a folder or ends in one of the suffixes written (``_checked_prefix``).
        """
        prefix = _checked_prefix(prefix)
        paths = [prefix.with_name(prefix.name + tail) for tail in (".json", "_frames.csv", "_windows.csv")]
        paths.append(prefix.with_name(prefix.name + "_timeline.png"))
        paths.append(prefix.with_name(prefix.name + "_summary.csv"))
        media = Path(str(self.meta.get("media") or ""))
        inputs = [media] if media.name and media.is_file() else []  # not a PIL image's or an array's name
        check_outputs(
            paths,
            inputs=inputs,
            overwrite=overwrite,
            what="prefix",
            kind="file",
            overwrite_option="overwrite=True",
            ours=IS_RESULT_JSON,  # prefix RUN/metrics: not the run's metrics.json
        )
        summary = self.summary
        write_json_atomic(paths[0], self.to_dict(summary))
        tables = (self.frames, self.windows, summary.drop(columns="runs"))  # runs: the JSON's, as a list
        for df, path in zip(tables, (paths[1], paths[2], paths[4]), strict=True):
            with atomic_write(path, newline="") as f:
                csv_form(df).to_csv(f, index=False, float_format="%.6g")
        tracks_timeline_png(self.timeline_data(), self.classes, self.meta.get("note", ""), paths[3])
        return paths

    def to_dict(self, summary: pd.DataFrame | None = None) -> dict[str, Any]:
        """The JSON form: meta, frames, windows and the per-face summary as lists of records (NaN as
        null); ``summary`` when already computed."""

        def records(df: pd.DataFrame) -> list[dict[str, Any]]:
            rows = json.loads(df.to_json(orient="records"))  # 10 significant digits
            for col in TIME_COLUMNS.intersection(df.columns):  # to the microsecond, as the CSVs
                for row, t in zip(rows, df[col].to_numpy(float), strict=True):
                    row[col] = None if np.isnan(t) else round(float(t), 6)
            return rows

        return {
            "meta": self.meta,
            "frames": records(self.frames),
            "windows": records(self.windows),
            "summary": records(self.summary if summary is None else summary),
        }

    def timeline_data(self) -> dict[str, Any]:
        """Per track the windows' (start, end, probabilities or None), for the timeline figure."""
        cols = [f"p_{c}" for c in self.classes]
        tracks = []
        for tid, rows in self.windows.groupby("track", sort=True):
            wins = [
                {
                    "start": r.start,
                    "end": r.end,
                    "probs": None if np.isnan(r[cols[0]]) else [r[c] for c in cols],
                }
                for _, r in rows.iterrows()
            ]
            tracks.append({"id": int(tid), "windows": wins})
        return {
            "media": self.meta.get("media", ""),
            "duration": self.meta.get("duration", 0.0),
            "tracks": tracks,
        }


def csv_form(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with its ``TIME_COLUMNS`` as text with 6 decimals (empty for NaN, as ``to_csv`` writes it);
    the other columns as they are, for ``to_csv(float_format="%.6g")``."""

    def text(col: str) -> list[str]:
        return [f"{t:.6f}" if np.isfinite(t) else "" for t in df[col].to_numpy(float)]

    return df.assign(**{col: text(col) for col in df.columns if col in TIME_COLUMNS})


def _prob_columns(probs: np.ndarray, classes: list[str], threshold: float) -> dict[str, Any]:
    """p_<class>, entropy, top, margin (top-2), state (clear / ambiguous / no_face) and second (the second
    class of an ambiguous distribution, else None) of (N, K) probabilities (NaN rows: no distribution)."""
    cols: dict[str, Any] = {f"p_{c}": probs[:, k] for k, c in enumerate(classes)}
    cols["entropy"] = entropy(probs)
    first, _, margin = top2(probs)
    state, second = face_states(probs, threshold)
    names = np.array([*classes, None], dtype=object)  # index -1: no class
    cols["top"] = names[first]
    cols["margin"] = margin
    cols["state"] = state
    cols["second"] = names[second]
    return cols


def frame_table(a: Analysis, classes: list[str], threshold: float = DEFAULT_MARGIN) -> pd.DataFrame:
    """One row per (frame, track) where the track has a face; ``threshold``: the top-2 margin below which
    a distribution is ambiguous (``softfer.inference.calibration``)."""
    times = a.tracking.times
    parts = [
        _frame_part(t, np.flatnonzero(t.present), times, a.frame_probs[t.id], classes, threshold)
        for t in a.tracking.tracks
    ]
    if not parts:  # no face: no rows, but every column, so that code written for faces still runs
        none = Track(-1, np.zeros((0, 4)), np.zeros((0, 5, 2)), [])
        return _frame_part(none, np.zeros(0, int), times, np.zeros((0, len(classes))), classes, threshold)
    return pd.concat(parts).sort_values(["frame", "track"], kind="stable").reset_index(drop=True)


def _frame_part(
    t: Track, idx: np.ndarray, times: np.ndarray, probs: np.ndarray, classes: list[str], threshold: float
) -> pd.DataFrame:
    """The rows of track ``t`` at frames ``idx``: box, landmarks and the distribution's columns."""
    cols: dict[str, Any] = {
        "frame": idx,
        "time": times[idx],
        "track": np.full(len(idx), t.id),
        "status": np.array(t.status, dtype=object)[idx],
    }
    for j, name in enumerate(("x0", "y0", "x1", "y1")):
        cols[name] = t.boxes[idx, j]
    for j, name in enumerate(LANDMARKS):
        cols[f"{name}_x"], cols[f"{name}_y"] = t.landmarks[idx, j, 0], t.landmarks[idx, j, 1]
    cols.update(_prob_columns(probs[idx], classes, threshold))
    return pd.DataFrame(cols)


def window_table(a: Analysis, classes: list[str], threshold: float = DEFAULT_MARGIN) -> pd.DataFrame:
    """One row per (track, window); a window not classified (face_share < 0.5) is ``no_face``."""
    starts = np.array([s for s, _ in a.windows])
    ends = np.array([e for _, e in a.windows])
    parts = [
        _window_part(t.id, starts, ends, a.window_share[t.id], a.window_probs[t.id], classes, threshold)
        for t in a.tracking.tracks
    ]
    if not parts:  # no face: no rows, but every column
        none = np.zeros(0)
        return _window_part(-1, none, none, none, np.zeros((0, len(classes))), classes, threshold)
    return pd.concat(parts).reset_index(drop=True)


def _window_part(
    track: int,
    starts: np.ndarray,
    ends: np.ndarray,
    share: np.ndarray,
    probs: np.ndarray,
    classes: list[str],
    threshold: float,
) -> pd.DataFrame:
    """The rows of one track's windows: span, face share and the distribution's columns."""
    cols: dict[str, Any] = {
        "track": np.full(len(starts), track),
        "start": starts,
        "end": ends,
        "face_share": share,
    }
    cols.update(_prob_columns(probs, classes, threshold))
    return pd.DataFrame(cols)


def track_summary(a: Analysis) -> list[dict[str, Any]]:
    """Per track: id, first and last frame with a face, frames with a face, frames where it was lost."""
    out = []
    for t in a.tracking.tracks:
        idx = np.flatnonzero(t.present)
        out.append(
            {
                "id": t.id,
                "first_frame": int(idx[0]),
                "last_frame": int(idx[-1]),
                "frames_with_face": len(idx),
                "detected": t.status.count("detected"),
                "lost_frames": t.lost_frames(),
            }
        )
    return out
