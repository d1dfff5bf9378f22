"""From a config to datasets: read the records, inject label noise, pick groups, carve validation, set
training targets (hard / soft / fused), and wrap everything in ``ClipDataset`` or ``ImageDataset``."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from softfer.config import DataConfig, ExperimentConfig
from softfer.data.datasets import ClipDataset, ImageDataset
from softfer.data.fingerprint import data_fingerprint, items_trained_on, training_items
from softfer.data.formats import ReadRequest, get_format
from softfer.data.inspect import label_vote_check
from softfer.data.provenance import is_synthetic
from softfer.data.records import ReadReport, Record, records_media_kind
from softfer.data.relabel import in_training_order
from softfer.data.transforms import eval_transform, train_transform
from softfer.engine.inputs import check_cache_dir, inputs_for
from softfer.engine.inputs import config_inputs as config_inputs  # where the commands import it from
from softfer.engine.targets import training_targets
from softfer.labels.affect import one_hot
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
    # What was read, as hashes (``softfer.data.fingerprint``): every split's ids, labels and media, and
    # digests of the items trained on (kept with the model so that `eval` can refuse them).
    fingerprint: dict[str, Any] = field(default_factory=dict)
    training_items: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.weight_labels is None:
            self.weight_labels = self.train_labels


def trained_on(cfg: ExperimentConfig, data: DataBundle) -> dict[str, Any]:
    """What a checkpoint of this run records it was trained on (model.pt, best.pt, last.pt): the format,
    and whether the data were softfer's synthetic benchmark (predict's provenance note says so)."""
    return {"format": cfg.data.format, "synthetic": data.synthetic}


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
    entry.check_root(root)  # a file where a folder is read, or the reverse
    request = ReadRequest(
        root=root,
        split=split,
        fold=data.fold,
        num_classes=data.num_classes,
        max_skip=data.max_skip,
        **inputs_for(data, entry),
        test=test,
        allow_outside_root=data.allow_outside_root,
        report=report,
        cache_dir=data.cache_dir,  # FER+'s CSV layout writes its faces there (None: the per-user cache)
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


# The subset of `data inspect`'s checks that train and eval run on every split (cheap: no extra decoding).
INTEGRITY_CHECKS = (
    "media present (reader, within data.max_skip)",
    "training and evaluation splits share no item (reader)",
    "no test item is an item trained on (same resolved path, or same format, id and labels)",
    "labels vs vote argmax (a loud warning above 10%: swapped vote columns)",
    "JPEG damage reported by libjpeg while decoding (an unreadable item under data.max_skip)",
)


def integrity_record(records: list[Record], fmt: str, source: str) -> dict[str, Any]:
    """What the cheap integrity checks found on one split as read (before label noise), for
    metrics.json ``data_reading``; the label-vs-vote warning is also logged."""
    check = label_vote_check(records, get_format(fmt).classes, source)
    if check["warning"]:
        log.warning("%s", check["warning"])
    return {"checks": list(INTEGRITY_CHECKS), "label_vote": check}


def _stratified_holdout(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng([seed, 7])
    held = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        held[idx[: round(fraction * len(idx))]] = True
    return held


def _check_holdout(held: np.ndarray, fraction: float, source: str) -> None:
    """Refuse a validation hold-out (rounded per class) that leaves no training or no validation records."""
    n, k = len(held), int(held.sum())
    if 0 < k < n:
        return
    left, advice = ("training", "a smaller") if k == n else ("validation", "a larger")
    raise ValueError(
        f"data.val_fraction={fraction:g} holds out {k} of the {n} records ({source}) for validation "
        f"(rounded per class), which leaves no {left} records: choose {advice} data.val_fraction"
        + ("" if k == n else ", or 0 for no validation split")
    )


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
        soft,
        labels,
        clear_threshold=d.clear_threshold,
        size=d.group_size,
        seed=cfg.run.seed,
        allow_missing=True,
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
    check_cache_dir(cfg)
    test_fmt, test_split = evaluation_split(d)
    reports = {"test": ReadReport(), "train": ReadReport()}
    test_records = read_records(
        d, test_split, fmt=test_fmt, root=d.test_root, test=True, report=reports["test"]
    )
    read = {"test": (split_source(d, test_fmt, test_split), test_records)}
    image = records_media_kind(test_records, source=f"{test_fmt} {test_split} split") == "image"
    found = {"test": integrity_record(test_records, test_fmt, f"{test_fmt} {test_split} split")}
    train = val = None
    labels = weight_labels = np.zeros(0, dtype=np.int64)
    if with_train:  # eval and calibrate take the model's outputs in the data's order instead (in_data_order)
        have, want = class_names(test_fmt, d.num_classes), class_names(d.format, d.num_classes)
        test_records = in_training_order(test_records, have, want, read["test"][0])
        records = read_records(d, d.train_split, report=reports["train"])
        read["train"] = (split_source(d, d.format, d.train_split), records)
        found["train"] = integrity_record(records, d.format, f"{d.format} {d.train_split} split")
        if (records_media_kind(records, source=f"{d.format} {d.train_split} split") == "image") != image:
            raise ValueError("training and test data must both be clips or both be still images")
        if d.label_noise > 0:
            records = _inject_noise(records, cfg)
        if d.val_fraction > 0:
            held = _stratified_holdout(np.array([r.label for r in records]), d.val_fraction, cfg.run.seed)
            _check_holdout(held, d.val_fraction, split_source(d, d.format, d.train_split))
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
    reading = {"test": reading_record(reports["test"], f"{test_fmt} {test_split} split") | found["test"]}
    if with_train:
        train_source = f"{d.format} {d.train_split} split"
        reading["train"] = reading_record(reports["train"], train_source) | found["train"]
    bundle = DataBundle(train, val, test, class_names(d.format, k), labels, image, weight_labels, synthetic)
    bundle.reading = reading
    bundle.fingerprint = data_fingerprint(d.format, read)
    if train is not None:
        # labels as read, not the training targets or flipped labels: eval reads them so
        as_read = {(r.id, str(r.path)): r for r in read["train"][1]}
        trained = [as_read.get((r.id, str(r.path)), r) for r in train.records]
        bundle.training_items = training_items(d.format, trained)
    return bundle


def scored_fitted_items(where: str, found: list[str], total: int, fitted: str, advice: str) -> str:
    """The refusal of a test score on items a model was fitted on, in train's and eval's words: "WHERE:
    N of the M test items are items FITTED (first: ...), so its score on them is no test score; ADVICE"."""
    first = ", ".join(found[:5])
    return (
        f"{where}: {len(found)} of the {total} test items are items {fitted} (first: {first}), so its "
        f"score on them is no test score; {advice}"
    )


def check_test_not_trained_on(data: DataBundle, cfg: ExperimentConfig) -> None:
    """Refuse a run whose test items include items it trains on, by the rule `eval` applies to a trained
    model (``items_trained_on`` against ``data.training_items``: same resolved path, or same format, id
    and labels): a test split that is the training split, a cross-dataset test set (data.test_root)
    holding links to training clips (a copy is found in the same format only). The validation hold-out
    (data.val_fraction) and the records a clear/mixed group leaves out are not trained on. Records the
    count checked (0) in metrics.json ``data_reading.test.evaluated_on_training_items``; a bundle without
    training items (an evaluation) is not checked here.

    Raises:
        ValueError: naming the test set, the count and the first ids, before anything is trained.
    """
    if data.training_items is None:
        return
    d = cfg.data
    fmt, split = evaluation_split(d)
    records = data.test.records
    found = items_trained_on(data.training_items, fmt, records)
    if found:
        where = f"the test set ({split_source(d, fmt, split)} in {d.test_root or d.root})"
        advice = (
            "test on data it does not train on (data.test_split, data.test_root), or score them knowingly "
            "after training with `softfer eval RUN/model.pt --allow-train-items` (metrics.json then says "
            "evaluated_on_training_items)"
        )
        raise ValueError(scored_fitted_items(where, found, len(records), "this run trains on", advice))
    data.reading.setdefault("test", {})["evaluated_on_training_items"] = 0


def evaluation_split(d: DataConfig) -> tuple[str, str | None]:
    """(format, split) of the test set. A cross-dataset test left at the default ``data.test_split``
    ("test") reads the other dataset's own evaluation split (AFEW: Val; the formats whose default differs
    have no split named "test"); a split named in the config or by ``--split`` is read as named."""
    if not d.test_format:
        return d.format, d.test_split
    if d.test_split != DataConfig.model_fields["test_split"].default:
        return d.test_format, d.test_split
    return d.test_format, get_format(d.test_format).default_test_split or d.test_split


def split_source(d: DataConfig, fmt: str, split: str | None) -> str:
    """A split in words, as fingerprints name it: "dfew test split, fold 1"."""
    fold = f", fold {d.fold}" if get_format(fmt).folds else ""
    return f"{fmt} {split} split{fold}"


def data_fingerprint_of(cfg: ExperimentConfig) -> dict[str, Any]:
    """The data fingerprint ``build_data`` records for ``cfg`` (training and test split), from the dataset
    files and a ``stat`` of each media file, without building datasets or decoding anything."""
    d = cfg.data
    test_fmt, test_split = evaluation_split(d)
    test = read_records(d, test_split, fmt=test_fmt, root=d.test_root, test=True)
    read = {"test": (split_source(d, test_fmt, test_split), test)}
    read["train"] = (split_source(d, d.format, d.train_split), read_records(d, d.train_split))
    return data_fingerprint(d.format, read)
