"""Where a training run reports: log.csv (every step), TensorBoard (every epoch) and a progress bar.

Only rank 0 writes files; the progress bar is shown on rank 0 when ``run.progress`` is on.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from softfer.io.console import bars_allowed, console, sharing
from softfer.io.files import atomic_write

try:
    from torch.utils.tensorboard import SummaryWriter
except ImportError:  # tensorboard is a dependency, but training must not die for a log
    SummaryWriter = None  # type: ignore[assignment,misc]


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
        self.csv_path = run_dir / "log.csv"
        self.name, self.epochs, self.rank = name, epochs, rank
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
        if self.rank == 0:
            _append_csv(self.csv_path, {"epoch": epoch, "step": step, "loss": loss, "lr": lr})

    def epoch(self, record: dict[str, Any]) -> None:
        """One finished epoch's record (train_loss, lr, val_uar) as TensorBoard scalars."""
        if self.writer:
            for key, v in record.items():
                if key != "epoch" and isinstance(v, int | float):  # not the skipped-items records
                    self.writer.add_scalar(key, v, record["epoch"])

    def close(self) -> None:
        """Flush and close TensorBoard."""
        if self.writer:
            self.writer.close()


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
