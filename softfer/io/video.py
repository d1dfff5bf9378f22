"""Video decoding with PyAV: frame timestamps, exact seeking, rotation metadata, threaded decoding.

Decoding compares what decodes with what the container announces: a video cut short (its header says 472
frames, 228 decode) or with packets that fail to decode raises ``VideoError`` naming the file and both
counts, or, with ``strict=False``, is counted in a ``DecodeReport`` for the caller to record.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from softfer.io.images import MediaError
from softfer.io.prefetch import prefetched

if TYPE_CHECKING:  # torch is imported where a tensor is made: `softfer view` decodes video without it
    import torch

log = logging.getLogger(__name__)

Keep = Callable[[int, bool], bool]
"""Which frames a reader turns into pixels, given (frame index, is it the last frame)."""


class VideoError(MediaError, ValueError):
    """A video that cannot be read whole: unreadable, cut short, or with frames that fail to decode.

    A ``MediaError`` (datasets count it as unreadable media under their skip cap) and a ``ValueError``
    (bad input: the CLI and ``preprocess`` report it per file). The message names the file.
    """


@dataclass
class DecodeReport:
    """What decoding a video found: frames decoded, what its container announced, packets that failed.

    Attributes:
        path: the video.
        decoded: frames decoded.
        failed: packets that failed to decode mid-stream (their frames are missing from the sequence).
        header_frames: the frame count the container states (None when it states none).
        header_duration: the stream duration (s) the container states (None when it states none).
        decoded_end: end time (s) of the last decoded frame (its timestamp plus one frame interval).
        start: start time (s) of the stream.
    """

    path: Path
    decoded: int = 0
    failed: int = 0
    header_frames: int | None = None
    header_duration: float | None = None
    decoded_end: float = 0.0
    start: float = 0.0

    @property
    def truncated(self) -> bool:
        """Fewer frames decode than the container announces, and they end early.

        Durations decide when the container states one: a few frames fewer than the header count is
        normal (an edit list hides the frames before the start), frames missing from the end is not.
        More than two frame intervals short counts as cut. Without a duration, more than
        ``max(3, 5%)`` frames short of the header count does.
        """
        if self.header_frames is None or self.decoded >= self.header_frames:
            return False
        if self.header_duration:
            interval = self.header_duration / max(self.header_frames, 1)
            return self.decoded_end + 2 * interval < self.start + self.header_duration
        return self.header_frames - self.decoded > max(3, 0.05 * self.header_frames)

    def problem(self) -> str | None:
        """One line naming the file and what is wrong, or None for a complete, cleanly decoded video."""
        parts = []
        if self.truncated:
            stated = f"{self.header_frames} frames"
            if self.header_duration:
                stated += f" ({self.header_duration:.2f} s)"
            parts.append(
                f"cut short: the container says {stated}, but {self.decoded} decode "
                f"(up to {self.decoded_end - self.start:.2f} s)"
            )
        if self.failed:
            parts.append(f"{self.failed} packet(s) failed to decode mid-stream, their frames are missing")
        if not parts:
            return None
        return f"{self.path}: " + "; ".join(parts) + "; re-download or re-encode the file"


@dataclass(frozen=True)
class VideoInfo:
    """Stream facts: frame count (by decoding timestamps), presentation times (s), rotation (degrees)."""

    path: Path
    num_frames: int
    timestamps: np.ndarray
    fps: float
    duration: float
    rotation: int
    width: int
    height: int
    header_frames: int | None = None


def _open(path: str | Path):
    import av

    path = Path(path)
    if not path.is_file():
        raise VideoError(f"{path}: file not found")
    try:
        container = av.open(str(path))
    except Exception as exc:  # PyAV raises InvalidDataError and friends
        # PyAV's message ends with the path again: its reason alone (strerror) where it has one; for an
        # empty file FFmpeg's "Invalid data found" does not say what is wrong
        why = getattr(exc, "strerror", None) or exc
        reason = ": an empty file (0 bytes)" if _empty(path) else f" ({why})"
        raise VideoError(f"{path}: not a readable video{reason}") from exc
    if not container.streams.video:
        container.close()
        raise VideoError(f"{path}: has no video stream")
    still = opened_as_still_image(container)
    if still:
        container.close()
        raise VideoError(
            f"{path} is a still image ({still}) named as a video: read as a one-frame clip its pixels would "
            "pass no media gate check; give it an image suffix (.jpg, .png)"
        )
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    return container, stream


def _empty(path: Path) -> bool:
    try:
        return path.stat().st_size == 0
    except OSError:
        return False


def opened_as_still_image(container) -> str | None:
    """The image format FFmpeg opened a file with (jpeg, png, ...; its image demuxers: image2, image2pipe,
    <format>_pipe), or None for a video container: the one rule of both mistakes, a still image named as a
    video (here) and a video named as an image (``softfer.io.images``)."""
    name = container.format.name
    if name in ("image2", "image2pipe") or name.endswith("_pipe"):
        return name.removesuffix("_pipe")
    return None


def still_image_format(path: str | Path) -> str | None:
    """The image format of a file FFmpeg opens as a still image (a photo named .mp4), else None (a video,
    or a file it cannot open: decoding then says why)."""
    import av

    try:
        with av.open(str(path)) as container:
            return opened_as_still_image(container)
    except (av.error.FFmpegError, OSError):
        return None


def _rotation(frame) -> int:
    rot = getattr(frame, "rotation", 0) or 0
    return round(rot) % 360


def _to_rgb(frame, rotation: int) -> np.ndarray:
    img = frame.to_ndarray(format="rgb24")
    # Display matrix rotation is counter-clockwise in degrees; rotate the pixels to display orientation.
    k = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(img, k=k)) if k else img


def _header(container, stream, report: DecodeReport) -> float:
    """Fill the container's statements into ``report``; returns the time base (s per tick)."""
    tb = float(stream.time_base) if stream.time_base else 0.0
    report.header_frames = int(stream.frames) or None
    if stream.duration and tb:
        report.header_duration = float(stream.duration * tb)
    elif container.duration:
        report.header_duration = container.duration / 1_000_000  # microseconds (AV_TIME_BASE)
    report.start = float(stream.start_time * tb) if stream.start_time is not None and tb else 0.0
    return tb


def stated_frames(path: str | Path) -> int | None:
    """The frame count the container states (its header's count, else duration x average rate), read
    without decoding: a progress bar's total. None when it states neither or cannot be opened (decoding
    then says why); it may differ from the frames decoded."""
    try:
        container, stream = _open(path)
    except VideoError:
        return None
    try:
        report = DecodeReport(Path(path))
        _header(container, stream, report)
        rate = float(stream.average_rate or 0)
        if report.header_frames:
            return report.header_frames
        return round(report.header_duration * rate) if report.header_duration and rate else None
    finally:
        container.close()


def stated_rate(path: str | Path) -> float | None:
    """The average frame rate the container states, read without decoding (``predict`` checks its
    ``--stride`` by it before tracking); None when it states none, holds one frame, or cannot be opened as a
    video (decoding then says why: a still image named as a video too)."""
    try:
        container, stream = _open(path)
    except VideoError:
        return None
    try:
        rate = float(stream.average_rate or 0)
        return rate if stream.frames != 1 and np.isfinite(rate) and rate > 0 else None
    finally:
        container.close()


def _decode(path: str | Path, report: DecodeReport, strict: bool) -> Iterator[tuple[float, object]]:
    """(time, PyAV frame) of every frame, one packet at a time so that a bad packet is counted, not
    fatal; ``strict`` raises VideoError instead (at a failed packet, or at the end when truncated)."""
    import av

    container, stream = _open(path)
    try:
        tb = _header(container, stream, report)
        rate = float(stream.average_rate or 25)
        interval = 1.0 / rate
        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except av.error.FFmpegError as exc:
                if strict:
                    raise VideoError(
                        f"{path}: a packet after frame {report.decoded} failed to decode ({exc})"
                    ) from exc
                report.failed += 1
                continue
            for frame in frames:
                t = float(frame.pts * tb) if frame.pts is not None else report.decoded / rate
                report.decoded += 1
                report.decoded_end = t + interval
                yield t, frame
    except av.error.FFmpegError as exc:  # demuxing itself failed
        raise VideoError(f"{path}: reading failed after {report.decoded} frames ({exc})") from exc
    finally:
        container.close()
    if report.decoded == 0:
        raise VideoError(f"{path}: no decodable frame (truncated or empty video?)")
    problem = report.problem()
    if problem and strict:
        raise VideoError(problem)
    if problem:
        log.warning("%s", problem)


def iter_frames(
    path: str | Path, *, report: DecodeReport | None = None, strict: bool = True, keep: Keep | None = None
) -> Iterator[tuple[float, np.ndarray | None]]:
    """Yield (time in seconds, RGB uint8 HxWx3) for every frame, rotation applied.

    Args:
        path: the video.
        report: filled while decoding (frames decoded, container counts, failed packets), when given.
        strict: raise VideoError at a packet that fails to decode and, after the last frame, for a video
            cut short (``DecodeReport.truncated``). With ``strict=False`` bad packets are skipped and both
            are counted in ``report`` and logged: record them (``report.problem()``) with the outputs.
        keep: which frames become pixels, given (index, is it the last frame); the others are decoded (the
            codec needs them) but yielded as (time, None), which saves their RGB conversion: about two
            thirds of reading a 640x360 video (docs/BENCHMARKS.md). None: every frame.

    Raises:
        VideoError: naming the file (and both frame counts for a video cut short).
    """
    report = report if report is not None else DecodeReport(Path(path))
    if keep is None:  # no frame held back: a video cut short raises after its last frame, not before
        for t, frame in _decode(path, report, strict):
            yield t, _to_rgb(frame, _rotation(frame))
        return
    held, index = None, -1  # one frame is held back: whether it is the last is known at the next one
    for t, frame in _decode(path, report, strict):
        if held is not None:
            yield held[0], _to_rgb(held[1], _rotation(held[1])) if keep(index, False) else None
        held, index = (t, frame), index + 1
    if held is not None:
        yield held[0], _to_rgb(held[1], _rotation(held[1])) if keep(index, True) else None


PREFETCH_BYTES = 192 * 2**20  # frames decoded ahead: ~64 at 640x360, ~30 at 1080p, 7 at 4K


def prefetched_frames(
    path: str | Path, *, budget_bytes: int = PREFETCH_BYTES, keep: Keep | None = None
) -> Iterator[tuple[float, np.ndarray | None]]:
    """``iter_frames`` (strict, ``keep``) decoded ahead in a background thread, holding at most
    ``budget_bytes`` of frames (2 to 64): the next frames decode on another core while the caller works on
    these ones."""
    container, stream = _open(path)
    try:
        width, height = stream.codec_context.width, stream.codec_context.height
    finally:
        container.close()
    depth = max(2, min(64, budget_bytes // max(3 * width * height, 1)))
    yield from prefetched(iter_frames(path, keep=keep), depth)


def video_info(path: str | Path, *, strict: bool = True, report: DecodeReport | None = None) -> VideoInfo:
    """Count frames and collect their timestamps by decoding once (robust to wrong headers).

    ``strict`` and ``report`` as in ``iter_frames``: a video cut short, or with packets that fail to
    decode, raises VideoError naming the file and both counts unless ``strict=False``.
    """
    report = report if report is not None else DecodeReport(Path(path))
    times, rotation, w, h = [], 0, 0, 0
    for i, (t, frame) in enumerate(_decode(path, report, strict)):
        if i == 0:
            rotation, w, h = _rotation(frame), frame.width, frame.height
        times.append(t)
    ts = np.array(times)
    duration = float(ts[-1] - ts[0]) + (float(np.median(np.diff(ts))) if len(ts) > 1 else 0.0)
    fps = (len(ts) - 1) / (ts[-1] - ts[0]) if len(ts) > 1 and ts[-1] > ts[0] else 0.0
    if rotation in (90, 270):
        w, h = h, w
    return VideoInfo(Path(path), len(ts), ts, fps, duration, rotation, w, h, report.header_frames)


def count_frames(path: str | Path) -> int:
    """Number of frames of a complete video.

    Raises:
        VideoError: for a video cut short or with packets that fail to decode (``video_info``).
    """
    return video_info(path).num_frames


def read_frames(path: str | Path, indices: Sequence[int]) -> torch.Tensor:
    """Frames at the given indices as uint8 (N, 3, H, W), decoding the stream once in order."""
    import torch

    wanted = np.asarray(indices, dtype=np.int64)
    need = set(wanted.tolist())
    last = int(wanted.max())
    got: dict[int, np.ndarray] = {}
    for i, (_, img) in enumerate(iter_frames(path, keep=lambda i, _: i in need)):
        if img is not None:
            got[i] = img
        if i >= last:
            break
    missing = sorted(need - set(got))
    if missing:
        raise VideoError(f"{path}: frame {missing[0]} not in the video ({len(got)} frames decoded)")
    return torch.from_numpy(np.stack([got[i] for i in wanted.tolist()])).permute(0, 3, 1, 2).contiguous()


def read_at_times(path: str | Path, times: Sequence[float]) -> list[np.ndarray]:
    """The frame displayed at each requested time (s), by exact seeking.

    For each time: seek backward to the preceding keyframe, then decode forward until the frame whose
    presentation interval contains the time. Works with variable frame rates.
    """
    container, stream = _open(path)
    tb = stream.time_base
    out: list[np.ndarray] = []
    try:
        for t in times:
            container.seek(int(max(t, 0.0) / tb), stream=stream, backward=True, any_frame=False)
            chosen = None
            for frame in container.decode(stream):
                ft = float(frame.pts * tb) if frame.pts is not None else 0.0
                if ft > t + 1e-6 and chosen is not None:
                    break
                chosen = frame
                if ft > t + 1e-6:
                    break
            if chosen is None:
                raise ValueError(f"{path}: no frame at {t:.3f} s")
            out.append(_to_rgb(chosen, _rotation(chosen)))
    finally:
        container.close()
    return out
