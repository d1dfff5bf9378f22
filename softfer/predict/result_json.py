"""predict's JSON (``NAME.json``) read back and checked field by field, as ``softfer view`` reads it.

A result is refused, in one line naming the file and the first field that is wrong, when it does not hold
what predict writes: the fields the page reads, of their kinds; every face row's probabilities a
distribution (each in [0, 1], summing to 1) or null in every column (not classified), as ``analyze``
checks predictions.csv (``softfer.analysis.report.read_predictions``); one row per face and frame; for each
face that ``meta.tracks`` lists, as many rows as it says frames with the face; ``meta.media_identity`` of
the kind predict writes (``softfer.predict.identity``); and no NaN or infinity anywhere. The fields derived
from a row's numbers must agree with them, as predict derives them: ``top`` and ``second`` the classes of
the two largest probabilities, ``margin`` their difference, ``state`` the margin against
``meta.calibration.ambiguity.threshold``, a box with x0 < x1 and y0 < y1 over the frame, and the summary's
shares and means those of the face's rows; ``check_times`` ties the rows' times to the media's frames.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

from softfer.predict.identity import IDENTITY_KEY, is_identity

_MISSING = object()
_BOX = ("x0", "y0", "x1", "y1")
# As analyze's check of predictions.csv: the JSON keeps 10 digits and float32 softmax rows sum to 1 within
# about 1e-6; 1e-4 still refuses any edit seen at 4 decimals.
SUM_TOLERANCE = 1e-4
# A margin, share or mean recomputed from the JSON's 10-digit numbers is within 1e-9 of predict's; a time
# is kept to the microsecond (``softfer.predict.results.TIME_COLUMNS``).
DERIVED_TOLERANCE = 1e-6
TIME_TOLERANCE = 1e-6
STATES = ("clear", "ambiguous", "no_face")  # softfer.inference.calibration's, not imported: it loads torch
_FROM_PREDICT = "pass a NAME.json from predict"


def read_result(path: str | Path) -> dict[str, Any]:
    """predict's JSON (``NAME.json``), checked to hold what the page reads (``check_result``); a one-line
    ValueError naming the file, and the field, when it does not."""
    path = Path(path)
    try:
        result = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot be read as JSON ({exc}); {_FROM_PREDICT}") from exc
    return check_result(result, path)


def _number(value: Any, *, integral: bool = False) -> bool:
    # a JSON number (true is not 1 here), whole where it counts frames, pixels or faces
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return not integral or float(value).is_integer()


def _count(value: Any, lo: int, hi: float = math.inf) -> bool:
    return _number(value, integral=True) and lo <= value <= hi


def _non_finite(obj: Any, where: str = "") -> str | None:
    """Where ``obj`` first holds NaN or an infinity (``frames[3].p_happy``), or None. Python's json reads
    them, the page's JSON.parse does not: one would leave the page blank."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return where
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for key, value in items:
        inner = f"{where}[{key}]" if isinstance(key, int) else f"{where}.{key}".lstrip(".")
        found = _non_finite(value, inner)
        if found is not None:
            return found
    return None


def _refusal(path: Path, where: str, value: Any, want: str) -> ValueError:
    got = "missing" if value is _MISSING else json.dumps(value)[:40]
    return ValueError(f"{path}: {where} is {got}, but predict writes {want}; {_FROM_PREDICT}")


def _check_meta(meta: Any, path: Path) -> dict[str, Any]:
    if not isinstance(meta, dict):
        raise _refusal(path, "meta", meta, "an object")
    size, frames, classes = (meta.get(k, _MISSING) for k in ("size", "frames", "classes"))
    pixels = isinstance(size, list) and len(size) == 2
    if not (pixels and all(_count(v, 1) for v in size)):
        raise _refusal(path, "meta.size", size, "[height, width] in pixels")
    if not _count(frames, 1):
        raise _refusal(path, "meta.frames", frames, "the number of frames")
    if not isinstance(meta.get("photo", _MISSING), bool):
        raise _refusal(path, "meta.photo", meta.get("photo", _MISSING), "true or false")
    if not (isinstance(classes, list) and classes and all(isinstance(c, str) and c for c in classes)):
        raise _refusal(path, "meta.classes", classes, "a list of class names")
    for key in ("model", "note"):
        if not isinstance(meta.get(key, _MISSING), str):
            raise _refusal(path, f"meta.{key}", meta.get(key, _MISSING), "text")
    # absent: written before predict recorded it (`softfer view` says so); null: predicted from pixels
    identity = meta.get(IDENTITY_KEY, None)
    if not (identity is None or is_identity(identity)):
        want = '{"bytes": size, "sha256": 64 hex digits} or null'
        raise _refusal(path, f"meta.{IDENTITY_KEY}", identity, want)
    return meta


def _check_tracks(meta: dict[str, Any], path: Path) -> dict[int, int]:
    """``meta.tracks`` as {face id: frames with the face}, one entry per id, as many as ``meta.faces``."""
    tracks = meta.get("tracks", _MISSING)
    if not isinstance(tracks, list):
        raise _refusal(path, "meta.tracks", tracks, "a list of faces")
    out: dict[int, int] = {}
    for i, t in enumerate(tracks):
        tid = t.get("id", _MISSING) if isinstance(t, dict) else _MISSING
        if not _count(tid, 0) or tid in out:
            raise _refusal(path, f"meta.tracks[{i}].id", tid, "a face id, once per face")
        seen = t.get("frames_with_face", _MISSING)
        if not _count(seen, 1, meta["frames"]):
            want = f"the frames with the face, 1 to meta.frames ({meta['frames']})"
            raise _refusal(path, f"meta.tracks[{i}].frames_with_face", seen, want)
        out[int(tid)] = int(seen)
    faces = meta.get("faces", _MISSING)
    if not (_count(faces, 0) and faces == len(out)):
        raise _refusal(path, "meta.faces", faces, f"the number of faces of meta.tracks ({len(out)})")
    return out


def _check_row(row: Any, where: str, meta: dict[str, Any], path: Path) -> None:
    """One face of one frame: what the page draws (box), lists (probabilities) and names (state)."""
    if not isinstance(row, dict):
        raise _refusal(path, where, row, "an object (one face in one frame)")
    frame, track = row.get("frame", _MISSING), row.get("track", _MISSING)
    if not _count(frame, 0, meta["frames"] - 1):
        raise _refusal(path, f"{where}.frame", frame, f"a frame index below meta.frames ({meta['frames']})")
    if not (track is None or _count(track, 0)):
        raise _refusal(path, f"{where}.track", track, "a face id or null")
    if not _number(row.get("time", _MISSING)):
        raise _refusal(path, f"{where}.time", row.get("time", _MISSING), "the frame's time in seconds")
    for key in (*_BOX, *(f"p_{c}" for c in meta["classes"]), "margin"):  # null: no box, not classified
        if not (row.get(key, _MISSING) is None or _number(row.get(key, _MISSING))):
            raise _refusal(path, f"{where}.{key}", row.get(key, _MISSING), "a number or null")
    _check_box(row, where, meta, path)
    _check_distribution(row, where, meta["classes"], path)
    if not (row.get("entropy") is None or _number(row["entropy"])):
        raise _refusal(path, f"{where}.entropy", row["entropy"], "a number or null")
    if not (row.get("state") is None or row["state"] in STATES):
        raise _refusal(path, f"{where}.state", row["state"], f"one of {', '.join(STATES)} or null")
    for key in ("top", "second"):
        if not (row.get(key) is None or row[key] in meta["classes"]):
            raise _refusal(path, f"{where}.{key}", row[key], "one of meta.classes or null")
    _check_derived(row, where, meta, path)


def _check_box(row: dict[str, Any], where: str, meta: dict[str, Any], path: Path) -> None:
    """A box of four numbers (or none: four nulls) with x0 < x1 and y0 < y1, over the frame. predict writes
    the detector's boxes unclipped: a face at the edge overshoots the frame (by 60 of 360 pixels, seen),
    but its box overlaps the frame and lies within the frame grown by the frame's size on every side."""
    box = [row.get(k) for k in _BOX]
    if all(v is None for v in box):
        return
    if None in box:
        key = _BOX[box.index(None)]
        raise _refusal(path, f"{where}.{key}", None, "a number, as the box's other corners are")
    x0, y0, x1, y1 = box
    (h, w), text = meta["size"], f"({x0:g}, {y0:g})-({x1:g}, {y1:g})"
    if not (x0 < x1 and y0 < y1):
        want = "x0 < x1 and y0 < y1 (the top-left corner, then the bottom-right)"
        raise ValueError(f"{path}: {where} has the box {text}, but predict writes {want}; {_FROM_PREDICT}")
    if not (-w <= x0 < w and 0 < x1 <= 2 * w and -h <= y0 < h and 0 < y1 <= 2 * h):
        raise ValueError(
            f"{path}: {where} has the box {text}, outside the {w}x{h} frame (meta.size), but predict writes "
            f"boxes over the frame, overshooting it by less than its size; {_FROM_PREDICT}"
        )


def _threshold(meta: dict[str, Any]) -> Any:
    """``meta.calibration.ambiguity.threshold`` (the margin below which a state is ambiguous), or None."""
    calibration = meta.get("calibration")
    ambiguity = calibration.get("ambiguity") if isinstance(calibration, dict) else None
    return ambiguity.get("threshold") if isinstance(ambiguity, dict) else None


def _check_derived(row: dict[str, Any], where: str, meta: dict[str, Any], path: Path) -> None:
    """top, margin, state and second as predict derives them from the row's p_ columns (``_prob_columns``
    of ``softfer.predict.results``): a row not classified has none of them (state no_face); a state is
    checked against the margin when the meta records the threshold and the margin is not on it."""
    classes = meta["classes"]
    p = [row[f"p_{c}"] for c in classes]
    top, state, second, margin = (row.get(k) for k in ("top", "state", "second", "margin"))
    if p[0] is None:  # not classified (checked: null in every p_ column)
        for key, value in (("top", top), ("second", second), ("margin", margin)):
            if value is not None:
                raise _refusal(path, f"{where}.{key}", value, "null, as the p_ columns (not classified)")
        if state not in (None, "no_face"):
            raise _refusal(path, f"{where}.state", state, "no_face where the p_ columns are null")
        return
    first, runner = sorted(p, reverse=True)[:2]
    best = classes[p.index(first)]
    if top is not None and p[classes.index(top)] < first - DERIVED_TOLERANCE:
        raise _refusal(path, f"{where}.top", top, f"the class of the largest p_ ({best}, {first:.4f})")
    if margin is not None and abs(margin - (first - runner)) > DERIVED_TOLERANCE:
        want = f"the top p_ minus the second ({first - runner:.6f})"
        raise _refusal(path, f"{where}.margin", margin, want)
    threshold = _threshold(meta)
    if state == "no_face":
        raise _refusal(path, f"{where}.state", state, "clear or ambiguous where the p_ columns hold numbers")
    if state is not None and _number(threshold) and abs(first - runner - threshold) > DERIVED_TOLERANCE:
        said = "ambiguous" if first - runner < threshold else "clear"
        if state != said:
            want = f"{said}: its top-2 margin {first - runner:.4f} against the threshold {threshold:g}"
            raise _refusal(path, f"{where}.state", state, f"{want} (meta.calibration.ambiguity)")
    if state == "clear" and second is not None:
        raise _refusal(path, f"{where}.second", second, "null where the state is clear")
    if state == "ambiguous" and second is not None:
        top = best if top is None else top
        rest = [v for c, v in zip(classes, p, strict=True) if c != top]
        if second == top or p[classes.index(second)] < max(rest) - DERIVED_TOLERANCE:
            raise _refusal(path, f"{where}.second", second, "the class of the second largest p_")


def _check_distribution(row: dict[str, Any], where: str, classes: list[str], path: Path) -> None:
    """The row's p_ columns: null in every one (not classified), or probabilities summing to 1."""
    values = [row[f"p_{c}"] for c in classes]
    if all(v is None for v in values):
        return
    for c, v in zip(classes, values, strict=True):
        if v is None or not 0 <= v <= 1:
            want = "a probability in [0, 1] (or null in every p_ column: not classified)"
            raise _refusal(path, f"{where}.p_{c}", v, want)
    total = math.fsum(values)
    if abs(total - 1) > SUM_TOLERANCE:
        raise ValueError(
            f"{path}: {where}.p_* sum to {total:.6g}, but predict writes probabilities summing to 1; "
            f"{_FROM_PREDICT}"
        )


def _check_faces(rows: list[dict[str, Any]], tracks: dict[int, int], path: Path) -> None:
    """One row per (frame, face), of faces ``meta.tracks`` lists, as many rows as it says per face."""
    first: dict[tuple[Any, Any], int] = {}
    counts: Counter[int] = Counter()
    for i, row in enumerate(rows):
        frame, track = row["frame"], row["track"]
        if track is None:  # the page draws no row without a face id
            continue
        if track not in tracks:
            raise _refusal(path, f"frames[{i}].track", track, "one of the ids of meta.tracks")
        if (frame, track) in first:
            again = f"frames[{i}] is frame {frame} of face {track} again (as frames[{first[frame, track]}])"
            raise ValueError(f"{path}: {again}, but predict writes a face once per frame; {_FROM_PREDICT}")
        first[frame, track] = i
        counts[int(track)] += 1
    for tid, seen in tracks.items():
        if counts[tid] != seen:
            raise ValueError(
                f"{path}: frames holds {counts[tid]} row(s) of face {tid}, but meta.tracks says "
                f"frames_with_face {seen} (rows removed or added?); {_FROM_PREDICT}"
            )


def _top(row: dict[str, Any], classes: list[str]) -> str:
    """A classified row's top class: its ``top`` (checked), else the first class of the largest p_."""
    if row.get("top") is not None:
        return row["top"]
    p = [row[f"p_{c}"] for c in classes]
    return classes[p.index(max(p))]


def _summary_values(rows: list[dict[str, Any]], classes: list[str]) -> dict[str, float | None]:
    """A face's summary as predict derives it from its classified ``rows`` (``softfer.predict.summary``):
    mean p_, share of rows per top class and ambiguous; None for a face never classified."""
    n = len(rows)
    out: dict[str, float | None] = {}
    for c in classes:
        out[f"p_{c}"] = math.fsum(r[f"p_{c}"] for r in rows) / n if n else None
    for c in classes:
        out[f"share_{c}"] = sum(_top(r, classes) == c for r in rows) / n if n else None
    if all(r.get("state") is not None for r in rows):
        out["share_ambiguous"] = sum(r["state"] == "ambiguous" for r in rows) / n if n else None
    return out


def _check_summary(result: dict[str, Any], tracks: dict[int, int], path: Path) -> None:
    """The summary's rows (absent in an earlier softfer's result): per face of ``meta.tracks``, the mean
    p_ and the shares of ``_summary_values`` (the shares sum to 1)."""
    summary, classes = result.get("summary"), result["meta"]["classes"]
    if summary is None:
        return
    if not isinstance(summary, list):
        raise _refusal(path, "summary", summary, "a list of rows")
    for i, row in enumerate(summary):
        track = row.get("track", _MISSING) if isinstance(row, dict) else row
        if not (_count(track, 0) and track in tracks):
            raise _refusal(path, f"summary[{i}].track", track, "one of the ids of meta.tracks")
        rows = [r for r in result["frames"] if r["track"] == track and r[f"p_{classes[0]}"] is not None]
        for key, want in _summary_values(rows, classes).items():
            got = row.get(key, _MISSING)
            if want is None and got is not None:
                raise _refusal(path, f"summary[{i}].{key}", got, f"null: face {track} was never classified")
            if want is not None and not (_number(got) and abs(got - want) <= DERIVED_TOLERANCE):
                want_text = f"{want:.6f}, from face {track}'s {len(rows)} classified row(s) in frames"
                raise _refusal(path, f"summary[{i}].{key}", got, want_text)


def check_times(result: dict[str, Any], times: list[float], path: str | Path) -> None:
    """Each face row's ``time`` is its frame's time in the media: ``times`` as the media decodes (what
    predict records, the first frame's time not always 0; [0.0] for a photo).

    Raises:
        ValueError: naming ``path`` and the first row whose time is not its frame's.
    """
    for i, row in enumerate(result["frames"]):
        frame, t = row["frame"], row["time"]
        if frame < len(times) and abs(t - times[frame]) <= TIME_TOLERANCE:
            continue
        at = f"{times[frame]:.6f} s" if frame < len(times) else f"none: the media has {len(times)} frame(s)"
        raise ValueError(
            f"{path}: frames[{i}].time is {json.dumps(t)[:40]}, but predict writes the time of frame {frame} "
            f"in the media ({at}); {_FROM_PREDICT}"
        )


def check_result(result: Any, path: str | Path) -> dict[str, Any]:
    """``result`` (read from ``path``) checked to hold what the page reads, of the kinds predict writes:
    meta (size, frames, photo, classes, model, note, tracks, faces, media identity), one row per face and
    frame (frame, track, box, probabilities forming a distribution or all null) with as many rows per face
    as ``meta.tracks`` says, windows, and no NaN or infinity anywhere (predict writes null where there is
    no value); a row's top, margin, state, second and box, and the summary, agree with its numbers as
    predict derives them (the module's docstring). The rows' times are the media's: ``check_times``.

    Raises:
        ValueError: one line naming ``path`` and the first field that is missing or wrong.
    """
    path = Path(path)
    if not isinstance(result, dict) or not {"meta", "frames", "windows"} <= set(result):
        raise ValueError(f"{path}: not predict's JSON (no meta, frames, windows): {_FROM_PREDICT}")
    where = _non_finite(result)
    if where is not None:
        raise ValueError(
            f"{path}: {where} is NaN or infinite, but predict writes null where there is no value; "
            f"{_FROM_PREDICT}"
        )
    meta = _check_meta(result["meta"], path)
    tracks = _check_tracks(meta, path)
    for key in ("frames", "windows"):
        if not isinstance(result[key], list):
            raise _refusal(path, key, result[key], "a list of rows")
    for i, row in enumerate(result["frames"]):
        _check_row(row, f"frames[{i}]", meta, path)
    _check_faces(result["frames"], tracks, path)
    _check_summary(result, tracks, path)
    return result
