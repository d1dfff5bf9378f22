"""``ClipDataset`` (frame folders or video files) and ``ImageDataset`` over ``Record`` lists.

Items are dicts of tensors: uint8 pixels (normalised later, on the device), the hard label, a soft label
(one-hot when the dataset has none), valence/arousal (NaN when missing) and the item index. Sampling and
augmentation are reproducible from (seed, epoch, index). A frame that cannot be decoded is logged and the
item replaced by the next one, up to a cap (``max_skip`` of the dataset); beyond it the error is raised
with the file name.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, default_collate, get_worker_info
from torchvision.transforms.v2 import functional as F

from softfer.data.records import Record
from softfer.data.sampling import item_rng, segment_indices
from softfer.data.transforms import ClipTransform, eval_transform, seeded_call
from softfer.io.files import atomic_write
from softfer.io.images import (
    MediaError,
    decode_frames,
    decode_image,
    image_size,
    jpeg_reduction,
    limit_worker_threads,
    read_bytes,
)
from softfer.io.video import count_frames, read_frames

log = logging.getLogger(__name__)


def collate_items(items: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Batch dataset items: the same keys, shapes, dtypes and values as ``default_collate``.

    Every tensor of a batch crosses from a DataLoader worker to the main process as its own
    shared-memory handle, a socket handshake each. Here all fields of the batch are stacked into one
    byte buffer and returned as contiguous views of it, so a batch costs one handshake instead of five
    (docs/BENCHMARKS.md, loader).
    """
    if not all(isinstance(value, torch.Tensor) for value in items[0].values()):
        return default_collate(items)
    offsets, nbytes = {}, 0
    for key, value in items[0].items():
        nbytes = -(-nbytes // 64) * 64  # every field starts 64-byte aligned, whatever its dtype
        offsets[key] = nbytes
        nbytes += len(items) * value.numel() * value.element_size()
    # In a worker the batch must live in shared memory, as default_collate arranges with the same call.
    storage = (
        torch.UntypedStorage._new_shared(nbytes)
        if get_worker_info() is not None
        else torch.UntypedStorage(nbytes)
    )
    buffer = torch.empty(0, dtype=torch.uint8).set_(storage)
    batch: dict[str, torch.Tensor] = {}
    for key, value in items[0].items():
        size = len(items) * value.numel() * value.element_size()
        view = buffer[offsets[key] : offsets[key] + size].view(value.dtype).view(len(items), *value.shape)
        batch[key] = torch.stack([it[key] for it in items], out=view)
    return batch


class _LabelledDataset(Dataset):
    def __init__(self, records: Sequence[Record], num_classes: int, seed: int, max_skip: float) -> None:
        if not records:
            raise ValueError("the dataset has no records")
        self.records = list(records)
        self.num_classes = num_classes
        self.seed = seed
        self.epoch = 0
        self.max_failures = max(1, int(max_skip * len(self.records)))
        self.failures = 0

    def __len__(self) -> int:
        return len(self.records)

    def set_epoch(self, epoch: int) -> None:
        """Change the random sampling/augmentation of every item (call once per epoch)."""
        self.epoch = epoch

    def targets(self, rec: Record) -> dict[str, torch.Tensor]:
        if rec.soft is not None:
            soft = torch.as_tensor(rec.soft, dtype=torch.float32)
        elif rec.label >= 0:
            soft = torch.nn.functional.one_hot(torch.tensor(rec.label), self.num_classes).float()
        else:
            soft = torch.full((self.num_classes,), 1.0 / self.num_classes)
        va = (
            torch.as_tensor(rec.va, dtype=torch.float32)
            if rec.va is not None
            else torch.full((2,), float("nan"))
        )
        return {"label": torch.tensor(rec.label), "soft": soft, "va": va}

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        limit_worker_threads()
        for attempt in range(len(self.records)):
            i = (index + attempt) % len(self.records)
            try:
                item = self.load(i)
            except MediaError as exc:
                self.failures += 1
                log.warning("skipping unreadable media (%d so far): %s", self.failures, exc)
                if self.failures > self.max_failures:
                    raise MediaError(f"too many unreadable items ({self.failures}); last: {exc}") from exc
                continue
            item.update(self.targets(self.records[i]))
            item["index"] = torch.tensor(i)
            return item
        raise MediaError("no readable item in the dataset")

    def load(self, i: int) -> dict[str, torch.Tensor]:
        raise NotImplementedError


class ClipDataset(_LabelledDataset):
    """Clips of TSN-sampled frames: ``clips`` is uint8 (T, 3, size, size), often a channels-last view.

    ``transform`` is a ``ClipTransform`` (default: resize only), which crops and resizes each decoded
    frame straight into the clip, or any callable on uint8 (T, 3, H, W) tensors (a torchvision v2
    pipeline, say), after which frames are resized to ``size`` if needed.
    """

    def __init__(
        self,
        records: Sequence[Record],
        *,
        num_classes: int,
        train: bool,
        size: int = 112,
        segments: int = 8,
        frames_per_segment: int = 1,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        seed: int = 0,
        cache_dir: str | Path | None = None,
        max_skip: float = 0.01,
        reduced_decode: bool = True,
    ) -> None:
        super().__init__(records, num_classes, seed, max_skip)
        self.train, self.size = train, size
        self.reduced_decode = reduced_decode
        self._reduction = 1  # of the last clip decoded: the next clip's first guess
        self.segments, self.frames_per_segment = segments, frames_per_segment
        self.transform = transform if transform is not None else eval_transform(size)
        self.cache_dir = Path(cache_dir) if cache_dir else None

    def _all_frames(self, i: int) -> np.ndarray:
        """Every frame resized to ``size``, from (or into) the packed uint8 cache: (N, S, S, 3)."""
        assert self.cache_dir is not None
        rec = self.records[i]
        key = rec.id.replace("/", "__")
        path = self.cache_dir / f"{key}_{self.size}_hwc.npy"
        if path.is_file():
            return np.load(path, mmap_mode="r")
        frames = self._frames(i, np.arange(self._num_frames(rec)))
        packed = eval_transform(self.size)(frames).permute(0, 2, 3, 1).numpy()
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        with atomic_write(path, "wb") as f:  # a concurrent reader never sees half a file
            np.save(f, packed)
        return packed

    def _num_frames(self, rec: Record) -> int:
        if rec.is_video_file:
            if "num_frames" not in rec.meta:
                rec.meta["num_frames"] = count_frames(rec.path)
            return rec.meta["num_frames"]
        return rec.num_frames

    def _frames(self, i: int, idx: np.ndarray) -> list[np.ndarray] | np.ndarray:
        """The frames at ``idx`` as RGB uint8 (H, W, 3) arrays."""
        rec = self.records[i]
        if rec.is_video_file:
            try:
                return read_frames(rec.path, idx).permute(0, 2, 3, 1).numpy()
            except Exception as exc:
                raise MediaError(f"{rec.path}: cannot decode video frames ({exc})") from exc
        picks = idx.tolist()
        unique = sorted(set(picks))  # short clips repeat their last frame: decode it once
        folder = str(rec.path)
        paths = [os.path.join(folder, rec.frames[j]) for j in unique]
        frames, self._reduction = decode_frames(
            paths, min_side=self.size if self.reduced_decode else None, guess=self._reduction
        )
        if unique == picks:
            return frames  # the usual case: increasing indices, no repeated frame
        position = {j: k for k, j in enumerate(unique)}
        return [frames[position[j]] for j in picks]

    def load(self, i: int) -> dict[str, torch.Tensor]:
        rec = self.records[i]
        rng = item_rng(self.seed, self.epoch, i)
        n = self._num_frames(rec)
        idx = segment_indices(
            n, segments=self.segments, frames_per_segment=self.frames_per_segment, train=self.train, rng=rng
        )
        frames = self._all_frames(i)[idx] if self.cache_dir is not None else self._frames(i, idx)
        return {"clips": _apply(self.transform, frames, rng, self.size)}


def _apply(transform, frames: list[np.ndarray] | np.ndarray, rng: np.random.Generator, size: int):
    """Frames (H, W, 3) -> uint8 (T, 3, size, size) through a ClipTransform or a tensor callable."""
    if isinstance(transform, ClipTransform):
        return transform(frames, rng)
    clip = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2)
    clip = seeded_call(rng, transform, clip)
    if clip.shape[-2:] != (size, size):
        clip = F.resize(clip, [size, size], antialias=True)
    return clip


class ImageDataset(_LabelledDataset):
    """Still images (cropped to their face box when the record has one): ``images`` is uint8 (3, S, S).

    ``transform`` as for ``ClipDataset`` (applied to a one-frame clip).
    """

    def __init__(
        self,
        records: Sequence[Record],
        *,
        num_classes: int,
        train: bool,
        size: int = 112,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        seed: int = 0,
        max_skip: float = 0.01,
        reduced_decode: bool = True,
    ) -> None:
        super().__init__(records, num_classes, seed, max_skip)
        self.train, self.size = train, size
        self.transform = transform if transform is not None else eval_transform(size)
        self.reduced_decode = reduced_decode

    def load(self, i: int) -> dict[str, torch.Tensor]:
        rec = self.records[i]
        data = read_bytes(rec.path)
        H, W = image_size(data, rec.path)
        x0, y0, x1, y1 = 0, 0, W, H
        if rec.box is not None:
            x, y, w, h = rec.box
            bx0, by0, bx1, by1 = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
            if bx1 - bx0 >= 2 and by1 - by0 >= 2:
                x0, y0, x1, y1 = bx0, by0, bx1, by1
        # Reduce only as far as the face box (not the whole photo) stays at least the model size.
        reduction = jpeg_reduction(min(x1 - x0, y1 - y0), self.size) if self.reduced_decode else 1
        pixels = decode_image(data, rec.path, reduction)
        sy, sx = pixels.shape[0] / H, pixels.shape[1] / W
        crop = pixels[
            round(y0 * sy) : max(round(y1 * sy), round(y0 * sy) + 1),
            round(x0 * sx) : max(round(x1 * sx), round(x0 * sx) + 1),
        ]
        rng = item_rng(self.seed, self.epoch, i)
        return {"images": _apply(self.transform, [crop], rng, self.size)[0].contiguous()}
