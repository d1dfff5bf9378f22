"""One process at a time trains a run folder: an advisory lock file, ``RUN/run.lock``.

Every run starts in ``engine.build.build_training`` (``softfer train``, the runs of a sequential study,
a launcher's job, rank 0 under torchrun), which takes the lock before it touches the folder and releases
it when the run ends (``fit``'s ``finally``), so a finished run folder holds no lock. The lock file is
made whole beside its place and linked into it (``os.link`` fails when the name exists, on NFS too), and
holds who trains: process id, host, the boot and start time of that process, the command, and the SLURM
job and restart count when it runs in one.

A lock is **stale** when its process provably no longer runs: on this host (same boot) no process of that
id and start time; a host rebooted since; an earlier attempt of this very SLURM job (requeued); a SLURM
job that sacct says has ended. A stale lock is replaced, and a warning names it. A live lock is refused
in one line naming the process; one of another machine whose process cannot be asked is refused too,
saying which file to remove if that process is gone. ``check_unlocked`` is the read-only check that
planning (``engine.resume.plan_run``) makes.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

LOCK_FILE = "run.lock"
# SLURM states in which a job may still run (studies.launch.ACTIVE_STATES is this set)
SLURM_ACTIVE = frozenset(
    "PENDING RUNNING REQUEUED REQUEUE_HOLD REQUEUE_FED CONFIGURING COMPLETING RESIZING SUSPENDED SIGNALING "
    "STAGE_OUT STOPPED READY".split()
)
_FRESH_S = 2.0  # a lock file younger than this that does not parse may be one being replaced: read again
_TRIES = 5


@dataclass
class RunLock:
    """A lock this process holds on a run folder; ``release`` removes it (only if it is still its own)."""

    path: Path
    token: str
    made: tuple[Path, ...] = ()  # the folders taking the lock created, deepest first

    def release(self) -> None:
        """Remove the lock file when it is still this process's (a lock replaced by hand is left alone),
        and the folders taking it created when nothing else was written there (a run refused while built)."""
        try:
            holder = read_holder(self.path)
        except ValueError:
            holder = None
        if holder is not None and holder.get("token") == self.token:
            self.path.unlink(missing_ok=True)
        made, self.made = self.made, ()  # a second release (at exit) touches no folder
        for folder in made:
            try:
                folder.rmdir()
            except OSError:  # holds the run's files (or another's): it stays, and so do its parents
                break


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:  # not Linux: the host name and the process id alone
        return None


def _process_start(pid: int) -> str | None:
    # the start time of a process in clock ticks since boot: tells a process from a later one of its id
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]


def _command() -> str:
    # the command line as typed, cut (a long --set list names the command well enough)
    argv = ["softfer" if Path(sys.argv[0]).name == "softfer" else sys.argv[0], *sys.argv[1:]]
    return shlex.join(argv)[:300]


def this_process() -> dict[str, Any]:
    """What a lock taken now records about the process taking it."""
    pid = os.getpid()
    return {
        "pid": pid,
        "host": socket.gethostname(),
        "boot": _boot_id(),
        "process_start": _process_start(pid),
        "started": time.time(),
        "command": _command(),
        "slurm_job": os.environ.get("SLURM_JOB_ID"),
        "slurm_restart": os.environ.get("SLURM_RESTART_COUNT", "0"),
        "token": secrets.token_hex(8),
    }


def read_holder(path: Path) -> dict[str, Any] | None:
    """The lock file's record; None when there is no lock file.

    Raises:
        ValueError: a file of that name that is not a lock softfer wrote, naming it.
    """
    for _ in range(_TRIES):
        try:
            text = path.read_text(encoding="utf-8")
            age = time.time() - path.stat().st_mtime
        except (FileNotFoundError, NotADirectoryError):  # no lock (or run.out_dir is a file: said elsewhere)
            return None
        except OSError as exc:
            raise ValueError(f"{path}: the run folder's lock cannot be read ({exc})") from None
        try:
            holder = json.loads(text)
            if isinstance(holder, dict) and isinstance(holder.get("pid"), int) and holder.get("host"):
                return holder
        except ValueError:
            pass
        if age > _FRESH_S:
            break
        time.sleep(0.2)
    raise ValueError(
        f"{path} is not a lock softfer wrote: a run folder's {LOCK_FILE} says which process trains it; move "
        "the file away (or choose another run.out_dir)"
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError, ValueError):
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _slurm_job_active(job: str) -> bool | None:
    """Whether SLURM still runs (or queues) ``job``; None when sacct cannot tell."""
    if shutil.which("sacct") is None:
        return None
    try:
        done = subprocess.run(
            ["sacct", "-X", "-n", "-P", "-j", job, "-o", "State"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    states = [line.split()[0].upper() for line in done.stdout.splitlines() if line.strip()]
    if done.returncode or not states:
        return None
    return states[0] in SLURM_ACTIVE


def holder_state(holder: dict[str, Any]) -> str:
    """ "own" (this process holds it), "live", "stale" (its process provably no longer runs) or "unknown"
    (another machine's process that cannot be asked)."""
    me = this_process()
    if holder["host"] == me["host"] and holder.get("boot") == me["boot"]:
        if holder["pid"] == me["pid"] and holder.get("process_start") == me["process_start"]:
            return "own"  # a script that builds a run twice without fit (benchmarks/device_check.py)
        if not _pid_alive(holder["pid"]):
            return "stale"
        start = holder.get("process_start")
        now = _process_start(holder["pid"])
        return "stale" if start and now and start != now else "live"  # the id now names another process
    if holder["host"] == me["host"] and holder.get("boot") and me["boot"]:
        return "stale"  # this host was restarted since: no process of then runs
    job = holder.get("slurm_job")
    if job:
        if job == me["slurm_job"] and str(holder.get("slurm_restart")) != str(me["slurm_restart"]):
            return "stale"  # an earlier attempt of this very job (pre-empted, requeued)
        active = _slurm_job_active(str(job))
        if active is not None:
            return "live" if active else "stale"
    return "unknown"


def describe_holder(holder: dict[str, Any]) -> str:
    """``process 123 on host h (SLURM job 45) since 2026-12-07 08:20:11 UTC: softfer cv ...``."""
    try:
        since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(holder.get("started") or 0)))
    except (TypeError, ValueError, OverflowError, OSError):  # a lock edited by hand
        since = "an unknown time"
    job = f" (SLURM job {holder['slurm_job']})" if holder.get("slurm_job") else ""
    return f"process {holder['pid']} on host {holder['host']}{job} since {since}: {holder.get('command')}"


def refusal(run_dir: Path, holder: dict[str, Any], state: str) -> str:
    """The one line refusing to train ``run_dir`` while ``holder`` does."""
    who = describe_holder(holder)
    line = f"{run_dir} is being trained by {who}; wait for it to end (or stop it), then run the command again"
    if state == "unknown":
        line += (
            f" (that machine's processes cannot be seen from {socket.gethostname()}: if it no longer runs, "
            f"remove {run_dir / LOCK_FILE})"
        )
    return line


def check_unlocked(run_dir: Path, *, slurm_elsewhere_ok: bool = False) -> dict[str, Any] | None:
    """Refuse a run folder that another process is training (its lock is live, or of a process that
    cannot be asked). Returns the record of a stale lock (None when there is none): the next run replaces it.

    Args:
        slurm_elsewhere_ok: let a lock of a SLURM job on another host pass (logged): a study's planning
            leaves such a run to its launcher, which waits for that job (``studies.launch``).

    Raises:
        ValueError: naming the process (``refusal``), or a ``run.lock`` that is not softfer's.
    """
    holder = read_holder(Path(run_dir) / LOCK_FILE)
    if holder is None:
        return None
    state = holder_state(holder)
    if state == "own":
        return None
    if state == "stale":
        return holder
    if slurm_elsewhere_ok and holder.get("slurm_job") and holder["host"] != socket.gethostname():
        log.info("%s: being trained by %s", run_dir, describe_holder(holder))
        return None
    raise ValueError(refusal(Path(run_dir), holder, state))


def take_run_lock(run_dir: Path) -> RunLock:
    """Lock ``run_dir`` for this process (creating the folder); a stale lock is replaced (a warning says
    whose it was).

    Raises:
        ValueError: another process trains the folder (``check_unlocked``).
    """
    made = tuple(p for p in (run_dir, *run_dir.absolute().parents) if not p.exists())
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_FILE
    mine = this_process()
    for _ in range(_TRIES):
        if _link_new(path, mine):
            return _held(RunLock(path, mine["token"], made))
        holder = read_holder(path)
        if holder is not None and holder_state(holder) == "own":  # taken again by this process: shared
            return _held(RunLock(path, holder["token"]))
        stale = check_unlocked(run_dir)
        if stale is not None:
            _break(path, stale)
    raise ValueError(f"{path}: other processes keep taking this run folder's lock; run the command again")


_HELD: list[RunLock] = []  # released at exit too: a script that builds a run without fit leaves no lock


def _release_held() -> None:
    for held in _HELD:
        held.release()


def _held(lock: RunLock) -> RunLock:
    if not _HELD:
        atexit.register(_release_held)
    _HELD.append(lock)
    return lock


def _link_new(path: Path, record: dict[str, Any]) -> bool:
    # the record written whole beside the lock, then linked to its name: a reader never sees half a lock
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # atomic_write's name: a leftover is cleaned
    tmp.write_text(json.dumps(record), encoding="utf-8")
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    except OSError:  # a file system without hard links: an exclusive create, written at once
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(record))
        return True
    finally:
        tmp.unlink(missing_ok=True)


def _break(path: Path, stale: dict[str, Any]) -> None:
    # Moved aside first, then checked: when another process replaced the stale lock meanwhile, its live
    # lock is put back, never removed.
    aside = path.with_name(f".{path.name}.{os.getpid()}.stale")
    try:
        os.replace(path, aside)
    except FileNotFoundError:  # another process removed it first
        return
    try:
        moved = read_holder(aside)
    except ValueError:
        moved = None
    if moved is None or moved.get("token") != stale.get("token"):
        with contextlib.suppress(FileExistsError):
            os.link(aside, path)
    else:
        log.warning(
            "%s: the lock of %s was left by a run that no longer runs (killed?); this run replaces it",
            path,
            describe_holder(stale),
        )
    aside.unlink(missing_ok=True)
