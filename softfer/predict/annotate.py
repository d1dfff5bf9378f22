"""``softfer predict MEDIA --annotate``: the video or photo with each face's box, track id and top emotion.

Each label is written on a filled box of the face's colour, above the face box, or inside it where the face
touches the top of the frame, and moved left where it would leave the frame on the right: never cut off.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from PIL import Image

from softfer.io.files import atomic_write
from softfer.io.images import read_photo
from softfer.io.video import iter_frames
from softfer.predict.results import Prediction

COLOURS = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180)]
FONT = cv2.FONT_HERSHEY_SIMPLEX


def label_scale(height: int, width: int) -> tuple[float, int]:
    """(font scale, line thickness) for a frame: readable on a phone photo and on a 320-pixel video."""
    scale = max(0.4, min(height, width) / 720)
    return scale, max(1, round(scale * 1.5))


def label_box(text: str, box: tuple[int, int, int, int], shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of a label's filled background for a face ``box``: above it, or inside it at the top
    where there is no room above; moved left or down to stay inside the frame (when the frame is that big)."""
    scale, thick = label_scale(shape[0], shape[1])
    (w, h), base = cv2.getTextSize(text, FONT, scale, thick)
    pad = thick + 2
    w, h = w + 2 * pad, h + base + 2 * pad
    x = min(max(0, box[0]), max(0, shape[1] - w))
    y = box[1] - h if box[1] - h >= 0 else min(max(0, box[1]), max(0, shape[0] - h))
    return x, y, x + w, y + h


def face_label(row: dict) -> str:
    """ "id: emotion p" for a face row of the frame table (and the second emotion when it is ambiguous)."""
    label = f"{int(row['track'])}"
    if row.get("top"):
        label += f": {row['top']} {row['p_' + row['top']]:.2f}"
        if row.get("state") == "ambiguous" and row.get("second"):
            label += f" / {row['second']} {row['p_' + row['second']]:.2f}"
    return label


def draw_faces(frame: np.ndarray, rows: list[dict]) -> np.ndarray:
    """A copy of an RGB frame with a box and a filled "id: emotion p" label per face row of the frame
    table."""
    out = frame.copy()
    scale, thick = label_scale(frame.shape[0], frame.shape[1])
    for r in rows:
        colour = COLOURS[int(r["track"]) % len(COLOURS)]
        x0, y0, x1, y1 = (round(float(r[k])) for k in ("x0", "y0", "x1", "y1"))
        cv2.rectangle(out, (x0, y0), (x1, y1), colour, thick + 1)
        text = face_label(r)
        lx0, ly0, lx1, ly1 = label_box(text, (x0, y0, x1, y1), frame.shape)
        cv2.rectangle(out, (lx0, ly0), (lx1 - 1, ly1 - 1), colour, cv2.FILLED)
        ink = (0, 0, 0) if np.dot(colour, (0.299, 0.587, 0.114)) > 150 else (255, 255, 255)  # yellow, orange
        base = cv2.getTextSize(text, FONT, scale, thick)[1]
        origin = (lx0 + thick + 2, ly1 - thick - 2 - base)
        cv2.putText(out, text, origin, FONT, scale, ink, thick, cv2.LINE_AA)
    return out


def annotate_photo(photo: str | Path, prediction: Prediction, out: str | Path) -> Path:
    """Write ``out`` (JPEG, quality 95): the photo as predict saw it (orientation applied) with its faces."""
    pixels = draw_faces(read_photo(Path(photo)), prediction.frames.to_dict(orient="records"))
    out = Path(out)
    with atomic_write(out, "wb") as f:
        Image.fromarray(pixels).save(f, format="JPEG", quality=95)
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
