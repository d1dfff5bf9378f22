"""The jobs of one study on a scheduler (submitit's local or SLURM executor): submitted as slots allow,
recorded in the study folder's jobs.json, waited for, and found again by a second call of the command.

``local``: ``--jobs`` runs at once on this machine, each on its own GPUs (``CUDA_VISIBLE_DEVICES`` per job)
or, without GPUs, on its share of the CPU cores (torch threads = cores / jobs, or --threads if fewer).
``slurm``: one sbatch job per run (one task, ``gpus_per_run`` GPUs; torchrun over them when more than
one), all submitted at once.
"""

from __future__ import annotations

import csv
import logging
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from softfer.config.strict import control_character
from softfer.io.console import LINE_EVERY_S, clock
from softfer.io.outputs import safe_name
from softfer.studies.job_records import JOBS_FILE, start_jobs, write_jobs
from softfer.studies.launch import (
    ACTIVE_STATES,
    LOCAL_TIMEOUT_MIN,
    LOG_FOLDER,
    POLL_S,
    LaunchOptions,
    Run,
    run_job,
)

log = logging.getLogger(__name__)


def visible_gpus() -> list[int]:
    """The indices of the GPUs this process may use (``CUDA_VISIBLE_DEVICES`` honoured), [] without CUDA.

    Raises:
        ValueError: ``CUDA_VISIBLE_DEVICES`` names devices by UUID: jobs are given device indices.
    """
    import torch

    count = torch.cuda.device_count()
    if not count:
        return []
    given = [p.strip() for p in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if p.strip()]
    if not given:
        return list(range(count))
    if not all(p.isdigit() for p in given):
        raise ValueError(
            f"CUDA_VISIBLE_DEVICES={os.environ['CUDA_VISIBLE_DEVICES']} names devices by UUID; the local "
            "launcher hands each job device indices: list indices (CUDA_VISIBLE_DEVICES=0,1,2,3)"
        )
    return [int(p) for p in given[:count]]


def run_progress(rows: list[dict[str, str]], epochs: int) -> str:
    """ "epoch E/N, loss L" from the last row of a run's log.csv (``read_log``; "starting" before its first
    step)."""
    if not rows:
        return "starting"
    return f"epoch {int(rows[-1]['epoch']) + 1}/{epochs}, loss {float(rows[-1]['loss']):.3f}"


def run_fraction(rows: list[dict[str, str]], epochs: int) -> float | None:
    """The share of its budget a run's log.csv (``read_log``) shows done: the finished epochs, plus the last
    epoch's steps as a share of the first epoch's once that one has ended; None before the first step."""
    if not rows:
        return None
    epoch, step = int(rows[-1]["epoch"]), int(rows[-1]["step"])
    first = [int(r["step"]) for r in rows if int(r["epoch"]) == int(rows[0]["epoch"])]
    per_epoch = max(first) if epoch > int(rows[0]["epoch"]) else None  # a resumed log starts later
    part = min(step / per_epoch, 1.0) if per_epoch else 0.0
    return min((epoch + part) / max(epochs, 1), 1.0)


def read_log(run_dir: Path) -> list[dict[str, str]]:
    """The rows of RUN/log.csv up to the first without a readable epoch, step and loss (the job may be
    writing the last one); none when the file is absent or has no such row."""
    try:
        with open(run_dir / "log.csv", encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError:
        return []
    good = []
    for r in rows:
        try:
            int(r["epoch"]), int(r["step"]), float(r["loss"])
        except (KeyError, ValueError, TypeError):
            break
        good.append(r)
    return good


def cpu_cores() -> int:
    """The CPU cores this process may run on (its affinity where the system tells)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return os.cpu_count() or 1


class LocalScheduler:
    """``jobs`` slots on this machine, each with its GPUs (or none) and cores / jobs torch threads, or this
    process's threads if fewer (the CLI set them from ``--threads`` or ``OMP_NUM_THREADS``: apply_threads)."""

    kind = "local"

    def __init__(self, options: LaunchOptions, folder: Path):
        import submitit
        import torch

        gpus = visible_gpus()
        per = options.gpus_per_run if options.gpus_per_run is not None else (1 if gpus else 0)
        if per > len(gpus):
            raise ValueError(
                f"--gpus-per-run {per}: this machine shows {len(gpus)} GPU(s); --gpus-per-run 0 trains on CPU"
            )
        fits = len(gpus) // per if per else None
        jobs = options.jobs or fits or 1
        if fits is not None and jobs > fits:
            raise ValueError(
                f"--jobs {jobs} with --gpus-per-run {per}: {len(gpus)} GPU(s) hold {fits} runs at once"
            )
        self.slots = [tuple(gpus[i * per : (i + 1) * per]) for i in range(jobs)]
        self.capacity = jobs
        self.threads = max(1, min(torch.get_num_threads(), cpu_cores() // jobs))
        self.folder = folder
        self.executor = submitit.LocalExecutor(folder, max_num_timeout=options.max_requeues)
        log.info(
            "local launcher: %d runs at once, %s",
            jobs,
            f"GPUs {self.slots}" if per else f"{self.threads} CPU threads each",
        )

    def submit(self, run: Run, slot: int) -> Any:
        gpus = self.slots[slot]
        self.executor.update_parameters(
            timeout_min=LOCAL_TIMEOUT_MIN, gpus_per_node=len(gpus), visible_gpus=gpus, tasks_per_node=1
        )
        return self.executor.submit(run_job(run, len(gpus), self.folder, self.threads))

    def earlier(self, entry: dict[str, Any]) -> Any:
        """A job of an earlier call still at work: refused (a local job of another process cannot be waited
        for, and a second job would train the same run folder)."""
        pid = int(entry.get("job_id", 0) or 0)
        if pid and _local_controller_alive(pid, self.folder.absolute()):
            raise ValueError(
                f"{entry.get('name')} is still being trained by process {pid}, started by an earlier call of "
                "this command; wait for it to end (or stop it), then run the command again"
            )
        return None

    def state(self, job: Any) -> str:
        return job.state

    def cancel(self, job: Any) -> None:
        job.cancel(check=False)


class SlurmScheduler:
    """One sbatch job per run, submitted at once; SLURM queues them."""

    kind = "slurm"

    def __init__(self, options: LaunchOptions, folder: Path):
        import submitit

        missing = [c for c in ("sbatch", "srun", "sacct") if shutil.which(c) is None]
        if missing:
            raise ValueError(
                f"--launcher slurm needs SLURM's {', '.join(missing)} on PATH: run the command on a login "
                "node of the cluster (or use --launcher local)"
            )
        self.options, self.folder = options, folder
        self.gpus = 1 if options.gpus_per_run is None else options.gpus_per_run
        check_script_lines(params := sbatch_parameters(options, self.gpus), folder)  # before any file
        self.executor = submitit.SlurmExecutor(folder, max_num_timeout=options.max_requeues)
        self.executor.update_parameters(**params)
        self.capacity = sys.maxsize  # the cluster queues them

    def submit(self, run: Run, slot: int) -> Any:
        # safe_name: the name is a line of the sbatch script (the schema refuses line breaks in it too)
        self.executor.update_parameters(job_name=safe_name(f"softfer-{run.cfg.name}")[:120])
        threads = self.options.cpus_per_run if self.gpus <= 1 else None
        return self.executor.submit(run_job(run, self.gpus, self.folder, threads))

    def earlier(self, entry: dict[str, Any]) -> Any:
        """The job of an earlier call when SLURM still has it pending or running, else None."""
        from submitit.slurm.slurm import SlurmJob

        job = SlurmJob(self.folder, str(entry["job_id"]))
        state = job.watcher.get_state(job.job_id, mode="force")
        return job if state.split()[0].upper() in ACTIVE_STATES else None

    def state(self, job: Any) -> str:
        return job.watcher.get_state(job.job_id, mode="standard")

    def cancel(self, job: Any) -> None:
        pass  # SLURM jobs outlive an interrupted study: a second call waits for them


def sbatch_parameters(options: LaunchOptions, gpus: int) -> dict[str, Any]:
    """submitit's SlurmExecutor parameters: one task per job with its GPUs, CPUs and memory; requeueable."""
    params: dict[str, Any] = {
        "time": options.time_min,
        "nodes": 1,
        "ntasks_per_node": 1,
        "cpus_per_task": options.cpus_per_run,
        "mem": f"{options.mem_gb}GB",
        "signal_delay_s": options.signal_delay_s,
        # pre-emption requeues the job, which then resumes its run from last.pt (RunJob)
        "additional_parameters": {"requeue": True, **options.sbatch},
    }
    if gpus:
        params["gpus_per_node"] = gpus
    for key in ("partition", "account", "qos", "constraint"):
        if getattr(options, key):
            params[key] = getattr(options, key)
    if options.setup:
        params["setup"] = list(options.setup)
    return params


def check_script_lines(params: dict[str, Any], folder: Path) -> None:
    """Refuse (ValueError naming it) a control character in an ``#SBATCH`` line of the job script: the study
    folder (in the log paths) or an option. A quoted line break ends that comment line and the rest runs as a
    command. ``setup`` is exempt: its lines are the user's own shell by design."""
    texts = {f"--slurm {k}": str(v) for k, v in params.items() if k not in ("setup", "additional_parameters")}
    texts.update({f"--slurm sbatch.{k}": f"{k}={v}" for k, v in params["additional_parameters"].items()})
    for what, text in {"the study folder": str(folder.absolute()), **texts}.items():
        char = control_character(text)
        if char is not None:
            raise ValueError(
                f"{what} ({text[:60]!r}) holds the control character {char!r}, which would end its line of "
                "the sbatch script; remove it"
            )


def _local_controller_alive(pid: int, folder: Path) -> bool:
    # A pid is reused by the system: it counts only while it is submitit's local controller of this folder.
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except FileNotFoundError:
        return False
    except OSError:  # no /proc (macOS): the pid alone
        try:
            os.kill(pid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    return "submitit.local._local" in cmdline and str(folder) in cmdline


def ended_state(scheduler: Any, job: Any, run_dir: Path) -> str:
    """How a job ended, for jobs.json and messages: the scheduler's state, unless it claims success for a
    run that has no metrics.json (submitit calls a local job whose worker was killed FINISHED)."""
    state = str(scheduler.state(job))
    if state.split()[:1] in (["FINISHED"], ["COMPLETED"]) and not (run_dir / "metrics.json").is_file():
        return f"without its run (killed?; {scheduler.kind} state {state})"
    return state


class JobBoard:
    """The jobs of one study: submitted as the scheduler's slots allow, recorded, waited for."""

    def __init__(self, options: LaunchOptions, study_dir: Path, study: str):
        self.options, self.study_dir = options, study_dir
        self.folder = study_dir / LOG_FOLDER
        scheduler = LocalScheduler if options.launcher == "local" else SlurmScheduler
        self.scheduler = scheduler(options, self.folder)  # refused here before anything is written
        self.record = start_jobs(study_dir, study, options.launcher)  # before jobs/ holds anything
        self.folder.mkdir(parents=True, exist_ok=True)
        self.queue: list[Run] = []
        self.live: dict[str, tuple[Any, int | None]] = {}  # run key -> (job, slot) of jobs still at work
        self.ended: dict[str, Any] = {}  # run key -> job of this call that ended
        self.earlier: list[str] = []
        self.runs: dict[str, Run] = {}  # run key -> run, for the progress lines
        self.started = time.monotonic()
        self.first_seen: dict[str, tuple[float, float]] = {}  # run key -> (time, share done) when first seen

    def submit(self, runs: list[Run]) -> None:
        """Submit every run, except those an earlier call's job still trains (waited for instead)."""
        for run in runs:
            self.runs[run.key] = run
            entry = self.record["runs"].get(run.key)
            job = self.scheduler.earlier(entry) if entry and entry.get("job_id") else None
            if job is not None:
                log.info("%s: still in job %s of an earlier call; waiting for it", run.cfg.name, job.job_id)
                self.live[run.key] = (job, None)
                self.earlier.append(run.key)
            else:
                self.queue.append(run)
        self._fill()

    def _fill(self) -> None:
        busy = {slot for _, slot in self.live.values() if slot is not None}
        free = (s for s in range(self.scheduler.capacity) if s not in busy)
        while self.queue:
            slot = next(free, None)
            if slot is None:
                return
            run = self.queue.pop(0)
            job = self.scheduler.submit(run, slot)
            self.live[run.key] = (job, slot)
            old = self.record["runs"].get(run.key) or {}
            self.record["runs"][run.key] = {
                "name": run.cfg.name,
                "job_id": str(job.job_id),
                "plan": run.plan,
                "gpus": list(self.scheduler.slots[slot]) if self.scheduler.kind == "local" else None,
                "submitted": time.time(),
                "ended": None,
                "state": "SUBMITTED",
                "log": str(job.paths.stderr),
                "earlier_jobs": [*old.get("earlier_jobs", []), old["job_id"]] if old.get("job_id") else [],
            }
            log.info("%s: %s job %s (%s)", run.cfg.name, self.scheduler.kind, job.job_id, run.plan)
            write_jobs(self.study_dir, self.record)

    def wait(self) -> None:
        """Until every job has ended, with a line of each live run's progress every ``LINE_EVERY_S``
        seconds (a job's own output goes to its log); local jobs are stopped if this process is
        interrupted."""
        last_line = time.monotonic()
        try:
            while self.live or self.queue:
                if time.monotonic() - last_line >= LINE_EVERY_S:
                    last_line = time.monotonic()
                    log.info("%s", self.progress_line())
                for key, (job, _) in list(self.live.items()):
                    if job.done():
                        del self.live[key]
                        self.ended[key] = job
                        entry = self.record["runs"].get(key) or {}
                        entry.update(ended=time.time(), state=ended_state(self.scheduler, job, Path(key)))
                        write_jobs(self.study_dir, self.record)
                self._fill()
                if self.live:
                    time.sleep(POLL_S[self.scheduler.kind])
        except BaseException:
            for job, _ in self.live.values():
                self.scheduler.cancel(job)
            raise

    def progress_line(self) -> str:
        """Where each live run stands: its epoch and last loss (from RUN/log.csv) and when it should end, the
        time since the study started, and the runs waiting."""
        parts = []
        for key in self.live:
            run, rows = self.runs[key], read_log(Path(key))  # read once for both
            eta = self.run_eta(key, run_fraction(rows, run.cfg.optim.epochs))
            parts.append(
                f"{run.cfg.name} {run_progress(rows, run.cfg.optim.epochs)}"
                + (f", ETA {clock(eta)}" if eta is not None else "")
            )
        waiting = f"; {len(self.queue)} waiting" if self.queue else ""
        elapsed = clock(time.monotonic() - self.started)
        return (
            f"{len(self.ended)} of {len(self.runs)} runs done, elapsed {elapsed}; "
            + (", ".join(parts) or "none at work")
            + waiting
        )

    def run_eta(self, key: str, done: float | None, now: float | None = None) -> float | None:
        """Seconds until run ``key`` ends, at the pace it kept since this process first saw it (a resumed
        run's earlier epochs are not counted); None until it has moved."""
        now = time.monotonic() if now is None else now
        if done is None:
            return None
        since, at = self.first_seen.setdefault(key, (now, done))
        if done <= at or now <= since:
            return None
        return (now - since) / (done - at) * (1.0 - done)

    def pending_lines(self) -> list[str]:
        """What --no-wait left running, and how to collect it."""
        new = [k for k in self.live if k not in self.earlier]
        ids = ", ".join(str(self.live[k][0].job_id) for k in new)
        record = self.study_dir / JOBS_FILE
        lines = [f"submitted {len(new)} run(s) as SLURM jobs {ids or '-'} (recorded in {record})"]
        if self.earlier:
            lines.append(f"{len(self.earlier)} run(s) still in jobs of an earlier call")
        lines.append(
            "run the same command again (without --no-wait to wait) to collect them and write the summary"
        )
        return lines

    def describe(self, run: Run) -> str:
        """The job of ``run`` for a message: id, last state and its log."""
        entry = self.record["runs"].get(run.key)
        if not entry:
            return "no job was submitted for it"
        return f"job {entry['job_id']} ended {entry.get('state') or 'UNKNOWN'}, see {entry.get('log')}"
