"""Decoding ahead in a background thread (softfer.io.prefetch, io.video.prefetched_frames): same items in the
same order, the producer's errors raised where the consumer reaches them, early stops close the source."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from softfer.io.prefetch import prefetched
from softfer.io.video import VideoError, iter_frames, prefetched_frames
from tests.robustness.test_data_video import _cut_after_packet, _video


def test_same_items_in_order_for_any_depth():
    for depth in (1, 2, 7, 100):
        assert list(prefetched(iter(range(50)), depth)) == list(range(50))
    assert list(prefetched([], 3)) == []


def test_producer_error_is_raised_after_the_items_before_it():
    def items():
        yield 1
        yield 2
        raise OSError("disk gone")

    got = []
    with pytest.raises(OSError, match="disk gone"):
        for x in prefetched(items(), 4):
            got.append(x)
    assert got == [1, 2]


def test_early_stop_closes_the_source_in_its_thread_and_ends_the_worker():
    closed = threading.Event()

    def items():
        try:
            yield from range(10_000)
        finally:
            closed.set()

    before = threading.active_count()
    gen = prefetched(items(), 2)
    assert [next(gen) for _ in range(3)] == [0, 1, 2]
    gen.close()
    assert closed.wait(5), "the source generator was not closed"
    assert threading.active_count() == before


def test_bad_depth_refused():
    with pytest.raises(ValueError, match="depth"):
        list(prefetched([1], 0))


def test_prefetched_frames_equal_iter_frames_on_a_real_video(tmp_path):
    video = _video(tmp_path / "v.mp4")
    direct = list(iter_frames(video))
    ahead = list(prefetched_frames(video, budget_bytes=1))  # the smallest depth: 2 frames ahead
    assert len(direct) == 48
    assert [t for t, _ in ahead] == [t for t, _ in direct]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(ahead, direct, strict=True))


def test_prefetched_frames_missing_file_raises_video_error(tmp_path):
    with pytest.raises(VideoError, match="not found"):
        next(prefetched_frames(tmp_path / "none.mp4"))


def test_prefetched_frames_of_a_video_cut_short_raise_like_iter_frames(tmp_path):
    cut = _cut_after_packet(_video(tmp_path / "v.mp4"), tmp_path / "cut.mp4", keep=24)
    with pytest.raises(VideoError) as direct:
        list(iter_frames(cut))
    with pytest.raises(VideoError) as ahead:
        list(prefetched_frames(cut))
    assert str(ahead.value) == str(direct.value)
