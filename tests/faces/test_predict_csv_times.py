"""predict's CSVs write times to the microsecond, whatever their size (audit 6, F10).

Found: every float was written with 6 significant digits, so from 1000 s on a time had 10 ms steps and from
10000 s on 0.1 s: 72 distinct frame times of a clip became 25, neighbouring frames of a long (or 120/240
fps) recording shared one time, and the CSV and JSON of one result disagreed.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pandas as pd

from softfer.predict.results import Prediction

FPS, N, START = 240, 12, 10_000.0  # 2.8 hours into a 240 fps recording
CLASSES = ["calm", "joy"]


def _prediction() -> Prediction:
    times = START + np.arange(N) / FPS
    p = np.linspace(0.1, 0.9, N) / 3 + 0.3  # some values need more than 6 digits: 1/3, 0.30909...
    dist = {"p_calm": p, "p_joy": 1 - p, "entropy": -(p * np.log(p) + (1 - p) * np.log(1 - p))}
    tops = np.where(p >= 0.5, "calm", "joy")
    frames = pd.DataFrame(
        {"frame": np.arange(N), "time": times, "track": 0, "status": "detected"}
        | {"x0": 10.5, "y0": 20.25, "x1": 50.0, "y1": 70.0}
        | dist
        | {"top": tops, "margin": np.abs(2 * p - 1), "state": "clear", "second": None}
    )
    windows = pd.DataFrame(
        {"track": [0], "start": [0.0], "end": [N / FPS], "face_share": [1.0]}
        | {k: [float(np.mean(v))] for k, v in dist.items()}
        | {"top": ["calm"], "margin": [0.0], "state": ["ambiguous"], "second": ["joy"]}
    )
    meta = {"media": "clip.mp4", "classes": CLASSES, "frames": N, "duration": N / FPS, "note": "by hand"}
    return Prediction(frames, windows, meta)


def _column(path, name: str) -> list[str]:
    with path.open(newline="") as f:
        return [row[name] for row in csv.DictReader(f)]


def test_frame_and_window_times_keep_microseconds_and_probabilities_stay_compact(tmp_path):
    _prediction().save(tmp_path / "r")
    times = _column(tmp_path / "r_frames.csv", "time")
    assert times == [f"{START + i / FPS:.6f}" for i in range(N)]  # 10000.000000, 10000.004167, ...
    assert len(set(times)) == N
    assert _column(tmp_path / "r_windows.csv", "end") == [f"{N / FPS:.6f}"] == ["0.050000"]
    assert _column(tmp_path / "r_windows.csv", "start") == ["0.000000"]
    probs = _column(tmp_path / "r_frames.csv", "p_calm")
    assert probs[0] == "0.333333" and all(len(v.replace("0.", "", 1)) <= 6 for v in probs)
    assert _column(tmp_path / "r_frames.csv", "x0")[0] == "10.5"  # other numbers as before


def test_summary_times_and_json_times_agree_with_the_csv(tmp_path):
    _prediction().save(tmp_path / "r")
    assert _column(tmp_path / "r_summary.csv", "first_time") == ["10000.000000"]
    assert _column(tmp_path / "r_summary.csv", "last_time") == [f"{START + (N - 1) / FPS:.6f}"]
    assert _column(tmp_path / "r_summary.csv", "time_on_screen") == [f"{N / FPS:.6f}"]
    rows = json.loads((tmp_path / "r.json").read_text())["frames"]
    assert [r["time"] for r in rows] == [round(START + i / FPS, 6) for i in range(N)]
    back = pd.read_csv(tmp_path / "r_frames.csv")
    assert back["time"].tolist() == [r["time"] for r in rows]
