"""Issue 24: progress where the output is not a terminal (a log file, CI, nohup): plain periodic lines
with the epoch, the loss and an ETA instead of a progress bar that a log file never shows."""

import logging
import os
import re
import subprocess
import sys

import pytest

from softfer.config import load_config, packaged_configs
from softfer.engine.logs import RunLog
from softfer.io import console


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(console.time, "monotonic", lambda: now[0])
    return now


@pytest.fixture
def lines_mode(monkeypatch, caplog):
    monkeypatch.setitem(console._state, "progress", False)
    monkeypatch.setitem(console._state, "lines", True)
    caplog.set_level(logging.INFO, logger="softfer.progress")
    return caplog


def test_lines_come_every_interval_with_an_eta_from_the_rate_seen(clock, lines_mode):
    lines = console.ProgressLines("run", 100, done=20, unit="steps", every=30.0)
    printed = []
    for _ in range(40):  # 40 steps, one every 2 s
        clock[0] += 2.0
        printed.append(lines.update(note="epoch 1/4"))
    said = [p for p in printed if p]
    assert len(said) == 2  # at 30 s and at 60 s, not at every step
    # after 15 steps in 30 s: 0.5 steps/s, 65 steps left -> 130 s; the 20 done before do not count
    assert said[0] == "run: 35/100 steps, epoch 1/4, elapsed 0:00:30, ETA 0:02:10"
    assert said[1] == "run: 50/100 steps, epoch 1/4, elapsed 0:01:00, ETA 0:01:40"
    assert [r.getMessage() for r in lines_mode.records] == said


def test_without_a_total_there_is_no_eta_and_a_long_loop_ends_with_a_line(clock, lines_mode, monkeypatch):
    def slow(n):
        for i in range(n):
            clock[0] += 20.0
            yield i

    assert list(console.progress(slow(4), description="faces in v.mp4")) == [0, 1, 2, 3]
    said = [r.getMessage() for r in lines_mode.records]
    assert said[-1] == "faces in v.mp4: 4, done, elapsed 0:01:20, ETA ?"
    lines_mode.clear()
    assert list(console.progress(range(3), description="evaluate")) == [0, 1, 2]  # quick: says nothing
    assert not lines_mode.records


def test_no_lines_on_a_terminal_or_when_quiet(monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    console.setup_logging(logging.INFO)
    assert console.bars_allowed() and not console.plain_lines()
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    console.setup_logging(logging.WARNING)
    assert not console.plain_lines()
    console.setup_logging(logging.INFO)
    assert console.plain_lines() and not console._state["progress"]
    console.show_progress(None)
    console._state["lines"] = False


def test_a_training_log_gets_step_lines_with_epoch_and_loss_and_a_line_per_epoch(
    tmp_path, clock, lines_mode, monkeypatch
):
    monkeypatch.setattr(console, "LINE_EVERY_S", 10.0)
    logs = RunLog(tmp_path, "r", epochs=2, total_steps=4, done_steps=0, rank=0, progress=True)
    with logs:
        for epoch in range(2):
            for step in (1, 2):
                clock[0] += 6.0
                logs.step(epoch, step, 1.5 / (step + epoch), 0.1)
            logs.epoch({"epoch": epoch + 1, "train_loss": 1.0, "lr": 0.1, "val_uar": 0.25})
    logs.close()
    said = [r.getMessage() for r in lines_mode.records]
    assert said == [
        "r: 2/4 steps, epoch 1/2, loss 0.7500, elapsed 0:00:12, ETA 0:00:12",
        "r: 2/4 steps, epoch 1/2 done, train_loss 1.0000, val_uar 0.2500, elapsed 0:00:12, ETA 0:00:12",
        "r: 4/4 steps, epoch 2/2, loss 0.5000, elapsed 0:00:24, ETA 0:00:00",
        "r: 4/4 steps, epoch 2/2 done, train_loss 1.0000, val_uar 0.2500, elapsed 0:00:24, ETA 0:00:00",
    ]


def test_softfer_train_into_a_log_file_writes_plain_lines_with_epoch_loss_and_eta(tmp_path):
    from softfer.data.synthetic.generate import generate_dfew

    root = tmp_path / "dfew"
    generate_dfew(root, clips=40, size=16, seed=0, workers=1)
    sets = [
        f"data.root={root}",
        "data.size=16",
        "data.segments=2",
        "model.options={width: 4, dropout: 0.0}",
        "optim.epochs=2",
        "optim.batch_size=8",
        f"run.out_dir={tmp_path / 'run'}",
    ]
    load_config(packaged_configs() / "demo" / "hard.yaml", sets)  # the settings are valid
    log = tmp_path / "train.log"
    with log.open("w") as f:  # as nohup or CI: neither stdout nor stderr is a terminal
        cmd = [sys.executable, "-m", "softfer.cli", "train", "demo/hard.yaml", "--threads", "1"]
        cmd += [a for s in sets for a in ("--set", s)]
        done = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env={**os.environ}, timeout=600)
    text = log.read_text()
    assert done.returncode == 0, text[-2000:]
    for epoch in (1, 2):
        assert re.search(
            rf"demo-hard: \d+/\d+ steps, epoch {epoch}/2 done, train_loss \d\.\d{{4}}, .*ETA \d:\d\d:\d\d",
            text,
        ), text
    assert "\x1b[" not in text and "\r" not in text  # no terminal control codes, no bar redraws


def test_a_study_waiting_on_jobs_names_each_runs_epoch_and_loss(tmp_path):
    """The local and SLURM launchers run training elsewhere: the waiting study reads each run's log.csv."""
    from softfer.studies.schedulers import read_log, run_progress

    run = tmp_path / "run"
    assert run_progress(read_log(run), 32) == "starting"  # no folder yet
    run.mkdir()
    (run / "log.csv").write_text("epoch,step,loss,lr\n0,1,2.5,0.002\n4,7,1.23456,0.0019\n", encoding="utf-8")
    assert run_progress(read_log(run), 32) == "epoch 5/32, loss 1.235"
    (run / "log.csv").write_text("epoch,step,loss,lr\n", encoding="utf-8")  # header only: no step yet
    assert run_progress(read_log(run), 32) == "starting"


def test_a_waiting_study_says_how_far_each_run_is_and_when_it_should_end(tmp_path):
    """The demo trains its runs as local jobs: the waiting line must carry elapsed time and an ETA, as a
    run trained in this process does (a log file shows nothing else for minutes)."""
    from types import SimpleNamespace

    from softfer.studies.schedulers import JobBoard, read_log, run_fraction

    run = tmp_path / "run"
    run.mkdir()
    log = run / "log.csv"
    assert run_fraction(read_log(run), 10) is None
    log.write_text("epoch,step,loss,lr\n0,1,2.5,0.1\n0,2,2.4,0.1\n", encoding="utf-8")
    assert run_fraction(read_log(run), 10) == 0.0  # steps per epoch unknown until the first epoch ends
    log.write_text(
        "epoch,step,loss,lr\n0,1,2.5,0.1\n0,4,2.4,0.1\n1,1,2.3,0.1\n1,3,2.2,0.1\n2,1", encoding="utf-8"
    )
    assert run_fraction(read_log(run), 10) == pytest.approx(
        (1 + 3 / 4) / 10
    )  # the half-written last row ignored
    board = JobBoard.__new__(JobBoard)  # only the progress-line state: no scheduler, nothing written
    board.first_seen, board.started = {}, 100.0
    assert board.run_eta("k", 0.25, now=100.0) is None  # first sight: no pace yet
    assert board.run_eta("k", 0.25, now=130.0) is None  # has not moved
    assert board.run_eta("k", 0.5, now=160.0) == pytest.approx(60 / 0.25 * 0.5)  # 120 s to go
    cfg = SimpleNamespace(name="demo-hard", optim=SimpleNamespace(epochs=10))
    board.runs, board.live, board.ended, board.queue = (
        {str(run): SimpleNamespace(cfg=cfg)},
        {str(run): None},
        {},
        [1],
    )
    board.first_seen = {str(run): (0.0, 0.0)}
    line = board.progress_line()
    assert re.fullmatch(
        r"0 of 1 runs done, elapsed \d+:\d\d:\d\d; "
        r"demo-hard epoch 2/10, loss 2\.200, ETA \d+:\d\d:\d\d; 1 waiting",
        line,
    ), line


def test_the_demo_trains_its_regimes_side_by_side_without_a_gpu(monkeypatch):
    import softfer.demo as demo

    monkeypatch.setattr(demo, "visible_gpus", lambda: [])
    launch = demo.demo_launch(None)
    assert launch is not None and launch.launcher == "local" and launch.jobs == 3 and launch.gpus_per_run == 0
    assert demo.demo_launch(1) is None  # one after another, in this process
    assert demo.demo_launch(2).jobs == 2
    monkeypatch.setattr(demo, "visible_gpus", lambda: [0])
    assert demo.demo_launch(None) is None
