"""From a config to datasets: read the records, inject label noise, pick groups, carve validation, set
training targets (hard / soft / fused), and wrap everything in ``ClipDataset`` or ``ImageDataset``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from softfer.config import DataConfig, ExperimentConfig
from softfer.data.datasets import ClipDataset, ImageDataset
from softfer.data.formats import ReadRequest, get_format, read_affect_stats
from softfer.data.provenance import is_synthetic
from softfer.data.records import ReadReport, Record, records_media_kind
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


@dataclass
class DataBundle:
    """Datasets of one experiment and facts the engine needs about them."""

    train: ClipDataset | ImageDataset | None
    val: ClipDataset | ImageDataset | None
    test: ClipDataset | ImageDataset
    classes: tuple[str, ...]
    train_labels: np.ndarray  # the training labels as the model sees them (after injected noise)
    is_image: bool
    # The labels the class weights W_k are fitted on: ``train_labels``, or the clean labels before noise
    # with labels.stats_from=clean.
    weight_labels: np.ndarray | None = None
    # Whether the training data is softfer's synthetic benchmark (``softfer.data.provenance``); recorded
    # with the trained model so that `softfer predict` can say so.
    synthetic: bool = False
    # What reading each split left out and why ("train", "test": ``reading_record``), for metrics.json.
    reading: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.weight_labels is None:
            self.weight_labels = self.train_labels


def class_names(fmt: str, num_classes: int) -> tuple[str, ...]:
    """The first ``num_classes`` class names of a dataset format (``FORMATS[fmt].class_names``)."""
    return get_format(fmt).class_names(num_classes)


def read_records(
    data: DataConfig,
    split: str,
    *,
    fmt: str | None = None,
    root: str | None = None,
    test: bool = False,
    report: ReadReport | None = None,
) -> list[Record]:
    """Records of one split of the configured dataset (or of ``fmt``/``root`` for cross-dataset tests).

    ``test``: the records are evaluated, not trained on (AffectNet then keeps its code-8 "None" images
    with valence/arousal for the VA metrics, as the dual-domain paper counts them). ``report`` collects
    what the reader left out (skipped media, rows dropped by the format's rule, notes).
    """
    fmt, root = fmt or data.format, root or data.root
    entry = get_format(fmt)
    if not root:
        raise ValueError(f"data.root is not set for the {fmt} dataset (use --set data.root=PATH)")
    if not Path(root).exists():
        raise ValueError(
            f"the {fmt} dataset is not at {root}: download it (see docs/DATASETS.md) or set data.root"
        )
    request = ReadRequest(
        root=root,
        split=split,
        fold=data.fold,
        num_classes=data.num_classes,
        max_skip=data.max_skip,
        soft_labels=data.soft_labels,
        affectnet_stats=data.affectnet_stats,
        test=test,
        allow_outside_root=data.allow_outside_root,
        report=report,
    )
    return entry.read(request)


def reading_record(report: ReadReport, source: str, *, shown: int = 20) -> dict[str, Any]:
    """What reading one split left out, as metrics.json records it (the first ``shown`` lines of each)."""
    return {
        "source": source,
        "listed": report.total,
        "skipped": len(report.skipped),
        "skipped_first": report.skipped[:shown],
        "dropped": dict(report.dropped),
        "notes": len(report.notes),
        "notes_first": report.notes[:shown],
    }


def affectnet_stats(data: DataConfig) -> AffectStats:
    """The AffectNet VA statistics Aff-Wild's labels are derived from (dual-domain sections 4.1, 5.1)."""
    return read_affect_stats(data.affectnet_stats)


def _stratified_holdout(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng([seed, 7])
    held = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        held[idx[: round(fraction * len(idx))]] = True
    return held


def training_targets(
    records: list[Record], cfg: ExperimentConfig, num_classes: int, *, stats_labels: np.ndarray | None = None
) -> list[Record]:
    """Copies of ``records`` whose ``soft`` holds the training target of ``cfg.labels.target``.

    ``stats_labels`` are the labels the VA statistics are fitted on (default: the records' own labels);
    the fusion of eq. 4 always uses the records' labels, as the model sees them.

    Raises:
        ValueError: ``cfg.labels.target`` names no entry of ``LABEL_METHODS``, or the records lack what
            the method needs.
    """
    method = LABEL_METHODS.get(cfg.labels.target)
    if method is None:
        raise ValueError(f"labels.target={cfg.labels.target!r}: choose one of {sorted(LABEL_METHODS)}")
    labels = np.array([r.label for r in records])
    stats_labels = labels if stats_labels is None else np.asarray(stats_labels)
    return method(records, cfg, num_classes, stats_labels)


def hard_targets(
    records: list[Record], cfg: ExperimentConfig, num_classes: int, stats_labels: np.ndarray
) -> list[Record]:
    """One-hot rows of the categorical labels."""
    return [replace(r, soft=one_hot(np.array([r.label]), num_classes)[0]) for r in records]


def soft_targets(
    records: list[Record], cfg: ExperimentConfig, num_classes: int, stats_labels: np.ndarray
) -> list[Record]:
    """The annotators' vote distributions the records already carry."""
    missing = [r.id for r in records if r.soft is None]
    if missing:
        raise ValueError(
            f"labels.target=soft needs soft labels, but {len(missing)} training clips have none (first: "
            f"{missing[0]}); give the vote annotation file or use labels.target=hard"
        )
    return records


def fused_targets(
    records: list[Record], cfg: ExperimentConfig, num_classes: int, stats_labels: np.ndarray
) -> list[Record]:
    """Dual-domain eq. 4: the categorical label fused with a label derived from valence/arousal."""
    labels = np.array([r.label for r in records])
    has_va = np.array([r.va is not None for r in records])
    if not has_va.any():
        raise ValueError("labels.target=fused needs valence/arousal annotations in the training data")
    va = np.stack([r.va if r.va is not None else np.zeros(2) for r in records])
    if get_format(cfg.data.format).borrows_va_stats:
        # Aff-Wild borrows AffectNet's parameters: "we assign p(y|x_n)_GMM to each VA annotation" (5.1).
        stats = affectnet_stats(cfg.data)
    else:
        stats = fit_affect_stats(va[has_va], stats_labels[has_va], num_classes)
    if cfg.labels.fusion_method == "gmm":
        p_va = gmm_labels(va, stats)
    else:
        p_va = euclidean_labels(va, stats.means, squared=cfg.labels.euclid_squared)
    p_va[~has_va] = one_hot(labels[~has_va], num_classes)  # no VA: the categorical label alone
    fused = fuse_labels(labels, p_va, alpha=cfg.labels.fusion_alpha)
    if (~has_va).any():
        log.info("%d training samples without VA keep their one-hot label", int((~has_va).sum()))
    return [replace(r, soft=fused[i]) for i, r in enumerate(records)]


# labels.target -> (records, cfg, num_classes, stats_labels) -> records with their training ``soft``.
# A new label method is one function above and one entry here (and its name in the config's choices).
LabelMethod = Callable[[list[Record], ExperimentConfig, int, np.ndarray], list[Record]]
LABEL_METHODS: dict[str, LabelMethod] = {"hard": hard_targets, "soft": soft_targets, "fused": fused_targets}


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


def _inject_noise(records: list[Record], cfg: ExperimentConfig) -> list[Record]:
    """Records with ``data.label_noise`` of their labels flipped; the clean label stays in meta."""
    labels = np.array([r.label for r in records])
    noisy = flip_labels(
        labels, cfg.data.label_noise, cfg.data.num_classes, seed=cfg.run.seed, mode=cfg.data.noise_mode
    )
    log.info("label noise: %.1f%% of training labels flipped", 100 * noisy.flip_rate)
    return [
        replace(r, label=int(lab), meta={**r.meta, "clean_label": r.label})
        for r, lab in zip(records, noisy.labels, strict=True)
    ]


def _group(records: list[Record], cfg: ExperimentConfig) -> list[Record]:
    """The MIDAS Table 6 clear or mixed expression group of ``records``."""
    d, k = cfg.data, cfg.data.num_classes
    soft = np.stack([r.soft if r.soft is not None else one_hot(np.array([r.label]), k)[0] for r in records])
    labels = np.array([r.label for r in records])
    split = split_clear_mixed(
        soft, labels, threshold=d.clear_threshold, size=d.group_size, seed=cfg.run.seed, allow_missing=True
    )
    return [records[i] for i in (split.clear if d.group == "clear" else split.mixed)]


def _clean_labels(records: list[Record]) -> np.ndarray:
    return np.array([r.meta.get("clean_label", r.label) for r in records])


def build_data(cfg: ExperimentConfig, *, with_train: bool = True) -> DataBundle:
    """Datasets for training, validation (optional) and testing.

    Order: label noise, then the validation hold-out (stratified, from the whole training split), then the
    clear/mixed group from what remains (so a group has exactly ``group_size`` training clips and none of
    its oversampled duplicates can reach validation), then the training targets.
    """
    d = cfg.data
    k = d.num_classes
    test_fmt = d.test_format or d.format
    # a cross-dataset test reads the other dataset's own evaluation split (AFEW: Val)
    test_split = get_format(test_fmt).default_test_split or d.test_split if d.test_format else d.test_split
    reports = {"test": ReadReport(), "train": ReadReport()}
    test_records = read_records(
        d, test_split, fmt=test_fmt, root=d.test_root, test=True, report=reports["test"]
    )
    image = records_media_kind(test_records, source=f"{test_fmt} {test_split} split") == "image"
    train = val = None
    labels = weight_labels = np.zeros(0, dtype=np.int64)
    if with_train:
        records = read_records(d, d.train_split, report=reports["train"])
        if (records_media_kind(records, source=f"{d.format} {d.train_split} split") == "image") != image:
            raise ValueError("training and test data must both be clips or both be still images")
        if d.label_noise > 0:
            records = _inject_noise(records, cfg)
        if d.val_fraction > 0:
            held = _stratified_holdout(np.array([r.label for r in records]), d.val_fraction, cfg.run.seed)
            val_records = [r for r, h in zip(records, held, strict=True) if h]
            val = _dataset(val_records, cfg, train=False, image=image, num_classes=k)
            records = [r for r, h in zip(records, held, strict=True) if not h]
        if d.group != "all":
            records = _group(records, cfg)
        labels = np.array([r.label for r in records])
        weight_labels = _clean_labels(records) if cfg.labels.stats_from == "clean" else labels
        targets = training_targets(records, cfg, k, stats_labels=weight_labels)
        train = _dataset(targets, cfg, train=True, image=image, num_classes=k)
    test = _dataset(test_records, cfg, train=False, image=image, num_classes=k)
    synthetic = with_train and is_synthetic(d.root)
    reading = {"test": reading_record(reports["test"], f"{test_fmt} {test_split} split")}
    if with_train:
        reading["train"] = reading_record(reports["train"], f"{d.format} {d.train_split} split")
    bundle = DataBundle(train, val, test, class_names(d.format, k), labels, image, weight_labels, synthetic)
    bundle.reading = reading
    return bundle
