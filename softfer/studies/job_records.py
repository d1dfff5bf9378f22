"""A study folder's jobs.json: which study and launcher made it, and each run folder's job (id, plan, GPUs,
times, state, log, earlier jobs), as ``schedulers.JobBoard`` writes it; read back field by field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError

from softfer.config.strict import StrictModel, error_lines
from softfer.io.files import write_json_atomic

JOBS_FILE = "jobs.json"  # the study's job records, beside its summary

# A job id as submitit records it: a SLURM job number, or the process id of a local job's controller (the
# local launcher reads it back as an integer).
JobId = Annotated[str, Field(pattern=r"^[0-9]{1,20}$")]
Seconds = Annotated[float, Field(ge=0, le=1e11)]  # a time.time() stamp


class JobEntry(StrictModel):
    """One run's record in jobs.json, as ``schedulers.JobBoard`` writes it."""

    name: str
    job_id: JobId
    plan: Literal["train", "resume", "overwrite", "auto"]
    gpus: list[Annotated[int, Field(ge=0, le=1023)]] | None
    submitted: Seconds
    ended: Seconds | None
    state: str
    log: str
    earlier_jobs: list[JobId]


class JobsRecord(StrictModel):
    """A study folder's jobs.json: which study and launcher, and each run folder's job."""

    study: str
    launcher: Literal["local", "slurm"]
    runs: dict[str, JobEntry]


def read_jobs(study_dir: Path) -> dict[str, Any]:
    """The study folder's jobs.json ({"study", "launcher", "runs": {run folder: record}}), empty if none.

    Raises:
        ValueError: the file is no JSON or not as softfer writes it, naming the file and each bad field.
    """
    path = study_dir / JOBS_FILE
    if not path.is_file():
        return {"runs": {}}
    again = "move it away to start the record anew"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a jobs record ({exc}); {again}") from None
    try:  # field by field: a job id the local launcher reads as a number, the states it shows
        return JobsRecord.model_validate(data).model_dump()
    except ValidationError as exc:
        raise ValueError(f"{path}: not a jobs record:\n  {validation_problems(exc)}\n{again}") from None


def validation_problems(exc: ValidationError) -> str:
    """pydantic's errors, one per line, each as ``dotted.field: message`` (``error_lines``)."""
    return "\n  ".join(error_lines(exc))


def write_jobs(study_dir: Path, record: dict[str, Any]) -> None:
    """jobs.json, written atomically: a killed study leaves the old record or the new one."""
    write_json_atomic(study_dir / JOBS_FILE, record)


def holds_jobs(study_dir: Path, study: str) -> bool:
    """Whether ``study_dir``'s jobs.json is the record of ``study`` (its own files, rewritten on a resume)."""
    try:
        return read_jobs(study_dir).get("study") == study
    except ValueError:
        return False


def start_jobs(study_dir: Path, study: str, launcher: str) -> dict[str, Any]:
    """The jobs record of ``study`` as a launcher starts: the one in ``study_dir`` (its earlier jobs), or a
    new one where the file there is no jobs record (``check_launch_outputs`` let it be replaced: --overwrite),
    written at once so that the log folder never holds files without the record that makes it this study's
    (a kill before the first job is recorded)."""
    try:
        record = read_jobs(study_dir)
    except ValueError:
        record = {"runs": {}}
    record.update(study=study, launcher=launcher)
    study_dir.mkdir(parents=True, exist_ok=True)
    write_jobs(study_dir, record)
    return record
