"""The configuration schema: pydantic models that reject unknown keys, one description per key.

The data section (``DataConfig``, ``AugmentConfig``) is in ``data_section.py`` and re-exported here.
docs/CONFIG.md is rendered from these models (``python -m softfer.config``); ``cross_field_problems`` is
the one place for checks that involve several keys.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

# the data section lives in its own module; its models are part of this schema (and importable from it)
from softfer.config.data_section import AugmentConfig as AugmentConfig
from softfer.config.data_section import DataConfig as DataConfig
from softfer.config.strict import PathSetting, StrictModel
from softfer.limits import MAX_EPOCHS, MAX_LR, MAX_SEED, MAX_STEPS
from softfer.models import model_option_problems
from softfer.models.registry import option_bounds_text

# Every numeric key has a lower and an upper bound (tests/robustness/test_settings_bounds.py walks the
# schema); the caps live in softfer/limits.py, shared with the CLI.
# A paper's number: a percentage, a fraction, an RMSE or a concordance correlation (down to -1).
PaperNumber = Annotated[float, Field(ge=-1.0, le=100.0)]
# WHY a bound: the name goes into every log line, jobs.json, folder names and SLURM's job name. A study names
# its runs NAME-foldK-seedS (a run's config.yaml reads back with that name), so the suffix is not counted.
NAME_CHARS = 200
_STUDY_SUFFIX = re.compile(r"(-fold[0-9]{1,3})?(-seed[0-9]{1,10})?$")


class ModelConfig(StrictModel):
    """The network (`softfer models list` names the registered ones and their options)."""

    name: str = Field(
        "tsm_r18", description="Registered model name, e.g. tsm_r18, r18_gru, r3d_18, r18_affect."
    )
    pretrained: PathSetting | None = Field(
        None,
        description="Backbone weights: a local file (torchvision/timm state dict, safetensors or a softfer "
        'checkpoint), or "hub" to download them; null: random initialisation.',
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Model-specific keyword options, e.g. {width: 64, dropout: 0.5} (`softfer models list` "
        f"names each model's); numbers must lie in their range ({option_bounds_text()}).",
    )
    channels_last: bool = Field(
        False,
        description="channels_last memory format for the 2-D convolutions' weights and image batches: "
        "faster on GPUs and, with oneDNN, on CPUs (the demo recipe trains ~1.3-1.5x faster on 2 cores).",
    )
    compile: bool = Field(False, description="torch.compile the model.")


class LabelConfig(StrictModel):
    """What the classifier is trained towards: hard, soft or fused labels, optionally mixed."""

    target: Literal["hard", "soft", "fused"] = Field(
        "soft",
        description="hard: one-hot; soft: annotator vote proportions; fused: one-hot fused with the "
        "VA-derived label (dual-domain eq. 4).",
    )
    mixing: Literal["none", "midas", "mixup"] = Field(
        "none",
        description="midas: every clip mixed with another clip of the batch (MIDAS); mixup: one "
        "lambda per batch.",
    )
    mix_alpha: float = Field(
        0.4, gt=0.0, le=100.0, description="Beta(alpha, alpha) parameter of the mixing weight."
    )
    mix_normalize: Literal["softmax", "none"] = Field(
        "softmax",
        description="Normalisation of mixed labels: softmax (the MIDAS paper) or none (convex mix).",
    )
    smoothing: float = Field(
        0.0, ge=0.0, le=1.0, description="Uniform label smoothing eps: (1 - eps) y + eps / K."
    )
    fusion_method: Literal["gmm", "euclid"] = Field(
        "gmm",
        description="VA-derived label for target fused: gmm (dual-domain eq. 2) or euclid (distances to "
        "class centroids, eq. 3).",
    )
    # WHY: "fused" with fusion_alpha=0 is the VA-derived label alone, 1 the categorical label alone.
    fusion_alpha: float = Field(
        0.5, ge=0.0, le=1.0, description="alpha of eq. 4: alpha x one-hot + (1 - alpha) x p_VA."
    )
    euclid_squared: bool = Field(
        True,
        description="Squared distances in eq. 3 (the paper's formula); false: plain distances, as public "
        "reference code computes them.",
    )
    # WHY "clean" by default: the dual-domain paper is silent; its section 5.1 treats the noise as
    # categorical only (the VA side unaffected). "noisy" is what a user holding only noisy labels can do.
    stats_from: Literal["clean", "noisy"] = Field(
        "clean",
        description="With data.label_noise > 0: fit the VA statistics (centroids / GMM) and the class "
        "weights W_k on the clean labels or on the noisy labels the model trains on.",
    )


class LossConfig(StrictModel):
    """The training loss: cross-entropy against the targets, with the dual-domain paper's terms."""

    class_weights: bool = Field(False, description="Weight classes by W_k = N_max / N_k (dual-domain eq. 5).")
    # WHY both: identical for one-hot targets, but for flat targets (softmax-normalised MIDAS labels)
    # "class" drives predictions to rare classes.
    class_weight_mode: Literal["sample", "class"] = Field(
        "sample",
        description="sample: each sample's loss scaled by the weight of its target's top class (as eq. 7-8 "
        "do); class: W_k scales each class term inside the cross-entropy sum.",
    )
    cosine: bool = Field(False, description="Add the cosine term of dual-domain eq. 7.")
    va_l2: bool = Field(
        False, description="Add the valence/arousal L2 term of eq. 8 (models with a VA head only)."
    )


class OptimConfig(StrictModel):
    """Optimiser, learning-rate schedule and stochastic weight averaging."""

    name: Literal["sgd", "adam"] = Field("sgd", description="Optimiser.")
    lr: float = Field(0.02, gt=0.0, le=MAX_LR, description="Initial (peak) learning rate.")
    # WHY < 1: with momentum 1 past gradients never fade and the steps grow without bound.
    momentum: float = Field(0.9, ge=0.0, lt=1.0, description="SGD momentum (sgd only).")
    weight_decay: float = Field(5e-4, ge=0.0, le=1.0, description="L2 weight decay.")
    epochs: int = Field(450, ge=1, le=MAX_EPOCHS, description="Training epochs.")
    # WHY global: results do not depend on the number of GPUs.
    batch_size: int = Field(
        8,
        ge=1,
        le=65_536,
        description="The global batch: under torchrun each of N processes takes batch_size / N samples per "
        "step (must divide evenly).",
    )
    schedule: Literal["cosine", "step", "none"] = Field(
        "cosine", description="cosine annealing over all epochs, step (step_size, gamma), or constant."
    )
    step_size: int = Field(
        30, ge=1, le=MAX_EPOCHS, description="Epochs between learning-rate decays (schedule step)."
    )
    gamma: float = Field(
        0.5, gt=0.0, le=1.0, description="Learning-rate factor at each decay (schedule step)."
    )
    swa: bool = Field(
        False,
        description="Stochastic weight averaging from epoch swa_start; the average is the model tested.",
    )
    swa_start: int = Field(
        0, ge=0, le=MAX_EPOCHS, description="Epoch (0-based) from whose end on SWA averages the weights."
    )
    swa_lr: float | None = Field(
        None,
        gt=0.0,
        le=MAX_LR,
        description="Constant learning rate while averaging; null keeps the learning rate in force when "
        "averaging starts (the dual-domain paper gives no SWA learning rate).",
    )
    grad_clip: float | None = Field(
        None, ge=0.0, le=1e6, description="Clip the gradient norm to this value; null or 0: no clipping."
    )


class RunConfig(StrictModel):
    """Seeds, device, precision, outputs and checkpoints of a run."""

    seed: int = Field(
        0, ge=0, le=MAX_SEED, description="Seed of weights, sampling, noise, mixing and validation hold-out."
    )
    deterministic: bool = Field(
        False, description="Force deterministic kernels (torch.use_deterministic_algorithms); slower."
    )
    device: str = Field(
        "auto", description='"auto" (CUDA when available, else CPU), "cpu", "cuda" or a torch device string.'
    )
    amp: Literal["none", "bf16", "fp16"] = Field("none", description="Mixed precision (autocast) dtype.")
    out_dir: PathSetting = Field(
        "runs", description="Run folder: checkpoints, metrics.json, config.yaml, predictions."
    )
    checkpoint_every: int = Field(
        0,
        ge=0,
        le=MAX_STEPS,
        description="Optimiser steps between mid-epoch checkpoints; 0: at the end of each epoch only.",
    )
    max_steps: int | None = Field(
        None,
        ge=1,
        le=MAX_STEPS,
        description="Stop after this many optimiser steps in total (smoke runs, debugging); metrics.json "
        "records the cut.",
    )
    select: Literal["last", "val"] = Field(
        "last",
        description="Model evaluated: the last epoch's, or the best on validation UAR (needs "
        "data.val_fraction > 0; never the test split). With optim.swa the SWA average is evaluated instead.",
    )
    progress: bool = Field(True, description="Show a progress bar (rank 0 only).")
    time_budget_s: float | None = Field(
        None,
        gt=0.0,
        le=366 * 86400.0,
        description="Wall-clock budget in seconds: stop after the epoch that exceeds it; metrics.json "
        "records the cut.",
    )
    sync_bn: bool = Field(
        False, description="Batch-norm statistics over all GPUs under torchrun (CUDA only)."
    )


class PaperReference(StrictModel):
    """The paper's reported numbers for this experiment, printed by `softfer reproduce` beside ours."""

    paper: str = Field("", description='Paper key: "midas", "dual-domain" or "ferplus".')
    table: str = Field("", description='Table number ("1".."7") or a name (e.g. "ferv39k-plus").')
    row: str = Field("", description="The table row.")
    metrics: dict[str, PaperNumber] = Field(
        default_factory=dict,
        description="Metric name -> the paper's value (percentages for MIDAS and FER+, fractions for "
        "dual-domain).",
    )
    note: str = Field("", description="Printed under the table (e.g. where the paper's number comes from).")

    free_text: ClassVar[frozenset[str]] = frozenset({"note"})  # may span lines (StrictModel)


class ExperimentConfig(StrictModel):
    """One experiment."""

    name: str = Field(
        "experiment",
        description=f"Experiment name (logs, reports, folder and job names): one line, at most {NAME_CHARS} "
        "characters (besides the -foldK-seedS a study adds to its runs' names).",
    )
    data: DataConfig = Field(default_factory=DataConfig, description="Dataset and input pipeline.")
    model: ModelConfig = Field(default_factory=ModelConfig, description="Network.")
    labels: LabelConfig = Field(default_factory=LabelConfig, description="Training targets.")
    loss: LossConfig = Field(default_factory=LossConfig, description="Loss terms.")
    optim: OptimConfig = Field(default_factory=OptimConfig, description="Optimisation.")
    run: RunConfig = Field(default_factory=RunConfig, description="Run settings.")
    reference: PaperReference = Field(default_factory=PaperReference, description="Paper numbers.")
    # The files ``load_config`` read it from (the config and its ``base`` chain): inputs of every command
    # that writes (``engine.data.config_inputs``), so no run's config.yaml replaces one. Not a setting: no
    # part of the dump, the hash or equality; kept by ``model_copy``.
    _source_files: tuple[Path, ...] = PrivateAttr(default=())

    @property
    def source_files(self) -> tuple[Path, ...]:
        """The files this config was read from (none for one built from a dict or a checkpoint)."""
        return self._source_files

    def __eq__(self, other: object) -> bool:  # the settings, not where they were read from
        if not isinstance(other, ExperimentConfig):
            return NotImplemented
        return self.model_dump() == other.model_dump()

    @field_validator("name")
    @classmethod
    def _name_fits(cls, value: str) -> str:
        own = value[: _STUDY_SUFFIX.search(value).start()]
        if len(own) > NAME_CHARS:
            raise ValueError(
                f"{value[:40]!r}... is {len(own)} characters long; a name may have at most {NAME_CHARS}: "
                "choose a shorter one"
            )
        return value

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
    # WHY here: an option's range depends on the model named (an unknown name is refused when built).
    out += [f"model.options.{p}" for p in model_option_problems(cfg.model.name, cfg.model.options)]
    return out
