"""The build step of a training run: everything ``fit`` needs, made and checked before the first step.

What cannot be honoured fails here, before the run folder is touched: a folder another process is
training (its ``run.lock``: ``engine.lock``; rank 0 takes that lock for the run, ``fit`` releases it), an
unreadable checkpoint, a checkpoint of another run (settings, model or state that differ:
``engine.resume.check_resumable``), a run folder that already holds a run, a global batch that does not
split over the processes or exceeds the training set, a mixing that cannot mix, a model whose input kind
does not match the data, a VA loss without a VA head, a test set holding items the run trains on
(``engine.data.check_test_not_trained_on``: `eval`'s rule, so that the run's own test score is never one
on its training items).

Then the run folder is prepared: temporaries of interrupted writes removed, a replaced earlier run's files
removed (a new run with ``overwrite``: ``engine.outputs.remove_earlier_run``; a resume removes none),
metrics.json (the mark of a finished run) removed, log.csv cut back to the checkpoint's step (or started
afresh), config.yaml written.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from softfer.config import ExperimentConfig, dump_config
from softfer.data.datasets import collate_items
from softfer.engine.data import DataBundle, build_data, check_test_not_trained_on, config_inputs, trained_on
from softfer.engine.environment import environment
from softfer.engine.lock import RunLock, check_unlocked, take_run_lock
from softfer.engine.logs import truncate_log
from softfer.engine.losses import Criterion, class_weights
from softfer.engine.mixer import Mixer, build_mixer
from softfer.engine.outputs import RESULT_FILES, earlier_run_files, remove_earlier_run
from softfer.engine.resume import (
    check_resumable,
    check_resumable_data,
    remove_stale_temporaries,
    run_fingerprint,
)
from softfer.engine.runtime import EpochSampler, process_ranks, seed_everything, setup_distributed
from softfer.engine.state import TrainState
from softfer.inference.checkpoint import load_checkpoint, save_checkpoint
from softfer.io.files import write_json_atomic
from softfer.io.outputs import check_outputs
from softfer.io.threads import loader_workers
from softfer.models import create_model, spec_of

log = logging.getLogger(__name__)
# The files a run writes into run.out_dir (and tensorboard/): a new run refuses to replace them.
RUN_FILES = (
    "config.yaml",
    "environment.json",
    "log.csv",
    "last.pt",
    "best.pt",
    "model.pt",
    "tensorboard",
    *RESULT_FILES,
)


@dataclass
class Training:
    """One training run, built: its data, state and recipes, where it runs and where it writes."""

    cfg: ExperimentConfig
    data: DataBundle
    state: TrainState
    net: torch.nn.Module  # the model as trained: ``state.model`` inside DDP and/or torch.compile
    mixer: Mixer
    criterion: Criterion
    device: torch.device
    rank: int
    world: int
    per_rank: int  # samples per process and step
    steps_per_epoch: int
    run_dir: Path
    lock: RunLock | None = None  # rank 0's lock of run_dir (``engine.lock``)

    def release(self) -> None:
        """Release the run folder's lock (the run ended, or failed)."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def train_loader(self) -> DataLoader:
        """This rank's batches of the current epoch, from the current step on (a resumed epoch skips
        the batches already trained on)."""
        s, train, seed = self.state, self.data.train, self.cfg.run.seed
        assert train is not None
        train.set_epoch(s.epoch)
        sampler = EpochSampler(
            len(train),
            seed=seed,
            epoch=s.epoch,
            rank=self.rank,
            world=self.world,
            start=s.step * self.per_rank,
        )
        return train_loader(train, self.per_rank, sampler, self.cfg.data.num_workers, seed + s.epoch, True)

    def save(self, name: str) -> None:
        """Checkpoint the state, the config, the class names, the run's fingerprint and what it trains on
        to RUN/``name`` (rank 0 only)."""
        if self.rank != 0:
            return
        extra = {
            "config": self.cfg.model_dump(mode="json"),
            "classes": list(self.data.classes),
            # as model.pt: predict, eval and export read best.pt and last.pt too, and without it a model of
            # the synthetic benchmark was described as "trained on dfew data" (found by audit)
            "trained_on": trained_on(self.cfg, self.data),
            "fingerprint": run_fingerprint(self.cfg, self.data.fingerprint),
            "training_items": self.data.training_items,
        }
        save_checkpoint({**self.state.state_dict(), **extra}, self.run_dir / name)


def build_training(
    cfg: ExperimentConfig,
    *,
    resume: str | None = None,
    overwrite: bool = False,
    data: DataBundle | None = None,
) -> Training:
    """Set up processes, data, model, loss, mixing and optimiser per ``cfg``; restore ``resume``.

    The order is fixed: torch's RNG is seeded before the data and the model are built, so a run's
    initial weights depend on its seed only.

    Raises:
        ValueError: a setting that cannot be honoured (see the module docstring).
    """
    per_rank_batch(cfg.optim.batch_size, process_ranks()[1])  # before the processes meet: said alike by all
    rank, world, device = setup_distributed(cfg.run.device)
    if rank == 0:  # a folder another process trains is named as such before anything else is said of it
        check_unlocked(Path(cfg.run.out_dir))
    saved = load_checkpoint(resume) if resume else None  # fails before anything is touched
    if saved is not None:
        check_resumable(saved, cfg, str(resume))
    run_dir, stale = _run_dir(cfg, resume, overwrite)
    # one process trains a folder (rank 0 holds the lock for all ranks); fit releases it at the end
    lock = take_run_lock(run_dir) if rank == 0 else None
    try:
        t = _build(cfg, saved, resume, overwrite, data, run_dir, stale, (rank, world, device))
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    t.lock = lock
    return t


def _build(
    cfg: ExperimentConfig,
    saved: dict | None,
    resume: str | None,
    overwrite: bool,
    data: DataBundle | None,
    run_dir: Path,
    stale: list[Path],
    where: tuple[int, int, torch.device],
) -> Training:
    """``build_training`` after the checks of the folder, holding its lock: data, model, state, folder."""
    rank, world, device = where
    seed_everything(cfg.run.seed, cfg.run.deterministic)
    data = data or build_data(cfg)
    check_test_not_trained_on(data, cfg)  # on the test items as scored (a smoke run's first few)
    if saved is not None:
        check_resumable_data(saved, cfg, str(resume), data.fingerprint)
    per_rank, steps_per_epoch = _batches(cfg, data, world)
    mixer = build_mixer(cfg.labels, per_rank_batch=per_rank, world=world, rank=rank)
    model = _model(cfg, data, device)
    weights = (
        class_weights(data.weight_labels, len(data.classes)).to(device) if cfg.loss.class_weights else None
    )
    criterion = Criterion(
        weights, mode=cfg.loss.class_weight_mode, cosine=cfg.loss.cosine, va_l2=cfg.loss.va_l2
    )
    model, net = _wrap(model, cfg, world, device)
    state = TrainState.create(model, cfg.optim, device, cfg.run.amp)
    if saved is not None:
        _restore(state, saved, str(resume))
        log.info("resumed from %s at epoch %d step %d", resume, state.epoch, state.step)
    if rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(run_dir)
        if saved is None and overwrite:
            # A new run replacing an earlier one (--overwrite, a study's plan): none of that run's files
            # may stand beside this run's (a best.pt it never writes, curves, analyses). A resume keeps all.
            remove_earlier_run(run_dir, stale)
        # metrics.json marks a finished run: from here on this folder holds one in progress.
        (run_dir / "metrics.json").unlink(missing_ok=True)
        # The steps logged after the checkpoint are trained again; a fresh run starts a fresh log.
        dropped = truncate_log(run_dir / "log.csv", state.epoch, state.step)
        if dropped and saved is not None:
            log.info("log.csv: %d rows logged after the checkpoint removed", dropped)
        dump_config(cfg, run_dir / "config.yaml")
        env = environment(str(Path(cfg.data.root).resolve()) if cfg.data.root else None, data.synthetic)
        write_json_atomic(run_dir / "environment.json", env)
    return Training(
        cfg, data, state, net, mixer, criterion, device, rank, world, per_rank, steps_per_epoch, run_dir
    )


def _restore(state: TrainState, saved: dict, path: str) -> None:
    # A checkpoint whose config matches but whose tensors do not (edited, or written by other code)
    # fails in one line, not with torch's list of every mismatched tensor.
    try:
        state.load_state_dict(saved)
    except (RuntimeError, KeyError, ValueError, TypeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ValueError(f"{path}: its training state does not fit this run's model ({first})") from exc


def per_rank_batch(batch_size: int, world: int) -> int:
    """Samples per process and step: ``optim.batch_size`` is the global batch, split evenly over ranks."""
    if batch_size % world:
        raise ValueError(
            f"optim.batch_size={batch_size} is the global batch and must divide evenly over the {world} "
            f"processes; use a multiple of {world}"
        )
    return batch_size // world


def train_loader(
    ds: Dataset, batch: int, sampler: Sampler, workers: int, seed: int, drop_last: bool
) -> DataLoader:
    """A training-set loader over ``sampler``'s indices."""
    # A private generator keeps DataLoader from drawing from torch's global RNG (exact resumes).
    return DataLoader(
        ds,
        batch_size=batch,
        sampler=sampler,
        num_workers=loader_workers(workers),
        drop_last=drop_last,
        generator=torch.Generator().manual_seed(seed),
        persistent_workers=False,
        pin_memory=torch.cuda.is_available(),
        collate_fn=collate_items,
    )


def _run_dir(cfg: ExperimentConfig, resume: str | None, overwrite: bool) -> tuple[Path, list[Path]]:
    # A new run replaces no file it did not write (softfer.io.outputs): a run, a first eval, a user's own
    # config.yaml in run.out_dir. A resume continues the run its checkpoint came from (check_resumable):
    # it replaces that run's files in the checkpoint's own folder; moved to another run.out_dir (a setting
    # a resume may change) it is a new folder's writer like any run, and replaces nothing there without
    # --overwrite. Neither writes onto or inside the data it reads (config_inputs). Returns the folder and
    # the earlier run's files that a new run with --overwrite removes, checked here against the inputs.
    run_dir = Path(cfg.run.out_dir)
    if not resume and not overwrite and (run_dir / "last.pt").exists():
        raise ValueError(f"{run_dir} already holds a run; pass --resume {run_dir / 'last.pt'} or --overwrite")
    own_folder = bool(resume) and Path(resume).resolve().parent == run_dir.resolve()
    outputs = [run_dir / f for f in RUN_FILES]
    inputs = config_inputs(cfg)
    if own_folder:  # the run's own config.yaml, given to continue it, is its output: rewritten as what ran
        inputs = [p for p in inputs if p.resolve() != (run_dir / "config.yaml").resolve()]
    check_outputs(outputs, inputs=inputs, overwrite=overwrite or own_folder, what="run.out_dir")
    stale = earlier_run_files(run_dir) if overwrite and not resume else []
    # what remove_earlier_run will delete: never an input (model.pretrained)
    check_outputs(stale, inputs=inputs, overwrite=True, what="run.out_dir")
    return run_dir, stale


def _batches(cfg: ExperimentConfig, data: DataBundle, world: int) -> tuple[int, int]:
    # (samples per process and step, steps per epoch)
    assert data.train is not None
    per_rank = per_rank_batch(cfg.optim.batch_size, world)
    steps_per_epoch = len(data.train) // (per_rank * world)
    if steps_per_epoch == 0:
        raise ValueError(
            f"optim.batch_size {cfg.optim.batch_size} is larger than the {len(data.train)} training samples"
        )
    return per_rank, steps_per_epoch


def _model(cfg: ExperimentConfig, data: DataBundle, device: torch.device) -> torch.nn.Module:
    # The model per cfg.model, refused when its spec cannot take the data or feed the loss.
    model = create_model(
        cfg.model.name, num_classes=len(data.classes), pretrained=cfg.model.pretrained, **cfg.model.options
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
    return model


def _wrap(
    model: torch.nn.Module, cfg: ExperimentConfig, world: int, device: torch.device
) -> tuple[torch.nn.Module, torch.nn.Module]:
    # (the model, the module the loop calls: the model inside DDP and/or torch.compile)
    if cfg.model.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if world > 1 and cfg.run.sync_bn and device.type == "cuda":
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)  # GPU only in PyTorch
    net = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    if cfg.model.compile:
        net = torch.compile(net)
    return model, net
