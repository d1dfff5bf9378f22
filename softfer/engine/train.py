"""Training: ``train_one_epoch`` and ``fit`` (data, model, optimiser, resume, logs, final evaluation).

Multi-GPU / multi-node runs go through ``torchrun``: when WORLD_SIZE > 1 the process group is initialised
(NCCL on GPU, gloo on CPU), the model is wrapped in DistributedDataParallel, each rank reads its shard of
every epoch's permutation, and evaluation gathers predictions from all ranks.
"""

from __future__ import annotations

import csv
import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from softfer import metrics
from softfer.config import ExperimentConfig, dump_config
from softfer.data.datasets import collate_items
from softfer.engine.checkpoint import load_checkpoint, save_checkpoint
from softfer.engine.data import DataBundle, build_data
from softfer.engine.evaluate import autocast, model_input, predict, split_output
from softfer.engine.losses import class_weights, total_loss
from softfer.engine.outputs import write_run_outputs
from softfer.engine.runtime import EpochSampler, seed_everything, setup_distributed
from softfer.labels.mixing import label_smoothing, midas, mixup
from softfer.models import create_model

log = logging.getLogger(__name__)


def build_optimizer(cfg: ExperimentConfig, model: torch.nn.Module):
    """SGD + cosine (MIDAS) or Adam + StepLR (dual-domain), per the config."""
    o = cfg.optim
    if o.name == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=o.lr, weight_decay=o.weight_decay)
    if o.schedule == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(o.epochs, 1))
    elif o.schedule == "step":
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=o.step_size, gamma=o.gamma)
    else:
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    return opt, sched


def _targets(batch, cfg: ExperimentConfig, x: torch.Tensor, device, rng: np.random.Generator):
    y = batch["soft"].to(device, non_blocking=True)
    if cfg.labels.smoothing > 0:
        y = label_smoothing(y, cfg.labels.smoothing)
    if cfg.labels.mixing == "midas" and x.shape[0] >= 2:
        mixed = midas(x, y, alpha=cfg.labels.mix_alpha, normalize=cfg.labels.mix_normalize, rng=rng)
        return mixed.inputs, mixed.targets
    if cfg.labels.mixing == "mixup":
        mixed = mixup(x, y, alpha=cfg.labels.mix_alpha, rng=rng)
        return mixed.inputs, mixed.targets
    return x, y


def train_one_epoch(
    model,
    loader,
    optimizer,
    scaler,
    *,
    cfg: ExperimentConfig,
    device,
    epoch: int,
    start_step: int,
    weights: torch.Tensor | None,
    rank: int = 0,
    on_step=None,
) -> float:
    """One pass over ``loader`` (which already skips the first ``start_step`` batches). Returns mean loss."""
    model.train()
    total, count = 0.0, 0
    step = start_step
    for batch in loader:
        x = model_input(batch, device, cfg.model.channels_last)
        # The mixing RNG depends only on (seed, epoch, step, rank): resuming replays it exactly.
        x, y = _targets(batch, cfg, x, device, np.random.default_rng([cfg.run.seed, epoch, step, rank]))
        with autocast(device, cfg.run.amp):
            logits, va = split_output(model(x))
        va_true = batch["va"].to(device) if cfg.loss.va_l2 and va is not None else None
        loss, _ = total_loss(
            logits,
            y,
            weights=weights,
            weight_mode=cfg.loss.class_weight_mode,
            cosine=cfg.loss.cosine,
            va_pred=va if va_true is not None else None,
            va_true=va_true,
        )
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite loss at epoch {epoch} step {step}; lower optim.lr?")
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if cfg.optim.grad_clip:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        step += 1
        value = float(loss.detach())  # one device sync per step
        total += value
        count += 1
        if on_step:
            on_step(step, value)
    return total / max(count, 1)


def _loader(ds, batch: int, sampler, workers: int, seed: int, drop_last: bool) -> DataLoader:
    # A private generator keeps DataLoader from drawing from torch's global RNG (exact resumes).
    return DataLoader(
        ds,
        batch_size=batch,
        sampler=sampler,
        num_workers=workers,
        drop_last=drop_last,
        generator=torch.Generator().manual_seed(seed),
        persistent_workers=False,
        pin_memory=torch.cuda.is_available(),
        collate_fn=collate_items,
    )


def _run_dir(cfg: ExperimentConfig, resume: str | None, overwrite: bool) -> Path:
    run_dir = Path(cfg.run.out_dir)
    if not resume and not overwrite and (run_dir / "last.pt").exists():
        raise ValueError(f"{run_dir} already holds a run; pass --resume {run_dir / 'last.pt'} or --overwrite")
    return run_dir


def fit(
    cfg: ExperimentConfig,
    *,
    resume: str | None = None,
    overwrite: bool = False,
    data: DataBundle | None = None,
) -> dict[str, Any]:
    """Train a model per ``cfg``, evaluate it on the test split, write every output; returns test metrics."""
    rank, world, device = setup_distributed(cfg.run.device)
    state = load_checkpoint(resume) if resume else None  # fails before anything is touched
    run_dir = _run_dir(cfg, resume, overwrite)
    seed_everything(cfg.run.seed, cfg.run.deterministic)
    data = data or build_data(cfg)
    assert data.train is not None
    k = len(data.classes)
    model = create_model(
        cfg.model.name, num_classes=k, pretrained=cfg.model.pretrained, **cfg.model.options
    ).to(device)
    if cfg.model.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if world > 1 and cfg.run.sync_bn and device.type == "cuda":
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)  # GPU only in PyTorch
    net = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    if cfg.model.compile:
        net = torch.compile(net)
    optimizer, scheduler = build_optimizer(cfg, model)
    scaler = torch.amp.GradScaler(device.type, enabled=cfg.run.amp == "fp16")
    swa_model = torch.optim.swa_utils.AveragedModel(model) if cfg.optim.swa else None
    swa_sched = (
        torch.optim.swa_utils.SWALR(optimizer, swa_lr=cfg.optim.swa_lr or cfg.optim.lr)
        if cfg.optim.swa
        else None
    )
    weights = class_weights(data.train_labels, k).to(device) if cfg.loss.class_weights else None
    epoch, step, history, best = 0, 0, [], {"uar": -1.0, "epoch": -1}
    running = {"sum": 0.0, "count": 0}  # the epoch's loss so far (checkpointed: resumed logs match too)
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        if swa_model is not None and state.get("swa_model"):
            swa_model.load_state_dict(state["swa_model"])
            swa_sched.load_state_dict(state["swa_scheduler"])
        epoch, step, history, best = state["epoch"], state["step"], state["history"], state["best"]
        running.update(state.get("running") or {})
        torch.set_rng_state(state["rng_torch"])
        if torch.cuda.is_available() and state.get("rng_cuda"):
            torch.cuda.set_rng_state_all(state["rng_cuda"])
        log.info("resumed from %s at epoch %d step %d", resume, epoch, step)
    if rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
        dump_config(cfg, run_dir / "config.yaml")
    per_rank = max(cfg.optim.batch_size // world, 1)
    steps_per_epoch = len(data.train) // (per_rank * world)
    if steps_per_epoch == 0:
        raise ValueError(
            f"batch size {cfg.optim.batch_size} is larger than the {len(data.train)} training samples"
        )
    writer = _tensorboard(run_dir) if rank == 0 else None
    csv_path = run_dir / "log.csv"

    def checkpoint(ep: int, st: int, name: str = "last.pt") -> None:
        if rank != 0:
            return
        save_checkpoint(
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(),
                "swa_model": swa_model.state_dict() if swa_model else None,
                "swa_scheduler": swa_sched.state_dict() if swa_sched else None,
                "epoch": ep,
                "step": st,
                "rng_torch": torch.get_rng_state(),
                "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
                "history": history,
                "best": best,
                "running": running,
                "config": cfg.model_dump(mode="json"),
                "classes": list(data.classes),
            },
            run_dir / name,
        )

    started = time.perf_counter()
    bar = _progress(cfg, rank)
    task = bar.add_task(
        cfg.name, total=cfg.optim.epochs * steps_per_epoch, completed=epoch * steps_per_epoch + step
    )
    with bar:
        while epoch < cfg.optim.epochs:
            data.train.set_epoch(epoch)
            sampler = EpochSampler(
                len(data.train), seed=cfg.run.seed, epoch=epoch, rank=rank, world=world, start=step * per_rank
            )
            loader = _loader(data.train, per_rank, sampler, cfg.data.num_workers, cfg.run.seed + epoch, True)
            ep = epoch

            def on_step(st: int, loss: float, ep=ep) -> None:
                running["sum"] += loss
                running["count"] += 1
                bar.update(
                    task, advance=1, description=f"{cfg.name} ep {ep + 1}/{cfg.optim.epochs} loss {loss:.3f}"
                )
                if rank == 0:
                    _append_csv(
                        csv_path,
                        {"epoch": ep, "step": st, "loss": loss, "lr": optimizer.param_groups[0]["lr"]},
                    )
                if cfg.run.checkpoint_every and st % cfg.run.checkpoint_every == 0 and st < steps_per_epoch:
                    checkpoint(ep, st)

            train_one_epoch(
                net,
                loader,
                optimizer,
                scaler,
                cfg=cfg,
                device=device,
                epoch=epoch,
                start_step=step,
                weights=weights,
                rank=rank,
                on_step=on_step,
            )
            if swa_model is not None and epoch >= cfg.optim.swa_start:
                swa_model.update_parameters(model)
                swa_sched.step()
            else:
                scheduler.step()
            totals = torch.tensor([running["sum"], running["count"]], dtype=torch.float64)
            if world > 1:  # the logged loss is the mean over every rank's samples
                dist.all_reduce(totals)
            mean_loss = float(totals[0] / max(float(totals[1]), 1.0))
            running.update(sum=0.0, count=0)
            record = {"epoch": epoch + 1, "train_loss": mean_loss, "lr": optimizer.param_groups[0]["lr"]}
            if data.val is not None:
                val = predict(net, _eval_loader(data.val, cfg, rank, world), device, amp=cfg.run.amp)
                record["val_uar"] = metrics.uar(val["probs"], val["label"], k)
                if record["val_uar"] > best["uar"]:
                    best = {"uar": record["val_uar"], "epoch": epoch + 1}
                    checkpoint(epoch + 1, 0, "best.pt")
            history.append(record)
            if writer:
                for key, v in record.items():
                    if key != "epoch":
                        writer.add_scalar(key, v, epoch + 1)
            epoch, step = epoch + 1, 0
            checkpoint(epoch, 0)
            if cfg.run.time_budget_s and time.perf_counter() - started > cfg.run.time_budget_s:
                log.warning(
                    "time budget of %.0f s reached after epoch %d; stopping", cfg.run.time_budget_s, epoch
                )
                break
    final = model
    if swa_model is not None and cfg.optim.epochs > cfg.optim.swa_start:
        bn_loader = _loader(
            data.train, per_rank, EpochSampler(len(data.train), seed=cfg.run.seed, epoch=0), 0, 0, False
        )
        torch.optim.swa_utils.update_bn((model_input(b, device) for b in bn_loader), swa_model, device=device)
        final = swa_model.module
    elif cfg.run.select == "val" and data.val is not None and (run_dir / "best.pt").exists():
        model.load_state_dict(load_checkpoint(run_dir / "best.pt")["model"])
    result = evaluate_and_write(final, data, cfg, run_dir, device, rank, world, history)
    if writer:
        writer.close()
    return result


def _eval_loader(ds, cfg: ExperimentConfig, rank: int, world: int) -> DataLoader:
    idx = list(range(len(ds)))[rank::world]
    return DataLoader(
        ds,
        batch_size=max(cfg.optim.batch_size, 8),
        sampler=idx,
        num_workers=cfg.data.num_workers,
        collate_fn=collate_items,
    )


def evaluate_and_write(
    model,
    data: DataBundle,
    cfg,
    run_dir: Path,
    device,
    rank: int = 0,
    world: int = 1,
    history=None,
    *,
    save_model: bool = True,
) -> dict:
    """Test-set predictions and metrics; rank 0 writes model.pt, metrics, predictions and figures."""
    pred = predict(model, _eval_loader(data.test, cfg, rank, world), device, amp=cfg.run.amp)
    if rank != 0:
        return {}
    ids = [r.id for r in data.test.records]
    if save_model:
        _save_model(model, data, cfg, run_dir)
    return write_run_outputs(run_dir, pred, ids, data.classes, history or [])


def _save_model(model, data: DataBundle, cfg: ExperimentConfig, run_dir: Path) -> None:
    save_checkpoint(
        {
            "model": model.state_dict(),
            "config": cfg.model_dump(mode="json"),
            "classes": list(data.classes),
            "trained_on": {"format": cfg.data.format, "synthetic": _is_synthetic(cfg.data.root)},
        },
        run_dir / "model.pt",
    )


def _is_synthetic(root: str) -> bool:
    from softfer.data.synthetic.generate import GROUND_TRUTH

    return bool(root) and (Path(root) / GROUND_TRUTH).is_file()


def _append_csv(path: Path, row: dict[str, Any]) -> None:
    new = not path.exists()
    with path.open("a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(row))
        if new:
            w.writeheader()
        w.writerow(
            {k: (f"{v:.6g}" if isinstance(v, float) and math.isfinite(v) else v) for k, v in row.items()}
        )


def _tensorboard(run_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is a dependency, but training must not die for a log
        return None
    return SummaryWriter(str(run_dir / "tensorboard"))


def _progress(cfg: ExperimentConfig, rank: int):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        disable=not cfg.run.progress or rank != 0,
        transient=False,
    )
