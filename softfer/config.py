"""Experiment configuration: YAML -> pydantic models that reject unknown keys.

A YAML file may name a ``base`` file (relative to itself) whose values it overrides; ``--set a.b=value``
overrides are applied last (values parsed as YAML, so ``--set optim.lr=0.01`` gives a float).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

FormatName = Literal["dfew", "ferv39k", "afew", "affectnet", "affwild", "manifest", "former_dfer"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AugmentConfig(_Strict):
    # MIDAS "random scaling" as a resized crop (area fraction range); null: no crop, the whole frame.
    scale: tuple[float, float] | None = (0.7, 1.0)
    flip: bool = True
    color_jitter: float = 0.0
    affine_degrees: float = 0.0


class DataConfig(_Strict):
    format: FormatName = "dfew"
    root: str = ""
    fold: int = Field(1, ge=1)
    train_split: str = "train"
    test_split: str = "test"
    # Cross-dataset evaluation (MIDAS Table 5): test on another dataset than the one trained on.
    test_format: FormatName | None = None
    test_root: str | None = None
    # A vote/probability table joined by clip (FERV39k-Plus soft labels for FERV39k clips).
    soft_labels: str | None = None
    segments: int = Field(8, ge=1)
    frames_per_segment: int = Field(1, ge=1)
    size: int = Field(224, ge=8)
    val_fraction: float = Field(0.0, ge=0.0, lt=1.0)  # carved from training data for model selection
    group: Literal["all", "clear", "mixed"] = "all"  # MIDAS Table 6 groups
    group_size: int | None = None
    clear_threshold: float = 0.9
    label_noise: float = Field(0.0, ge=0.0, le=1.0)
    noise_mode: Literal["exact", "reference"] = "exact"
    num_classes: int = Field(7, ge=2)
    affectnet_stats: str | None = None  # JSON statistics for Aff-Wild labels (from AffectNet training)
    cache_dir: str | None = None
    # Decode JPEGs at a reduced DCT scale (1/2, 1/4, 1/8) while frames (or face boxes) stay >= size.
    reduced_decode: bool = True
    num_workers: int = Field(0, ge=0)
    max_skip: float = Field(0.01, ge=0.0, le=1.0)
    augment: AugmentConfig = AugmentConfig()


class ModelConfig(_Strict):
    name: str = "tsm_r18"
    pretrained: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    channels_last: bool = False
    compile: bool = False


class LabelConfig(_Strict):
    # What the classifier is trained towards; "fused" with fusion_alpha=0 is the VA-derived label alone.
    target: Literal["hard", "soft", "fused"] = "soft"
    mixing: Literal["none", "midas", "mixup"] = "none"
    mix_alpha: float = 0.4
    mix_normalize: Literal["softmax", "none"] = "softmax"
    smoothing: float = 0.0
    fusion_method: Literal["gmm", "euclid"] = "gmm"
    fusion_alpha: float = Field(0.5, ge=0.0, le=1.0)
    euclid_squared: bool = True
    # With data.label_noise > 0: fit the VA statistics (class centroids / GMM) and the class weights W_k on
    # the clean labels or on the noisy labels the model trains on. The dual-domain paper is silent; its
    # section 5.1 treats the noise as categorical only (the VA side unaffected), hence "clean". "noisy" is
    # what a user who holds only noisy labels can do.
    stats_from: Literal["clean", "noisy"] = "clean"


class LossConfig(_Strict):
    class_weights: bool = False  # W_k = N_max / N_k (dual-domain eq. 5)
    # "sample": each sample's loss is scaled by the weight of its (target's top) class, as eq. 7-8 do;
    # "class": W_k scales each class term inside the cross-entropy sum. Identical for one-hot targets;
    # for flat targets (softmax-normalised MIDAS labels) "class" drives predictions to rare classes.
    class_weight_mode: Literal["sample", "class"] = "sample"
    cosine: bool = False  # eq. 7
    va_l2: bool = False  # eq. 8, for models with a valence/arousal head


class OptimConfig(_Strict):
    name: Literal["sgd", "adam"] = "sgd"
    lr: float = Field(0.02, gt=0.0)
    momentum: float = 0.9
    weight_decay: float = Field(5e-4, ge=0.0)
    epochs: int = Field(450, ge=1)
    # The global batch: under torchrun each of the N processes takes batch_size / N samples per step
    # (batch_size must divide evenly), so results do not depend on the number of GPUs.
    batch_size: int = Field(8, ge=1)
    schedule: Literal["cosine", "step", "none"] = "cosine"
    step_size: int = 30
    gamma: float = 0.5
    swa: bool = False
    swa_start: int = Field(0, ge=0)  # epoch from which SWA averages weights
    # Constant learning rate while averaging; None keeps the learning rate in force when averaging starts
    # (the dual-domain paper gives no SWA learning rate).
    swa_lr: float | None = Field(None, gt=0.0)
    grad_clip: float | None = None


class RunConfig(_Strict):
    seed: int = 0
    deterministic: bool = False
    device: str = "auto"
    amp: Literal["none", "bf16", "fp16"] = "none"
    out_dir: str = "runs"
    checkpoint_every: int = Field(0, ge=0)  # steps between mid-epoch checkpoints (0: end of epoch only)
    # Stop after this many optimiser steps in total (smoke runs, debugging); metrics.json records the cut.
    max_steps: int | None = Field(None, ge=1)
    log_every: int = 20
    select: Literal["last", "val"] = "last"
    progress: bool = True
    time_budget_s: float | None = None
    sync_bn: bool = False  # batch-norm statistics over all GPUs under torchrun (CUDA only)


class PaperReference(_Strict):
    paper: str = ""
    table: str = ""
    row: str = ""
    metrics: dict[str, float] = Field(default_factory=dict)
    # Printed under the table by `softfer reproduce` (e.g. where the paper's number comes from).
    note: str = ""


class ExperimentConfig(_Strict):
    name: str = "experiment"
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    labels: LabelConfig = LabelConfig()
    loss: LossConfig = LossConfig()
    optim: OptimConfig = OptimConfig()
    run: RunConfig = RunConfig()
    reference: PaperReference = PaperReference()

    @model_validator(mode="after")
    def _settings_that_fit_together(self) -> ExperimentConfig:
        """Cross-field checks: a setting that cannot be honoured fails here, naming its key."""
        problems = cross_field_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self


def cross_field_problems(cfg: ExperimentConfig) -> list[str]:
    """Settings that contradict each other (checked without touching data or models)."""
    out = []
    d, o, lab = cfg.data, cfg.optim, cfg.labels
    if cfg.run.select == "val" and d.val_fraction <= 0:
        out.append("run.select=val needs validation data: set data.val_fraction > 0 (or run.select=last)")
    if o.swa and o.swa_start >= o.epochs:
        out.append(
            f"optim.swa with optim.swa_start={o.swa_start} >= optim.epochs={o.epochs} never averages: "
            "lower swa_start or turn swa off"
        )
    if lab.mixing != "none" and o.batch_size < 2:
        out.append(
            f"labels.mixing={lab.mixing} needs optim.batch_size >= 2 (a clip is never mixed with itself)"
        )
    if d.test_root and not d.test_format:
        out.append("data.test_root is set but data.test_format is not: name the test dataset's format")
    if d.group_size is not None and d.group == "all":
        out.append("data.group_size only applies with data.group=clear or mixed")
    return out


def _merge(base: dict, top: dict) -> dict:
    out = dict(base)
    for k, v in top.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _read_yaml(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    if not path.is_file():
        raise ValueError(f"config file not found: {path}")
    if path.resolve() in seen:
        raise ValueError(f"{path}: circular 'base' chain")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: invalid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a config must be a mapping")
    base = data.pop("base", None)
    if base:
        return _merge(_read_yaml((path.parent / base), (*seen, path.resolve())), data)
    return data


def apply_overrides(data: dict, overrides: list[str] | None) -> dict:
    """Apply ``key.sub=value`` overrides (values parsed as YAML) to a config dict."""
    data = dict(data)
    for item in overrides or []:
        if "=" not in item:
            raise ValueError(f"override {item!r} must look like key.sub=value")
        key, raw = item.split("=", 1)
        value = yaml.safe_load(raw)
        node = data
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node[p] = dict(node.get(p) or {})
            node = node[p]
        node[parts[-1]] = value
    return data


def validate_config(data: dict, source: str = "config") -> ExperimentConfig:
    """Validate a config dict; errors list every bad or unknown key."""
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as exc:
        lines = [
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            if e["loc"]
            else e["msg"].removeprefix("Value error, ")
            for e in exc.errors()
        ]
        raise ValueError(f"{source}: invalid configuration:\n  " + "\n  ".join(lines)) from None


def load_config(path: str | Path, overrides: list[str] | None = None) -> ExperimentConfig:
    """Load a YAML experiment config (with its ``base`` chain) and apply overrides."""
    return validate_config(apply_overrides(_read_yaml(Path(path)), overrides), str(path))


def dump_config(cfg: ExperimentConfig, path: str | Path) -> None:
    """Write the resolved config as YAML."""
    Path(path).write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
