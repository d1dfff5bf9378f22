"""Where the runs of a study train: one after another in this process (the default), several at once on this
machine (``local``), or one SLURM job each (``slurm``), through submitit (the launcher of DeiT, MAE, DINOv2).

A study plans every run first (``engine.resume.plan_run``: reuse, resume, train or overwrite), hands the runs
to ``execute`` and summarises only what ``execute`` returns, which is every run or nothing. With a launcher,
``execute`` submits the runs that need training, records their job ids in the study folder's jobs.json,
waits (unless ``wait`` is off), then collects each run from its folder: a run counts only when its
metrics.json carries the fingerprint of its config on the data as it is now (``check_reusable``); reused and
sequential runs too (``check_current_data``). Missing runs raise ``StudyIncomplete`` (exit 1, naming each
run and its job log), so a killed or failed job never yields a summary. A second call of the same command
plans again: finished runs are reused, SLURM jobs that still run are waited for, runs whose job failed, was
cancelled or pre-empted are submitted again and resume from their last.pt.

Each job is a ``RunJob`` (the run's config and plan). On SLURM pre-emption or time-out submitit calls its
``checkpoint``, which requeues it to plan again from the run folder: it resumes from last.pt.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from softfer.config import ExperimentConfig, apply_overrides, dump_config, validate_config
from softfer.config.strict import StrictModel
from softfer.config.yaml_rules import YamlRuleError, load_yaml, yaml_error_place
from softfer.data.fingerprint import data_changes, digest
from softfer.engine.data import data_fingerprint_of
from softfer.engine.evaluate import read_metrics
from softfer.engine.lock import SLURM_ACTIVE
from softfer.engine.resume import check_reusable, plan_run
from softfer.engine.train import fit, per_rank_batch
from softfer.io.outputs import check_outputs, safe_name
from softfer.studies.job_records import JOBS_FILE, holds_jobs, validation_problems

log = logging.getLogger(__name__)

LOG_FOLDER = "jobs"  # submitit's folder: one submission script, pickle and log pair per job
# SLURM states in which a job may still train its run: a second call waits for it instead of submitting again
# (the run lock's own list: a lock of such a job is not stale).
ACTIVE_STATES = SLURM_ACTIVE
POLL_S = {"local": 1.0, "slurm": 30.0}  # how often a waiting study looks at its jobs
LOCAL_TIMEOUT_MIN = 60 * 24 * 365  # submitit's local jobs end after 2 minutes unless told otherwise
_LAUNCH_ONLY = ("launcher", "jobs", "gpus_per_run", "wait")


class LaunchOptions(StrictModel):
    """How a study's runs are launched: the command line's --launcher, --jobs, --gpus-per-run, --no-wait and
    --slurm KEY=VALUE over the ``launch:`` section of a --launch-config YAML file (unknown keys refused, and
    numbers are numbers: no booleans, NaN or inf, as in an experiment config)."""

    launcher: Literal["sequential", "local", "slurm"] = Field(
        "sequential", description="sequential: in this process, one after another; local: --jobs at once here"
    )
    jobs: int | None = Field(
        None, ge=1, le=1024, description="local: runs at once (default: one per GPU, or 1)"
    )
    gpus_per_run: int | None = Field(
        None, ge=0, le=64, description="GPUs of each run (local default: 1 where GPUs exist, else 0; slurm 1)"
    )
    wait: bool = Field(True, description="wait for the jobs and write the summary (slurm only may skip it)")
    partition: str | None = Field(None, description="sbatch --partition")
    time_min: int = Field(24 * 60, ge=1, le=366 * 24 * 60, description="sbatch --time, minutes, per job")
    cpus_per_run: int = Field(8, ge=1, le=1024, description="sbatch --cpus-per-task")
    mem_gb: int = Field(32, ge=1, le=65536, description="sbatch --mem, GB")
    account: str | None = Field(None, description="sbatch --account")
    qos: str | None = Field(None, description="sbatch --qos")
    constraint: str | None = Field(None, description="sbatch --constraint")
    setup: list[str] = Field(
        default_factory=list, description="shell lines run before each job (module load)"
    )
    sbatch: dict[str, str] = Field(
        default_factory=dict, description="further sbatch options: {mail-type: END}"
    )
    max_requeues: int = Field(3, ge=0, le=1000, description="time-outs after which a job is not requeued")
    signal_delay_s: int = Field(120, ge=10, le=3600, description="USR2 this long before the time limit")

    @model_validator(mode="after")
    def _waits_unless_slurm(self) -> LaunchOptions:
        if not self.wait and self.launcher != "slurm":
            raise ValueError(
                "--no-wait needs --launcher slurm: the local launcher starts runs as others end, and "
                "the sequential one trains in this process"
            )
        return self


def launch_options(
    config_file: str | None = None, slurm: list[str] | None = None, **flags: Any
) -> LaunchOptions:
    """The launch settings: ``flags`` (launcher, jobs, gpus_per_run, wait; None: not given) over the SLURM
    settings of ``slurm`` (``KEY=VALUE``, values read as YAML) over the ``launch:`` section of
    ``config_file``.

    Raises:
        ValueError: an unreadable file, an unknown key or a value out of range, naming each.
    """
    data: dict[str, Any] = {}
    source = "the command line"
    if config_file:
        source = f"{config_file} (section launch)"
        try:  # softfer's YAML rules, as for configs: 010 is no octal 8, a key given twice is refused
            text = load_yaml(Path(config_file).read_text(encoding="utf-8")) or {}
        except YamlRuleError as exc:
            raise ValueError(f"--launch-config {config_file}: {exc}") from None
        except yaml.YAMLError as exc:
            raise ValueError(f"--launch-config {config_file}: invalid YAML{yaml_error_place(exc)}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"--launch-config {config_file}: cannot be read as YAML ({exc})") from None
        data = text.get("launch") if isinstance(text, dict) else None
        if not isinstance(data, dict):
            raise ValueError(f"--launch-config {config_file}: needs a mapping `launch:` with the settings")
    for item in slurm or []:
        key = item.split("=", 1)[0].split(".")[0].strip()
        if key in _LAUNCH_ONLY:
            option = "--no-wait" if key == "wait" else f"--{key.replace('_', '-')}"
            raise ValueError(f"--slurm {item}: {key} has its own option, {option}")
    data = apply_overrides(data, slurm)
    data.update({k: v for k, v in flags.items() if v is not None})
    try:
        return LaunchOptions.model_validate(data)
    except ValidationError as exc:
        raise ValueError(f"{source}: invalid launch settings:\n  {validation_problems(exc)}") from None


@dataclasses.dataclass(frozen=True)
class Run:
    """One planned run of a study: its config (``run.out_dir`` is its folder) and ``plan_run``'s plan."""

    cfg: ExperimentConfig
    plan: str

    @property
    def key(self) -> str:
        """The run's folder as given: the key of ``execute``'s result."""
        return self.cfg.run.out_dir


class StudyIncomplete(Exception):
    """Runs of a study are not finished with metrics of their config: the summary is not written.

    ``failed``: some job ended without its run (exit 1); otherwise jobs still run (--no-wait, exit 0).
    """

    def __init__(self, lines: list[str], *, failed: bool):
        super().__init__("\n".join(lines))
        self.failed = failed

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


def launch_outputs(study_dir: Path, options: LaunchOptions | None) -> list[Path]:
    """What a launcher writes in the study folder (nothing for the sequential one), for the output check."""
    if options is None or options.launcher == "sequential":
        return []
    return [study_dir / JOBS_FILE, study_dir / LOG_FOLDER]


def check_launch_outputs(
    study_dir: Path,
    options: LaunchOptions | None,
    studies: Sequence[str],
    *,
    inputs: Iterable[str | Path] = (),
    overwrite: bool = False,
) -> None:
    """Check a launcher's files in the study folder (``launch_outputs``) before anything is written: neither
    is an input, jobs.json is a file and jobs/ a folder, and an existing one is replaced without
    ``overwrite`` only where it is softfer's own of this study: jobs.json a jobs record (``read_jobs``) of
    one of ``studies`` (the ``study`` given to ``execute``), jobs/ a folder beside such a record, or empty.

    Raises:
        ValueError: naming the file that is not this study's, and what to do.
    """
    paths = launch_outputs(study_dir, options)
    if not paths:
        return
    check_outputs(paths, inputs=inputs, overwrite=True, what="run.out_dir")  # never onto an input
    jobs_file, log_folder = paths
    record = any(holds_jobs(study_dir, s) for s in studies)
    try:
        empty = log_folder.is_dir() and not any(log_folder.iterdir())
    except OSError:
        empty = False  # unreadable: not known to hold nothing
    for path, kind, own, what in (
        (jobs_file, jobs_file.is_file(), record, "softfer's record of this study's jobs"),
        (log_folder, log_folder.is_dir(), record or empty, "softfer's folder of this study's job logs"),
    ):
        if (path.exists() or path.is_symlink()) and not (kind and (own or overwrite)):
            # a folder for a file (or the reverse) is not replaced with --overwrite either: it would be lost
            either = "" if kind else ", --overwrite or not"
            raise ValueError(
                f"{path}: output already exists and is not {what}, so it is not replaced{either}; "
                "move it away to launch the runs there, or use --launcher sequential (no job files) or "
                "another run.out_dir"
            )


def execute(
    runs: list[Run], options: LaunchOptions | None, study_dir: Path, *, study: str
) -> dict[str, dict[str, Any]]:
    """Obtain every run's metrics (keyed by ``Run.key``): reused, or trained as ``options`` say.

    ``study`` names the study in jobs.json ("compare a, b"). Sequential (``options`` None): each run trains
    in this process in turn, as ``fit`` returns it.

    Raises:
        StudyIncomplete: with a launcher, runs whose job failed, or that still run after ``wait=False``.
    """
    todo = [r for r in runs if r.plan != "reuse"]
    if options is None or options.launcher == "sequential" or not todo:
        metrics = _sequential(runs)
    else:
        from softfer.studies.schedulers import JobBoard

        for run in todo:  # an uneven batch is refused before any job starts, not by each torchrun process
            per_rank_batch(run.cfg.optim.batch_size, options.gpus_per_run or 1)
        board = JobBoard(options, study_dir, study)
        board.submit(todo)
        if not options.wait:
            raise StudyIncomplete(board.pending_lines(), failed=False)
        board.wait()
        metrics = collect(runs, board)
    check_current_data(runs, metrics)
    return metrics


def check_current_data(runs: list[Run], metrics: dict[str, dict[str, Any]]) -> None:
    """Refuse to hand a study runs made on other data than there is now: every summary passes here.

    A label fixed while a study trains (or a SLURM wait of days) would otherwise pair or average runs
    scored on the old labels with runs scored on the new. The data fingerprint is read once per data
    setting (a fold's runs share it), not once per run.

    Raises:
        ValueError: naming each run made on other data and what changed (which split: ids, labels, media).
    """
    current: dict[str, dict[str, Any]] = {}
    stale = []
    for run in runs:
        stored = fp.get("data") if isinstance(fp := metrics[run.key].get("fingerprint"), dict) else None
        key = json.dumps(run.cfg.data.model_dump(mode="json"), sort_keys=True)
        if key not in current:
            current[key] = data_fingerprint_of(run.cfg)
        if not isinstance(stored, dict):
            stale.append(f"{run.key}: its metrics.json records no data fingerprint")
        elif changes := data_changes(stored, current[key]):
            stale.append(f"{run.key}: {'; '.join(changes)}")
    if stale:
        raise ValueError(
            f"{len(stale)} of {len(runs)} runs were made on other data than there is now (changed during the "
            f"study?), so no summary was written: {' | '.join(stale)}; train them again on today's data "
            "(the same command names each; --overwrite trains them again)"
        )


def _sequential(runs: list[Run]) -> dict[str, dict[str, Any]]:
    out = {}
    for i, run in enumerate(runs, start=1):
        run_dir = Path(run.key)
        if run.plan == "reuse":
            log.info("run %d/%d %s: reusing %s", i, len(runs), run.cfg.name, run_dir)
            out[run.key] = read_metrics(run_dir / "metrics.json")
            continue
        log.info(
            "run %d/%d %s: %s", i, len(runs), run.cfg.name, "resuming" if run.plan == "resume" else "training"
        )
        resume = str(run_dir / "last.pt") if run.plan == "resume" else None
        out[run.key] = fit(run.cfg, resume=resume, overwrite=run.plan == "overwrite")
    return out


def collect(runs: list[Run], board: Any) -> dict[str, dict[str, Any]]:
    """Every run's metrics, read from its folder and checked against its config and today's data.

    Raises:
        StudyIncomplete: runs without such metrics, each named with its job's state and log.
    """
    out, missing = {}, []
    for run in runs:
        run_dir = Path(run.key)
        try:
            if run.plan != "reuse":  # reused ones matched when planned; execute checks every run's data
                check_reusable(run_dir, run.cfg)  # its config.yaml and metrics.json fingerprint match
            out[run.key] = read_metrics(run_dir / "metrics.json")
        except (ValueError, OSError) as exc:
            why = "no metrics.json" if not (run_dir / "metrics.json").exists() else str(exc)
            missing.append(f"  {run.cfg.name} ({run_dir}): {why}; {board.describe(run)}")
    if missing:
        head = f"{len(missing)} of {len(runs)} runs did not finish; no summary was written:"
        tail = "run the same command again: finished runs are reused, the others resume from their last.pt"
        raise StudyIncomplete([head, *missing, tail], failed=True)
    return out


@dataclasses.dataclass(frozen=True)
class RunJob:
    """One run as a submitit job: train, resume or overwrite it in its folder as planned.

    ``gpus`` > 1 runs ``softfer train`` under torchrun on the job's GPUs, reading ``config_file`` (the run's
    config as YAML); ``threads`` sets torch's CPU threads (the machine's cores shared by the jobs).
    """

    config: dict[str, Any]
    plan: str
    gpus: int = 0
    threads: int | None = None
    config_file: str | None = None

    def __call__(self) -> str:
        from softfer.io.console import setup_logging

        setup_logging(logging.INFO, progress=False)
        cfg = validate_config(self.config, f"the job of {self.config.get('name')}")
        run_dir = Path(cfg.run.out_dir)
        plan = self.plan
        if plan == "auto" or int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0) > 0:
            # requeued (pre-empted, timed out): what this job left decides; resume from its last.pt
            plan = plan_run(run_dir, cfg, overwrite=False, replace_other=True, hint="")
        log.info("job of %s: %s in %s", cfg.name, plan, run_dir)
        if plan == "reuse":
            return str(run_dir)
        resume = str(run_dir / "last.pt") if plan == "resume" else None
        if self.gpus > 1:
            subprocess.run(self.torchrun_command(resume, plan == "overwrite"), check=True)
            return str(run_dir)
        if self.threads:
            import torch

            torch.set_num_threads(self.threads)
        fit(cfg, resume=resume, overwrite=plan == "overwrite")
        return str(run_dir)

    def torchrun_command(self, resume: str | None, overwrite: bool) -> list[str]:
        """``torchrun --standalone --nproc-per-node GPUS -m softfer.cli train CONFIG [--resume CKPT]``, with
        ``--overwrite`` when planned so."""
        if self.config_file is None:
            raise ValueError(
                f"the job of {self.config.get('name')} runs on {self.gpus} GPUs but has no config file"
            )
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={self.gpus}"]
        cmd += ["-m", "softfer.cli", "train", self.config_file]
        return cmd + (["--resume", resume] if resume else []) + (["--overwrite"] if overwrite else [])

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        """submitit's hook on pre-emption and time-out: requeue this run to resume from its last.pt."""
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(dataclasses.replace(self, plan="auto"))


def run_job(run: Run, gpus: int, log_folder: Path, threads: int | None) -> RunJob:
    """The job of ``run``; a multi-GPU run's config is written as YAML beside the job logs for torchrun."""
    config_file = None
    if gpus > 1:
        # named by the run folder too: names that sanitise alike ("a b", "a_b") get their own files
        unique = digest(str(Path(run.key).resolve()))[:12]
        config_file = log_folder / f"{safe_name(run.cfg.name)}-{unique}.yaml"
        dump_config(run.cfg, config_file)
        config_file = str(config_file)
    return RunJob(run.cfg.model_dump(mode="json"), run.plan, gpus, threads, config_file)
