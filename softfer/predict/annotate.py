"""``softfer predict VIDEO --annotate out.mp4``: the video with each face's box, track id and top emotion."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from softfer.io.files import atomic_write
from softfer.io.video import iter_frames
from softfer.predict.results import Prediction

COLOURS = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180)]


def draw_faces(frame: np.ndarray, rows: list[dict]) -> np.ndarray:
    """A copy of an RGB frame with a box, "id: emotion p" label per face row of the frame table."""
    out = frame.copy()
    for r in rows:
        colour = COLOURS[int(r["track"]) % len(COLOURS)]
        x0, y0, x1, y1 = (round(float(r[k])) for k in ("x0", "y0", "x1", "y1"))
        cv2.rectangle(out, (x0, y0), (x1, y1), colour, 2)
        label = f"{int(r['track'])}"
        if r.get("top"):
            label += f": {r['top']} {r['p_' + r['top']]:.2f}"
        cv2.putText(out, label, (x0, max(y0 - 6, 12)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1, cv2.LINE_AA)
    return out


def annotate_video(
    video: str | Path, prediction: Prediction, out: str | Path, *, codec: str = "libx264"
) -> Path:
    """Write ``out`` (MP4): ``video`` re-encoded with the faces of ``prediction`` drawn on every frame.

    The frame rate is the video's mean rate; the file appears only when complete (atomic write).
    """
    by_frame: dict[int, list[dict]] = {}
    for r in prediction.frames.to_dict(orient="records"):
        by_frame.setdefault(int(r["frame"]), []).append(r)
    duration, n = prediction.meta["duration"], prediction.meta["frames"]
    rate = Fraction(n / duration).limit_denominator(1001) if duration > 0 else Fraction(25)
    out = Path(out)
    with atomic_write(out, "wb") as f, av.open(f, "w", format="mp4") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.pix_fmt = "yuv420p"
        for i, (_, frame) in enumerate(iter_frames(video)):
            if i == 0:
                stream.height, stream.width = (frame.shape[0] // 2) * 2, (frame.shape[1] // 2) * 2
            img = draw_faces(frame, by_frame.get(i, []))[: stream.height, : stream.width]
            for packet in stream.encode(
                av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            ):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out
