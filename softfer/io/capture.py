"""What C libraries print, caught at the file descriptor.

libjpeg's warnings (which say whether a frame lost pixels) and torch's ONNX exporter's graph dump are
written from C straight to file descriptor 2 or 1, past ``sys.stderr`` and ``sys.stdout``: only pointing
the descriptor itself at a file catches them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import IO, Literal, TypeVar

T = TypeVar("T")


def captured_fd(
    fd: Literal[1, 2], sink: IO[bytes], call: Callable[[], T], *, on_error: Literal["pass", "drop"]
) -> tuple[T, bytes]:
    """``call()`` with file descriptor ``fd`` pointed at ``sink``: (its result, what was written to ``fd``
    meanwhile). ``sink`` is left empty, ready for the next call.

    When ``call`` raises, what was captured is written to ``fd`` first (``on_error="pass"``) or dropped
    (``"drop"``), and the exception goes on. A Python signal handler runs in the main thread between any
    two bytecodes, whichever thread took the signal (so masking signals cannot keep it out): what it prints
    lands in the capture, and when it raises (submitit's requeue exits with ``sys.exit``; Ctrl-C) "pass"
    keeps its message. What an interrupted capture still left in ``sink`` is passed on before the next
    one, never read as its output.
    """
    (sys.stdout if fd == 1 else sys.stderr).flush()  # Python's buffered text goes out, not into the capture
    stale = drained(sink)
    if stale:
        write_all(fd, stale)
    saved, done = None, False
    try:
        saved = os.dup(fd)
        os.dup2(sink.fileno(), fd)
        result = call()
        done = True
    finally:
        try:
            if saved is not None:
                os.dup2(saved, fd)
        finally:
            if saved is not None:
                os.close(saved)
            if not done:
                left = drained(sink)
                if on_error == "pass":
                    write_all(fd, left)
    return result, drained(sink)


def drained(sink: IO[bytes]) -> bytes:
    """What ``sink`` holds, leaving it empty."""
    if not os.fstat(sink.fileno()).st_size:
        return b""  # the usual case: nothing written, nothing to read back
    sink.seek(0)
    data = sink.read()
    sink.seek(0)
    sink.truncate()
    return data


def write_all(fd: int, data: bytes) -> None:
    """``data`` written to ``fd`` whole (``os.write`` may write part of it, to a pipe for one)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
