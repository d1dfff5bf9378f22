import numpy as np
import pytest
import torch
from PIL import Image

from softfer.data.datasets import ClipDataset, ImageDataset, MediaError
from softfer.data.records import Record, frame_index
from softfer.data.sampling import item_rng, segment_indices
from softfer.data.transforms import normalize, train_transform


def test_segment_sampling_test_mode_takes_centres():
    # TSM's test rule: tick = n / N, frame int(tick / 2 + tick * s) (the upper middle for even ticks)
    np.testing.assert_array_equal(segment_indices(16, segments=8, train=False), np.arange(1, 16, 2))
    np.testing.assert_array_equal(segment_indices(80, segments=8, train=False), np.arange(5, 80, 10))
    # 8 segments x 2 frames (Former-DFER) over 32 frames: segments of 4, centre pair starts at 4s + 1
    np.testing.assert_array_equal(
        segment_indices(32, segments=8, frames_per_segment=2, train=False),
        np.ravel([[4 * s + 1, 4 * s + 2] for s in range(8)]),
    )


def test_segment_sampling_train_mode_stays_in_segments_and_is_reproducible():
    for seed in range(50):
        idx = segment_indices(43, segments=8, train=True, rng=item_rng(seed, 0, 3))
        bounds = np.floor(np.linspace(0, 43, 9)).astype(int)
        assert all(bounds[s] <= idx[s] < bounds[s + 1] for s in range(8))
    a = segment_indices(43, segments=8, train=True, rng=item_rng(1, 2, 3))
    b = segment_indices(43, segments=8, train=True, rng=item_rng(1, 2, 3))
    c = segment_indices(43, segments=8, train=True, rng=item_rng(1, 3, 3))
    assert (a == b).all() and not (a == c).all()


def test_short_clip_repeats_last_frame():
    np.testing.assert_array_equal(
        segment_indices(5, segments=8, train=True, rng=item_rng(0, 0, 0)), [0, 1, 2, 3, 4, 4, 4, 4]
    )


def _clip(folder, n=12, size=24):
    folder.mkdir(parents=True)
    for i in range(n):
        img = np.zeros((size, size, 3), np.uint8)
        img[:, : size // 2] = 200  # left half bright: a flip is visible
        img[0, 0] = i * 10
        Image.fromarray(img).save(folder / f"f_{i:03d}.jpg", quality=95)
    return Record(id=folder.name, path=folder, label=1, frames=frame_index(folder))


def test_clip_dataset_uint8_consistent_augmentation_and_cache(tmp_path):
    recs = [_clip(tmp_path / f"c{i}") for i in range(4)]
    ds = ClipDataset(
        recs, num_classes=3, train=True, size=16, segments=4, transform=train_transform(16, scale=(1.0, 1.0))
    )
    flipped = 0
    for i in range(4):
        for epoch in range(4):
            ds.set_epoch(epoch)
            clip = ds[i]["clips"]
            assert clip.dtype == torch.uint8 and clip.shape == (4, 3, 16, 16)
            left = clip[:, :, :, :8].float().mean(dim=(1, 2, 3))
            right = clip[:, :, :, 8:].float().mean(dim=(1, 2, 3))
            frame_flipped = left < right
            assert frame_flipped.all() or (~frame_flipped).all()  # every frame of a clip augmented alike
            flipped += int(frame_flipped.all())
    assert 0 < flipped < 16
    ds.set_epoch(0)
    assert torch.equal(ds[2]["clips"], ds[2]["clips"])
    item = ds[0]
    torch.testing.assert_close(item["soft"], torch.tensor([0.0, 1.0, 0.0]))
    assert torch.isnan(item["va"]).all()
    plain = ClipDataset(recs, num_classes=3, train=False, size=16, segments=4)
    cached = ClipDataset(recs, num_classes=3, train=False, size=16, segments=4, cache_dir=tmp_path / "cache")
    for i in range(4):
        assert torch.equal(cached[i]["clips"], cached[i]["clips"])  # second read from the packed cache
        assert (cached[i]["clips"].float() - plain[i]["clips"].float()).abs().max() <= 2
    x = normalize(item["clips"])
    assert x.dtype == torch.float32 and x.shape == item["clips"].shape


def test_corrupt_jpeg_is_replaced_in_training_under_cap_then_raises(tmp_path, caplog):
    recs = [_clip(tmp_path / f"c{i}", n=4) for i in range(3)]
    bad = recs[1].path / recs[1].frames[0]
    bad.write_bytes(bad.read_bytes()[:40])
    ds = ClipDataset(recs, num_classes=3, train=True, size=16, segments=4, max_skip=0.5)
    item = ds[1]  # replaced by the next clip, logged; the item says which one it replaced
    assert (int(item["index"]), int(item["requested"]), bool(item["readable"])) == (2, 1, True)
    assert "c1" in caplog.text
    strict = ClipDataset(recs, num_classes=3, train=True, size=16, segments=4, max_skip=0.0)
    assert strict.max_unreadable == 0
    with pytest.raises(MediaError, match="c1"):
        strict[1]


def test_image_dataset_crops_the_box(tmp_path):
    img = np.zeros((40, 40, 3), np.uint8)
    img[10:20, 10:20] = 255
    Image.fromarray(img).save(tmp_path / "a.png")
    rec = Record(id="a", path=tmp_path / "a.png", label=0, box=(10, 10, 10, 10), va=np.array([0.5, -0.5]))
    item = ImageDataset([rec], num_classes=2, train=False, size=8)[0]
    assert item["images"].shape == (3, 8, 8) and item["images"].float().mean() > 250
    torch.testing.assert_close(item["va"], torch.tensor([0.5, -0.5]))


def test_a_face_box_outside_the_image_is_unreadable_never_the_whole_photo(tmp_path):
    Image.fromarray(np.full((40, 40, 3), 255, np.uint8)).save(tmp_path / "a.png")
    rec = Record(id="a", path=tmp_path / "a.png", label=0, box=(60, 5, 10, 10))
    with pytest.raises(MediaError, match=r"a\.png: face box x=60 y=5 w=10 h=10 lies outside the 40x40 image"):
        ImageDataset([rec], num_classes=2, train=False, size=8).load(0)
    item = ImageDataset([rec], num_classes=2, train=False, size=8, max_skip=1.0)[0]
    assert not bool(item["readable"])  # evaluation leaves it out and records it
