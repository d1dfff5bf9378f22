"""``softfer predict MEDIA --annotate``: the video or photo with each face's box, track id and top emotion.

Each label is written on a filled box of the face's colour, above the face box, or inside it where the face
touches the top of the frame, and moved left where it would leave the frame on the right: never cut off.
Labels of different faces never overlap, and cover no other face where the frame has room: one that would
moves (``place_labels``).
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
from softfer.predict.colours import COLOURS, ink, track_colours
from softfer.predict.results import Prediction

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
    y = min(box[1] - h if box[1] - h >= 0 else max(0, box[1]), max(0, shape[0] - h))
    return x, y, x + w, y + h


def _overlaps(rect: tuple[int, int, int, int], placed: list[tuple[int, int, int, int]]) -> bool:
    """Whether ``rect`` shares a pixel with any of ``placed`` (rectangles are [x0, x1) x [y0, y1))."""
    x0, y0, x1, y1 = rect
    return any(x0 < p[2] and p[0] < x1 and y0 < p[3] and p[1] < y1 for p in placed)


def _spot(
    first: tuple[int, int, int, int],
    box: tuple[int, int, int, int],
    placed: list[tuple[int, int, int, int]],
    others: list[tuple[int, int, int, int]],
    shape: tuple[int, ...],
) -> tuple[int, int, int, int] | None:
    """Where a label of ``first``'s size goes (``first``: its ``label_box``), covering no ``placed`` label
    and, where the frame has room, no face box of ``others``: ``first``, below the box, inside its top, else
    the in-frame spot covering the fewest faces, then nearest to ``first``; None if no spot is free of
    labels."""
    x, y, x1, y1 = first
    w, h = x1 - x, y1 - y
    height, width = shape[0], shape[1]
    if not _overlaps(first, placed + others):
        return first  # in the frame as far as the frame is big enough (label_box)
    for cy in (box[3], min(max(0, box[1]), height - h)):  # below the box, then inside its top
        rect = (x, cy, x + w, cy + h)
        if cy >= 0 and cy + h <= height and x + w <= width and not _overlaps(rect, placed + others):
            return rect
    # A free spot, if any, can slide left and up until it meets the frame's edge, a placed label or a face,
    # so these corners hold one whenever the frame has room; the others are there to stay near the face.
    p = np.array(placed + others, float).reshape(-1, 4)
    xs = np.unique(np.concatenate([[x, 0, width - w], p[:, 2], p[:, 0] - w]))
    ys = np.unique(np.concatenate([[y, 0, height - h], p[:, 3], p[:, 1] - h]))
    gx, gy = (a.ravel() for a in np.meshgrid(xs, ys))
    gx1, gy1 = gx[:, None] + w, gy[:, None] + h
    hit = (gx[:, None] < p[:, 2]) & (p[:, 0] < gx1) & (gy[:, None] < p[:, 3]) & (p[:, 1] < gy1)
    ok = (gx >= 0) & (gy >= 0) & (gx + w <= width) & (gy + h <= height) & ~hit[:, : len(placed)].any(axis=1)
    if not ok.any():
        return None if _overlaps(first, placed) else first
    covered = hit[ok, len(placed) :].sum(axis=1)
    gx, gy = gx[ok], gy[ok]
    best = np.lexsort((gx, gy, np.abs(gx - x) + np.abs(gy - y), covered))[0]  # then topmost, leftmost
    return int(gx[best]), int(gy[best]), int(gx[best]) + w, int(gy[best]) + h


def place_labels(
    texts: list[str], boxes: list[tuple[int, int, int, int]], shape: tuple[int, ...]
) -> list[tuple[int, int, int, int] | None]:
    """The label rectangle (x0, y0, x1, y1), half-open, of each face of one frame, none covering another
    and, where the frame has room, none covering another face's box.

    Faces are taken in order. A label goes where ``label_box`` puts it (above its box, kept inside the
    frame) unless that covers a label already placed or another face; then below its box, else inside the
    top of its box, else at the spot of the frame free of labels that covers the fewest faces, then lies
    nearest to that first place (least |dx| + |dy|, then topmost, then leftmost). It keeps its face's
    colour, so it stays linked to its box wherever it goes. None where the frame has no spot free of
    labels left (that face gets its box only).
    """
    placed: list[tuple[int, int, int, int]] = []
    out: list[tuple[int, int, int, int] | None] = []
    for i, (text, box) in enumerate(zip(texts, boxes, strict=True)):
        rect = _spot(label_box(text, box, shape), box, placed, boxes[:i] + boxes[i + 1 :], shape)
        if rect is not None:
            placed.append(rect)
        out.append(rect)
    return out


def face_label(row: dict) -> str:
    """ "id: emotion p" for a face row of the frame table (and the second emotion when it is ambiguous)."""
    label = f"{int(row['track'])}"
    if row.get("top"):
        label += f": {row['top']} {row['p_' + row['top']]:.2f}"
        if row.get("state") == "ambiguous" and row.get("second"):
            label += f" / {row['second']} {row['p_' + row['second']]:.2f}"
    return label


def draw_faces(frame: np.ndarray, rows: list[dict], colours: dict[int, int] | None = None) -> np.ndarray:
    """A copy of an RGB frame with a box and a filled "id: emotion p" label per face row of the frame
    table; boxes first, then labels (``place_labels``), so that no box line crosses a label. ``colours``:
    each track's colour (``track_colours`` of the whole video), by default those of ``rows``."""
    out = frame.copy()
    palette = colours if colours is not None else track_colours(rows)
    scale, thick = label_scale(frame.shape[0], frame.shape[1])
    boxes = [tuple(round(float(r[k])) for k in ("x0", "y0", "x1", "y1")) for r in rows]
    texts = [face_label(r) for r in rows]
    for r, (x0, y0, x1, y1) in zip(rows, boxes, strict=True):
        cv2.rectangle(out, (x0, y0), (x1, y1), COLOURS[palette[int(r["track"])]], thick + 1)
    for r, text, label in zip(rows, texts, place_labels(texts, boxes, frame.shape), strict=True):
        if label is None:
            continue
        colour = COLOURS[palette[int(r["track"])]]
        lx0, ly0, lx1, ly1 = label
        cv2.rectangle(out, (lx0, ly0), (lx1 - 1, ly1 - 1), colour, cv2.FILLED)
        base = cv2.getTextSize(text, FONT, scale, thick)[1]
        origin = (lx0 + thick + 2, ly1 - thick - 2 - base)
        cv2.putText(out, text, origin, FONT, scale, ink(colour), thick, cv2.LINE_AA)
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
    records = prediction.frames.to_dict(orient="records")
    for r in records:
        by_frame.setdefault(int(r["frame"]), []).append(r)
    colours = track_colours(records)
    duration, n = prediction.meta["duration"], prediction.meta["frames"]
    rate = Fraction(n / duration).limit_denominator(1001) if duration > 0 else Fraction(25)
    out = Path(out)
    with atomic_write(out, "wb") as f, av.open(f, "w", format="mp4") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.pix_fmt = "yuv420p"
        for i, (_, frame) in enumerate(iter_frames(video)):
            if i == 0:
                stream.height, stream.width = (frame.shape[0] // 2) * 2, (frame.shape[1] // 2) * 2
            img = draw_faces(frame, by_frame.get(i, []), colours)[: stream.height, : stream.width]
            for packet in stream.encode(
                av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            ):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out
