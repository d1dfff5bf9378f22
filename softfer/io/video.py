"""Video decoding with PyAV: frame timestamps, exact seeking, rotation metadata, threaded decoding."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch


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


def _open(path: str | Path):
    import av

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: file not found")
    try:
        container = av.open(str(path))
    except Exception as exc:  # PyAV raises InvalidDataError and friends
        raise ValueError(f"{path}: not a readable video ({exc})") from exc
    if not container.streams.video:
        container.close()
        raise ValueError(f"{path}: has no video stream")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    return container, stream


def _rotation(frame) -> int:
    rot = getattr(frame, "rotation", 0) or 0
    return round(rot) % 360


def _to_rgb(frame, rotation: int) -> np.ndarray:
    img = frame.to_ndarray(format="rgb24")
    # Display matrix rotation is counter-clockwise in degrees; rotate the pixels to display orientation.
    k = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(img, k=k)) if k else img


def iter_frames(path: str | Path) -> Iterator[tuple[float, np.ndarray]]:
    """Yield (time in seconds, RGB uint8 HxWx3) for every frame, rotation applied.

    Raises:
        ValueError: naming the file and the frame for undecodable data mid-stream.
    """
    container, stream = _open(path)
    tb = float(stream.time_base) if stream.time_base else 0.0
    n = 0
    try:
        for frame in container.decode(stream):
            t = float(frame.pts * tb) if frame.pts is not None else n / float(stream.average_rate or 25)
            yield t, _to_rgb(frame, _rotation(frame))
            n += 1
    except Exception as exc:
        if isinstance(exc, GeneratorExit):
            raise
        raise ValueError(f"{path}: decoding failed at frame {n} ({exc})") from exc
    finally:
        container.close()
    if n == 0:
        raise ValueError(f"{path}: no decodable frame (truncated or empty video?)")


def video_info(path: str | Path) -> VideoInfo:
    """Count frames and collect their timestamps by demuxing/decoding once (robust to wrong headers)."""
    container, stream = _open(path)
    tb = float(stream.time_base) if stream.time_base else 0.0
    times, rotation = [], 0
    try:
        for i, frame in enumerate(container.decode(stream)):
            if i == 0:
                rotation = _rotation(frame)
            times.append(
                float(frame.pts * tb) if frame.pts is not None else i / float(stream.average_rate or 25)
            )
        w, h = stream.codec_context.width, stream.codec_context.height
    except Exception as exc:
        raise ValueError(f"{path}: decoding failed after {len(times)} frames ({exc})") from exc
    finally:
        container.close()
    if not times:
        raise ValueError(f"{path}: no decodable frame (truncated or empty video?)")
    ts = np.array(times)
    duration = float(ts[-1] - ts[0]) + (float(np.median(np.diff(ts))) if len(ts) > 1 else 0.0)
    fps = (len(ts) - 1) / (ts[-1] - ts[0]) if len(ts) > 1 and ts[-1] > ts[0] else 0.0
    if rotation in (90, 270):
        w, h = h, w
    return VideoInfo(Path(path), len(ts), ts, fps, duration, rotation, w, h)


def count_frames(path: str | Path) -> int:
    """Number of decodable frames."""
    return video_info(path).num_frames


def read_frames(path: str | Path, indices: Sequence[int]) -> torch.Tensor:
    """Frames at the given indices as uint8 (N, 3, H, W), decoding the stream once in order."""
    wanted = np.asarray(indices, dtype=np.int64)
    need = set(wanted.tolist())
    last = int(wanted.max())
    got: dict[int, np.ndarray] = {}
    for i, (_, img) in enumerate(iter_frames(path)):
        if i in need:
            got[i] = img
        if i >= last:
            break
    missing = sorted(need - set(got))
    if missing:
        raise ValueError(f"{path}: frame {missing[0]} not in the video ({len(got)} frames decoded)")
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
