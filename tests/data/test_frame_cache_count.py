"""Audit 3, item 12: a frame-cache entry holding another number of frames than its clip (a shorter or longer
array saved under a valid entry's name) is logged and rebuilt like any damaged entry, for frame folders
(the record's frame list) and videos (the clip's frame count), instead of an IndexError on every read."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from softfer.data.datasets import ClipDataset
from softfer.data.records import Record, frame_index
from tests.robustness.test_data_video import _video


def _folder_clip(folder, n=6, size=24) -> Record:
    folder.mkdir(parents=True)
    for i in range(n):
        frame = Image.fromarray(np.full((size, size, 3), 20 * i, np.uint8))
        frame.save(folder / f"f_{i:03d}.jpg", quality=95)
    return Record(id=folder.name, path=folder, label=1, frames=frame_index(folder))


def _dataset(rec: Record, cache) -> ClipDataset:
    # evaluation sampling of 4 segments over the clip: indices reach its last frames
    return ClipDataset([rec], num_classes=3, train=False, size=16, segments=4, cache_dir=cache)


@pytest.mark.parametrize("media", ["frames", "video"])
@pytest.mark.parametrize("change", ["shorter", "longer"])
def test_a_cache_entry_of_another_frame_count_is_logged_and_rebuilt(tmp_path, caplog, media, change):
    if media == "frames":
        rec, n = _folder_clip(tmp_path / "c0"), 6
    else:
        rec, n = Record(id="v", path=_video(tmp_path / "v.mp4", frames=12), label=1), 12
    cache = tmp_path / "cache"
    expected = _dataset(rec, cache)[0]["clips"].clone()  # builds the entry
    (path,) = cache.iterdir()
    good = path.read_bytes()
    frames = np.load(path)
    assert len(frames) == n  # the entry as built: every frame of the clip
    wrong = frames[:3] if change == "shorter" else np.concatenate([frames, frames[:2]])
    np.save(path, wrong)  # the file name np.save would extend ends in .npy already

    again = _dataset(Record(id=rec.id, path=rec.path, label=1, frames=rec.frames), cache)
    item = again[0]
    assert bool(item["readable"]) and torch.equal(item["clips"], expected)
    assert f"frame cache {path} holds {len(wrong)} frames, the clip has {n}; rebuilding it" in caplog.text
    assert path.read_bytes() == good  # rebuilt in place, under the same key


def test_an_entry_of_the_right_count_is_read_from_the_cache(tmp_path, caplog):
    rec = _folder_clip(tmp_path / "c0")
    cache = tmp_path / "cache"
    _dataset(rec, cache)[0]
    (path,) = cache.iterdir()
    marked = np.load(path)
    marked[:] = 7  # same count, shape and dtype: the cache is trusted, as before
    np.save(path, marked)
    item = _dataset(rec, cache)[0]
    assert torch.all(item["clips"] == 7)
    assert "rebuilding" not in caplog.text
