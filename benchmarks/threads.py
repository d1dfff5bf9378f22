"""Thread defaults on a shared machine: idle and beside a CPU hog (one normal-priority process spinning in
`while True: pass`), for `softfer predict` end to end and for demo training steps.

Settings, each in a fresh process (OpenMP reads its wait policy once, when torch loads it):

- ``old default``: torch's own threads (one per core) and OpenMP's default wait policy (idle threads spin
  a while before they sleep): what softfer did before issue 24; torch is imported before the CLI starts,
  so the CLI's wait policy comes too late, as it did then.
- ``default``: softfer's default now: ``OMP_WAIT_POLICY=PASSIVE``, one thread per usable core, one
  inter-op thread.
- ``--threads 1``: the same with one thread.

`predict` runs the CLI on WolfgangLanger_Pexels.mp4 (19.7 s, every face, per frame; start-up, model
load and files written included) with a freshly initialised demo-sized TSM-ResNet-18 (speed does not
depend on the weights). Training times the median of 4 steps (after one warm-up step) of the demo's
MIDAS config at its 64 px size, batch 16, on synthetic DFEW-layout clips. The goal (issue 24): beside
the hog, a run is at most as much slower as the share of cores the hog takes (1 of 2 cores: +50 %).

    PYTHONPATH=. python benchmarks/threads.py [--skip-predict] [--skip-train] [--json OUT.json]
        [--repeats N] [--baseline OTHER_CHECKOUT]

``--baseline`` times predict from another checkout (e.g. ``git worktree add /tmp/base COMMIT``) with the
default settings, taking turns with this one: a before/after pair measured in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

SETTINGS = {
    "old default": {"policy": None, "threads": None, "torch_first": True},
    "default": {"policy": "PASSIVE", "threads": None, "torch_first": False},
    "--threads 1": {"policy": "PASSIVE", "threads": 1, "torch_first": False},
}
# The CLI as `softfer` runs it, or with torch imported first (the old default: the policy comes too late).
CLI = "import sys{torch}; from softfer.cli import main; sys.exit(main(sys.argv[1:]))"


@contextmanager
def hog(on: bool):
    """One process spinning at normal priority while the block runs (ended by its own id), in a session of
    its own: with Linux's autogroup scheduling a process started from another terminal competes as a
    group of its own, while one in this session would only split this session's share."""
    if not on:
        yield
        return
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
    try:
        time.sleep(1.0)  # let it take its core
        yield
    finally:
        proc.kill()
        proc.wait()


ROOT = Path(__file__).resolve().parents[1]


def clean_env(tree: Path = ROOT) -> dict[str, str]:
    """This environment without thread settings (each measured setting brings its own), importing softfer
    from ``tree`` (default: this checkout)."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    env["PYTHONPATH"] = str(tree)
    return env


def predict_seconds(setting: dict, video: Path, ckpt: Path, out: Path) -> float:
    """Wall seconds of `softfer predict` end to end in a fresh process."""
    code = CLI.format(torch="; import torch" if setting["torch_first"] else "")
    argv = [sys.executable, "-c", code, "predict", str(video), "--checkpoint", str(ckpt)]
    argv += ["--out", str(out), "--overwrite", "--quiet"]
    if setting["threads"]:
        argv += ["--threads", str(setting["threads"])]
    start = time.perf_counter()
    subprocess.run(argv, env=clean_env(Path(setting.get("tree", ROOT))), check=True, capture_output=True)
    return time.perf_counter() - start


def train_step_seconds(setting: dict, root: Path, out: Path) -> float:
    """Median seconds of a demo training step, measured in a fresh process (``--train-worker``)."""
    argv = [sys.executable, __file__, "--train-worker", str(root), "--out", str(out)]
    argv += ["--worker-setting", json.dumps(setting)]
    done = subprocess.run(argv, env=clean_env(), check=True, capture_output=True, text=True)
    return float(done.stdout.strip().splitlines()[-1])


def train_worker(root: str, out: str, setting: dict) -> None:
    """Print the median time of 4 demo training steps after a warm-up (run in its own process)."""
    from softfer.io.threads import apply_threads, set_wait_policy

    if setting["torch_first"]:
        import torch  # noqa: F401  OpenMP starts with its default wait policy, torch with its threads
    else:
        set_wait_policy()
        apply_threads(setting["threads"])
    from softfer.config import load_config, packaged_configs
    from softfer.engine.build import build_training
    from softfer.engine.train import epoch_steps

    sets = [f"data.root={root}", f"run.out_dir={out}", "run.progress=false", "optim.epochs=1"]
    t = build_training(load_config(packaged_configs() / "demo" / "midas.yaml", sets), overwrite=True)
    times, last = [], time.perf_counter()
    for _ in epoch_steps(t):
        now = time.perf_counter()
        times.append(now - last)
        last = now
        if len(times) == 5:
            break
    print(statistics.median(times[1:]))


def measure_settings(what: str, measure, settings: dict, repeats: int) -> list[dict]:
    """One row per setting: the median of ``repeats`` runs idle and beside a hog. The settings take turns
    within each repeat, so a machine whose speed drifts slows them alike (a paired comparison)."""
    times: dict[tuple[str, str], list[float]] = {}
    for busy in (False, True):
        key = "busy" if busy else "idle"
        with hog(busy):
            for _ in range(repeats):
                for name, setting in settings.items():
                    times.setdefault((name, key), []).append(measure(setting))
    rows = []
    for name in settings:
        row = {"what": what, "setting": name, "repeats": repeats}
        for key in ("idle", "busy"):
            row[key] = statistics.median(times[(name, key)])
            row[f"{key} runs"] = [round(x, 2) for x in times[(name, key)]]
        row["busy / idle"] = row["busy"] / row["idle"]
        rows.append(row)
        print(
            f"{what:24s} {name:20s} idle {row['idle']:7.2f}  beside a hog {row['busy']:7.2f}  "
            f"ratio {row['busy / idle']:.2f}  (runs: {row['idle runs']} / {row['busy runs']})",
            flush=True,
        )
    return rows


def _checkpoint(path: Path) -> Path:
    from benchmarks.faces import _demo_checkpoint

    return _demo_checkpoint(path)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--skip-predict", action="store_true")
    p.add_argument("--skip-train", action="store_true")
    p.add_argument("--json", help="also write the results here")
    p.add_argument("--repeats", type=int, default=1, help="runs per setting and load (the median is kept)")
    p.add_argument(
        "--baseline", help="another commit's checkout: its predict runs beside this one's (default settings)"
    )
    p.add_argument("--train-worker", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    p.add_argument("--worker-setting", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.train_worker:
        return train_worker(a.train_worker, a.out, json.loads(a.worker_setting))
    from benchmarks.faces import _media

    results = []
    print(f"{os.cpu_count()} cores; load average before: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        jobs = []
        if not a.skip_predict:
            video, ckpt = _media() / "WolfgangLanger_Pexels.mp4", _checkpoint(tmp / "model.pt")
            jobs.append(("predict end to end (s)", lambda s: predict_seconds(s, video, ckpt, tmp / "pred")))
        if not a.skip_train:
            from softfer.data.synthetic.generate import generate_dfew

            generate_dfew(tmp / "dfew", clips=150, size=64, seed=0, workers=1)
            jobs.append(
                ("demo training step (s)", lambda s: train_step_seconds(s, tmp / "dfew", tmp / "run"))
            )
        for what, measure in jobs:
            settings = dict(SETTINGS)
            if a.baseline and what.startswith("predict"):
                settings = {"default, --baseline": {**SETTINGS["default"], "tree": a.baseline}, **settings}
            results += measure_settings(what, measure, settings, a.repeats)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
