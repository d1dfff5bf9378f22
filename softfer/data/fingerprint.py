"""What a result came from, as hashes that can be compared: the data a run read and the media of a clip.

A finished run is reused, a frame cache entry served and a model evaluated only when it provably came
from the same inputs. This module holds the data side of that identity (the engine adds the config and
the code version, ``engine.resume.run_fingerprint``):

- ``media_stats``: a cheap content signature of one record's media, the name, size and modification time
  (ns) of each of its files (every frame of a frame folder, or the video or image file), without reading
  a byte of them. An edited, replaced, added or removed frame changes it.
- ``split_fingerprint``: one split as read: how many items, and hashes of their exact ids, of their
  labels (hard label, soft label, votes, valence/arousal, face box) and of their media signatures.
- ``data_fingerprint`` / ``data_changes``: every split of a run, and what differs between two of them in
  words ("the test split (dfew test, fold 1): labels changed").
- ``item_digests`` / ``training_items``: what a checkpoint keeps of the items it was trained on (digests of
  each item's resolved path, and of its format, id and labels as read), so that ``eval`` can find them in
  a test set without storing the dataset's paths. The item digest holds no media bytes, sizes or times: a
  copy of the dataset whose images were re-saved (other sizes) is still the same items. The media
  signature serves reuse decisions only (``split_fingerprint``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from softfer.data.records import Record

# Part of every digest: a change of what is hashed (not of the data) then reads as a change, never as a
# false match.
FINGERPRINT_VERSION = 1
SPLIT_PARTS = ("ids", "labels", "media")
# How a checkpoint identifies its training items in a copy of the dataset (``item_digests``).
ITEM_IDENTITY = "format, id, labels"


def digest(value: Any) -> str:
    """A short stable hash (sha256, 32 hex digits) of a JSON-able value; dict keys are sorted."""
    text = json.dumps([FINGERPRINT_VERSION, value], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _stat(path: str) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return (-1, -1)  # missing or refused by the system: reads as a change once it appears
    return (st.st_size, st.st_mtime_ns)


def media_stats(rec: Record) -> list[tuple[str, int, int]]:
    """(name, size, mtime_ns) of each file of ``rec``'s media: its frames, or its video or image file.

    Costs one ``stat`` per file and reads nothing; a missing file has size and time -1.
    """
    if rec.frames and not (rec.is_video_file or rec.is_image_file):
        folder = str(rec.path)
        return [(name, *_stat(os.path.join(folder, name))) for name in rec.frames]
    return [(rec.path.name, *_stat(str(rec.path)))]


def media_signature(rec: Record) -> str:
    """A digest of ``media_stats``: it changes when any file of the record's media changes."""
    return digest(media_stats(rec))


def _array(value: np.ndarray | None) -> list[float] | None:
    # rounded so that a value read twice (float32 vote shares, say) hashes the same
    return None if value is None else np.round(np.asarray(value, dtype=np.float64), 6).ravel().tolist()


def _labels(rec: Record) -> list[Any]:
    return [
        rec.label,
        _array(rec.soft),
        bool(rec.soft_is_votes),
        _array(rec.votes),
        _array(rec.va),
        list(rec.box) if rec.box is not None else None,
    ]


def split_fingerprint(records: Sequence[Record], source: str) -> dict[str, Any]:
    """{"source", "count", "ids", "labels", "media"}: one split as read (the hashes ignore the order)."""
    ordered = sorted(records, key=lambda r: r.id)
    return {
        "source": source,
        "count": len(ordered),
        "ids": digest([r.id for r in ordered]),
        "labels": digest([[r.id, _labels(r)] for r in ordered]),
        "media": digest([[r.id, media_stats(r)] for r in ordered]),
    }


def data_fingerprint(fmt: str, splits: dict[str, tuple[str, Sequence[Record]]]) -> dict[str, Any]:
    """{"format", "splits": {name: split_fingerprint}} of ``splits`` (name -> (source, records))."""
    return {
        "format": fmt,
        "splits": {name: split_fingerprint(records, source) for name, (source, records) in splits.items()},
    }


def data_changes(stored: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """What differs between two ``data_fingerprint``s, one phrase per split ([] when nothing does).

    Only the splits both hold are compared (an evaluation reads no training split).
    """
    out = []
    if stored.get("format") != current.get("format"):
        out.append(f"data format {stored.get('format')!r} then, {current.get('format')!r} now")
    old, new = stored.get("splits") or {}, current.get("splits") or {}
    for name in sorted(set(old) & set(new)):
        a, b = old[name], new[name]
        changed = [part for part in SPLIT_PARTS if a.get(part) != b.get(part)]
        if not changed:
            continue
        what = ", ".join(changed)
        counts = ""
        if a.get("count") != b.get("count"):
            counts = f"; {a.get('count')} items then, {b.get('count')} now"
        out.append(f"the {name} split ({b.get('source', name)}): {what} changed{counts}")
    return out


def item_digests(fmt: str, rec: Record) -> tuple[str, str]:
    """(digest of the resolved media path, digest of format, id and labels) of one item.

    The first finds an item read through another list or format; the second the same item in a copy of
    the dataset at another root, whatever was done to its media bytes (re-saved JPEGs, new times). Pass
    records as the reader returned them (labels as read, not training targets).
    """
    path = digest(str(Path(rec.path).resolve()))
    return path, digest([ITEM_IDENTITY, fmt, rec.id, _labels(rec)])


def training_items(fmt: str, records: Iterable[Record]) -> dict[str, Any]:
    """What a checkpoint keeps of its training items (records as read):
    {"format", "count", "identity", "paths", "items"} (digests)."""
    pairs = sorted({item_digests(fmt, r) for r in records})
    return {
        "format": fmt,
        "count": len(pairs),
        "identity": ITEM_IDENTITY,
        "paths": [p for p, _ in pairs],
        "items": [i for _, i in pairs],
    }


def items_trained_on(stored: dict[str, Any], fmt: str, records: Sequence[Record]) -> list[str]:
    """The ids of ``records`` (of format ``fmt``) that are among a checkpoint's ``training_items``.

    A checkpoint written before items were identified by their labels (no ``identity``) is matched by
    resolved path only: its item digests hold file sizes, which a re-saved copy does not keep.
    """
    paths = set(stored.get("paths") or ())
    items = set(stored.get("items") or ()) if stored.get("identity") == ITEM_IDENTITY else set()
    found = []
    for rec in records:
        path, item = item_digests(fmt, rec)
        if path in paths or item in items:
            found.append(rec.id)
    return found
