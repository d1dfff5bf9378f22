"""Audit 8 F5: one process at a time trains a run folder (``RUN/run.lock``, ``softfer.engine.lock``).

A second `softfer cv` on a study still training resumed the fold the first was training (log.csv held 279
steps twice), and a folder holding only config.yaml (a run just starting) was planned "overwrite", whose
files the plan would delete. Here a live process (a `sleep`) stands in for the first process: its lock is
written as softfer writes one, and every way in (planning, `fit`, `softfer cv`, `softfer train --resume`)
is refused naming it, touching nothing; a lock of a process that ended is replaced with a warning.
"""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from softfer.cli import main
from softfer.config import load_config, packaged_configs
from softfer.engine.resume import plan_run
from softfer.engine.train import fit
from tests.engine.conftest import tiny_config

DEMO_BASE = packaged_configs() / "demo" / "base.yaml"
ONE_EPOCH = {"optim.epochs": 1, "data.segments": 2}


def _boot() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def _start_ticks(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[19]
    except OSError:
        return None


def _lock(folder: Path, pid: int, **over) -> dict:
    """A lock file as softfer writes one, for process ``pid`` of this host."""
    record = {
        "pid": pid,
        "host": socket.gethostname(),
        "boot": _boot(),
        "process_start": _start_ticks(pid),
        "started": time.time(),
        "command": "softfer cv demo/soft.yaml --folds 1",
        "slurm_job": None,
        "slurm_restart": "0",
        "token": "0123456789abcdef",
        **over,
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "run.lock").write_text(json.dumps(record))
    return record


@pytest.fixture
def live_pid():
    """A process that runs for the length of the test."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield proc.pid
    proc.kill()
    proc.wait()


@pytest.fixture
def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _cfg(root, out, **sets):
    return load_config(DEMO_BASE, tiny_config(root, out, **{**ONE_EPOCH, **sets}))


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_planning_refuses_a_folder_another_process_trains_whatever_it_holds(tiny_dfew, tmp_path, live_pid):
    cfg = _cfg(tiny_dfew, tmp_path / "run")
    run = tmp_path / "run"
    fit(cfg)  # a finished run: reused when nothing trains it
    assert plan_run(run, cfg, overwrite=False, replace_other=False, hint="") == "reuse"
    assert not (run / "run.lock").exists()  # a finished run holds no lock
    (run / "metrics.json").unlink()  # as a run killed after its last checkpoint: "resume" ...
    assert plan_run(run, cfg, overwrite=False, replace_other=False, hint="") == "resume"
    _lock(run, live_pid)  # ... unless a process is training it right now
    for overwrite, replace_other in ((False, False), (False, True), (True, False)):
        with pytest.raises(ValueError, match=rf"{run} is being trained by process {live_pid} on host "):
            plan_run(run, cfg, overwrite=overwrite, replace_other=replace_other, hint="")
    for name in ("last.pt", "model.pt", "log.csv"):  # a run starting: only config.yaml (was "overwrite")
        (run / name).unlink()
    with pytest.raises(ValueError, match=r"softfer cv demo/soft\.yaml --folds 1; wait for it to end"):
        plan_run(run, cfg, overwrite=False, replace_other=True, hint="")


def test_fit_and_train_resume_refuse_a_folder_another_process_trains_and_touch_nothing(
    tiny_dfew, tmp_path, live_pid, capsys
):
    run = tmp_path / "run"
    cfg = _cfg(tiny_dfew, run, **{"optim.epochs": 2})
    fit(cfg)
    (run / "metrics.json").unlink()
    _lock(run, live_pid)
    before = _snapshot(run)
    with pytest.raises(ValueError, match=rf"is being trained by process {live_pid} "):
        fit(cfg, overwrite=True)
    with pytest.raises(ValueError, match=rf"is being trained by process {live_pid} "):
        fit(cfg, resume=str(run / "last.pt"))
    argv = ["train", str(DEMO_BASE), *(a for s in tiny_config(tiny_dfew, run) for a in ("--set", s))]
    assert main([*argv, "--resume", str(run / "last.pt")]) == 2
    assert f"is being trained by process {live_pid}" in capsys.readouterr().err
    assert _snapshot(run) == before  # nothing replaced, removed or cut (log.csv)


def test_a_sequential_cv_refuses_a_fold_that_another_process_trains(tiny_dfew, tmp_path, live_pid, capsys):
    study = tmp_path / "cv"
    sets = tiny_config(tiny_dfew, study, **ONE_EPOCH)
    argv = ["cv", str(DEMO_BASE), "--folds", "1,2", *(a for s in sets for a in ("--set", s))]
    _lock(study / "fold_2", live_pid)  # the first `softfer cv` is training fold 2 (nothing else written yet)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"fold_2 is being trained by process {live_pid}" in err
    assert not (study / "fold_1").exists()  # refused while planning: no fold trained


def test_a_run_holds_its_lock_while_it_trains_and_none_after(tiny_dfew, tmp_path, monkeypatch):
    from softfer.engine import train

    seen = []
    real = train.end_epoch

    def end_epoch(t, logs):
        seen.append(json.loads((t.run_dir / "run.lock").read_text()))
        real(t, logs)

    monkeypatch.setattr(train, "end_epoch", end_epoch)
    run = tmp_path / "run"
    fit(_cfg(tiny_dfew, run))
    assert [(s["pid"], s["host"]) for s in seen] == [(os.getpid(), socket.gethostname())]
    assert not (run / "run.lock").exists() and (run / "metrics.json").is_file()


def test_a_run_that_fails_releases_its_lock_and_leaves_no_folder(tiny_dfew, tmp_path):
    run = tmp_path / "new" / "run"
    cfg = _cfg(tiny_dfew, run, **{"optim.batch_size": 10_000})  # refused while built, after the lock
    with pytest.raises(ValueError, match="larger than the"):
        fit(cfg)
    assert not (tmp_path / "new").exists()


def test_a_lock_left_by_a_process_that_ended_is_replaced_with_a_warning(
    tiny_dfew, tmp_path, dead_pid, caplog
):
    run = tmp_path / "run"
    cfg = _cfg(tiny_dfew, run)
    fit(cfg)
    (run / "metrics.json").unlink()
    _lock(run, dead_pid)  # killed with SIGKILL: its lock stayed
    assert plan_run(run, cfg, overwrite=False, replace_other=False, hint="") == "resume"
    with caplog.at_level("WARNING"):
        fit(cfg, resume=str(run / "last.pt"))
    assert f"the lock of process {dead_pid} on host" in caplog.text and "no longer runs" in caplog.text
    assert not (run / "run.lock").exists() and (run / "metrics.json").is_file()


def test_which_locks_are_stale(tmp_path, dead_pid, live_pid, monkeypatch):
    from softfer.engine.lock import check_unlocked, holder_state, take_run_lock

    me = {"pid": live_pid, "host": socket.gethostname(), "boot": _boot()}
    assert holder_state({**me, "process_start": _start_ticks(live_pid)}) == "live"
    assert holder_state({**me, "pid": dead_pid}) == "stale"
    if _boot() is not None:  # Linux: a pid reused by a later process, a host restarted since
        assert holder_state({**me, "process_start": "1"}) == "stale"
        assert holder_state({**me, "boot": "another-boot"}) == "stale"
    other = {"pid": 1, "host": "node-elsewhere", "boot": "x"}
    assert holder_state(other) == "unknown"  # cannot be asked: refused, naming the file to remove
    _lock(tmp_path / "a", 1, host="node-elsewhere")
    with pytest.raises(ValueError, match=r"if it no longer runs, remove .*a/run\.lock"):
        check_unlocked(tmp_path / "a")
    # a SLURM job: an earlier attempt of this very job is stale; another job is as sacct says
    monkeypatch.setenv("SLURM_JOB_ID", "77")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    assert holder_state({**other, "slurm_job": "77", "slurm_restart": "0"}) == "stale"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sacct").write_text('#!/bin/sh\ncat "$FAKE_STATE"\n')
    (bin_dir / "sacct").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_STATE", str(tmp_path / "state"))
    states = (("RUNNING", "live"), ("PENDING", "live"), ("COMPLETED", "stale"), ("FAILED", "stale"))
    for state, want in states:
        (tmp_path / "state").write_text(state + "\n")
        assert holder_state({**other, "slurm_job": "12"}) == want, state
    # a lock this process holds is its own (a script may build one run twice); released, it is gone
    lock = take_run_lock(tmp_path / "b")
    assert take_run_lock(tmp_path / "b").token == lock.token
    lock.release()
    assert not (tmp_path / "b" / "run.lock").exists()


def test_planning_leaves_a_slurm_jobs_lock_to_the_launcher_which_waits_for_that_job(tiny_dfew, tmp_path):
    # the documented second call of a SLURM study plans every run while jobs still train on compute nodes
    run = tmp_path / "run"
    cfg = _cfg(tiny_dfew, run)
    _lock(run, 1, host="node-elsewhere", slurm_job="12")
    (run / "config.yaml").write_text((packaged_configs() / "demo" / "base.yaml").read_text())
    assert plan_run(run, cfg, overwrite=False, replace_other=True, hint="") == "overwrite"
    with pytest.raises(ValueError, match=r"by process 1 on host node-elsewhere \(SLURM job 12\)"):
        fit(cfg, overwrite=True)  # a process that would train it meanwhile is refused when it starts


def test_a_file_named_run_lock_that_softfer_did_not_write_is_never_replaced(tiny_dfew, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.lock").write_text("my notes")
    os.utime(run / "run.lock", (time.time() - 60, time.time() - 60))
    with pytest.raises(ValueError, match=r"run\.lock is not a lock softfer wrote"):
        fit(_cfg(tiny_dfew, run))
    assert (run / "run.lock").read_text() == "my notes"


def test_a_process_may_build_one_run_twice_and_leaves_no_lock_at_exit(tmp_path):
    """Review: build_training without fit (benchmarks/device_check.py builds one folder for several
    variants) kept the lock, and the second build in the same process was refused naming itself."""
    import subprocess
    import sys

    code = (
        "from pathlib import Path\n"
        "from softfer.engine.lock import take_run_lock\n"
        f"run = Path({str(tmp_path / 'run')!r})\n"
        "first = take_run_lock(run)\n"
        "second = take_run_lock(run)\n"
        "assert (run / 'run.lock').is_file()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "run" / "run.lock").exists()  # (and the folder the lock made, left empty)


def test_the_process_holding_a_runs_lock_may_plan_that_run(tiny_dfew, tmp_path):
    """Last read: planning restated the lock check without the "own" state, so a process that had built a
    run (holding its lock) and then planned the same folder was refused, naming itself."""
    from softfer.engine.lock import take_run_lock

    run = tmp_path / "run"
    lock = take_run_lock(run)
    try:
        assert plan_run(run, _cfg(tiny_dfew, run), overwrite=False, replace_other=False, hint="") == "train"
    finally:
        lock.release()
