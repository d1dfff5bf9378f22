"""``softfer.Predictor``: emotions of every face of a video, photo, PIL image or numpy frames, in a notebook.

from softfer import Predictor
predictor = Predictor.from_checkpoint("fer_fer2013.safetensors")
result = predictor.predict("clip.mp4")      # writes nothing
result.frames.head()                          # one row per frame and face
result.save("out/clip")                       # JSON, CSV and timeline PNG when asked
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from softfer.config import validate_config
from softfer.convert.onnx import export_checkpoint, load_onnx
from softfer.data.provenance import is_synthetic
from softfer.faces.detect import FaceDetector
from softfer.faces.multitrack import Tracking, detection_frames, track_faces
from softfer.inference.calibration import Calibration
from softfer.inference.checkpoint import load_checkpoint
from softfer.inference.device import resolve_device
from softfer.inference.loading import model_from_state
from softfer.io.console import progress
from softfer.io.files import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from softfer.io.images import read_photo
from softfer.io.media_gate import pil_rgb8, rgb8, tensor_rgb8
from softfer.io.video import prefetched_frames, stated_frames
from softfer.limits import MAX_EVERY, MAX_FPS, MAX_SECONDS, MAX_THREADS, MAX_WINDOWS_PER_FRAME
from softfer.models import spec_of
from softfer.predict.identity import IDENTITY_KEY, media_identity
from softfer.predict.pipeline import FrameSource, analyse, check_stride, check_video_stride, rounded_up
from softfer.predict.results import Prediction, frame_table, track_summary, window_table

SYNTHETIC_NOTE = (
    "this checkpoint was trained on softfer's synthetic benchmark (cartoon faces): its predictions on real "
    "faces are for trying the pipeline, not emotion estimates"
)
FACES = ("all", "largest")

Frames = FrameSource  # a fresh pass over the frames per call; ``keep`` says which need pixels


def provenance(cfg: Any, trained_on: dict | None) -> str:
    """What the model was trained on, in words, for every output it produces."""
    if trained_on and trained_on.get("synthetic"):
        return SYNTHETIC_NOTE
    if trained_on and trained_on.get("dataset"):
        return f"trained on {trained_on['dataset']}; weights: {trained_on.get('weights', 'unknown')}"
    if trained_on is None and is_synthetic(cfg.data.root):
        # a best.pt or last.pt of an earlier softfer records nothing: its data folder, where it still is,
        # says whether it was the synthetic benchmark (found by audit: "trained on dfew data")
        return SYNTHETIC_NOTE
    where = f" ({cfg.data.root})" if cfg.data.root else ""  # a config made in code may name no folder
    return f"trained on {cfg.data.format} data{where}; softfer ships no weights trained on licensed data"


def check_classes(classes: Any, num_classes: int | None) -> None:
    """One distinct name per output of the model (``data.num_classes`` of its config; None: any count): a
    shorter tuple failed deep in numpy, and repeated names merged their columns into one (found by audit).

    Raises:
        ValueError: naming the count or the repeated name.
    """
    names = list(classes)
    count = len(names) if num_classes is None else num_classes
    if len(names) != count or not all(isinstance(c, str) and c for c in names):
        raise ValueError(
            f"classes: {count} names, one per output of the model (its config's data.num_classes), "
            f"got {names!r:.200}"
        )
    repeated = next((c for c in names if names.count(c) > 1), None)
    if repeated is not None:
        raise ValueError(f"classes: {repeated!r} is given twice; each output of the model needs its own name")


def checked(
    value: Any, name: str, lo: float, hi: float, *, lo_open: bool = False, integer: bool = False
) -> Any:
    """``value`` when it is a real number (an integer with ``integer``) in [lo, hi], or (lo, hi] with
    ``lo_open``. The ranges of the numeric arguments are the CLI options' (``softfer.limits``).

    Raises:
        ValueError: naming the argument, the range and the value (booleans, strings, nan and inf too).
    """
    span = f"{'(' if lo_open else '['}{lo:g}, {hi:g}]"
    kind = "an integer" if integer else "a number"
    real = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    if isinstance(value, bool | np.bool_) or not isinstance(value, real):
        raise ValueError(f"{name} must be {kind} in {span}, got {value!r} ({type(value).__name__})")
    # WHY written so: every comparison with nan is false, so nan fails here too
    if not ((lo < value if lo_open else lo <= value) and value <= hi):
        raise ValueError(f"{name} must be {kind} in {span}, got {value!r}")
    return value


def check_windows(window: float, stride: float) -> None:
    """Window length and stride in seconds: in (0, MAX_SECONDS], as ``softfer predict --window/--stride``."""
    checked(window, "window", 0.0, MAX_SECONDS, lo_open=True)
    checked(stride, "stride", 0.0, MAX_SECONDS, lo_open=True)


@dataclasses.dataclass
class FaceSettings:
    """How faces are found: detect every ``every`` frames, ``faces`` "all" or "largest", MTCNN options."""

    faces: str = "all"
    every: int = 5
    max_gap: int = 12
    detect_max_side: int = 320
    min_face: int = 40
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.faces not in FACES:
            raise ValueError(f"faces must be one of {FACES}, got {self.faces!r}")
        checked(self.every, "every", 1, MAX_EVERY, integer=True)  # softfer predict --every
        checked(self.max_gap, "max_gap", 0, 100_000, integer=True)
        checked(self.detect_max_side, "detect_max_side", 16, 16_384, integer=True)
        checked(self.min_face, "min_face", 1, 16_384, integer=True)
        self.device = str(resolve_device(self.device, "device"))  # "auto" as the device it picks


def _image_frames(img: np.ndarray) -> Frames:
    return lambda keep=None: iter([(0.0, img)])


def _array_frames(pixels: np.ndarray, fps: float | None, given: str) -> tuple[Frames, bool]:
    """(frames, is a photo) of gated pixels: (H, W, 3) is a photo, (N, H, W, 3) frames at ``fps``;
    ``given`` names the source in the error ("a torch tensor (N, C, H, W) (8, 3, 64, 64)")."""
    if pixels.ndim == 3:
        return _image_frames(pixels), True
    if not fps or fps <= 0:
        raise ValueError(f"frames given as {given} need their frame rate: predict(frames, fps=25)")
    return (lambda keep=None: ((i / fps, f) for i, f in enumerate(pixels))), False


PREDICT_TAKES = (
    "a path to a video or image file (str or pathlib.Path), a PIL image, a numpy array or a torch tensor"
)


def _not_media(source: Any) -> str:
    """What ``predict`` takes, for a source of another type, with the way to it from a list or bytes."""
    hint = ""
    if isinstance(source, list | tuple):
        hint = "; a list of frames (arrays of one size): predict(np.stack(frames), fps=25)"
    elif isinstance(source, bytes | bytearray | memoryview):
        hint = "; the bytes of an encoded image: predict(PIL.Image.open(io.BytesIO(data)))"
    return f"predict takes {PREDICT_TAKES}, not {type(source).__name__}{hint}"


def check_frame_rate(fps: float, frames: int, stride: float) -> None:
    """``frames`` frames at ``fps`` suit ``stride``: at most ``MAX_WINDOWS_PER_FRAME`` windows per frame
    (``softfer.predict.pipeline.check_stride``), checked before any face is detected.

    Raises:
        ValueError: naming fps and its least value for this stride, or the stride when no fps in range
            suits it (a stride below 1 / (10 x 1000) s) or ``frames`` at ``fps`` (``check_stride``).
    """
    least = rounded_up(1 / (MAX_WINDOWS_PER_FRAME * stride))  # stated; the test is check_stride's, exact
    if fps * stride * MAX_WINDOWS_PER_FRAME < 1 - 1e-9 and least < MAX_FPS:  # else name the stride
        raise ValueError(
            f"fps must be a number in [{least:g}, {MAX_FPS:g}] with stride {stride:g} s (at most "
            f"{MAX_WINDOWS_PER_FRAME} windows per frame), got {fps!r}"
        )
    check_stride(stride, frames, frames / fps)


def frames_of(source: Any, fps: float | None = None) -> tuple[Frames, bool, str]:
    """(a fresh frame iterator per call, is a photo, name) for a path, PIL image, numpy array or torch
    tensor; pixels pass the media gate (``softfer.io.media_gate``: dtype, range, channels checked). The
    name of a file is its resolved path, so that the result's ``meta["media"]`` finds it from any folder
    (``softfer view``); that of pixels is "image" or "frames"."""
    if fps is not None:
        checked(fps, "fps", 0.0, MAX_FPS, lo_open=True)
    if isinstance(source, Image.Image):
        return _image_frames(pil_rgb8(source, "PIL image")), True, "image"
    if isinstance(source, np.ndarray | torch.Tensor):
        gate = rgb8 if isinstance(source, np.ndarray) else tensor_rgb8
        kind = "numpy" if isinstance(source, np.ndarray) else "torch"
        layout = "a numpy array (N, H, W, C)" if kind == "numpy" else "a torch tensor (N, C, H, W)"
        pixels = gate(source, f"{kind} {'image' if source.ndim < 4 else 'frames'}")
        frames, photo = _array_frames(pixels, fps, f"{layout} {tuple(source.shape)}")
        return frames, photo, "frames"
    if not isinstance(source, str | os.PathLike):
        raise ValueError(_not_media(source))
    path = Path(source)
    if path.is_dir():
        raise ValueError(
            f"{path} is a folder, not a file: predict takes one video or image file (or a PIL image, array "
            f"or tensor); predict each file of the folder, or run `softfer predict {path}` for all of them"
        )
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return _image_frames(read_photo(path)), True, str(path.resolve())
    if path.suffix.lower() in VIDEO_SUFFIXES:
        # decoded ahead on another core while detection and the model work (docs/BENCHMARKS.md)
        return (lambda keep=None: prefetched_frames(path, keep=keep)), False, str(path.resolve())
    raise ValueError(f"{path}: not a video or image file ({', '.join(VIDEO_SUFFIXES + IMAGE_SUFFIXES)})")


BACKENDS = ("auto", "torch", "onnx")


def _load(path: Path, backend: str, device: str, threads: int | None) -> tuple:
    """(model, config, classes, trained_on, calibration) through PyTorch or onnxruntime."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    onnx_file = path.suffix.lower() == ".onnx"
    if onnx_file and backend == "torch":
        raise ValueError(f"{path}: an ONNX file runs with backend 'onnx' (or 'auto'), not 'torch'")
    if backend == "onnx" and not onnx_file:
        with tempfile.TemporaryDirectory() as tmp:
            exported = Path(tmp) / f"{path.stem}.onnx"
            export_checkpoint(path, exported)
            return _load(exported, "onnx", device, threads)
    if onnx_file:
        module, cfg, classes, trained_on = load_onnx(path, threads=threads, device=device)
        calibration = Calibration.from_state(module.metadata, path)
        return module, validate_config(cfg, str(path)), tuple(classes), trained_on, calibration
    state = load_checkpoint(path)
    model, cfg, classes = model_from_state(state, path, device)
    return model, cfg, classes, state.get("trained_on"), Calibration.from_state(state, path)


class Predictor:
    """A loaded model and face settings; ``predict`` returns a ``Prediction`` and writes nothing.

    Args:
        model: a softfer model (or an ONNX module) in eval mode.
        cfg: its experiment config (the crop size and clip length come from it).
        classes: the class names, in the model's output order.
        note: what the model was trained on (``provenance``).
        faces: face detection settings.
        window, stride: seconds per window and between windows (videos).
        calibration: the model's temperature and ambiguity threshold (`softfer calibrate`; default:
            none, the default threshold); ``meta["calibration"]`` says which.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        cfg: Any,
        classes: tuple[str, ...],
        *,
        note: str = "",
        faces: FaceSettings | None = None,
        window: float = 2.0,
        stride: float = 0.5,
        source: str = "",
        calibration: Calibration | None = None,
    ) -> None:
        check_windows(window, stride)
        check_classes(classes, cfg.data.num_classes if cfg is not None else None)
        self.model, self.cfg, self.classes, self.note = model, cfg, tuple(classes), note
        self.calibration = calibration or Calibration()
        self.faces = faces or FaceSettings()
        self.window, self.stride, self.source = window, stride, source
        self._detector: FaceDetector | None = None

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        *,
        device: str = "cpu",
        threads: int | None = None,
        faces: str = "all",
        every: int = 5,
        window: float = 2.0,
        stride: float = 0.5,
        backend: str = "auto",
    ) -> Predictor:
        """Load a softfer checkpoint (RUN/model.pt, a ``.safetensors`` from ``import-fer``, an ``.onnx``
        from ``softfer export``).

        Args:
            backend: "torch", "onnx" (onnxruntime; a PyTorch checkpoint is exported first, into a
                temporary folder) or "auto" (by the file's suffix).
            device: where the classifier and MTCNN run ("cpu", "cuda", "cuda:N" or "auto"; a device this
                machine lacks is refused in one line).
            threads: torch CPU threads for this process (on a shared 2-core machine 1 is fastest).
            faces: "all" faces, or only the "largest" of each keyframe.
            every: detect faces every ``every`` frames and track in between.
            window, stride: seconds per window and between windows (videos).
        """
        # every argument is checked before the model loads
        settings = FaceSettings(faces=faces, every=every, device=device)
        check_windows(window, stride)
        if threads is not None:
            checked(threads, "threads", 1, MAX_THREADS, integer=True)  # softfer predict --threads
            torch.set_num_threads(threads)
        model, cfg, classes, trained_on, calibration = _load(Path(path), backend, settings.device, threads)
        note = provenance(cfg, trained_on)
        return cls(
            model,
            cfg,
            classes,
            note=note,
            faces=settings,
            window=window,
            stride=stride,
            source=str(path),
            calibration=calibration,
        )

    def detector(self) -> FaceDetector:
        """The MTCNN detector, built once (a folder of media reuses it)."""
        if self._detector is None:
            f = self.faces
            self._detector = FaceDetector(device=f.device, max_side=f.detect_max_side, min_face=f.min_face)
        return self._detector

    def track(self, frames: Frames, photo: bool, name: str) -> Tracking:
        """Every face of the frames, tracked (photos: each face detected once)."""
        f = self.faces
        # a video file's total as its container states it: the bar shows N frames and an ETA
        video = not photo and Path(name).suffix.lower() in VIDEO_SUFFIXES
        total = stated_frames(name) if video else None
        every = 1 if photo else f.every
        passes = frames(detection_frames(every))  # only the frames detection looks at become pixels
        shown = progress(passes, description=f"faces in {Path(name).name}", total=total, enabled=not photo)
        workers = torch.get_num_threads() if torch.device(f.device).type == "cpu" else 1  # a call per core
        return track_faces(
            shown,
            self.detector(),
            every=every,
            max_gap=f.max_gap,
            largest_only=f.faces == "largest",
            workers=workers,
        )

    def predict(self, source: Any, *, fps: float | None = None) -> Prediction:
        """Emotions of every face of a video or image file, a PIL image, or numpy RGB frames.

        Args:
            source: a path (video or photo), a ``PIL.Image``, a numpy image (H, W) or (H, W, C), numpy
                frames (N, H, W, C), or a torch tensor (C, H, W) / (N, C, H, W); C is 1, 3 or 4, pixels
                uint8, 16-bit or float in [0, 1] or [0, 255] (``softfer.io.media_gate``; others refused, and
                float whose largest value is in (1, 2]). A file's size and SHA-256 are recorded in
                ``meta["media_identity"]`` (``softfer.predict.identity``; None for pixels).
            fps: the frame rate of frames (4-D arrays or tensors): a number in (0, 1000], and at least
                1 / (10 x stride) (``softfer.limits.MAX_WINDOWS_PER_FRAME``).

        Raises:
            ValueError: media the gate refuses, a source of another type (a list or bytes), an ``fps``
                that is no number in (0, 1000] or too low for the stride (``check_frame_rate``).
        """
        frames, photo, name = frames_of(source, fps)
        if isinstance(source, np.ndarray | torch.Tensor) and not photo:
            check_frame_rate(fps, len(source), self.stride)  # fps is set: frames_of refused frames without
        elif not photo and isinstance(source, str | os.PathLike):
            check_video_stride(Path(source), self.stride)  # before tracking, by the container's frame rate
        # the file's bytes, hashed before they are decoded: `softfer view` refuses any other file; pixels
        # given in memory have no file to name (null)
        identity = media_identity(name) if isinstance(source, str | os.PathLike) else None
        tracking = self.track(frames, photo, name)
        a = analyse(
            frames,
            tracking,
            self.model,
            self.cfg,
            len(self.classes),
            window=self.window,
            stride=self.stride,
            temperature=self.calibration.temperature,
        )
        classes = list(self.classes)
        times = tracking.times
        step = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
        meta = {
            "media": name,
            IDENTITY_KEY: identity,
            "model": spec_of(self.model).name,
            "checkpoint": self.source,
            "classes": classes,
            "note": self.note,
            "calibration": self.calibration.describe(),
            "photo": photo,
            "frames": len(times),
            "duration": float(times[-1] - times[0] + step) if len(times) else 0.0,
            "size": list(tracking.size),
            "faces": len(tracking.tracks),
            "tracks": track_summary(a),
            "window": self.window,
            "stride": self.stride,
        }
        threshold = self.calibration.threshold
        return Prediction(frame_table(a, classes, threshold), window_table(a, classes, threshold), meta)
