"""`softfer synth` stopped by SIGTERM leaves nothing; a set that cannot fit is refused first (audit 8, U4).

SIGTERM (`timeout`, `kill`) killed the process at once and left its staging folder `.OUT.PID.partial`
(100+ MB) until a later run an hour on; now it ends the command as Ctrl-C does (exit 130, the staging
folder removed), with worker processes too. A set larger than the free space is refused before rendering.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from softfer.cli import main
from softfer.data.synthetic import generate, space
from softfer.data.synthetic.generate import generate_affectnet, generate_dfew


def _start(out: Path, workers: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "softfer.cli", "synth", "dfew", str(out), "--clips", "5000", "--size", "32"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [*cmd, "--workers", str(workers)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def _staging(out: Path) -> list[Path]:
    return sorted(out.parent.glob(f".{out.name}.*.partial"))


def _wait_for_clips(out: Path, proc: subprocess.Popen) -> None:
    """Until the staging folder holds rendered clips (the command is well into its work)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        found = _staging(out)
        if found and len(list(found[0].glob("Clip/clip_224x224/*"))) >= 3:
            return
        time.sleep(0.2)
    raise AssertionError(f"no clips rendered: {proc.poll()} {proc.stderr.read() if proc.stderr else ''}")


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_ends_synth_as_ctrl_c_does_and_leaves_no_staging_folder(tmp_path, workers):
    out = tmp_path / "set"
    proc = _start(out, workers)
    try:
        _wait_for_clips(out, proc)
        proc.send_signal(signal.SIGTERM)  # the process alone, not its group: workers are stopped by it
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "softfer: interrupted" in err
    time.sleep(1.0)  # a worker still rendering would write into the folder again now
    assert _staging(out) == [] and not out.exists()


def test_a_set_larger_than_the_free_space_is_refused_before_rendering(tmp_path, monkeypatch, capsys):
    free = 1_000_000
    monkeypatch.setattr(space.shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**9, 0, free))
    rendered = []
    monkeypatch.setattr(generate, "_run", lambda *a, **k: rendered.append(1) or [])
    assert main(["synth", "dfew", str(tmp_path / "set"), "--clips", "1000", "--size", "32"]) == 2
    err = capsys.readouterr().err
    # 1000 clips of at least 12 frames, each at least a 32 px JPEG (over 600 bytes) > 1 MB free
    assert "--clips 1000 needs at least" in err and "(12000 frames" in err and "1.0 MB free" in err
    assert rendered == [] and _staging(tmp_path / "set") == [] and not (tmp_path / "set").exists()
    with pytest.raises(ValueError, match=r"--images 5000 needs at least .* \(5000 frames"):
        generate_affectnet(tmp_path / "stills", images=5000, size=32)
    assert not (tmp_path / "stills").exists() and _staging(tmp_path / "stills") == []


def test_a_set_that_fits_is_rendered(tmp_path, monkeypatch):
    # 12 frames x 5 clips need at most a few hundred KB: 10 MB free is enough
    monkeypatch.setattr(space.shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**9, 0, 10**7))
    records = generate_dfew(tmp_path / "set", clips=5, size=32, workers=1)
    assert len(records) == 5 and (tmp_path / "set" / "Clip").is_dir()
    assert not list((tmp_path / "set").rglob("softfer_space_probe*"))  # the probe is gone
