"""The colours of faces on annotated videos, photos and view pages: one per track, different for faces on
screen together (numpy only: ``softfer view`` draws with them without importing torch)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

COLOURS = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180)]


def track_colours(rows: Iterable[dict]) -> dict[int, int]:
    """Each track's index in ``COLOURS``, for face rows of a frame table; a track keeps its colour for the
    whole video.

    Tracks are coloured in order of first appearance (then id), each with the first colour that no track
    it shares a frame with already has (greedy colouring of the tracks' co-occurrence); where all are taken,
    the colour fewest of them have. Faces on screen together get different colours whenever at most
    ``len(COLOURS)`` are on screen at once and tracks are unbroken (intervals of frames, for which this
    order is optimal); a track that leaves and comes back can meet more tracks over the video than there
    are colours, and then share one. Rows without a track are left out.
    """
    seen: dict[int, set[int]] = {}
    first: dict[int, int] = {}
    for r in rows:
        track = r.get("track")
        if track is None or track != track:  # None or NaN: a row of a frame without a face
            continue
        frame, track = int(r.get("frame", 0)), int(track)
        seen.setdefault(frame, set()).add(track)
        first[track] = min(first.get(track, frame), frame)
    together: dict[int, set[int]] = {t: set() for t in first}
    for tracks in seen.values():
        for t in tracks:
            together[t] |= tracks - {t}
    colours: dict[int, int] = {}
    for t in sorted(first, key=lambda t: (first[t], t)):
        taken = [colours[o] for o in together[t] if o in colours]
        colours[t] = min(range(len(COLOURS)), key=lambda c: (taken.count(c), c))
    return colours


def ink(colour: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black or white text, whichever reads on ``colour`` (black on yellow and orange)."""
    return (0, 0, 0) if np.dot(colour, (0.299, 0.587, 0.114)) > 150 else (255, 255, 255)
