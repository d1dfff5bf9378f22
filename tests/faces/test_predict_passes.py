"""predict's two passes over a video do only the work their results need: frames no detection or crop
looks at are decoded but not converted to pixels (``iter_frames(keep=...)``), and MTCNN batches run in
threads, one torch thread each (``detect_batches``). The results are those of converting every frame and
detecting one batch after another."""

from __future__ import annotations

import random
import threading
import time

import numpy as np
import pytest
import torch

from softfer.config import ExperimentConfig
from softfer.faces.detect import Face, FaceDetector, detect_batches
from softfer.faces.multitrack import detection_frames, track_faces
from softfer.io.video import iter_frames, prefetched_frames, read_frames
from softfer.models import create_model
from softfer.predict.pipeline import analyse
from tests.robustness.test_data_video import _video


def test_keep_converts_only_the_chosen_frames_and_flags_the_last(tmp_path):
    video = _video(tmp_path / "v.mp4")
    every = list(iter_frames(video))
    asked: list[tuple[int, bool]] = []

    def keep(i: int, last: bool) -> bool:
        asked.append((i, last))
        return i % 7 == 0 or last

    chosen = list(iter_frames(video, keep=keep))
    n = len(every)
    assert asked == [(i, i == n - 1) for i in range(n)]  # each frame once, in order; only the last is last
    assert [t for t, _ in chosen] == [t for t, _ in every]
    for i, ((_, got), (_, full)) in enumerate(zip(chosen, every, strict=True)):
        if i % 7 == 0 or i == n - 1:
            assert np.array_equal(got, full)
        else:
            assert got is None
    ahead = list(prefetched_frames(video, keep=keep))
    assert [f is None for _, f in ahead] == [f is None for _, f in chosen]
    assert np.array_equal(
        read_frames(video, [40, 3, 40]).numpy(),
        np.stack([every[i][1] for i in (40, 3, 40)]).transpose(0, 3, 1, 2),
    )


class _SlowFake(FaceDetector):
    """One face per frame whose box encodes the frame's first pixel; random delays reorder completion."""

    def __init__(self, fail_at: int | None = None):
        self.fail_at, self.threads_seen = fail_at, set()

    def detect(self, frames):
        self.threads_seen.add(torch.get_num_threads())
        time.sleep(random.uniform(0.0, 0.02))
        value = float(frames[0][0, 0, 0])
        if value == self.fail_at:
            raise RuntimeError(f"failed at {value}")
        return [
            [Face(np.array([f[0, 0, 0], 0, f[0, 0, 0] + 10, 10.0]), 0.99, np.zeros((5, 2)))] for f in frames
        ]


def _batches(count: int, size: int = 3):
    frames = [np.full((4, 4, 3), i, np.uint8) for i in range(count * size)]
    return [[(i, frames[i]) for i in range(b * size, (b + 1) * size)] for b in range(count)]


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_detect_batches_keep_their_order_and_restore_torch_threads(workers):
    random.seed(workers)
    before = torch.get_num_threads()
    detector = _SlowFake()
    out = list(detect_batches(detector, iter(_batches(12)), workers))
    assert [[i for i, _ in b] for b, _ in out] == [[i for i, _ in b] for b in _batches(12)]
    assert [[faces[0].box[0] for faces in found] for _, found in out] == [
        [float(i) for i, _ in b] for b in _batches(12)
    ]
    assert torch.get_num_threads() == before
    if workers > 1:  # each worker on one torch thread: no OpenMP barriers between MTCNN's small operators
        assert detector.threads_seen == {1}


def test_a_failing_batch_raises_in_the_caller_and_restores_torch_threads():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError, match="failed at 15"):
        list(detect_batches(_SlowFake(fail_at=15), iter(_batches(12)), 2))
    assert torch.get_num_threads() == before
    assert not [t for t in threading.enumerate() if t.name.startswith("softfer-detect")]


def test_tracking_refuses_a_keyframe_without_pixels():
    frames = [(i / 25, None if i == 5 else np.zeros((8, 8, 3), np.uint8)) for i in range(8)]
    with pytest.raises(ValueError, match="frame 5 has no pixels"):
        track_faces(iter(frames), _SlowFake(), every=5)


def _clip_model():
    torch.manual_seed(0)
    cfg = ExperimentConfig.model_validate(
        {"data": {"size": 32, "segments": 4}, "model": {"name": "tsm_r18", "options": {"width": 8}}}
    )
    return create_model("tsm_r18", num_classes=7, width=8).eval(), cfg


def _image_model():
    torch.manual_seed(0)
    cfg = ExperimentConfig.model_validate(
        {"data": {"size": 32}, "model": {"name": "r18_affect", "options": {"width": 8}}}
    )
    return create_model("r18_affect", num_classes=8, width=8).eval(), cfg


@pytest.mark.parametrize("make", [_clip_model, _image_model], ids=["clip", "image"])
def test_both_passes_on_a_real_video_equal_converting_every_frame(media, make):
    video = media / "WolfgangLanger_Pexels.mp4"
    detector = FaceDetector(max_side=320, min_face=40)
    serial = track_faces(iter_frames(video), detector, every=5)
    threaded = track_faces(iter_frames(video, keep=detection_frames(5)), detector, every=5, workers=2)
    assert len(serial.tracks) == len(threaded.tracks) >= 1
    assert np.array_equal(serial.times, threaded.times) and serial.size == threaded.size
    for a, b in zip(serial.tracks, threaded.tracks, strict=True):
        assert a.status == b.status
        np.testing.assert_allclose(a.boxes, b.boxes, atol=0.05)  # 1 vs N torch threads: float sums differ

    model, cfg = make()
    k = 7 if cfg.model.name == "tsm_r18" else 8
    asked = []

    def only_needed(keep):
        asked.append(keep)
        return iter_frames(video, keep=keep)

    every_frame = analyse(lambda keep: iter_frames(video), serial, model, cfg, k)
    needed = analyse(only_needed, serial, model, cfg, k)
    assert asked and asked[0] is not None
    for t in serial.tracks:
        assert np.array_equal(needed.frame_probs[t.id], every_frame.frame_probs[t.id], equal_nan=True)
        assert np.array_equal(needed.window_probs[t.id], every_frame.window_probs[t.id], equal_nan=True)
        assert np.array_equal(needed.window_share[t.id], every_frame.window_share[t.id])
    assert not np.isnan(needed.window_probs[serial.tracks[0].id]).all()
    converted = sum(f is not None for _, f in iter_frames(video, keep=asked[0]))
    n = len(serial.times)
    if cfg.model.name == "tsm_r18":  # a clip takes 4 frames of each window: most frames are never cropped
        assert converted < n / 2
    else:  # an image model classifies every frame that shows a face
        assert converted == int(np.any([t.present for t in serial.tracks], axis=0).sum())


@pytest.mark.parametrize("threads", [1, 2])
def test_predict_detects_one_batch_per_torch_thread(media, tmp_path, monkeypatch, threads):
    from softfer.faces import multitrack
    from softfer.predict import Predictor
    from tests.faces.test_faces import _checkpoint

    seen = []

    def spy(detector, batches, workers=1):
        seen.append(workers)
        return detect_batches(detector, batches, workers)

    monkeypatch.setattr(multitrack, "detect_batches", spy)
    before = torch.get_num_threads()
    try:
        predictor = Predictor.from_checkpoint(_checkpoint(tmp_path / "m.pt"), threads=threads)
        result = predictor.predict(media / "single_face.mp4")
    finally:
        torch.set_num_threads(before)
    assert seen == [threads] and len(result.frames) > 0
