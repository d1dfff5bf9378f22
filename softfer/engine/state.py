"""What a training run must carry across a restart, in one object: ``TrainState``.

``state_dict()`` and ``load_state_dict()`` list the same fields, so a checkpoint cannot save something it
does not restore. The keys are those of the checkpoints written before ``TrainState`` existed (model,
optimizer, scheduler, scaler, swa_model, swa_scheduler, epoch, step, rng_torch, rng_cuda, history, best,
running), so those checkpoints still resume.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch.optim.swa_utils import SWALR, AveragedModel

from softfer.config import OptimConfig

STATE_KEYS = (
    "model",
    "optimizer",
    "scheduler",
    "scaler",
    "swa_model",
    "swa_scheduler",
    "epoch",
    "step",
    "rng_torch",
    "rng_cuda",
    "history",
    "best",
    "running",
)


def build_optimizer(optim: OptimConfig, model: torch.nn.Module):
    """(optimizer, scheduler): SGD + cosine (MIDAS) or Adam + StepLR (dual-domain), per ``optim``."""
    # One fused kernel per step instead of a Python loop over the parameters: on 2 CPU cores the loop
    # took ~7 % of a demo step (docs/BENCHMARKS.md). Deterministic, so resumes stay bit-identical.
    fused = {"fused": True} if _fusable(model) else {}
    if optim.name == "sgd":
        opt = torch.optim.SGD(
            model.parameters(), lr=optim.lr, momentum=optim.momentum, weight_decay=optim.weight_decay, **fused
        )
    else:
        opt = torch.optim.Adam(model.parameters(), lr=optim.lr, weight_decay=optim.weight_decay, **fused)
    if optim.schedule == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(optim.epochs, 1))
    elif optim.schedule == "step":
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=optim.step_size, gamma=optim.gamma)
    else:
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    return opt, sched


def _fusable(model: torch.nn.Module) -> bool:
    """Whether torch's fused optimisers take these parameters: floating point, on the CPU or a GPU."""
    params = list(model.parameters())
    return bool(params) and all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)


def swa_scheduler(optimizer: torch.optim.Optimizer, swa_lr: float) -> SWALR:
    """The constant lr while averaging (anneal_epochs=1 reaches ``swa_lr`` at once)."""
    return SWALR(optimizer, swa_lr=swa_lr, anneal_epochs=1)


@dataclass
class TrainState:
    """The model, its optimiser and schedules, and where training stands.

    ``epoch`` counts finished epochs; ``step`` the optimiser steps done in the current one (a mid-epoch
    checkpoint resumes there). ``running`` holds the current epoch's loss so far, so that a resumed
    epoch logs the same mean loss. The SWA scheduler is built when averaging starts (its lr is then the
    lr in force unless ``optim.swa_lr`` says otherwise).
    """

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: torch.amp.GradScaler
    swa_model: AveragedModel | None = None
    swa_scheduler: SWALR | None = None
    epoch: int = 0
    step: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] = field(default_factory=lambda: {"uar": -1.0, "epoch": -1})
    running: dict[str, float] = field(default_factory=lambda: {"sum": 0.0, "count": 0})

    @classmethod
    def create(cls, model: torch.nn.Module, optim: OptimConfig, device: torch.device, amp: str) -> TrainState:
        """A fresh state: optimiser and schedule per ``optim``, a loss scaler for fp16, an SWA model."""
        optimizer, scheduler = build_optimizer(optim, model)
        scaler = torch.amp.GradScaler(device.type, enabled=amp == "fp16")
        swa_model = AveragedModel(model) if optim.swa else None
        return cls(model, optimizer, scheduler, scaler, swa_model)

    def average(self, swa_lr: float | None) -> None:
        """One SWA epoch end: fold the weights into the average and step the constant SWA lr."""
        assert self.swa_model is not None
        self.swa_model.update_parameters(self.model)
        if self.swa_scheduler is None:
            self.swa_scheduler = swa_scheduler(self.optimizer, swa_lr or self.optimizer.param_groups[0]["lr"])
        self.swa_scheduler.step()

    def state_dict(self) -> dict[str, Any]:
        """Everything ``load_state_dict`` restores, with the RNG states of this moment."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "swa_model": self.swa_model.state_dict() if self.swa_model else None,
            "swa_scheduler": self.swa_scheduler.state_dict() if self.swa_scheduler else None,
            "epoch": self.epoch,
            "step": self.step,
            "rng_torch": torch.get_rng_state(),
            "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            "history": self.history,
            "best": self.best,
            "running": self.running,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` saved (also from checkpoints written before this class)."""
        if state.get("swa_scheduler"):
            # Built before the optimiser's state is loaded: SWALR's constructor steps the lr, which the
            # loaded optimiser state then overwrites.
            lr = state["optimizer"]["param_groups"][0]["swa_lr"]
            self.swa_scheduler = swa_scheduler(self.optimizer, lr)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        if self.swa_model is not None and state.get("swa_model"):
            self.swa_model.load_state_dict(state["swa_model"])
        if self.swa_scheduler is not None:
            self.swa_scheduler.load_state_dict(state["swa_scheduler"])
        self.epoch, self.step = state["epoch"], state["step"]
        self.history, self.best = state["history"], state["best"]
        self.running.update(state.get("running") or {})
        torch.set_rng_state(state["rng_torch"])
        if torch.cuda.is_available() and state.get("rng_cuda"):
            torch.cuda.set_rng_state_all(state["rng_cuda"])
