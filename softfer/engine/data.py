"""From a config to datasets: read the records, inject label noise, pick groups, carve validation, set
training targets (hard / soft / fused), and wrap everything in ``ClipDataset`` or ``ImageDataset``."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from softfer.classes import AFFECTNET_CLASSES, DFEW_CLASSES
from softfer.config import DataConfig, ExperimentConfig
from softfer.data import formats
from softfer.data.datasets import ClipDataset, ImageDataset
from softfer.data.records import Record
from softfer.data.transforms import eval_transform, train_transform
from softfer.labels.affect import (
    AffectStats,
    euclidean_labels,
    fit_affect_stats,
    fuse_labels,
    gmm_labels,
    one_hot,
)
from softfer.labels.noise import flip_labels
from softfer.labels.votes import split_clear_mixed

log = logging.getLogger(__name__)
IMAGE_FORMATS = ("affectnet", "affwild")


@dataclass
class DataBundle:
    """Datasets of one experiment and facts the engine needs about them."""

    train: ClipDataset | ImageDataset | None
    val: ClipDataset | ImageDataset | None
    test: ClipDataset | ImageDataset
    classes: tuple[str, ...]
    train_labels: np.ndarray
    is_image: bool


def class_names(fmt: str, num_classes: int) -> tuple[str, ...]:
    """The class vocabulary of a dataset format."""
    names = AFFECTNET_CLASSES if fmt in IMAGE_FORMATS else DFEW_CLASSES
    return tuple(names[:num_classes])


def read_records(
    data: DataConfig, split: str, *, fmt: str | None = None, root: str | None = None
) -> list[Record]:
    """Records of one split of the configured dataset (or of ``fmt``/``root`` for cross-dataset tests)."""
    fmt, root = fmt or data.format, root or data.root
    if not root:
        raise ValueError(f"data.root is not set for the {fmt} dataset (use --set data.root=PATH)")
    if not Path(root).exists():
        raise ValueError(
            f"the {fmt} dataset is not at {root}: download it (see docs/DATASETS.md) or set data.root"
        )
    kw = {"max_skip": data.max_skip}
    if fmt == "dfew":
        return formats.read_dfew(root, fold=data.fold, split=split, **kw)
    if fmt == "ferv39k":
        return formats.read_ferv39k(root, split=split, **kw)
    if fmt == "afew":
        return formats.read_afew(root, split=split, **kw)
    if fmt == "affectnet":
        return formats.read_affectnet(root, split=split, num_classes=data.num_classes, **kw)
    if fmt == "affwild":
        if not data.affectnet_stats:
            raise ValueError(
                "Aff-Wild labels need data.affectnet_stats (softfer labels va --save-stats on AffectNet)"
            )
        stats = AffectStats.from_dict(json.loads(Path(data.affectnet_stats).read_text()))
        return formats.read_affwild(root, stats, split=split, seed=0)
    if fmt == "manifest":
        return formats.read_manifest(root, split=split, fold=None, **kw)
    if fmt == "former_dfer":
        return formats.read_former_dfer_list(Path(root) / f"{split}.txt", **kw)
    raise ValueError(f"unknown data format {fmt!r}")


def _stratified_holdout(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng([seed, 7])
    held = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        held[idx[: round(fraction * len(idx))]] = True
    return held


def training_targets(records: list[Record], cfg: ExperimentConfig, num_classes: int) -> list[Record]:
    """Copies of ``records`` whose ``soft`` holds the training target of ``cfg.labels.target``."""
    target = cfg.labels.target
    labels = np.array([r.label for r in records])
    if target == "hard":
        return [replace(r, soft=one_hot(np.array([r.label]), num_classes)[0]) for r in records]
    if target == "soft":
        missing = [r.id for r in records if r.soft is None]
        if missing:
            raise ValueError(
                f"labels.target=soft needs soft labels, but {len(missing)} training clips have none (first: "
                f"{missing[0]}); give the vote annotation file or use labels.target=hard"
            )
        return records
    has_va = np.array([r.va is not None for r in records])
    if not has_va.any():
        raise ValueError("labels.target=fused needs valence/arousal annotations in the training data")
    va = np.stack([r.va if r.va is not None else np.zeros(2) for r in records])
    stats = fit_affect_stats(va[has_va], labels[has_va], num_classes)
    if cfg.labels.fusion_method == "gmm":
        p_va = gmm_labels(va, stats)
    else:
        p_va = euclidean_labels(va, stats.means, squared=cfg.labels.euclid_squared)
    p_va[~has_va] = one_hot(labels[~has_va], num_classes)  # no VA: the categorical label alone
    fused = fuse_labels(labels, p_va, alpha=cfg.labels.fusion_alpha)
    if (~has_va).any():
        log.info("%d training samples without VA keep their one-hot label", int((~has_va).sum()))
    return [replace(r, soft=fused[i]) for i, r in enumerate(records)]


def _dataset(records, cfg: ExperimentConfig, *, train: bool, image: bool, num_classes: int):
    d = cfg.data
    transform = (
        train_transform(
            d.size,
            scale=d.augment.scale,
            flip=d.augment.flip,
            color_jitter=d.augment.color_jitter,
            affine_degrees=d.augment.affine_degrees,
        )
        if train
        else eval_transform(d.size)
    )
    common = dict(
        num_classes=num_classes,
        train=train,
        size=d.size,
        transform=transform,
        seed=cfg.run.seed,
        reduced_decode=d.reduced_decode,
    )
    if image:
        return ImageDataset(records, max_skip=d.max_skip, **common)
    return ClipDataset(
        records,
        segments=d.segments,
        frames_per_segment=d.frames_per_segment,
        cache_dir=d.cache_dir,
        max_skip=d.max_skip,
        **common,
    )


def build_data(cfg: ExperimentConfig, *, with_train: bool = True) -> DataBundle:
    """Datasets for training, validation (optional) and testing."""
    d = cfg.data
    image = d.format in IMAGE_FORMATS
    k = d.num_classes
    test_fmt = d.test_format or d.format
    test_split = d.test_split if not d.test_format else ("Val" if test_fmt == "afew" else d.test_split)
    test_records = read_records(d, test_split, fmt=test_fmt, root=d.test_root)
    train = val = None
    labels = np.zeros(0, dtype=np.int64)
    if with_train:
        records = read_records(d, d.train_split)
        labels = np.array([r.label for r in records])
        if d.label_noise > 0:
            noisy = flip_labels(labels, d.label_noise, k, seed=cfg.run.seed, mode=d.noise_mode)
            records = [replace(r, label=int(lab)) for r, lab in zip(records, noisy.labels, strict=True)]
            labels = noisy.labels
            log.info("label noise: %.1f%% of training labels flipped", 100 * noisy.flip_rate)
        if d.group != "all":
            soft = np.stack(
                [r.soft if r.soft is not None else one_hot(np.array([r.label]), k)[0] for r in records]
            )
            split = split_clear_mixed(
                soft,
                labels,
                threshold=d.clear_threshold,
                size=d.group_size,
                seed=cfg.run.seed,
                allow_missing=True,
            )
            chosen = split.clear if d.group == "clear" else split.mixed
            records = [records[i] for i in chosen]
            labels = labels[chosen]
        if d.val_fraction > 0:
            held = _stratified_holdout(labels, d.val_fraction, cfg.run.seed)
            val = _dataset(
                [r for r, h in zip(records, held, strict=True) if h],
                cfg,
                train=False,
                image=image,
                num_classes=k,
            )
            records = [r for r, h in zip(records, held, strict=True) if not h]
            labels = labels[~held]
        train = _dataset(training_targets(records, cfg, k), cfg, train=True, image=image, num_classes=k)
    test = _dataset(test_records, cfg, train=False, image=image, num_classes=k)
    return DataBundle(train, val, test, class_names(d.format, k), labels, image)
