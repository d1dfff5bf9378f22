"""Training: ``train_steps`` (the step loop, which reads no config; ``train_one_epoch`` wraps it and
averages its losses) and ``fit`` (a whole run).

``fit`` builds the run (``engine.build``: everything that can fail fails there), trains epoch by epoch
with checkpoints that resume exactly (``engine.state.TrainState``), then evaluates the final model on the
test split and writes every output (``engine.outputs``).

Multi-GPU / multi-node runs go through ``torchrun``: when WORLD_SIZE > 1 the process group is initialised
(NCCL on GPU, gloo on CPU), the model is wrapped in DistributedDataParallel, each rank reads its shard of
every epoch's permutation, and evaluation gathers predictions from all ranks.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from softfer import metrics
from softfer.config import ExperimentConfig
from softfer.data.datasets import SKIP_ADVICE, unreadable_indices
from softfer.data.formats.fer2013_faces import first_face_cache_advice
from softfer.engine.build import Training, build_training, per_rank_batch, train_loader
from softfer.engine.data import DataBundle
from softfer.engine.evaluate import predict
from softfer.engine.logs import RunLog
from softfer.engine.losses import Criterion
from softfer.engine.mixer import Mixer
from softfer.engine.outputs import eval_loader, evaluate_and_write
from softfer.engine.runtime import EpochSampler
from softfer.inference.batch import batch_input, forward
from softfer.inference.checkpoint import load_checkpoint
from softfer.io.images import MediaError

__all__ = ["fit", "per_rank_batch", "train_one_epoch", "train_steps"]

log = logging.getLogger(__name__)


def train_steps(
    model: torch.nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    *,
    mixer: Mixer,
    criterion: Criterion,
    device: torch.device,
    epoch: int,
    start_step: int,
    seed: int,
    amp: str = "none",
    grad_clip: float | None = None,
    channels_last: bool = False,
    unreadable: list[int] | None = None,
) -> Iterator[tuple[int, float]]:
    """Train on each batch of ``loader`` (which already skips the first ``start_step`` batches).

    Yields (step, loss) after every optimiser step, ``step`` counting from the epoch's start; stop
    iterating to end the epoch early. The input is normalised with the model's own spec.
    ``unreadable`` collects the distinct records of this epoch the dataset found unreadable (and
    replaced); more than the dataset's ``max_unreadable`` raise ``MediaError``.
    """
    model.train()
    step = start_step
    for batch in loader:
        if unreadable is not None:
            note_unreadable(batch, loader.dataset, unreadable)
        x = batch_input(model, batch, device, channels_last)
        y = batch["soft"].to(device, non_blocking=True)
        w = criterion.sample_weights(batch["label"].to(device, non_blocking=True))
        # The mixing RNG depends only on (seed, epoch, step): resuming replays it exactly.
        x, y, w = mixer(x, y, w, (seed, epoch, step))
        logits, va = forward(model, x, amp=amp)
        loss, _ = criterion(logits, y, w, va, batch["va"].to(device) if va is not None else None)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite loss at epoch {epoch} step {step}; lower optim.lr?")
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if grad_clip:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        scaler.step(optimizer)
        scaler.update()
        step += 1
        yield step, float(loss.detach())  # one device sync per step


def train_one_epoch(
    model: torch.nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer, scaler, **kw: Any
) -> float:
    """One pass over ``loader``; returns the mean loss. Keyword arguments as ``train_steps`` takes them."""
    losses = [loss for _, loss in train_steps(model, loader, optimizer, scaler, **kw)]
    return sum(losses) / max(len(losses), 1)


def fit(
    cfg: ExperimentConfig,
    *,
    resume: str | None = None,
    overwrite: bool = False,
    data: DataBundle | None = None,
) -> dict[str, Any]:
    """Train a model per ``cfg``, evaluate it on the test split, write every output; returns test metrics."""
    t = build_training(cfg, resume=resume, overwrite=overwrite, data=data)
    try:
        return _train_and_test(t)
    finally:
        t.release()  # the run folder's lock (engine.lock): a finished or failed run holds none


def _train_and_test(t: Training) -> dict[str, Any]:
    """``fit``'s loop over a built run: epochs, checkpoints, then the test set and every output."""
    cfg = t.cfg
    s, run, epochs = t.state, cfg.run, cfg.optim.epochs
    done = s.epoch * t.steps_per_epoch + s.step  # steps trained so far, for run.max_steps and the bar
    logs = RunLog(
        t.run_dir, cfg.name, epochs, epochs * t.steps_per_epoch, done, t.rank, run.progress, s.epoch
    )
    cut_short: dict[str, Any] = {}
    started = time.perf_counter()
    with logs:
        while s.epoch < epochs and not cut_short:
            for step, loss in epoch_steps(t):
                s.step, done = step, done + 1
                s.running["sum"] += loss
                s.running["count"] += 1
                logs.step(s.epoch, step, loss, s.optimizer.param_groups[0]["lr"])
                if run.checkpoint_every and step % run.checkpoint_every == 0 and step < t.steps_per_epoch:
                    t.save("last.pt")
                if run.max_steps and done >= run.max_steps:
                    cut_short["max_steps"] = run.max_steps
                    break
            if cut_short:
                break
            end_epoch(t, logs)
            if run.time_budget_s and time.perf_counter() - started > run.time_budget_s:
                log.warning(
                    "time budget of %.0f s reached after epoch %d; stopping", run.time_budget_s, s.epoch
                )
                if s.epoch < epochs:
                    cut_short["time_budget_s"] = run.time_budget_s
    result = evaluate_and_write(
        final_model(t), t.data, cfg, t.run_dir, t.device, t.rank, t.world, s.history, cut_short=cut_short
    )
    logs.final(result, cfg.model_dump(mode="json"))  # test metrics, hyperparameters and figures
    logs.close()
    return result


def epoch_steps(t: Training) -> Iterator[tuple[int, float]]:
    """``train_steps`` over the current epoch of a built run, from its current step on."""
    cfg, s = t.cfg, t.state
    return train_steps(
        t.net,
        t.train_loader(),
        s.optimizer,
        s.scaler,
        mixer=t.mixer,
        criterion=t.criterion,
        device=t.device,
        epoch=s.epoch,
        start_step=s.step,
        seed=cfg.run.seed,
        amp=cfg.run.amp,
        grad_clip=cfg.optim.grad_clip,
        channels_last=cfg.model.channels_last,
        unreadable=s.running.setdefault("unreadable", []),  # saved with mid-epoch checkpoints
    )


def note_unreadable(batch: dict[str, torch.Tensor], dataset: Any, found: list[int]) -> None:
    """Add a training batch's newly found unreadable records to ``found``; fail beyond the cap.

    One rule for any number of DataLoader workers: the records are counted here, in the main process,
    from what the batch says, and each record once per epoch.
    """
    known = set(found)
    found.extend(i for i in dict.fromkeys(unreadable_indices(batch, len(dataset))) if i not in known)
    if len(found) > dataset.max_unreadable:
        names = ", ".join(dataset.records[i].id for i in found[:5])
        raise MediaError(
            f"{len(found)} unreadable training items in one epoch, more than the {dataset.max_unreadable} "
            f"data.max_skip={dataset.max_skip} allows; first: {names} (the log names each file); "
            f"{SKIP_ADVICE}"
        )


def end_epoch(t: Training, logs: RunLog) -> None:
    """Step the lr schedule (or average, once SWA starts), log the epoch, validate, checkpoint."""
    s, cfg = t.state, t.cfg
    if s.swa_model is not None and s.epoch >= cfg.optim.swa_start:
        s.average(cfg.optim.swa_lr)
    else:
        s.scheduler.step()
    lr = s.optimizer.param_groups[0]["lr"]
    record: dict[str, Any] = {"epoch": s.epoch + 1, "train_loss": _epoch_loss(s.running, t.world), "lr": lr}
    _record_unreadable(record, "replaced", _gathered(s.running.get("unreadable", []), t.world), t.data.train)
    s.running.update(sum=0.0, count=0, unreadable=[])
    s.epoch, s.step = s.epoch + 1, 0
    if t.data.val is not None:
        cap = t.data.val.max_unreadable
        loader = eval_loader(t.data.val, cfg, t.rank, t.world)
        val = predict(t.net, loader, t.device, amp=cfg.run.amp, max_unreadable=cap)
        _record_unreadable(record, "val_skipped", val["unreadable"].tolist(), t.data.val)
        record.update(validation_scores(val["probs"], val["label"], len(t.data.classes)))
        if record["val_uar"] > s.best["uar"]:
            s.best = {"uar": record["val_uar"], "epoch": s.epoch}
            t.save("best.pt")  # before this epoch's record joins the history, as it always was
    s.history.append(record)
    logs.epoch(record)
    t.save("last.pt")


def validation_scores(probs: np.ndarray, labels: np.ndarray, num_classes: int) -> dict[str, float]:
    """An epoch's validation scores (history and TensorBoard): UAR (selects ``best.pt``), WAR, NLL, ECE."""
    return {
        "val_uar": metrics.uar(probs, labels, num_classes),
        "val_war": metrics.war(probs, labels, num_classes),
        "val_nll": metrics.nll(probs, labels),
        "val_ece": metrics.ece(probs, labels),
    }


def final_model(t: Training) -> torch.nn.Module:
    """The model to test: the SWA average (batch-norm statistics recomputed), the best on validation
    (``run.select=val``), or the last."""
    s, cfg = t.state, t.cfg
    if s.swa_model is not None and int(s.swa_model.n_averaged) > 0:
        assert t.data.train is not None
        sampler = EpochSampler(len(t.data.train), seed=cfg.run.seed, epoch=0)
        bn_loader = train_loader(t.data.train, t.per_rank, sampler, 0, 0, False)
        batches = (batch_input(s.model, b, t.device) for b in bn_loader)
        torch.optim.swa_utils.update_bn(batches, s.swa_model, device=t.device)
        return s.swa_model.module
    if cfg.run.select == "val" and t.data.val is not None:
        best = best_checkpoint(t.run_dir / "best.pt", s.best)
        if best is not None:
            s.model.load_state_dict(best["model"])
    return s.model


def best_checkpoint(path: Path, best: dict[str, Any]) -> dict[str, Any] | None:
    """The checkpoint at ``path`` when this run wrote it for its best epoch ``best`` (``TrainState.best``);
    None when the run recorded no best (stopped before its first validation: it tests its last weights).

    A best.pt is trusted only when it records the same best: one of another run (a folder reused with
    --overwrite, a resume moved to another run.out_dir) must never be tested as this run's model.
    """
    if best.get("epoch", -1) < 0:
        return None
    saved = load_checkpoint(path) if path.is_file() else None
    if saved is None or saved.get("best") != best:
        log.warning(
            "run.select=val: %s is not this run's best checkpoint (epoch %s); testing the last weights",
            path,
            best["epoch"],
        )
        return None
    return saved


def _record_unreadable(record: dict[str, Any], key: str, found: list[int], dataset: Any) -> None:
    # An epoch that met unreadable media says so in its history record (metrics.json) and in the log.
    if not found:
        return
    if len(found) > dataset.max_unreadable:
        raise MediaError(
            f"epoch {record['epoch']}: {len(found)} unreadable items ({key}), more than the "
            f"{dataset.max_unreadable} data.max_skip={dataset.max_skip} allows"
        )
    records = [dataset.records[i] for i in sorted(found)]
    ids = [r.id for r in records]
    record[key] = {"count": len(ids), "ids": ids}
    what = "training items replaced by others" if key == "replaced" else "validation items left out"
    # the summary is what a user reads: when the items are softfer's FER2013 face cache, it says which
    # folder to delete, as each item's warning does (one folder per run: the first such item's)
    hint = first_face_cache_advice(records)
    log.warning("epoch %d: %d unreadable %s: %s%s", record["epoch"], len(ids), what, ", ".join(ids), hint)


def _gathered(found: list[int], world: int) -> list[int]:
    # The distinct unreadable records of the epoch over all ranks.
    if world > 1:
        parts: list[list[int]] = [[] for _ in range(world)]
        dist.all_gather_object(parts, list(found))
        found = [i for part in parts for i in part]
    return sorted(set(found))


def _epoch_loss(running: dict[str, float], world: int) -> float:
    # The logged loss is the mean over every rank's samples of the epoch.
    totals = torch.tensor([running["sum"], running["count"]], dtype=torch.float64)
    if world > 1:
        dist.all_reduce(totals)
    return float(totals[0] / max(float(totals[1]), 1.0))
