"""Continuing and reusing runs without changing what they measure.

``check_resumable``: a checkpoint resumes only a run with the same settings. The settings a resume may
change are those that do not change what is trained (``RESUME_SAFE``), and ``optim.epochs`` when the
learning-rate schedule does not depend on it; anything else is refused, naming the keys and both values,
so that the run's config.yaml always says what ran.

``check_reusable`` and ``plan_run``: ``softfer cv``, ``compare`` and ``reproduce`` reuse a finished run only
when the config it stored equals the one requested (up to ``REUSE_SAFE``) and its metrics.json carries the
fingerprint of that run (``run_fingerprint``: the config's hash, the settings that change evaluation, the
data's splits as hashes); they resume an unfinished one only when ``check_resumable`` allows it and its
last.pt was trained on the same data. A folder another process is training (its ``run.lock``,
``engine.lock``) is refused, never reused, resumed or overwritten.

``remove_stale_temporaries``: what an interrupted atomic write left behind in a run folder.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

from softfer import __version__
from softfer.config import ExperimentConfig, load_config, validate_config
from softfer.config.identity import REUSE_SAFE, config_hash, flatten, ignored
from softfer.data.fingerprint import FINGERPRINT_VERSION, data_changes
from softfer.engine.data import config_inputs, data_fingerprint_of
from softfer.engine.environment import git_commit
from softfer.engine.evaluate import read_metrics
from softfer.engine.lock import check_unlocked
from softfer.engine.state import STATE_KEYS
from softfer.inference.checkpoint import load_checkpoint
from softfer.inference.loading import unknown_setting_note
from softfer.io.files import remove_stale_temporaries as remove_stale_temporaries
from softfer.io.outputs import check_output

log = logging.getLogger(__name__)

# A resumed run may also change when it stops (a cut is recorded in metrics.json) and how many
# unreadable items it tolerates (each epoch records the ones it met).
RESUME_SAFE = (*REUSE_SAFE, "run.max_steps", "run.time_budget_s", "data.max_skip")
# Settings that change how the same predictions are scored (the clear / ambiguous split of the test clips):
# runs compared with each other must agree on them.
EVALUATION_KEYS = ("data.clear_threshold",)
# Schedules whose learning rate at an epoch does not depend on optim.epochs: more (or fewer, down to
# the epochs already trained) epochs continue the same run a longer (shorter) one would have been.
EPOCH_FREE_SCHEDULES = ("step", "none")
# Checkpoint fields a resume needs; model.pt has only model, config, classes and trained_on.
_RESUME_KEYS = tuple(k for k in STATE_KEYS if k not in ("swa_model", "swa_scheduler", "rng_cuda", "running"))


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
        if ignored(key, ignore):
            continue
        old, new = a.get(key, "<unset>"), b.get(key, "<unset>")
        if old != new:
            out.append((key, old, new))
    return out


def describe(differences: list[tuple[str, Any, Any]], theirs: str, ours: str = "requested") -> str:
    """``optim.lr: checkpoint 0.001, requested 0.01; ...`` on one line."""
    return "; ".join(f"{k}: {theirs} {old!r}, {ours} {new!r}" for k, old, new in differences)


@functools.cache
def _code_version() -> tuple[str, str | None]:
    return __version__, git_commit()


def code_version() -> dict[str, Any]:
    """{"softfer": version, "commit": the checkout's commit or None}, looked up once per process; a new
    dict at each call, so that a caller editing a fingerprint cannot change the next one's."""
    version, commit = _code_version()
    return {"softfer": version, "commit": commit}


def evaluation_settings(cfg: ExperimentConfig) -> dict[str, Any]:
    """The values of ``EVALUATION_KEYS`` in ``cfg``: runs scored under other values are not comparable."""
    flat = flatten(cfg.model_dump(mode="json"))
    return {k: flat.get(k) for k in EVALUATION_KEYS}


def run_fingerprint(cfg: ExperimentConfig, data: dict[str, Any]) -> dict[str, Any]:
    """What a run came from, as metrics.json, model.pt and last.pt record it.

    {"version", "run": name, fold and seed (to name a run in messages), "config": a hash of every setting
    outside ``REUSE_SAFE``, "evaluation": the ``EVALUATION_KEYS`` values, "data": ``data`` (the data
    fingerprint of ``engine.data``), "code": ``code_version``}.
    """
    return {
        "version": FINGERPRINT_VERSION,
        "run": {"name": cfg.name, "data.fold": cfg.data.fold, "run.seed": cfg.run.seed},
        "config": config_hash(cfg),
        "evaluation": evaluation_settings(cfg),
        "data": data,
        "code": code_version(),
    }


def check_fingerprint(stored: Any, cfg: ExperimentConfig, where: str | Path, *, what: str) -> None:
    """Refuse to reuse ``what`` (read from ``where``) for ``cfg`` unless its fingerprint ``stored`` shows
    that it came from ``cfg``'s settings and the data as it is now.

    A change of softfer's version or commit is logged, not refused.

    Raises:
        ValueError: one line naming the file: no fingerprint, another run's settings (a file copied from
            another run folder), or data that changed since (which split, and ids, labels or media).
    """
    if not isinstance(stored, dict) or "config" not in stored or "data" not in stored:
        raise ValueError(
            f"{where} has no fingerprint (written by an older softfer or by hand): nothing shows that this "
            f"{what} came from the requested settings and data"
        )
    current = run_fingerprint(cfg, {})
    if stored["config"] != current["config"]:
        theirs = ", ".join(f"{k} {v!r}" for k, v in (stored.get("run") or {}).items())
        ours = ", ".join(f"{k} {v!r}" for k, v in current["run"].items())
        raise ValueError(
            f"{where} is the {what} of another run ({theirs or 'unnamed'}) trained with other settings than "
            f"the requested one ({ours}): copied from another run folder?"
        )
    changes = data_changes(stored["data"], data_fingerprint_of(cfg))
    if changes:
        raise ValueError(f"{where}: the data changed since this {what} was made: {'; '.join(changes)}")
    if stored.get("code") != current["code"]:
        log.info("%s was made by softfer %s; this is %s", where, stored.get("code"), current["code"])


def _normalised(data: dict[str, Any], source: str) -> tuple[dict[str, Any], ValueError | None]:
    # The stored config as today's schema reads it (defaults of keys added since filled in); as stored,
    # with the schema's refusal, when today's schema refuses it (the comparison then names what changed).
    try:
        return validate_config(data, source).model_dump(mode="json"), None
    except ValueError as exc:
        return data, exc


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
    stored, refused = _normalised(saved["config"], str(path))
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
        if refused is not None and (said := unknown_setting_note(saved, refused)):
            why += f" (a setting this softfer does not know: {said})"
        raise ValueError(
            f"{path} was trained with other settings: {describe(differences, 'checkpoint')}{why}; resume "
            "with the checkpoint's settings (its run folder's config.yaml) or start a new run in another "
            f"run.out_dir (settings a resume may change: {', '.join(RESUME_SAFE)})"
        )


def check_resumable_data(
    saved: dict[str, Any], cfg: ExperimentConfig, path: str | Path, data: dict[str, Any] | None = None
) -> None:
    """Refuse to resume from ``saved`` when the data it was trained on changed since (``data``: the data
    fingerprint of ``cfg`` now; read from the dataset files when None). A checkpoint of an older softfer
    has no fingerprint: logged, not refused (its settings are checked by ``check_resumable``).

    Raises:
        ValueError: one line naming the file, the split and what changed in it.
    """
    stored = (saved.get("fingerprint") or {}).get("data")
    if not isinstance(stored, dict):
        log.warning("%s has no data fingerprint (an older softfer): the data cannot be checked", path)
        return
    changes = data_changes(stored, data if data is not None else data_fingerprint_of(cfg))
    if changes:
        raise ValueError(
            f"{path}: the data changed since this checkpoint was trained: {'; '.join(changes)}; resume on "
            "the data it was trained on, or start a new run"
        )


def _epochs_may_change(cfg: ExperimentConfig, epochs_done: int) -> bool:
    return cfg.optim.schedule in EPOCH_FREE_SCHEDULES and epochs_done <= cfg.optim.epochs


def check_reusable(run_dir: Path, cfg: ExperimentConfig) -> None:
    """Refuse to reuse the finished run in ``run_dir`` for ``cfg`` unless its config.yaml matches and
    its metrics.json carries the fingerprint of ``cfg`` on the data as it is now (``check_fingerprint``).

    Raises:
        ValueError: one line naming the folder and the settings that differ (or the missing config.yaml),
            or the metrics.json and what its fingerprint says.
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
    metrics = run_dir / "metrics.json"
    check_fingerprint(read_metrics(metrics).get("fingerprint"), cfg, metrics, what="metrics.json")


def check_not_training(run_dir: Path) -> None:
    """Refuse to plan a run folder that another process is training (its ``run.lock``, ``engine.lock``):
    its last.pt is no interrupted run's, and its config.yaml alone no run killed before its first
    checkpoint. A SLURM job's lock is left to the launcher, which waits for that job (``studies.launch``);
    any other process that would train the folder meanwhile is refused when it starts (``take_run_lock``).

    Raises:
        ValueError: naming the process that trains it.
    """
    check_unlocked(run_dir, slurm_elsewhere_ok=True)


def plan_run(run_dir: Path, cfg: ExperimentConfig, *, overwrite: bool, replace_other: bool, hint: str) -> str:
    """How to obtain a finished run of ``cfg`` in ``run_dir``.

    "reuse" its metrics.json, "resume" its last.pt, "train" a new run, or "overwrite" what is there:
    always with ``overwrite``; with ``replace_other`` when what is there cannot be reused or resumed for
    ``cfg`` (logged).

    Raises:
        ValueError: what is there cannot be reused or resumed for ``cfg`` (``hint`` says what to do),
            ``run_dir`` lies inside the data it reads or is a file (``softfer.io.outputs``), or another
            process trains it (``check_not_training``).
    """
    # every study plans its runs here before any trains: no run folder inside the data (config_inputs)
    check_output(run_dir, inputs=config_inputs(cfg), overwrite=True, what="run.out_dir", kind="folder")
    check_not_training(run_dir)  # outside the try below: replace_other never overwrites a live run
    if overwrite:
        return "overwrite"
    finished, last = run_dir / "metrics.json", run_dir / "last.pt"
    if not finished.exists() and not last.exists() and not (run_dir / "config.yaml").exists():
        return "train"
    try:
        if not finished.exists() and not last.exists():
            # killed before its first checkpoint: trained again if it was a run of this config (a new run
            # replaces no file of another one, softfer.io.outputs)
            stored = load_config(run_dir / "config.yaml").model_dump(mode="json")
            differences = config_differences(stored, cfg.model_dump(mode="json"), REUSE_SAFE)
            if differences:
                raise ValueError(
                    f"{run_dir} holds a run started with other settings: {describe(differences, 'stored')}"
                )
            return "overwrite"
        if finished.exists():
            check_reusable(run_dir, cfg)
            return "reuse"
        saved = load_checkpoint(last)
        check_resumable(saved, cfg, last)
        check_resumable_data(saved, cfg, last)
        return "resume"
    except ValueError as exc:
        if not replace_other:
            raise ValueError(f"{exc}; {hint}") from exc
        log.warning("%s; training it again", exc)
        return "overwrite"
