"""CPU threads on a shared machine: torch's intra-op and inter-op threads, OpenMP's wait policy and
DataLoader workers, against the cores this process may use.

Measured in docs/BENCHMARKS.md: with OpenMP's default wait policy an idle torch thread spins for a while
before it sleeps, so beside one other busy process on 2 cores each parallel region waits for a thread
that the OS has descheduled (one demo training step: 12 s instead of 1.3 s). ``OMP_WAIT_POLICY=PASSIVE``
makes idle threads sleep at once; it must be in the environment before torch loads OpenMP, which reads it
once, so the CLI sets it first thing (:func:`set_wait_policy`), before anything imports torch.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager

from softfer.limits import MAX_THREADS

log = logging.getLogger(__name__)

WAIT_POLICY = "PASSIVE"
# torch's inter-op pool runs independent operators side by side (TorchScript forks): nothing softfer runs
# uses it, and a second pool of one thread per core only adds threads that compete for the same cores.
INTEROP_THREADS = 1


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity: a container's or a job's share), at least 1."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def set_wait_policy(environ: MutableMapping[str, str] = os.environ) -> None:
    """``OMP_WAIT_POLICY=PASSIVE`` unless the environment already chooses one. Has effect only before
    torch is imported (OpenMP reads it once); DataLoader workers inherit it."""
    environ.setdefault("OMP_WAIT_POLICY", WAIT_POLICY)


def default_threads(environ: MutableMapping[str, str] = os.environ) -> int:
    """torch's intra-op threads when ``--threads`` is not given: ``OMP_NUM_THREADS`` where the user set it,
    else the usable cores (with passive waiting, all of them are fastest idle and still share a busy
    machine; docs/BENCHMARKS.md).

    Raises:
        ValueError: ``OMP_NUM_THREADS`` above ``limits.MAX_THREADS``, the range of ``--threads`` (a typo
            such as 40000 would start that many threads).
    """
    value = environ.get("OMP_NUM_THREADS", "").strip()
    if value.isdigit() and int(value) > MAX_THREADS:
        raise ValueError(
            f"OMP_NUM_THREADS={value} is more threads than softfer uses (at most {MAX_THREADS}, as "
            "--threads): set it lower, or unset it to use the usable cores"
        )
    if value.isdigit() and int(value) > 0:
        return int(value)
    return usable_cores()


def apply_threads(threads: int | None = None) -> int:
    """Set torch's intra-op threads (``threads``, else :func:`default_threads`) and one inter-op thread;
    returns the intra-op count.

    Raises:
        ValueError: ``threads`` below 1.
    """
    import torch

    if threads is not None and threads < 1:
        raise ValueError(f"--threads must be at least 1, got {threads}")
    n = threads or default_threads()
    torch.set_num_threads(n)
    if torch.get_num_interop_threads() != INTEROP_THREADS:
        try:
            torch.set_num_interop_threads(INTEROP_THREADS)
        except RuntimeError:  # the pool already started in this process (a second call): it stays
            log.debug("torch's inter-op pool already started; left at %d", torch.get_num_interop_threads())
    return n


@contextmanager
def ops_threads(n: int) -> Iterator[None]:
    """torch's intra-op threads at ``n`` inside the block, as before after it. Process-wide: threads started
    inside the block keep ``n`` (torch reads the count once per thread), so start worker threads there."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def loader_workers(requested: int) -> int:
    """DataLoader workers for ``data.num_workers``: at most the usable cores, as more processes than cores
    decode nothing faster and take cores from the model (the results do not depend on it)."""
    cap = usable_cores()
    if requested > cap and requested not in _told:
        _told.add(requested)
        log.info("data.num_workers=%d but %d usable cores: using %d workers", requested, cap, cap)
    return min(requested, cap)


_told: set[int] = set()  # said once per process, not at every epoch's loader
