"""Where a training run reports: log.csv (every step), TensorBoard (every epoch, then the test results,
hyperparameters and figures) and a progress bar, or where the output is not a terminal, plain progress
lines (epoch, loss, ETA) every ``softfer.io.console.LINE_EVERY_S`` seconds and at the end of each epoch.

Only rank 0 writes files; the progress bar is shown on rank 0 when ``run.progress`` is on.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from softfer.io.console import ProgressLines, bars_allowed, console, plain_lines, sharing
from softfer.io.files import atomic_write

try:
    from torch.utils.tensorboard import SummaryWriter
    from torch.utils.tensorboard.summary import hparams
except ImportError:  # tensorboard is a dependency, but training must not die for a log
    SummaryWriter = None  # type: ignore[assignment,misc]

# The run's figures (written by ``engine.outputs.write_run_outputs``) that ``RunLog.final`` shows.
RUN_FIGURES = ("confusion_matrix.png", "per_class_recall.png", "reliability.png")


class RunLog:
    """The run's step and epoch logs and its progress bar; use as a context manager around the loop.

    Args:
        run_dir: The run folder (log.csv and tensorboard/ go there).
        name: The run's name, shown on the bar.
        epochs: Epochs planned.
        total_steps: Steps planned over all epochs; ``done_steps`` of them are done (a resumed run).
        rank: This process's rank; ranks other than 0 write nothing.
        progress: Show the bar (unless ``softfer --quiet`` turned bars off).
        first_epoch: The epoch (0-based) the loop starts at; a resumed run drops the TensorBoard events
            logged after its checkpoint, so that no epoch appears twice.
    """

    def __init__(
        self,
        run_dir: Path,
        name: str,
        epochs: int,
        total_steps: int,
        done_steps: int,
        rank: int,
        progress: bool,
        first_epoch: int = 0,
    ) -> None:
        self.run_dir, self.csv_path = run_dir, run_dir / "log.csv"
        self.name, self.epochs, self.rank = name, epochs, rank
        self.last_epoch = first_epoch  # the step the test results are logged at
        self.writer = None
        if rank == 0 and SummaryWriter:
            # epoch records are logged at step epoch + 1: purge what a killed run logged after the checkpoint
            purge = first_epoch + 1 if first_epoch > 0 or done_steps > 0 else None
            self.writer = SummaryWriter(str(run_dir / "tensorboard"), purge_step=purge)
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            disable=not (progress and bars_allowed()) or rank != 0,
            transient=False,
        )
        self.task = self.bar.add_task(name, total=total_steps, completed=done_steps)
        self.lines = None
        if progress and rank == 0 and plain_lines():
            self.lines = ProgressLines(name, total_steps, done=done_steps, unit="steps")

    def __enter__(self) -> RunLog:
        self.bar.__enter__()
        self._sharing = sharing(self.bar)  # evaluation's bar joins this display
        self._sharing.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._sharing.__exit__(*exc)
        self.bar.__exit__(*exc)

    def step(self, epoch: int, step: int, loss: float, lr: float) -> None:
        """One optimiser step: a log.csv row and the bar."""
        self.bar.update(
            self.task, advance=1, description=f"{self.name} ep {epoch + 1}/{self.epochs} loss {loss:.3f}"
        )
        if self.lines:
            self.lines.update(note=f"epoch {epoch + 1}/{self.epochs}, loss {loss:.4f}")
        if self.rank == 0:
            _append_csv(self.csv_path, {"epoch": epoch, "step": step, "loss": loss, "lr": lr})

    def epoch(self, record: dict[str, Any]) -> None:
        """One finished epoch's record (train_loss, lr, val_uar, val_war, val_nll, val_ece) as TensorBoard
        scalars at step ``epoch``."""
        self.last_epoch = int(record["epoch"])
        if self.lines:
            scores = ", ".join(
                f"{k} {record[k]:.4f}" for k in ("train_loss", "val_uar", "val_nll") if k in record
            )
            self.lines.line(f"epoch {self.last_epoch}/{self.epochs} done, {scores}")
        if self.writer:
            for key, v in record.items():
                if key != "epoch" and isinstance(v, int | float):  # not the skipped-items records
                    self.writer.add_scalar(key, v, record["epoch"])

    def final(
        self, metrics: dict[str, Any], config: dict[str, Any], figures: Sequence[str] = RUN_FIGURES
    ) -> None:
        """The test results, at the last epoch's step: every number in ``metrics`` as a scalar ``test/<key>``
        (nested keys joined by "/", the epoch history left out: ``epoch`` logged it), ``config`` (the
        resolved config as ``model_dump(mode="json")`` gives it) as hyperparameters with the top-level test
        scalars as their metrics, and ``figures`` (PNG names in the run folder; missing ones skipped) as
        images ``figures/<name>``. Does nothing on ranks other than 0 (their ``metrics`` is empty).
        """
        if not self.writer or not metrics:
            return
        step = self.last_epoch
        scalars = {f"test/{k}": v for k, v in metric_scalars(metrics).items()}
        for tag, v in scalars.items():
            self.writer.add_scalar(tag, v, step)
        for name in figures:
            png = self.run_dir / name
            if png.is_file():
                image = np.asarray(Image.open(png).convert("RGB"))
                self.writer.add_image(f"figures/{png.stem}", image, step, dataformats="HWC")
        # The hparams summaries go into this run's own event file. SummaryWriter.add_hparams would open a
        # second writer in a sub-folder (another "run" in TensorBoard) and log every metric a second time.
        headline = {tag: v for tag, v in scalars.items() if tag.count("/") == 1}
        for summary in hparams(hparam_values(config), headline):
            self.writer.file_writer.add_summary(summary, step)
        self.writer.flush()

    def close(self) -> None:
        """Flush and close TensorBoard."""
        if self.writer:
            self.writer.close()


def metric_scalars(metrics: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """The numbers of a metrics dict by "/"-joined key; lists, strings, None and the history left out."""
    out: dict[str, float] = {}
    for key, v in metrics.items():
        if not prefix and key == "history":
            continue
        if isinstance(v, dict):
            out.update(metric_scalars(v, f"{prefix}{key}/"))
        elif isinstance(v, int | float) and not isinstance(v, bool):
            out[f"{prefix}{key}"] = float(v)
    return out


def hparam_values(config: dict[str, Any], prefix: str = "") -> dict[str, float | str]:
    """A nested config as TensorBoard hyperparameters: "."-joined keys, numbers kept, text as is, anything
    else (booleans, None, lists, empty mappings) as its JSON text."""
    out: dict[str, float | str] = {}
    for key, v in config.items():
        if isinstance(v, dict) and v:
            out.update(hparam_values(v, f"{prefix}{key}."))
        elif isinstance(v, int | float | str) and not isinstance(v, bool):
            out[f"{prefix}{key}"] = v
        else:
            out[f"{prefix}{key}"] = json.dumps(v)
    return out


def _append_csv(path: Path, row: dict[str, Any]) -> None:
    new = not path.exists()
    with path.open("a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(row))
        if new:
            w.writeheader()
        w.writerow(
            {k: (f"{v:.6g}" if isinstance(v, float) and math.isfinite(v) else v) for k, v in row.items()}
        )


def truncate_log(path: Path, epoch: int, step: int) -> int:
    """Keep the log.csv rows up to a checkpoint's (``epoch``, ``step``); returns the rows dropped.

    A run killed after its last checkpoint logged steps that the resumed run trains again; without this
    they would appear twice. A row is kept when its epoch is before ``epoch``, or it is ``epoch`` and its
    step at most ``step`` (rows count steps from 1). Rows that do not parse (a line cut by the kill) go
    too. (0, 0) empties the log: a fresh run in a reused folder starts a new one.
    """
    if not path.is_file():
        return 0
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return 0
    header, body = rows[0], rows[1:]
    kept = [row for row in body if _logged_before(row, header, epoch, step)]
    if (epoch, step) == (0, 0):
        path.unlink()
    elif len(kept) != len(body):
        with atomic_write(path, newline="") as f:
            csv.writer(f).writerows([header, *kept])
    return len(body) - len(kept)


def _logged_before(row: list[str], header: list[str], epoch: int, step: int) -> bool:
    if len(row) != len(header):
        return False
    try:
        e, s = int(row[header.index("epoch")]), int(row[header.index("step")])
    except ValueError:
        return False
    return e < epoch or (e == epoch and s <= step)
