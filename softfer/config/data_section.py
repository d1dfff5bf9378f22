"""The data section of the configuration schema (``data`` and ``data.augment``), re-exported by
``softfer.config.schema``.

Every numeric key has a lower and an upper bound (tests/robustness/test_settings_bounds.py walks the
schema); the caps live in softfer/limits.py (the fold cap with the dataset formats).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from softfer.classes import CLEAR_THRESHOLD
from softfer.config.strict import PathSetting, StrictModel
from softfer.data.formats import FORMATS, MAX_FOLD

# An area fraction of the frame kept by the random crop: (0, 1].
AreaFraction = Annotated[float, Field(gt=0.0, le=1.0)]


class AugmentConfig(StrictModel):
    """Training-time augmentation; validation and test items are never augmented."""

    scale: tuple[AreaFraction, AreaFraction] | None = Field(
        (0.7, 1.0),
        description="MIDAS 'random scaling' as a resized crop: the (min, max) fraction of the frame's area "
        "kept, each in (0, 1]; null: no crop, the whole frame.",
    )
    flip: bool = Field(
        True, description="Random horizontal flip, probability 0.5, alike for all frames of a clip."
    )
    color_jitter: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="Brightness/contrast/saturation jitter strength (factors in [1 - s, 1 + s]); 0 turns "
        "it off.",
    )
    affine_degrees: float = Field(
        0.0,
        ge=0.0,
        le=180.0,
        description="Rotation range in degrees (+- this value) of a mild random affine (5 % shift, 0.95-1.05 "
        "scale); 0 turns it off.",
    )

    @field_validator("scale")
    @classmethod
    def _ordered(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and value[0] > value[1]:
            raise ValueError(f"(min, max) with min <= max, got {list(value)}")
        return value


class DataConfig(StrictModel):
    """Which dataset, which split, and how clips or images become model inputs."""

    # WHY a str and a validator rather than a Literal: the names come from FORMATS, and a bad one gets an
    # error that lists them.
    format: str = Field(
        "dfew",
        description=f"Dataset layout of data.root, one of: {', '.join(FORMATS)} (docs/DATASETS.md).",
        json_schema_extra={"enum": list(FORMATS)},
    )
    root: PathSetting = Field("", description="Dataset folder (a manifest CSV file for format manifest).")
    fold: int = Field(
        1, ge=1, le=MAX_FOLD, description="DFEW's official fold, 1..5 (`softfer cv` runs them all)."
    )
    train_split: str = Field("train", description="Split trained on; each format names its splits.")
    test_split: str = Field("test", description="Split evaluated on; each format names its splits.")
    test_format: str | None = Field(
        None,
        description="Cross-dataset evaluation (MIDAS Table 5): the test dataset's format, read from "
        "data.test_root; null: test on data.root.",
        json_schema_extra={"enum": [*FORMATS, None]},
    )
    test_root: PathSetting | None = Field(
        None, description="Folder of the test dataset when data.test_format is set."
    )
    soft_labels: PathSetting | None = Field(
        None,
        description="A vote/probability table (CSV or XLSX) joined by clip: FERV39k-Plus soft labels for "
        "FERV39k clips, read by format ferv39k only, as data.format or data.test_format (refused where "
        "neither is ferv39k: it would change nothing); null: the dataset's own labels.",
    )
    segments: int = Field(8, ge=1, le=256, description="TSN segments sampled per clip.")
    frames_per_segment: int = Field(
        1,
        ge=1,
        le=64,
        description="Consecutive frames per segment; a clip is segments x frames_per_segment frames.",
    )
    size: int = Field(224, ge=8, le=2048, description="Input side in pixels (square).")
    val_fraction: float = Field(
        0.0,
        ge=0.0,
        lt=1.0,
        description="Share of the training split held out (stratified by class) for model selection, "
        "needed by run.select=val. The test split is never used for selection.",
    )
    group: Literal["all", "clear", "mixed"] = Field(
        "all",
        description="MIDAS Table 6: train on all clips, the clear expression group (top soft label above "
        "clear_threshold) or the mixed group, resampled to group_size clips.",
    )
    group_size: int | None = Field(
        None,
        ge=1,
        le=100_000_000,
        description="Training clips per group (clear/mixed); null: the number of clear clips.",
    )
    clear_threshold: float = Field(
        CLEAR_THRESHOLD,
        ge=0.0,
        le=1.0,
        description="A clip is clear when its top soft label exceeds this: the clear training group "
        "(group) and the clear / ambiguous split of the test clips in metrics.json (clear_vs_ambiguous).",
    )
    label_noise: float = Field(
        0.0, ge=0.0, le=1.0, description="Share of training labels flipped (dual-domain 5.1)."
    )
    noise_mode: Literal["exact", "reference"] = Field(
        "exact",
        description="exact: exactly round(rate x N) labels changed to another class; reference: the public "
        "reference code's draw with replacement (a lower effective rate).",
    )
    num_classes: int = Field(
        7, ge=2, le=1000, description="Classes the model predicts (DFEW 7, AffectNet 8)."
    )
    affectnet_stats: PathSetting | None = Field(
        None,
        description="JSON of AffectNet VA statistics (`softfer labels va --save-stats`) that Aff-Wild "
        "labels are derived from; required for format affwild (data.format or data.test_format), refused "
        "where neither is affwild. Statistics "
        "whose recorded class names are not AffectNet's first `data.num_classes`, in order, are refused; a "
        "file without names is taken in that order, with a warning.",
    )
    cache_dir: PathSetting | None = Field(
        None,
        description="Folder, outside the data, for a packed uint8 frame cache of clips reused across "
        "epochs and for FER2013's faces as PNG files (FER+ read from fer2013.csv: `fer2013_png/`); null: no "
        "frame cache, and the faces in the per-user cache folder ($XDG_CACHE_HOME/softfer, else "
        "~/.cache/softfer).",
    )
    # WHY: decoding at a reduced scale is much faster and loses nothing once frames are resized to size.
    reduced_decode: bool = Field(
        True,
        description="Decode JPEGs at a reduced DCT scale (1/2, 1/4, 1/8) while frames (or face boxes) "
        "stay >= size pixels.",
    )
    num_workers: int = Field(
        0,
        ge=0,
        le=256,
        description="DataLoader worker processes; 0 loads in the main process. At most the cores this "
        "process may use are started (more decode nothing faster); results do not depend on it.",
    )
    max_skip: float = Field(
        0.01,
        ge=0.0,
        le=1.0,
        description="Share of items with unreadable or missing media tolerated, per reading of the files "
        "and per epoch, in whole items rounded down (0: none; 0.01: none in a set of under 100). Training "
        "replaces an unreadable item by the next readable one (history `replaced`); evaluation leaves it "
        "out (metrics.json `skipped`, count and ids); over the cap the run fails naming the items.",
    )
    # WHY off by default: a path in a dataset file is data, and `../../etc/passwd` must not be read.
    allow_outside_root: bool = Field(
        False,
        description="Accept paths in dataset files (AffectNet CSVs, manifests, FERV39k and Former-DFER "
        "lists) that lead outside data.root (`..`, absolute paths elsewhere); false: such a path is an "
        "error naming the file and row. Former-DFER lists with absolute frame folders need true.",
    )
    augment: AugmentConfig = Field(default_factory=AugmentConfig, description="Training augmentation.")

    @field_validator("format", "test_format")
    @classmethod
    def _known_format(cls, value: str | None) -> str | None:
        if value is not None and value not in FORMATS:
            raise ValueError(f"unknown dataset format {value!r}; valid formats: {', '.join(FORMATS)}")
        return value
