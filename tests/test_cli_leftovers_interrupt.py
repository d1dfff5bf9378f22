"""A Ctrl-C under torchrun is said once per machine, by its first process, as usage errors are; every
process still exits 130 (softfer.cli ``_said_by_another_rank``).

torchrun passes the SIGINT of a Ctrl-C on to every process it started (each in a session of its own): each
printed "softfer: interrupted". The ranks are set in each process's environment as torchrun sets them
(RANK, LOCAL_RANK, WORLD_SIZE), and a real SIGINT ends a command that waits; the expected lines are counted
by hand from the rule. A last test runs torchrun itself on two CPU processes.
"""

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from softfer.cli import commands, main

TORCHRUN = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "TORCHELASTIC_RUN_ID")
# A `softfer data inspect` whose work waits for the signal, after saying on stdout that it has started.
# SIGINT is set to Python's own handler first: a non-interactive shell starts its background jobs (a CI script
# run with `&`) with SIGINT ignored, and Python keeps an ignored SIGINT ignored; a terminal's command has it.
WAITING = """
import os, signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)
from softfer.cli import commands, main

def wait(args):
    os.write(1, f"ready {os.environ.get('LOCAL_RANK')}\\n".encode())  # one write: torchrun's two share a pipe
    time.sleep(120)

commands.cmd_data_inspect = wait  # before the parser binds the command
sys.exit(main(["data", "inspect", "dfew", "."]))
"""


def _environment(ranks: tuple[int, int, int] | None) -> dict[str, str]:
    """This process's environment without torchrun's variables, then ``(local, rank, world)``'s."""
    env = {k: v for k, v in os.environ.items() if k not in TORCHRUN}
    env["OMP_NUM_THREADS"] = "1"
    if ranks is not None:
        local, rank, world = ranks
        env |= {"LOCAL_RANK": str(local), "RANK": str(rank), "WORLD_SIZE": str(world)}
        env["TORCHELASTIC_RUN_ID"] = "test-run"  # as torchrun marks the processes it starts
    return env


# (LOCAL_RANK, RANK, WORLD_SIZE) or None (no torchrun) -> times "softfer: interrupted" is printed
CASES = [
    (None, 1),  # one process: it says it
    ((0, 0, 2), 1),  # the first process of the machine
    ((1, 1, 2), 0),  # the second: the first says it
    ((0, 2, 4), 1),  # the first process of a second machine says it there
    ((1, 3, 4), 0),
]


def test_ctrl_c_is_said_by_the_first_process_of_each_machine_and_every_process_exits_130(tmp_path):
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WAITING],
            cwd=tmp_path,
            env=_environment(ranks),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for ranks, _ in CASES
    ]
    try:
        for p in procs:  # all started and waiting: the signal lands in the command
            assert p.stdout.readline().startswith("ready"), p.communicate(timeout=60)
        for p in procs:
            p.send_signal(signal.SIGINT)
        done = [p.communicate(timeout=60) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for (ranks, said), p, (_, err) in zip(CASES, procs, done, strict=True):
        assert p.returncode == 130, (ranks, err)
        assert err.count("softfer: interrupted") == said, (ranks, err)
        assert "Traceback" not in err, (ranks, err)


def test_ctrl_c_after_the_process_group_started_is_still_said_once_per_machine(monkeypatch, capsys):
    """Unlike a usage error, which after the group started may be this process's own, a Ctrl-C reaches
    every process whenever it comes."""

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(commands, "cmd_models_list", interrupted)
    monkeypatch.setattr("torch.distributed.is_initialized", lambda: True)
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "test-run")
    for name, value in (("LOCAL_RANK", "1"), ("RANK", "1"), ("WORLD_SIZE", "2")):
        monkeypatch.setenv(name, value)
    assert main(["models", "list"]) == 130
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setenv("RANK", "0")
    assert main(["models", "list"]) == 130
    assert capsys.readouterr().err.count("softfer: interrupted") == 1


def test_ctrl_c_in_a_broken_torchrun_environment_is_said_by_every_process(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(commands, "cmd_models_list", interrupted)
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "test-run")
    for name, value in (("LOCAL_RANK", "x"), ("RANK", "1"), ("WORLD_SIZE", "2")):
        monkeypatch.setenv(name, value)
    assert main(["models", "list"]) == 130
    assert "softfer: interrupted" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("torchrun") is None, reason="torchrun is not installed")
def test_ctrl_c_to_torchrun_on_two_cpu_processes_prints_the_line_once(tmp_path):
    """The terminal's Ctrl-C: SIGINT to torchrun's process group; torchrun passes it on to its workers."""
    script = Path(tmp_path / "waiting.py")
    script.write_text(WAITING)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", str(script)]
    run = subprocess.Popen(
        cmd,
        cwd=tmp_path,
        env=_environment(None),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a process group of its own, as a terminal's foreground job has
    )
    try:
        ready = sorted(run.stdout.readline() for _ in range(2))
        assert ready == ["ready 0\n", "ready 1\n"], run.communicate(timeout=60)
        os.killpg(run.pid, signal.SIGINT)
        out, err = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    assert (out + err).count("softfer: interrupted") == 1, out + err
