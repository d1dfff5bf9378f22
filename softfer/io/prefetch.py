"""Run an iterator one step ahead in a background thread, so that decoding overlaps the work on its items.

PyAV decodes and converts frames without holding the GIL, so a video's next frames are decoded on the second
core while face detection or the model runs on the current ones (docs/BENCHMARKS.md, predict end to end).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


class _Failure:
    def __init__(self, exc: BaseException):
        self.exc = exc


def prefetched(items: Iterable[T], depth: int = 8) -> Iterator[T]:
    """Yield ``items`` in order while a daemon thread produces up to ``depth`` of them ahead.

    An exception of the producer is raised here, at the point the consumer reaches it; closing the
    returned generator early (``break``) stops the producer and closes ``items`` in its thread.
    """
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    box: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        it = iter(items)
        try:
            for item in it:
                if not _put(box, item, stop):
                    return
            _put(box, _DONE, stop)
        except BaseException as exc:  # handed to the consumer, who raises it where it reaches it
            _put(box, _Failure(exc), stop)
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name="softfer-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = box.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item
    finally:
        stop.set()
        worker.join()


def _put(box: queue.Queue, item: object, stop: threading.Event) -> bool:
    """Put ``item`` once there is room; False if the consumer stopped first."""
    while not stop.is_set():
        try:
            box.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False
