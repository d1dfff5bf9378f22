"""The schedulers' guards (audit 8): nothing of a config becomes a command line of the sbatch script (F1,
defence in depth behind the schema's rule), the local launcher's jobs keep to ``--threads`` /
``OMP_NUM_THREADS`` (F10), and a job that ended without its run is not reported as finished (U1)."""

import functools
import os
import stat
import subprocess
from pathlib import Path

import pytest
import torch
from submitit.slurm.slurm import SlurmJob

from softfer.cli import main
from softfer.config import validate_config
from softfer.studies import schedulers
from softfer.studies.launch import Run, launch_options
from tests.engine.conftest import tiny_config

FAKE_SBATCH = """#!/bin/sh
n=$(($(cat "$FAKE_SLURM/count" 2>/dev/null || echo 0) + 1))
echo $n > "$FAKE_SLURM/count"
cp "$1" "$FAKE_SLURM/job_$n.sh"
echo "Submitted batch job $n"
"""


@pytest.fixture
def fake_slurm(tmp_path, monkeypatch) -> Path:
    """sbatch (keeps each script it is given in the folder returned), srun and sacct that do nothing."""
    bin_dir, record = tmp_path / "bin", tmp_path / "slurm"
    bin_dir.mkdir()
    record.mkdir()
    for name, text in {"sbatch": FAKE_SBATCH, "sacct": "#!/bin/sh\n", "srun": "#!/bin/sh\nexit 0\n"}.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(stat.S_IRWXU)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SLURM", str(record))
    SlurmJob.watcher.clear()
    return record


@pytest.fixture
def torch_threads():
    """torch's intra-op threads as before the test (``main`` sets them from --threads)."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_a_name_with_a_line_break_stays_inside_its_line_of_the_sbatch_script(tmp_path, fake_slurm):
    cfg = validate_config({"name": "ok", "run": {"out_dir": str(tmp_path / "run")}})
    cfg.name = "x\ntouch pwned #"  # past the schema, which refuses it: the job script must still be safe
    slurm = schedulers.SlurmScheduler(launch_options(None, None, launcher="slurm"), tmp_path / "jobs")
    slurm.submit(Run(cfg, "train"), 0)
    script = fake_slurm / "job_1.sh"
    ran = tmp_path / "ran"
    ran.mkdir()
    subprocess.run(["bash", str(script)], cwd=ran, check=True, capture_output=True)  # as SLURM would
    assert not (ran / "pwned").exists()
    assert "#SBATCH --job-name=softfer-x_touch_pwned_" in script.read_text().splitlines()


def test_a_control_character_in_a_line_of_the_sbatch_script_is_refused_before_anything_is_written(
    tmp_path, fake_slurm
):
    options = launch_options(None, None, launcher="slurm")
    folder = tmp_path / "x\ntouch pwned #" / "jobs"  # the study folder: in the log paths' #SBATCH lines
    with pytest.raises(ValueError, match=r"the study folder \(.*\) holds the control character '\\n'"):
        schedulers.SlurmScheduler(options, folder)
    assert not folder.parent.exists()
    mail = launch_options(None, ['sbatch.mail-type="END\\ntouch pwned"'], launcher="slurm")
    with pytest.raises(ValueError, match=r"--slurm sbatch.mail-type .* holds the control character '\\n'"):
        schedulers.SlurmScheduler(mail, tmp_path / "jobs")
    assert not list(fake_slurm.iterdir())


@pytest.mark.parametrize(
    ("given", "jobs", "cores", "each"),
    [(1, 1, 8, 1), (3, 2, 8, 3), (8, 2, 8, 4), (16, 1, 8, 8), (8, 16, 8, 1)],
)
def test_local_jobs_take_the_cores_share_or_the_threads_given_whichever_is_fewer(
    tmp_path, monkeypatch, torch_threads, given, jobs, cores, each
):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.setattr(schedulers, "cpu_cores", lambda: cores)
    torch.set_num_threads(given)  # what main's apply_threads set from --threads / OMP_NUM_THREADS
    options = launch_options(None, None, launcher="local", jobs=jobs, gpus_per_run=0)
    assert schedulers.LocalScheduler(options, tmp_path).threads == each


@pytest.mark.parametrize("how", ["--threads", "OMP_NUM_THREADS"])
def test_a_launched_study_keeps_to_the_threads_given_and_names_a_job_that_ended_without_its_run(
    tiny_dfew, tmp_path, monkeypatch, capsys, torch_threads, how
):
    monkeypatch.setattr(schedulers, "cpu_cores", lambda: 8)  # 8 cores, 2 jobs: 4 threads each at most
    given = []

    def no_run(run, gpus, folder, threads):  # the job the launcher would submit: it dies at once
        given.append(threads)
        return functools.partial(os.abort)

    monkeypatch.setattr(schedulers, "run_job", no_run)
    argv = [
        "cv",
        "demo/soft.yaml",
        "--folds",
        "1",
        "--launcher",
        "local",
        "--jobs",
        "2",
        "--gpus-per-run",
        "0",
    ]
    argv += [a for s in tiny_config(tiny_dfew, tmp_path / "cv", **{"optim.epochs": 1}) for a in ("--set", s)]
    monkeypatch.setenv("OMP_NUM_THREADS", "3" if how == "OMP_NUM_THREADS" else "1")
    assert main([*argv, "--threads", "3"] if how == "--threads" else argv) == 1
    err = capsys.readouterr().err
    assert "ended without its run (killed?; local state FINISHED)" in err  # submitit said FINISHED
    assert given == [3]
