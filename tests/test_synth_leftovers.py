"""Synthetic-data generation, the last robustness leftovers (helper A).

1. SIGTERM during `softfer demo`'s data step killed the demo at once, leaving `.data.PID.partial` (and its
   worker processes, orphaned, still rendering into it); the handling now lives in the writers' staging,
   so the demo and any other caller of the writers end as on Ctrl-C.
2. Interrupted generation stops its workers through public API (not the executor's private table).
3. FER+ generation checks OUT and the free space before it lists or renders a face.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import active_children, get_context
from pathlib import Path

import pytest

from softfer.cli import main
from softfer.data.synthetic import ferplus, generate, space
from softfer.data.synthetic.ferplus import generate_ferplus
from softfer.data.synthetic.generate import staging


def _staging(folder: Path, name: str) -> list[Path]:
    return sorted(folder.glob(f".{name}.*.partial"))


def _workers_of(pid: int) -> list[int]:
    """The multiprocessing spawn workers whose parent is ``pid`` (read from /proc)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (proc / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid and b"spawn_main" in cmdline:
            found.append(int(proc.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _until_clips(staged: Callable[[], list[Path]], proc: subprocess.Popen, err: Path) -> None:
    """Until the staging folder holds rendered clips (the data step is well under way)."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        found = staged()
        if found and len(list(found[0].glob("Clip/clip_224x224/*"))) >= 3:
            return
        time.sleep(0.05)
    raise AssertionError(f"no clips rendered: {proc.poll()} {err.read_text()}")


def _terminate(
    cmd: list[str], tmp_path: Path, staged: Callable[[], list[Path]]
) -> tuple[int, str, list[int]]:
    """Run ``cmd``, SIGTERM it (the process alone, not its group) once clips are rendered; (exit code,
    stderr, the pids of its workers). Output goes to files: orphaned workers would hold a pipe open."""
    err = tmp_path / "stderr.txt"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with open(tmp_path / "stdout.txt", "w") as out_f, open(err, "w") as err_f:
        proc = subprocess.Popen(cmd, stdout=out_f, stderr=err_f, env=env, cwd=tmp_path)
    workers: list[int] = []
    try:
        _until_clips(staged, proc, err)
        workers = _workers_of(proc.pid)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=90)
        time.sleep(1.0)  # a worker still rendering would write into the staging folder again now
        return proc.returncode, err.read_text(), [w for w in workers if _alive(w)]
    finally:
        for pid in [proc.pid, *workers]:  # the processes this test started, if a failure left them
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=30)


def test_sigterm_during_the_demos_data_step_ends_it_as_ctrl_c_does(tmp_path):
    quick = tmp_path / "demo" / "quick"
    cmd = [sys.executable, "-m", "softfer.cli", "demo", "--quick", "--out", str(tmp_path / "demo")]
    code, err, left = _terminate(cmd, tmp_path, lambda: _staging(quick, "data"))
    assert code == 130, err
    assert "softfer: interrupted" in err
    assert _staging(quick, "data") == [] and not (quick / "data").exists()
    assert left == []  # its workers were stopped, not orphaned


def test_a_program_calling_a_writer_is_covered_too(tmp_path):
    # no `softfer` command around it: a program of its own calling generate_dfew
    out = tmp_path / "set"
    code = "from softfer.data.synthetic.generate import generate_dfew as g; "
    code += f"g({str(out)!r}, clips=3000, size=32)"
    rc, err, left = _terminate([sys.executable, "-c", code], tmp_path, lambda: _staging(tmp_path, "set"))
    assert rc == -signal.SIGINT, err  # an uncaught KeyboardInterrupt ends Python as SIGINT would
    assert "KeyboardInterrupt" in err
    assert _staging(tmp_path, "set") == [] and not out.exists()
    assert left == []


def test_sigterm_is_replaced_only_where_it_would_kill_and_restored_after(tmp_path):
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    with staging(tmp_path / "a"):
        assert callable(signal.getsignal(signal.SIGTERM))  # ours, inside
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL

    def programs_own(signum, frame):
        pass

    previous = signal.signal(signal.SIGTERM, programs_own)
    try:
        with staging(tmp_path / "b"):
            assert signal.getsignal(signal.SIGTERM) is programs_own
        assert signal.getsignal(signal.SIGTERM) is programs_own
    finally:
        signal.signal(signal.SIGTERM, previous)


class _PrivateTable(ProcessPoolExecutor):
    """An executor whose worker table only its own module can read, as a later Python may keep it."""

    def __getattribute__(self, name: str):
        if (
            name == "_processes"
            and sys._getframe(1).f_globals.get("__name__") != "concurrent.futures.process"
        ):
            raise AttributeError(name)
        return super().__getattribute__(name)


def _sleep_then_mark(job: tuple[str, int, float]) -> int:
    folder, index, seconds = job
    time.sleep(seconds)
    (Path(folder) / str(index)).touch()
    return index


def test_an_interrupt_stops_running_workers_through_public_api(tmp_path, monkeypatch):
    monkeypatch.setattr(generate, "ProcessPoolExecutor", _PrivateTable)
    earlier = set(active_children())  # earlier tests' children still ending: neither the pool's nor ours
    bystander = get_context("spawn").Process(target=time.sleep, args=(60,))  # not the pool's: left alone
    bystander.start()
    jobs = [(str(tmp_path), 0, 0.0)] + [(str(tmp_path), i, 20.0) for i in range(1, 7)]
    interrupted = []

    def ctrl_c(n: int) -> None:  # Ctrl-C as the first clip comes back; the other worker is mid-job
        interrupted.append(time.monotonic())
        raise KeyboardInterrupt

    try:
        with pytest.raises(KeyboardInterrupt):
            generate._run(_sleep_then_mark, jobs, 2, ctrl_c)
        stopped_in = time.monotonic() - interrupted[0]
        assert set(active_children()) - earlier == {bystander} and bystander.is_alive()
    finally:
        bystander.terminate()
        bystander.join(10)
    # a worker left to finish its 20 s job (and those queued) would take 20 s and more to stop
    assert stopped_in < 8, stopped_in
    time.sleep(0.5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0"]  # no job after the first finished


def _free(monkeypatch, free: int) -> list[int]:
    monkeypatch.setattr(space.shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**9, 0, free))
    rendered: list[int] = []
    monkeypatch.setattr(ferplus, "_run", lambda fn, jobs, *a: rendered.append(len(jobs)) or [])
    return rendered


def test_a_ferplus_set_larger_than_the_free_space_is_refused_before_listing_a_face(tmp_path, monkeypatch):
    rendered = _free(monkeypatch, 1_000_000)
    # 1000 rows x 48 x 48 pixels x at least 2 characters in fer2013.csv = 4,608,000 bytes > 1 MB free
    need = r"--images 1000 needs at least 4\.6 MB \(1000 rows of fer2013\.csv of at least 4608 bytes\)"
    with pytest.raises(ValueError, match=need + r", but .* has 1\.0 MB free"):
        generate_ferplus(tmp_path / "fer", images=1000)
    assert rendered == [] and not (tmp_path / "fer").exists() and _staging(tmp_path, "fer") == []


def test_ferplus_synth_of_a_huge_count_is_refused_at_once(tmp_path, monkeypatch, capsys):
    rendered = _free(monkeypatch, 10**9)
    started = time.monotonic()
    assert main(["synth", "ferplus", str(tmp_path / "fer"), "--images", "1000000"]) == 2
    assert time.monotonic() - started < 5  # no million-face job list first
    assert "--images 1000000 needs at least 4.6 GB" in capsys.readouterr().err
    assert rendered == [] and not (tmp_path / "fer").exists()


def test_ferplus_checks_its_folder_before_rendering(tmp_path, monkeypatch):
    rendered = _free(monkeypatch, 10**12)
    (tmp_path / "fer").mkdir()
    (tmp_path / "fer" / "mine.txt").write_text("not the generator's")
    with pytest.raises(ValueError, match="fer"):
        generate_ferplus(tmp_path / "fer", images=20)
    assert rendered == [] and (tmp_path / "fer" / "mine.txt").read_text() == "not the generator's"


def test_a_ferplus_set_that_fits_is_written(tmp_path, monkeypatch):
    # 20 rows need 92,160 bytes of fer2013.csv text at least: 10 MB free is enough
    monkeypatch.setattr(space.shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**9, 0, 10**7))
    faces = generate_ferplus(tmp_path / "fer", images=20)
    assert len(faces) == 20 and (tmp_path / "fer" / "fer2013.csv").stat().st_size >= 20 * 4608
