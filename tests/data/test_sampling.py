"""Test-time segment sampling follows TSM's ``_get_test_indices``: start = int(tick / 2 + tick * x)."""

import numpy as np
import pytest

from softfer.data.sampling import item_rng, segment_indices


@pytest.mark.parametrize(
    ("frames", "segments", "k", "expected"),
    [
        # tick = 2: 1 + 2x -> the upper middle of each 2-frame segment (we used to take the lower one).
        (16, 8, 1, [1, 3, 5, 7, 9, 11, 13, 15]),
        # tick = 1.25: int(0.625), int(1.875), int(3.125), int(4.375), int(5.625), int(6.875), int(8.125),
        # int(9.375).
        (10, 8, 1, [0, 1, 3, 4, 5, 6, 8, 9]),
        # tick = 10: 5 + 10x.
        (80, 8, 1, [5, 15, 25, 35, 45, 55, 65, 75]),
        # tick = 3 (odd segment length): the exact middle 1 + 3x, as before.
        (24, 8, 1, [1, 4, 7, 10, 13, 16, 19, 22]),
        # k = 2 (Former-DFER's 8 x 2): tick = 31 / 8 = 3.875, starts int(1.9375 + 3.875x) = 1, 5, 9, ...
        (32, 8, 2, [1, 2, 5, 6, 9, 10, 13, 14, 17, 18, 21, 22, 25, 26, 29, 30]),
        # Exactly one frame per segment.
        (8, 8, 1, [0, 1, 2, 3, 4, 5, 6, 7]),
    ],
)
def test_test_sampling_hand_computed(frames, segments, k, expected):
    got = segment_indices(frames, segments=segments, frames_per_segment=k, train=False)
    np.testing.assert_array_equal(got, expected)


def test_fewer_frames_than_segments_reads_in_order_and_repeats_the_last():
    # TSM's test rule would spread 5 frames as [0, 0, 1, 2, 2, 3, 4, 4] (and its validation/training
    # rules take frame 0 eight times); softfer keeps one rule for short clips in training and testing.
    expected = [0, 1, 2, 3, 4, 4, 4, 4]
    np.testing.assert_array_equal(segment_indices(5, segments=8, train=False), expected)
    np.testing.assert_array_equal(segment_indices(5, segments=8, train=True, rng=item_rng(0, 0, 0)), expected)
    np.testing.assert_array_equal(segment_indices(1, segments=4, train=False), [0, 0, 0, 0])


@pytest.mark.parametrize("segments", [3, 7, 8, 16])
@pytest.mark.parametrize("k", [1, 2])
def test_test_sampling_matches_the_reference_rule_scalar_by_scalar(segments, k):
    # The reference's arithmetic, one Python float per segment (7 segments hits float rounding at
    # 12 frames: tick / 2 + 3 * tick evaluates to 5.999... instead of 6, and the reference takes 5).
    for frames in range(segments * k, 200):
        tick = (frames - k + 1) / float(segments)
        starts = [int(tick / 2.0 + tick * x) for x in range(segments)]
        expected = [min(s + j, frames - 1) for s in starts for j in range(k)]
        got = segment_indices(frames, segments=segments, frames_per_segment=k, train=False)
        assert got.tolist() == expected, frames
    assert segment_indices(12, segments=7, train=False).tolist() == [0, 2, 4, 5, 7, 9, 11]


def test_test_indices_stay_inside_the_clip():
    for frames in range(1, 120):
        for k in (1, 2, 4):
            idx = segment_indices(frames, segments=8, frames_per_segment=k, train=False)
            assert len(idx) == 8 * k and idx.min() >= 0 and idx.max() <= frames - 1
            assert (np.diff(idx) >= 0).all()
