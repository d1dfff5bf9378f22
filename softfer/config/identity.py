"""What identifies a config: the hash that run fingerprints record, and the check that a config still has it.

Here, below the engine, so that everything that loads a checkpoint (eval, calibrate, export, predict, the
report) runs the same check: a checkpoint whose config was edited after training would otherwise be
scored, exported or applied under settings that did not make it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from softfer import __version__
from softfer.config.schema import ExperimentConfig
from softfer.data.fingerprint import digest

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


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"optim.lr": 0.02, ...}: a nested config dict as dotted keys (dict values are descended into)."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def ignored(key: str, ignore: tuple[str, ...]) -> bool:
    """Whether dotted ``key`` is one of ``ignore`` or lies under one of its sections."""
    return any(key == k or key.startswith(f"{k}.") for k in ignore)


def config_hash(cfg: ExperimentConfig) -> str:
    """The hash of every setting of ``cfg`` outside ``REUSE_SAFE`` (a run fingerprint's "config")."""
    flat = flatten(cfg.model_dump(mode="json"))
    return digest({k: v for k, v in flat.items() if not ignored(k, REUSE_SAFE)})


def check_own_config(
    state: dict[str, Any],
    cfg: ExperimentConfig,
    path: str | Path,
    *,
    made: str = "it was trained with",
    advice: str = "edited after training? use the run's own model.pt",
) -> None:
    """Refuse a config that no longer hashes to the one the fingerprint ``state["fingerprint"]`` recorded
    (a checkpoint's config, or a run's config.yaml beside its metrics.json, edited since: a score would be
    shown beside settings that did not make it). Recorded by another softfer version, the difference may
    be a setting added since, so it is logged instead.

    Raises:
        ValueError: one line naming ``path`` (``made``: what the fingerprint belongs to), when the same
            softfer version recorded it.
    """
    stored = state.get("fingerprint")
    if not isinstance(stored, dict) or "config" not in stored:
        return  # an older or imported checkpoint: it records no hash to check against
    if stored["config"] == config_hash(cfg):
        return
    code = stored.get("code")
    version = code.get("softfer") if isinstance(code, dict) else None
    if version == __version__:
        raise ValueError(
            f"{path}: its config is not the one {made} (the fingerprint's config hash differs): {advice}"
        )
    log.warning(
        "%s: its config does not hash as recorded (softfer %s; this is %s): a setting added since, or "
        "an edit",
        path,
        version,
        __version__,
    )
