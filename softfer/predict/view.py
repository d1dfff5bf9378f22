"""``softfer view RESULT`` and ``predict --html``: one self-contained HTML page per video or photo.

The page shows the media with every face's box, id and top emotion drawn over it, and per face a stacked
distribution timeline under the player that follows playback (a moving cursor; click to seek; hover for the
numbers and the state). Nothing is fetched: it opens from the file system, and can be mailed as one file.

What is embedded (docs/OUTPUTS.md, "Viewer page"):
- a video as a small preview re-encoded through PyAV: H.264 in MP4 (plays in every current browser, unlike
  the HEVC or MJPEG many cameras write), at most ``PREVIEW_SIDE`` pixels on its long side, no sound, each
  frame at its own time from the first frame, so the player's clock is predict's clock; the original is
  never linked (a page that needs a file beside it breaks when mailed or moved);
- a photo as a JPEG of the pixels predict saw (EXIF orientation applied, at most ``PHOTO_SIDE`` pixels);
- predict's JSON, as data: Jinja2's ``tojson`` escapes ``<``, ``>``, ``&`` and ``'``, so no value of it
  (a file name, a class name) can end the script element or become markup.

What is refused: a JSON not as predict writes it (``softfer.predict.result_json``; its rows' times are
checked against the media's frames here), and media that are not the file predicted
(``softfer.predict.identity``: size and SHA-256 as recorded, then pixel size and frame count as the frames
are re-encoded).
"""

from __future__ import annotations

import base64
import io
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
from jinja2 import Environment, PackageLoader, StrictUndefined
from PIL import Image

from softfer.io.files import IMAGE_SUFFIXES, VIDEO_SUFFIXES, write_text_atomic
from softfer.io.images import read_photo
from softfer.io.outputs import check_output
from softfer.io.video import iter_frames
from softfer.predict.colours import COLOURS, ink, track_colours
from softfer.predict.identity import check_media_identity
from softfer.predict.result_json import check_times, read_result

PREVIEW_SIDE = 640  # the embedded video's long side in pixels: ~1-2 MB per minute at CRF 28
PHOTO_SIDE = 1600
PREVIEW_CRF = "28"
TIME_BASE = Fraction(1, 90000)  # MPEG's clock: every frame time kept to 11 microseconds

TEMPLATES = Environment(
    loader=PackageLoader("softfer.predict", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _even(n: float) -> int:
    return max(2, int(n) // 2 * 2)


def video_preview(video: Path, size: tuple[int, int]) -> tuple[bytes, list[float]]:
    """(H.264 MP4 bytes, each frame's time as decoded) of ``video`` decoded as predict decodes it: the
    times are predict's (the first not always 0); the MP4 plays each frame at its time from the first.

    ``size`` is predict's (height, width); frames of another size mean another video (ValueError).
    """
    h, w = size
    scale = min(1.0, PREVIEW_SIDE / max(h, w))
    out_w, out_h = _even(w * scale), _even(h * scale)
    buf, times, last = io.BytesIO(), [], -1
    with av.open(buf, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = out_w, out_h, "yuv420p"
        stream.codec_context.time_base = TIME_BASE
        # no B-frames: the file then needs no edit list, and every browser starts it at exactly 0
        stream.options = {"crf": PREVIEW_CRF, "preset": "veryfast", "bf": "0"}
        for t, frame in iter_frames(video):
            if frame.shape[:2] != (h, w):
                raise ValueError(
                    f"{video}: frames of {frame.shape[1]}x{frame.shape[0]} pixels, but the result is of a "
                    f"{w}x{h} video: pass --media the video that was predicted"
                )
            times.append(float(t))
            small = cv2.resize(frame, (out_w, out_h), interpolation=cv2.INTER_AREA)
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(small), format="rgb24")
            last = vf.pts = max(last + 1, round((t - times[0]) / TIME_BASE))
            vf.time_base = TIME_BASE
            for packet in stream.encode(vf):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue(), times


def photo_preview(photo: Path, size: tuple[int, int]) -> bytes:
    """JPEG bytes of the photo's pixels as predict saw them (orientation applied), at most ``PHOTO_SIDE``."""
    pixels = read_photo(photo)
    if list(pixels.shape[:2]) != list(size):
        raise ValueError(
            f"{photo}: {pixels.shape[1]}x{pixels.shape[0]} pixels, but the result is of a "
            f"{size[1]}x{size[0]} photo: pass --media the photo that was predicted"
        )
    img = Image.fromarray(pixels)
    img.thumbnail((PHOTO_SIDE, PHOTO_SIDE))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def render_page(result: dict[str, Any], media: Path, result_path: str | Path = "the result") -> str:
    """The page's HTML for predict's ``result`` (its JSON form, read from ``result_path``) and the media
    file it was made from, whose frames' times the result's rows must hold (``check_times``)."""
    meta = result["meta"]
    size = (int(meta["size"][0]), int(meta["size"][1]))
    if meta.get("photo"):
        uri = "data:image/jpeg;base64," + base64.b64encode(photo_preview(media, size)).decode("ascii")
        times = [0.0]
    else:
        mp4, times = video_preview(media, size)
        if len(times) != int(meta["frames"]):
            raise ValueError(
                f"{media}: {len(times)} frames, but the result has {meta['frames']}: pass --media the video "
                "that was predicted"
            )
        uri = "data:video/mp4;base64," + base64.b64encode(mp4).decode("ascii")
    check_times(result, times, result_path)  # before the page's clock, which counts from the first frame
    times = [t - times[0] for t in times]
    step = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
    view = {"frame_times": times, "duration": times[-1] + step, "height": size[0], "width": size[1]}
    # the annotated video's colours: faces on screen together differ, each track keeps one
    view["track_colours"] = {
        str(t): ["rgb({},{},{})".format(*COLOURS[c]), "rgb({},{},{})".format(*ink(COLOURS[c]))]
        for t, c in track_colours(result["frames"]).items()
    }
    return TEMPLATES.get_template("view.html.j2").render(
        title=Path(str(meta.get("media", "media"))).name,
        meta=meta,
        photo=bool(meta.get("photo")),
        media_uri=uri,
        data={"result": result, "view": view},
    )


def find_media(result_path: Path, meta: dict[str, Any], media: str | Path | None) -> Path:
    """The media file a result was predicted from: ``media`` when given, else the path predict recorded."""
    path = Path(media) if media else Path(str(meta.get("media", "")))
    if not path.is_file():
        said = f"--media {path}" if media else f"its media {path}"
        raise ValueError(
            f"{result_path}: {said} is not a file (moved, or predict ran in another folder): pass --media "
            "the video or photo that was predicted"
        )
    if path.suffix.lower() not in (IMAGE_SUFFIXES if meta.get("photo") else VIDEO_SUFFIXES):
        kind = "photo" if meta.get("photo") else "video"
        raise ValueError(f"{path}: not a {kind} file, but {result_path} is the result of a {kind}")
    return path


def write_page(
    result: dict[str, Any], media: Path, out: Path, result_path: str | Path = "the result"
) -> Path:
    """Write the page of predict's ``result`` (its JSON form, from ``result_path``) for ``media`` to ``out``
    (atomically); the caller has checked ``out`` against the output rule."""
    write_text_atomic(out, render_page(result, media, result_path))
    return out


def write_view(
    result: str | Path,
    out: str | Path | None = None,
    *,
    media: str | Path | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the viewer page of one predict result; returns its path.

    Args:
        result: predict's ``NAME.json``.
        out: the page (default: ``NAME.html`` beside the JSON).
        media: the video or photo (default: the path recorded in the JSON's ``meta.media``).
        overwrite: replace an existing page (never the JSON or the media).

    Raises:
        ValueError: the JSON is not predict's (``softfer.predict.result_json``; a row's time not its
            frame's in the media, ``check_times``), the media is missing or
            is not the one predicted (its size and SHA-256 differ from ``meta.media_identity``, or its pixel
            size or frame count from the result's), or ``out`` may not be written (``softfer.io.outputs``).
    """
    result = Path(result)
    path = Path(out) if out else result.with_suffix(".html")
    data = read_result(result)
    source = find_media(result, data["meta"], media)
    check_media_identity(result, data["meta"], source)
    check_output(path, inputs=[result, source], overwrite=overwrite, suffix=".html")
    return write_page(data, source, path, result)
