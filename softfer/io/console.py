"""One console for softfer's messages: a rich logging handler and progress bars that share it.

``softfer`` (the CLI) calls :func:`setup_logging` once with the level of ``--quiet`` / ``--verbose``. Library
users who never call it keep Python's logging defaults and see no progress bars unless they ask for them with
:func:`show_progress`. Where stderr is not a terminal (a log file, CI, nohup) the CLI shows no bars but
plain progress lines (:class:`ProgressLines`): done / total, what is being done, elapsed time and ETA, every
``LINE_EVERY_S`` seconds.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

T = TypeVar("T")

# stderr, so that a command's results on stdout can be piped while messages and bars stay on the terminal
console = Console(stderr=True)
# None until the CLI (or a user) decides: library calls then show no bars of their own, while a training
# run keeps its ``run.progress`` setting
_state: dict[str, bool | None] = {"progress": None, "lines": False}
# How often a log file gets a progress line: often enough to see a run is alive, rarely enough to read.
LINE_EVERY_S = 30.0
log = logging.getLogger("softfer.progress")
_active: list[Progress] = []  # the display a nested bar joins


def setup_logging(level: int = logging.INFO, *, progress: bool | None = None) -> None:
    """Route the ``softfer`` loggers through one rich handler on stderr.

    Args:
        level: ``logging.WARNING`` for ``--quiet``, ``INFO`` by default, ``DEBUG`` for ``--verbose``.
        progress: show progress bars; default: when stderr is a terminal and ``level`` is INFO or lower.
            Otherwise at INFO or lower, and unless ``progress`` is False, plain progress lines instead.
    """
    if not console.is_terminal:
        console.width = max(console.width, 160)  # a log file: do not wrap a message at 80 columns
    logger = logging.getLogger("softfer")
    for handler in [h for h in logger.handlers if getattr(h, "_softfer", False)]:
        logger.removeHandler(handler)
    handler = RichHandler(console=console, show_path=level <= logging.DEBUG, markup=False)
    handler._softfer = True  # type: ignore[attr-defined]  # so a second call replaces, not duplicates, it
    handler.setFormatter(logging.Formatter("%(message)s", datefmt="[%X]"))
    logger.addHandler(handler)
    logger.setLevel(level)
    # the handler above prints each record once; the root logger's handlers (pytest, notebooks) still see it
    terminal = sys.stderr.isatty()
    show_progress(progress if progress is not None else (level <= logging.INFO and terminal))
    _state["lines"] = progress is not False and level <= logging.INFO and not terminal


def show_progress(enabled: bool = True) -> None:
    """Turn progress bars on or off for this process."""
    _state["progress"] = bool(enabled)


@contextmanager
def sharing(bar: Progress) -> Iterator[Progress]:
    """Let bars opened inside this block join ``bar``'s display (rich shows one live display at a time):
    the training bar holds evaluation's, a folder's bar holds each video's frames."""
    _active.append(bar)
    try:
        yield bar
    finally:
        _active.remove(bar)


def plain_lines() -> bool:
    """True where the CLI writes progress as plain lines (stderr not a terminal, not ``--quiet``)."""
    return bool(_state["lines"])


def clock(seconds: float) -> str:
    """Seconds as H:MM:SS (the elapsed time and ETA of progress lines)."""
    s = round(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class ProgressLines:
    """Progress as plain log lines, for output that is not a terminal.

    ``update`` counts work done and logs a line (``what: done/total unit, note, elapsed, ETA``) when
    ``every`` seconds have passed since the last one; ``line`` logs one now (the end of an epoch). The ETA
    is the remaining work at the rate seen since this object was made (a resumed run's earlier work does
    not count).

    Args:
        what: the job, e.g. the run's name.
        total: the work planned (None: unknown, no ETA).
        done: the work already done before this started.
        unit: the unit of work, e.g. "steps".
        every: seconds between lines (default ``LINE_EVERY_S``).
    """

    def __init__(
        self, what: str, total: int | None, *, done: int = 0, unit: str = "", every: float | None = None
    ) -> None:
        self.what, self.total, self.done, self.unit = what, total, done, unit
        self.every = LINE_EVERY_S if every is None else every
        self.first = done
        self.started = self.last = time.monotonic()

    def update(self, advance: int = 1, note: str = "") -> str | None:
        """Count ``advance`` more done; log and return a line when one is due."""
        self.done += advance
        if time.monotonic() - self.last < self.every:
            return None
        return self.line(note)

    def line(self, note: str = "") -> str:
        """Log (INFO, logger ``softfer.progress``) and return the progress line now."""
        now = time.monotonic()
        self.last, elapsed = now, now - self.started
        rate = (self.done - self.first) / elapsed if elapsed > 0 else 0.0
        count = f"{self.done}/{self.total}" if self.total else str(self.done)
        if self.total and rate > 0:
            eta = clock(max(self.total - self.done, 0) / rate)
        else:
            eta = "?"
        parts = [f"{count} {self.unit}".rstrip(), note, f"elapsed {clock(elapsed)}", f"ETA {eta}"]
        text = f"{self.what}: " + ", ".join(p for p in parts if p)
        log.info(text)
        return text


def bars_allowed() -> bool:
    """False when bars were turned off (``softfer --quiet``, or stderr not a terminal under the CLI)."""
    return _state["progress"] is not False


def progress(
    items: Iterable[T], *, description: str, total: int | None = None, enabled: bool = True
) -> Iterator[T]:
    """Iterate over ``items`` with a progress bar on the console (when bars are on).

    Args:
        items: what to iterate over.
        description: a few words shown before the bar, e.g. "preprocess".
        total: the number of items, when ``len(items)`` is not defined.
        enabled: False to hide this bar (e.g. on every torchrun rank but 0).
    """
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    if enabled and _state["progress"] is not True and plain_lines():
        yield from _lines(items, description, total)
        return
    if not (enabled and _state["progress"] is True):
        yield from items
        return
    if _active:  # a bar inside another (frames of one video of a folder): one more line of the same display
        yield from _advance(_active[-1], items, description, total)
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    # No refresh thread: the bar is drawn only here, between items. A thread could write while a caller has
    # file descriptor 2 redirected (``verify_images`` captures libjpeg's warnings that way).
    with Progress(*columns, console=console, transient=True, auto_refresh=False) as bar, sharing(bar):
        yield from _advance(bar, items, description, total)


def _lines(items: Iterable[T], description: str, total: int | None) -> Iterator[T]:
    # periodic lines only, and a last one when there were any: a short job (an epoch's evaluation) says
    # nothing, a long one (a video) says how far it got, how long it took and when it will end
    lines = ProgressLines(description, total)
    for item in items:
        yield item
        lines.update()
    if lines.last > lines.started:
        lines.line("done")


def _advance(bar: Progress, items: Iterable[T], description: str, total: int | None) -> Iterator[T]:
    task = bar.add_task(description, total=total)
    drawn = 0.0
    try:
        for item in items:
            yield item
            now = time.monotonic()
            due = now - drawn > 0.1
            bar.update(task, advance=1, refresh=due)
            drawn = now if due else drawn
    finally:
        bar.remove_task(task)
