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

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from softfer import metrics
from softfer.config import ExperimentConfig, dump_config
from softfer.data.datasets import collate_items
from softfer.engine.checkpoint import load_checkpoint, save_checkpoint
from softfer.engine.data import DataBundle, build_data
from softfer.engine.evaluate import autocast, model_input, predict, split_output
from softfer.engine.losses import Criterion, class_weights
from softfer.engine.outputs import write_run_outputs
from softfer.engine.runtime import EpochSampler, seed_everything, setup_distributed
from softfer.engine.targets import Mixer, build_mixer
from softfer.models import create_model, spec_of

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


def train_one_epoch(
    model,
    loader,
    optimizer,
    scaler,
    *,
    mixer: Mixer,
    criterion: Criterion,
    device,
    epoch: int,
    start_step: int,
    seed: int,
    amp: str = "none",
    grad_clip: float | None = None,
    channels_last: bool = False,
    norm: tuple[tuple[float, ...], tuple[float, ...]],
    on_step=None,
) -> float:
    """One pass over ``loader`` (which already skips the first ``start_step`` batches). Returns mean loss.

    ``norm`` is the model's input (mean, std) (``spec_of(model).normalization``). ``on_step(step, loss)``
    returning False ends the epoch early (``run.max_steps``).
    """
    model.train()
    total, count = 0.0, 0
    step = start_step
    for batch in loader:
        x = model_input(batch, device, channels_last, mean=norm[0], std=norm[1])
        y = batch["soft"].to(device, non_blocking=True)
        w = criterion.sample_weights(batch["label"].to(device, non_blocking=True))
        # The mixing RNG depends only on (seed, epoch, step): resuming replays it exactly.
        x, y, w = mixer(x, y, w, (seed, epoch, step))
        with autocast(device, amp):
            logits, va = split_output(model(x))
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
        value = float(loss.detach())  # one device sync per step
        total += value
        count += 1
        if on_step and on_step(step, value) is False:
            break
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
    per_rank = per_rank_batch(cfg.optim.batch_size, world)
    steps_per_epoch = len(data.train) // (per_rank * world)
    if steps_per_epoch == 0:
        raise ValueError(
            f"optim.batch_size {cfg.optim.batch_size} is larger than the {len(data.train)} training samples"
        )
    mixer = build_mixer(cfg.labels, per_rank_batch=per_rank, world=world, rank=rank)
    model = create_model(
        cfg.model.name, num_classes=k, pretrained=cfg.model.pretrained, **cfg.model.options
    ).to(device)
    spec = spec_of(model)
    if spec.input_kind != ("image" if data.is_image else "clip"):
        raise ValueError(
            f"model.name={cfg.model.name} takes {spec.input_kind}s but the {cfg.data.format} data are "
            f"{'still images' if data.is_image else 'clips'}: choose a model for this data"
        )
    if cfg.loss.va_l2 and not spec.has_va:
        raise ValueError(
            f"loss.va_l2 needs a model with a valence/arousal head; {cfg.model.name} predicts {spec.heads} "
            "(use model.name=r18_affect or set loss.va_l2=false)"
        )
    weights = class_weights(data.weight_labels, k).to(device) if cfg.loss.class_weights else None
    criterion = Criterion(
        weights, mode=cfg.loss.class_weight_mode, cosine=cfg.loss.cosine, va_l2=cfg.loss.va_l2
    )
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
    swa_sched = None  # built when averaging starts (its lr defaults to the lr in force then)
    epoch, step, history, best = 0, 0, [], {"uar": -1.0, "epoch": -1}
    running = {"sum": 0.0, "count": 0}  # the epoch's loss so far (checkpointed: resumed logs match too)
    if state is not None:
        if state.get("swa_scheduler"):
            swa_sched = _swa_scheduler(optimizer, state["optimizer"]["param_groups"][0]["swa_lr"])
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        if swa_model is not None and state.get("swa_model"):
            swa_model.load_state_dict(state["swa_model"])
        if swa_sched is not None:
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
    done_steps = epoch * steps_per_epoch + step
    cut_short: dict[str, Any] = {}
    bar = _progress(cfg, rank)
    task = bar.add_task(cfg.name, total=cfg.optim.epochs * steps_per_epoch, completed=done_steps)
    with bar:
        while epoch < cfg.optim.epochs and not cut_short:
            data.train.set_epoch(epoch)
            sampler = EpochSampler(
                len(data.train), seed=cfg.run.seed, epoch=epoch, rank=rank, world=world, start=step * per_rank
            )
            loader = _loader(data.train, per_rank, sampler, cfg.data.num_workers, cfg.run.seed + epoch, True)
            ep = epoch

            def on_step(st: int, loss: float, ep=ep) -> bool:
                nonlocal done_steps
                done_steps += 1
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
                if cfg.run.max_steps and done_steps >= cfg.run.max_steps:
                    cut_short["max_steps"] = cfg.run.max_steps
                    return False
                return True

            train_one_epoch(
                net,
                loader,
                optimizer,
                scaler,
                mixer=mixer,
                criterion=criterion,
                device=device,
                epoch=epoch,
                start_step=step,
                seed=cfg.run.seed,
                amp=cfg.run.amp,
                grad_clip=cfg.optim.grad_clip,
                channels_last=cfg.model.channels_last,
                norm=spec.normalization,
                on_step=on_step,
            )
            if cut_short:
                break
            if swa_model is not None and epoch >= cfg.optim.swa_start:
                swa_model.update_parameters(model)
                if swa_sched is None:
                    swa_sched = _swa_scheduler(optimizer, cfg.optim.swa_lr or optimizer.param_groups[0]["lr"])
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
                if epoch < cfg.optim.epochs:
                    cut_short["time_budget_s"] = cfg.run.time_budget_s
    final = model
    if swa_model is not None and int(swa_model.n_averaged) > 0:
        bn_loader = _loader(
            data.train, per_rank, EpochSampler(len(data.train), seed=cfg.run.seed, epoch=0), 0, 0, False
        )
        torch.optim.swa_utils.update_bn(
            (model_input(b, device, mean=spec.mean, std=spec.std) for b in bn_loader),
            swa_model,
            device=device,
        )
        final = swa_model.module
    elif cfg.run.select == "val" and data.val is not None and (run_dir / "best.pt").exists():
        model.load_state_dict(load_checkpoint(run_dir / "best.pt")["model"])
    result = evaluate_and_write(final, data, cfg, run_dir, device, rank, world, history, cut_short=cut_short)
    if writer:
        writer.close()
    return result


def per_rank_batch(batch_size: int, world: int) -> int:
    """Samples per process and step: ``optim.batch_size`` is the global batch, split evenly over ranks."""
    if batch_size % world:
        raise ValueError(
            f"optim.batch_size={batch_size} is the global batch and must divide evenly over the {world} "
            f"processes; use a multiple of {world}"
        )
    return batch_size // world


def _swa_scheduler(optimizer, swa_lr: float):
    # A constant lr while averaging (anneal_epochs=1 reaches it at once; equal to the lr in force when
    # averaging starts unless optim.swa_lr says otherwise).
    return torch.optim.swa_utils.SWALR(optimizer, swa_lr=swa_lr, anneal_epochs=1)


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
    cut_short: dict | None = None,
) -> dict:
    """Test-set predictions and metrics; rank 0 writes model.pt, metrics, predictions and figures.

    ``cut_short`` (e.g. {"max_steps": 2}) is recorded in metrics.json when training stopped early.
    """
    pred = predict(model, _eval_loader(data.test, cfg, rank, world), device, amp=cfg.run.amp)
    if rank != 0:
        return {}
    ids = [r.id for r in data.test.records]
    if save_model:
        _save_model(model, data, cfg, run_dir)
    return write_run_outputs(
        run_dir, pred, ids, data.classes, history or [], extra={"cut_short": cut_short} if cut_short else None
    )


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
