"""Audit 3, items 3 and 14: what `softfer synth` (and the demo, which stages its data the same way) may
remove, and where it may write.

3: a command removes only what it created: its staging folder is named after its process
   (``.NAME.PID.partial``), a folder of the user's named ``NAME.partial`` is left alone, and a staging folder
   of another process is removed only when that process no longer runs and the folder is an hour old.
14: the advice agrees with the behaviour: a non-empty OUT is refused with --overwrite too, and the message
   does not suggest it; ``synth dfew .`` says what to do.
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest
from rich.console import Console

from softfer.cli import main
from softfer.data.synthetic.generate import generate_dfew
from softfer.demo import _check_outputs, _configs, _prepare_data
from softfer.io.files import _running
from tests.robustness.test_cli_errors import _stderr_line

SMALL = ["--clips", "5", "--size", "16", "--workers", "1"]


def _listing(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def _user_partial(path):
    path.mkdir(parents=True)
    (path / "mine.txt").write_text("precious")
    return path


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    assert not _running(child.pid)
    return child.pid


def test_synth_leaves_a_users_folder_named_like_the_old_staging_folder_alone(tmp_path, capsys):
    mine = _user_partial(tmp_path / "precious.partial")
    assert main(["synth", "dfew", str(tmp_path / "precious"), *SMALL]) == 0
    assert (mine / "mine.txt").read_text() == "precious"
    assert (tmp_path / "precious" / "Annotation" / "annotation.xlsx").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["precious", "precious.partial"]  # no staging left


def test_the_demo_leaves_a_users_folder_beside_its_data_alone(tmp_path):
    out = tmp_path / "demo"
    mine = _user_partial(out / "data_quick.partial")
    _prepare_data(Console(quiet=True), out, out / "data_quick", 5, 16, generate=True)
    assert (mine / "mine.txt").read_text() == "precious"
    assert sorted(p.name for p in out.iterdir()) == ["data_quick", "data_quick.partial", "montage.png"]


def test_only_stale_staging_folders_of_processes_that_no_longer_run_are_removed(tmp_path, caplog):
    dead, fresh_dead, live = _dead_pid(), _dead_pid(), os.getppid()
    hour_ago = time.time() - 3700
    old = {
        "stale": tmp_path / f".data.{dead}.partial",
        "live": tmp_path / f".data.{live}.partial",  # a process that still runs
        "other output": tmp_path / f".other.{dead}.partial",
        "user": tmp_path / "data.partial",
    }
    for path in old.values():
        _user_partial(path)
        os.utime(path, (hour_ago, hour_ago))
    fresh = _user_partial(tmp_path / f".data.{fresh_dead}.partial")  # maybe a live writer on another machine
    generate_dfew(tmp_path / "data", clips=5, size=16, workers=1)
    assert not old["stale"].exists()
    assert f"removed {old['stale']}, left by an interrupted process building data" in caplog.text
    for path in (old["live"], old["other output"], old["user"], fresh):
        assert (path / "mine.txt").read_text() == "precious", path


def test_a_failed_generation_removes_its_own_staging_folder_only(tmp_path, monkeypatch):
    mine = _user_partial(tmp_path / "data.partial")

    def broken(*args, **kw):
        raise RuntimeError("renderer broke")

    monkeypatch.setattr("softfer.data.synthetic.generate._write_dfew_truth", broken)
    with pytest.raises(RuntimeError, match="renderer broke"):
        generate_dfew(tmp_path / "data", clips=5, size=16, workers=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.partial"]
    assert (mine / "mine.txt").read_text() == "precious"


@pytest.mark.parametrize("earlier", ["user file", "synth output"])
def test_a_non_empty_out_is_refused_with_and_without_overwrite_alike(tmp_path, capsys, earlier):
    out = tmp_path / "data"
    if earlier == "user file":
        out.mkdir()
        (out / "mine.txt").write_text("x")
    else:
        assert main(["synth", "dfew", str(out), *SMALL]) == 0
        capsys.readouterr()
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    messages = []
    for extra in ([], ["--overwrite"]):
        assert main(["synth", "dfew", str(out), *SMALL, *extra]) == 2
        messages.append(_stderr_line(capsys))
    assert messages[0] == messages[1]  # the advice given without --overwrite is what happens with it
    assert f"{out} exists and is not empty" in messages[0] and "choose another OUT" in messages[0]
    assert "pass --overwrite" not in messages[0]
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_synth_into_the_current_folder_says_what_to_do(tmp_path, capsys, monkeypatch):
    here = tmp_path / "empty"
    here.mkdir()
    monkeypatch.chdir(here)
    assert main(["synth", "dfew", ".", *SMALL]) == 2
    err = _stderr_line(capsys)
    assert "OUT . is the current folder" in err and "name a new folder (e.g. data)" in err
    assert _listing(tmp_path) == ["empty"]


def test_the_demo_refuses_a_non_empty_data_folder_before_anything_with_overwrite_too(tmp_path, capsys):
    out = tmp_path / "demo"
    quick = out / "quick"  # the quick demo's own folder in OUT
    (quick / "data").mkdir(parents=True)
    (quick / "data" / "mine.txt").write_text("x")
    configs = _configs(quick, quick / "data", True, 32)
    with pytest.raises(ValueError, match=r"quick/data exists and is not empty.*choose another --out"):
        _check_outputs(quick, quick / "data", configs, True, [])
    assert main(["demo", "--quick", "--out", str(out), "--overwrite"]) == 2
    err = _stderr_line(capsys)
    assert "quick/data exists and is not empty" in err and "pass --overwrite" not in err
    assert _listing(out) == ["quick", "quick/data", "quick/data/mine.txt"]
