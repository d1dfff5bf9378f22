"""``ClipDataset`` (frame folders or video files) and ``ImageDataset`` over ``Record`` lists.

Items are dicts of tensors: uint8 pixels (normalised later, on the device), the hard label, a soft label
(one-hot when the dataset has none), valence/arousal (NaN when missing) and the item index. Sampling and
augmentation are reproducible from (seed, epoch, index).

Unreadable media (``MediaError``) is logged and handled by one rule, whatever the number of DataLoader
workers: each item says which record it was asked for (``requested``), which one it holds (``index``) and
whether that one was read (``readable``), and the consumer counts the distinct unreadable records of an
epoch from the batches (``unreadable_indices``) against the cap ``max_unreadable`` (``data.max_skip`` of
the records, rounded down: the readers' rule). A training dataset replaces an unreadable item by the next
readable record (the record then appears twice in that epoch); an evaluation dataset never substitutes:
the item keeps its own record, holds zero pixels and ``readable`` False, and evaluation leaves it out and
records it.
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

from softfer.data.fingerprint import digest, media_stats
from softfer.data.formats.fer2013_faces import face_cache_advice
from softfer.data.records import Record, image_region
from softfer.data.sampling import item_rng, segment_indices
from softfer.data.transforms import ClipTransform, eval_transform, seeded_call
from softfer.io.files import atomic_write, remove_stale_temporaries
from softfer.io.images import (
    MediaError,
    decode_frames,
    decode_image,
    jpeg_reduction,
    limit_worker_threads,
    read_bytes,
)
from softfer.io.media_gate import exif_orientation, orient
from softfer.io.video import count_frames, read_frames

log = logging.getLogger(__name__)
# What a frame cache file holds (every frame, resized to size, uint8 HWC): part of its key, so that a new
# layout never reads an old file.
CACHE_LAYOUT = "frames-hwc-v2"


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


SKIP_ADVICE = "fix or remove those files (data inspect --verify lists them), or raise data.max_skip"


def max_unreadable(max_skip: float, n: int) -> int:
    """The most unreadable records an epoch (or an evaluation) of ``n`` records may meet: ``max_skip`` of
    ``n``, rounded down (at the default 0.01, none of fewer than 100).

    The readers' cap on missing media (``records.check_skips``: more than ``max_skip * n`` fails) in whole
    records, so that one ``data.max_skip`` means one thing wherever an item is left out or replaced.
    """
    # WHY no "at least one": one test item of six left out moved the UAR a sixth while the same file
    # missing was refused by the reader; a user who accepts that raises data.max_skip.
    return int(max_skip * n)


def unreadable_indices(batch: dict[str, torch.Tensor], n: int) -> list[int]:
    """The records found unreadable while a batch of a ``n``-record dataset was loaded.

    A training item that holds record ``index`` in place of ``requested`` found ``requested`` and the
    records after it, up to ``index`` (wrapping), unreadable; an evaluation item with ``readable`` False
    found its own record unreadable. Batches without these fields (other datasets) report none.
    """
    if "requested" not in batch:
        return []
    found = []
    for asked, got, ok in zip(
        batch["requested"].tolist(), batch["index"].tolist(), batch["readable"].tolist(), strict=True
    ):
        while asked != got:
            found.append(asked)
            asked = (asked + 1) % n
        if not ok:
            found.append(got)
    return found


class _LabelledDataset(Dataset):
    def __init__(
        self, records: Sequence[Record], num_classes: int, seed: int, max_skip: float, substitute: bool
    ) -> None:
        if not records:
            raise ValueError("the dataset has no records")
        self.records = list(records)
        self.num_classes = num_classes
        self.seed = seed
        self.epoch = 0
        self.max_skip = max_skip
        self.max_unreadable = max_unreadable(max_skip, len(self.records))
        # WHY only in training: a replaced training item changes one sample of one epoch; a replaced
        # evaluation item would change what is measured.
        self.substitute = substitute

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
        # has_votes: whether ``soft`` is the annotators' distribution or a stand-in (one-hot or uniform),
        # so that evaluation reports vote metrics as absent rather than scoring the stand-in
        has_votes = torch.tensor(rec.soft is not None and rec.soft_is_votes)
        return {"label": torch.tensor(rec.label), "soft": soft, "va": va, "has_votes": has_votes}

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        limit_worker_threads()
        if not self.substitute:
            try:
                return self._item(self.load(index), index, index, True)
            except MediaError as exc:
                log.warning("unreadable item %s left out of the evaluation: %s", self.records[index].id, exc)
                return self._item(self.placeholder(), index, index, False)
        n = len(self.records)
        # Every record tried here is a distinct unreadable record of this epoch: more than the cap in a
        # row exceeds the cap whatever the other items hold.
        tries = min(n, self.max_unreadable + 1)
        for attempt in range(tries):
            i = (index + attempt) % n
            try:
                item = self.load(i)
            except MediaError as exc:
                rec_id = self.records[i].id
                then = "replaced by the next one" if attempt + 1 < tries else "not replaced"
                log.warning("unreadable training item %s %s: %s", rec_id, then, exc)
                last = exc
                continue
            return self._item(item, i, index, True)
        if tries == n:
            raise MediaError(f"no readable item in the dataset of {n} records; last: {last}") from last
        raise MediaError(
            f"{tries} unreadable items in a row from {self.records[index].id}, more than the "
            f"{self.max_unreadable} allowed per epoch (data.max_skip={self.max_skip} of {n} records, rounded "
            f"down); last: {last}; {SKIP_ADVICE}"
        ) from last

    def _item(self, item: dict[str, torch.Tensor], i: int, requested: int, readable: bool):
        item.update(self.targets(self.records[i]))
        item["index"] = torch.tensor(i)
        item["requested"] = torch.tensor(requested)
        item["readable"] = torch.tensor(readable)
        return item

    def load(self, i: int) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def placeholder(self) -> dict[str, torch.Tensor]:
        """Zero pixels of an item's shape, batched in place of an unreadable evaluation item."""
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
        super().__init__(records, num_classes, seed, max_skip, substitute=train)
        self.train, self.size = train, size
        self.reduced_decode = reduced_decode
        self._reduction = 1  # of the last clip decoded: the next clip's first guess
        self.segments, self.frames_per_segment = segments, frames_per_segment
        self.transform = transform if transform is not None else eval_transform(size)
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self._cache_paths: dict[int, Path] = {}
        if self.cache_dir is not None:
            # what a killed run was writing when it died (an hour old: ranks on other machines may share it)
            remove_stale_temporaries(self.cache_dir, min_age_s=3600)

    def _all_frames(self, i: int) -> np.ndarray:
        """Every frame resized to ``size``, from (or into) the packed uint8 cache: (N, S, S, 3)."""
        assert self.cache_dir is not None
        rec = self.records[i]
        path = self._cache_path(i)
        n = self._num_frames(rec)  # known already: ``load`` sampled the clip's frames from it
        if path.is_file():
            cached = self._cached(path, n)
            if cached is not None:
                return cached
        frames = self._frames(i, np.arange(n))
        packed = eval_transform(self.size)(frames).permute(0, 2, 3, 1).numpy()
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        with atomic_write(path, "wb") as f:  # a concurrent reader never sees half a file
            np.save(f, packed)
        return packed

    def _cache_path(self, i: int) -> Path:
        """The cache file of record ``i``: named by a digest of the clip's resolved path, its media
        signature (size and mtime of each file) and the decode settings, never by its id alone: two
        copies of a dataset sharing a cache, ids that sanitise alike, or an edited clip get their own
        entries. Worked out once per record and process (a ``stat`` per frame)."""
        if i not in self._cache_paths:
            rec = self.records[i]
            where = str(Path(rec.path).resolve())
            key = digest([CACHE_LAYOUT, where, media_stats(rec), self.size, self.reduced_decode])
            assert self.cache_dir is not None
            self._cache_paths[i] = self.cache_dir / f"{key}_{self.size}_hwc.npy"
        return self._cache_paths[i]

    def _cached(self, path: Path, num_frames: int) -> np.ndarray | None:
        """The cache file's frames, or None (logged) when it is damaged and must be rebuilt: unreadable, of
        another dtype or frame shape, or holding another number of frames than the clip's ``num_frames``
        (the record's frame list, or the count of a video's frames, stored in ``rec.meta``)."""
        try:
            packed = np.load(path, mmap_mode="r")
        except (ValueError, OSError, EOFError) as exc:  # truncated, or not an .npy file at all
            log.warning("frame cache %s is damaged (%s); rebuilding it", path, exc)
            return None
        if packed.dtype != np.uint8 or packed.ndim != 4 or packed.shape[1:] != (self.size, self.size, 3):
            log.warning(
                "frame cache %s holds %s %s, not uint8 (frames, %d, %d, 3); rebuilding it",
                path,
                packed.dtype,
                packed.shape,
                self.size,
                self.size,
            )
            return None
        if packed.shape[0] != num_frames:  # sampled indices reach up to num_frames - 1
            shown = (path, len(packed), num_frames)
            log.warning("frame cache %s holds %d frames, the clip has %d; rebuilding it", *shown)
            return None
        return packed

    def placeholder(self) -> dict[str, torch.Tensor]:
        t = self.segments * self.frames_per_segment
        return {"clips": torch.zeros((t, 3, self.size, self.size), dtype=torch.uint8)}

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
        super().__init__(records, num_classes, seed, max_skip, substitute=train)
        self.train, self.size = train, size
        self.transform = transform if transform is not None else eval_transform(size)
        self.reduced_decode = reduced_decode

    def placeholder(self) -> dict[str, torch.Tensor]:
        return {"images": torch.zeros((3, self.size, self.size), dtype=torch.uint8)}

    def load(self, i: int) -> dict[str, torch.Tensor]:
        rec = self.records[i]
        try:
            return self._load(rec, i)
        except MediaError as exc:
            mend = face_cache_advice(rec.path)
            if mend is None:  # the dataset's own file: the user's data, said as it is
                raise
            raise MediaError(f"{exc}; {mend}") from exc

    def _load(self, rec: Record, i: int) -> dict[str, torch.Tensor]:
        data = read_bytes(rec.path)
        H, W, x0, y0, x1, y1 = image_region(data, rec.path, rec.box)  # the checks inspect --verify runs
        # Reduce only as far as the face box (not the whole photo) stays at least the model size.
        reduction = jpeg_reduction(min(x1 - x0, y1 - y0), self.size) if self.reduced_decode else 1
        # Boxes are in stored pixels (the datasets' tools ignore EXIF): crop those, then turn the crop
        # upright by the one orientation rule of the media gate.
        pixels = decode_image(data, rec.path, reduction, oriented=False)
        sy, sx = pixels.shape[0] / H, pixels.shape[1] / W
        crop = orient(
            pixels[
                round(y0 * sy) : max(round(y1 * sy), round(y0 * sy) + 1),
                round(x0 * sx) : max(round(x1 * sx), round(x0 * sx) + 1),
            ],
            exif_orientation(data),
        )
        rng = item_rng(self.seed, self.epoch, i)
        return {"images": _apply(self.transform, [crop], rng, self.size)[0].contiguous()}
