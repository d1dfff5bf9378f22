"""Continuing and reusing runs without changing what they measure.

``check_resumable``: a checkpoint resumes only a run with the same settings. The settings a resume may
change are those that do not change what is trained (``RESUME_SAFE``), and ``optim.epochs`` when the
learning-rate schedule does not depend on it; anything else is refused, naming the keys and both values,
so that the run's config.yaml always says what ran.

``check_reusable`` and ``plan_run``: ``softfer cv`` and ``softfer reproduce`` reuse a finished run only when
the config it stored equals the one requested (up to ``REUSE_SAFE``), and resume an unfinished one only
when ``check_resumable`` allows it.

``remove_stale_temporaries``: what an interrupted atomic write left behind in a run folder.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from softfer.config import ExperimentConfig, load_config, validate_config
from softfer.engine.state import STATE_KEYS
from softfer.inference.checkpoint import load_checkpoint
from softfer.io.files import remove_stale_temporaries as remove_stale_temporaries

log = logging.getLogger(__name__)

# Settings that name, show or place a run, or choose how it is computed, not what: a finished run
# trained with other values of these is the same experiment.
REUSE_SAFE = (
    "name",
    "reference",
    "run.out_dir",
    "run.progress",
    "run.device",
    "run.deterministic",
    "run.checkpoint_every",
    "data.num_workers",
)
# A resumed run may also change when it stops (a cut is recorded in metrics.json) and how many
# unreadable items it tolerates (each epoch records the ones it met).
RESUME_SAFE = (*REUSE_SAFE, "run.max_steps", "run.time_budget_s", "data.max_skip")
# Schedules whose learning rate at an epoch does not depend on optim.epochs: more (or fewer, down to
# the epochs already trained) epochs continue the same run a longer (shorter) one would have been.
EPOCH_FREE_SCHEDULES = ("step", "none")
# Checkpoint fields a resume needs; model.pt has only model, config, classes and trained_on.
_RESUME_KEYS = tuple(k for k in STATE_KEYS if k not in ("swa_model", "swa_scheduler", "rng_cuda", "running"))


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"optim.lr": 0.02, ...}: a nested config dict as dotted keys (dict values are descended into)."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def config_differences(
    stored: dict[str, Any], requested: dict[str, Any], ignore: tuple[str, ...] = ()
) -> list[tuple[str, Any, Any]]:
    """(key, stored value, requested value) for every dotted key that differs, outside ``ignore``.

    ``ignore`` holds keys or sections ("reference" ignores every key under it). A key missing on one side
    reads as "<unset>".
    """
    a, b = flatten(stored), flatten(requested)
    out = []
    for key in sorted(set(a) | set(b)):
        if any(key == k or key.startswith(f"{k}.") for k in ignore):
            continue
        old, new = a.get(key, "<unset>"), b.get(key, "<unset>")
        if old != new:
            out.append((key, old, new))
    return out


def describe(differences: list[tuple[str, Any, Any]], theirs: str, ours: str = "requested") -> str:
    """``optim.lr: checkpoint 0.001, requested 0.01; ...`` on one line."""
    return "; ".join(f"{k}: {theirs} {old!r}, {ours} {new!r}" for k, old, new in differences)


def _normalised(data: dict[str, Any], source: str) -> dict[str, Any]:
    # The stored config as today's schema reads it (defaults of keys added since filled in); as stored
    # when today's schema refuses it (the comparison then names what changed).
    try:
        return validate_config(data, source).model_dump(mode="json")
    except ValueError:
        return data


def check_resumable(saved: dict[str, Any], cfg: ExperimentConfig, path: str | Path) -> None:
    """Refuse to resume ``cfg`` from the checkpoint ``saved`` (read from ``path``) when that would
    change the run.

    Raises:
        ValueError: one line naming the file: a final model.pt (no optimiser state), a checkpoint
            without a softfer training state, or settings that differ (keys and both values).
    """
    missing = [k for k in _RESUME_KEYS if k not in saved]
    if "optimizer" in missing:
        raise ValueError(
            f"{path}: a final model (weights only, no optimiser state) cannot be resumed; resume from the "
            "run's last.pt, or evaluate this file with `softfer eval`"
        )
    if missing:
        raise ValueError(f"{path}: not a softfer training checkpoint (missing {', '.join(missing)})")
    stored = _normalised(saved["config"], str(path))
    differences = config_differences(stored, cfg.model_dump(mode="json"), RESUME_SAFE)
    epochs = [d for d in differences if d[0] == "optim.epochs"]
    if epochs and _epochs_may_change(cfg, int(saved["epoch"])):
        differences.remove(epochs[0])
        log.info(
            "resuming with optim.epochs=%s (the checkpoint's run planned %s): the %s schedule does not "
            "depend on the number of epochs",
            epochs[0][2],
            epochs[0][1],
            cfg.optim.schedule,
        )
    if differences:
        why = ""
        if epochs and epochs[0] in differences:
            why = (
                f" (optim.epochs can change only with optim.schedule {' or '.join(EPOCH_FREE_SCHEDULES)} "
                f"and not below the {saved['epoch']} epochs trained: the {cfg.optim.schedule} schedule "
                "spans optim.epochs, so the epochs already trained followed another schedule)"
            )
        raise ValueError(
            f"{path} was trained with other settings: {describe(differences, 'checkpoint')}{why}; resume "
            "with the checkpoint's settings (its run folder's config.yaml) or start a new run in another "
            f"run.out_dir (settings a resume may change: {', '.join(RESUME_SAFE)})"
        )


def _epochs_may_change(cfg: ExperimentConfig, epochs_done: int) -> bool:
    return cfg.optim.schedule in EPOCH_FREE_SCHEDULES and epochs_done <= cfg.optim.epochs


def check_reusable(run_dir: Path, cfg: ExperimentConfig) -> None:
    """Refuse to reuse the finished run in ``run_dir`` for ``cfg`` unless its config.yaml matches.

    Raises:
        ValueError: one line naming the folder and the settings that differ (or the missing config.yaml).
    """
    stored_path = run_dir / "config.yaml"
    if not stored_path.is_file():
        raise ValueError(f"{run_dir} holds a finished run without the config.yaml to compare with")
    stored = load_config(stored_path).model_dump(mode="json")
    differences = config_differences(stored, cfg.model_dump(mode="json"), REUSE_SAFE)
    if differences:
        raise ValueError(
            f"{run_dir} holds a run trained with other settings: {describe(differences, 'stored')}"
        )


def plan_run(run_dir: Path, cfg: ExperimentConfig, *, overwrite: bool, replace_other: bool, hint: str) -> str:
    """How to obtain a finished run of ``cfg`` in ``run_dir``.

    "reuse" its metrics.json, "resume" its last.pt, "train" a new run, or "overwrite" what is there:
    always with ``overwrite``; with ``replace_other`` when what is there cannot be reused or resumed for
    ``cfg`` (logged).

    Raises:
        ValueError: what is there cannot be reused or resumed for ``cfg`` (``hint`` says what to do).
    """
    if overwrite:
        return "overwrite"
    finished, last = run_dir / "metrics.json", run_dir / "last.pt"
    if not finished.exists() and not last.exists():
        return "train"
    try:
        if finished.exists():
            check_reusable(run_dir, cfg)
            return "reuse"
        check_resumable(load_checkpoint(last), cfg, last)
        return "resume"
    except ValueError as exc:
        if not replace_other:
            raise ValueError(f"{exc}; {hint}") from exc
        log.warning("%s; training it again", exc)
        return "overwrite"
