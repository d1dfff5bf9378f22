"""Issue 14, engine side: `--resume` continues exactly the run it was given, or refuses in one line.

A changed setting that changes the run is refused (keys and both values), config.yaml stays what ran;
stale temporaries of an interrupted write are removed; log.csv loses the steps trained again; a file that
is not a training checkpoint of this model gets a one-line explanation naming it.
"""

import json
import signal
import subprocess
import sys

import pytest
import torch

from softfer.config import load_config, packaged_configs
from softfer.engine.train import fit
from tests.engine.conftest import tiny_config

DEMO_BASE = packaged_configs() / "demo" / "base.yaml"


def _cfg(root, out, **over):
    return load_config(DEMO_BASE, tiny_config(root, out, **over))


@pytest.fixture(scope="module")
def finished(tmp_path_factory, tiny_dfew_module):
    """A finished one-epoch run (lr 0.001, cosine over 1 epoch); tests copy what they change."""
    run = tmp_path_factory.mktemp("finished") / "run"
    fit(_cfg(tiny_dfew_module, run, **{"optim.epochs": 1}))
    return run


@pytest.fixture(scope="module")
def tiny_dfew_module(tmp_path_factory):
    from softfer.data.synthetic.generate import generate_dfew

    root = tmp_path_factory.mktemp("resume_dfew") / "dfew"
    generate_dfew(root, clips=60, size=32, seed=0, workers=1)
    return root


def _one_line_error(call) -> str:
    with pytest.raises(ValueError) as err:
        call()
    message = str(err.value)
    assert "\n" not in message, message
    return message


def test_resume_refuses_a_changed_learning_rate_and_keeps_config_yaml(tiny_dfew_module, finished):
    before = {p.name: p.read_bytes() for p in finished.iterdir() if p.is_file()}
    last = finished / "last.pt"
    changed = _cfg(tiny_dfew_module, finished, **{"optim.epochs": 1, "optim.lr": 0.01})
    message = _one_line_error(lambda: fit(changed, resume=str(last)))
    assert str(last) in message and "optim.lr: checkpoint 0.001, requested 0.01" in message
    # cosine spans optim.epochs: the epoch already trained followed another schedule
    longer = _cfg(tiny_dfew_module, finished, **{"optim.epochs": 3})
    message = _one_line_error(lambda: fit(longer, resume=str(last)))
    assert "optim.epochs: checkpoint 1, requested 3" in message and "cosine" in message
    after = {p.name: p.read_bytes() for p in finished.iterdir() if p.is_file()}
    assert after == before  # config.yaml, log.csv, metrics.json: untouched


def test_resume_accepts_settings_that_do_not_change_the_run(tiny_dfew_module, finished, tmp_path):
    sets = {"optim.epochs": 1, "run.progress": "true", "data.max_skip": 0.05, "name": "renamed"}
    cfg = _cfg(tiny_dfew_module, tmp_path / "again", **sets)
    again = fit(cfg, resume=str(finished / "last.pt"))  # trained already: evaluated again
    first = json.loads((finished / "metrics.json").read_text())
    assert again["war"] == first["war"] and again["history"] == first["history"]
    assert load_config(tmp_path / "again" / "config.yaml").model_dump() == cfg.model_dump()


def test_more_epochs_with_a_step_schedule_continue_the_longer_run(tiny_dfew_module, tmp_path):
    step = {"optim.schedule": "step", "optim.step_size": 1, "optim.gamma": 0.5, "data.segments": 2}
    fit(_cfg(tiny_dfew_module, tmp_path / "short", **step, **{"optim.epochs": 1}))
    longer = _cfg(tiny_dfew_module, tmp_path / "short", **step, **{"optim.epochs": 2})
    resumed = fit(longer, resume=str(tmp_path / "short" / "last.pt"))
    direct = fit(_cfg(tiny_dfew_module, tmp_path / "long", **step, **{"optim.epochs": 2}))
    assert resumed["history"] == direct["history"]
    assert resumed["confusion_matrix"] == direct["confusion_matrix"]
    assert load_config(tmp_path / "short" / "config.yaml").optim.epochs == 2
    # fewer epochs than already trained cannot be what ran
    shorter = _cfg(tiny_dfew_module, tmp_path / "long", **step, **{"optim.epochs": 1})
    message = _one_line_error(lambda: fit(shorter, resume=str(tmp_path / "long" / "last.pt")))
    assert "optim.epochs: checkpoint 2, requested 1" in message


def test_resume_removes_the_temporary_file_of_a_killed_checkpoint_write(tiny_dfew_module, finished, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    for name in ("last.pt", "config.yaml", "log.csv"):
        (run / name).write_bytes((finished / name).read_bytes())
    # A process killed inside softfer.io.files.atomic_write, as a SIGKILL during a checkpoint leaves it.
    code = (
        "import os, signal, sys\n"
        "from softfer.io.files import atomic_write\n"
        "writing = atomic_write(sys.argv[1], 'wb')\n"
        "f = writing.__enter__()\n"
        "f.write(b'x' * 4096); f.flush()\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    killed = subprocess.Popen([sys.executable, "-c", code, str(run / "last.pt")])
    assert killed.wait() == -signal.SIGKILL
    stale = run / f".last.pt.{killed.pid}.tmp"
    assert stale.stat().st_size == 4096
    writer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    live = run / f".last.pt.{writer.pid}.tmp"  # the file of a writer that still runs is left alone
    live.write_bytes(b"partial")
    try:
        fit(_cfg(tiny_dfew_module, run, **{"optim.epochs": 1}), resume=str(run / "last.pt"))
    finally:
        writer.kill()
        writer.wait()
    assert not stale.exists() and live.exists()


def test_log_csv_holds_each_step_once_after_a_resume(tiny_dfew_module, tmp_path):
    sets = {"optim.epochs": 1, "run.checkpoint_every": 4}  # 12 steps per epoch
    fit(_cfg(tiny_dfew_module, tmp_path / "full", **sets))
    # Stopped after step 6 while the last checkpoint is at step 4: steps 5 and 6 are logged and will be
    # trained again, as after a kill between two checkpoints.
    cut = _cfg(tiny_dfew_module, tmp_path / "cut", **sets, **{"run.max_steps": 6})
    fit(cut)
    rows = (tmp_path / "cut" / "log.csv").read_text().splitlines()
    assert [r.split(",")[:2] for r in rows[1:]] == [["0", str(s)] for s in range(1, 7)]
    with (tmp_path / "cut" / "log.csv").open("a") as f:
        f.write("0,7,2.0")  # a row cut short by the kill
    fit(_cfg(tiny_dfew_module, tmp_path / "cut", **sets), resume=str(tmp_path / "cut" / "last.pt"))
    full = (tmp_path / "full" / "log.csv").read_text()
    assert (tmp_path / "cut" / "log.csv").read_text() == full
    # A run started again with --overwrite starts a new log.
    fit(_cfg(tiny_dfew_module, tmp_path / "full", **sets), overwrite=True)
    assert (tmp_path / "full" / "log.csv").read_text() == full


@pytest.mark.parametrize(
    ("content", "expected"),
    [(b"", "empty file"), (b"epoch: 3\nmodel: tsm_r18\n", "not a PyTorch file")],
)
def test_an_empty_or_text_file_as_checkpoint_is_one_line(tiny_dfew_module, tmp_path, content, expected):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(content)
    cfg = _cfg(tiny_dfew_module, tmp_path / "run", **{"optim.epochs": 1})
    message = _one_line_error(lambda: fit(cfg, resume=str(bad)))
    assert message.startswith(f"{bad}: ") and expected in message
    assert not (tmp_path / "run").exists()


def test_resume_from_a_final_model_pt_is_one_line(tiny_dfew_module, finished, tmp_path):
    cfg = _cfg(tiny_dfew_module, tmp_path / "run", **{"optim.epochs": 1})
    message = _one_line_error(lambda: fit(cfg, resume=str(finished / "model.pt")))
    assert message.startswith(f"{finished / 'model.pt'}: a final model") and "last.pt" in message


@pytest.mark.parametrize(
    ("other", "key"),
    [
        ({"model.options": "{width: 16, dropout: 0.5}"}, "model.options.width: checkpoint 8, requested 16"),
        ({"model.name": "r18_gru"}, "model.name: checkpoint 'tsm_r18', requested 'r18_gru'"),
    ],
)
def test_resume_from_another_model_or_width_is_one_line(tiny_dfew_module, finished, tmp_path, other, key):
    cfg = _cfg(tiny_dfew_module, tmp_path / "run", **{"optim.epochs": 1, **other})
    message = _one_line_error(lambda: fit(cfg, resume=str(finished / "last.pt")))
    assert str(finished / "last.pt") in message and key in message


def test_weights_that_do_not_fit_the_stored_config_are_one_line(tiny_dfew_module, finished, tmp_path):
    saved = torch.load(finished / "last.pt", weights_only=True)
    wide = torch.load(finished / "model.pt", weights_only=True)["model"]
    saved["model"] = {k: torch.cat([v, v]) if v.dim() else v for k, v in wide.items()}  # other shapes
    del saved["weights_sha256"]  # edited by hand: without the digest of the weights it was written with
    edited = tmp_path / "edited.pt"
    torch.save(saved, edited)
    cfg = _cfg(tiny_dfew_module, tmp_path / "run", **{"optim.epochs": 1})
    message = _one_line_error(lambda: fit(cfg, resume=str(edited)))
    assert message.startswith(f"{edited}: its training state does not fit")


def _tensorboard_scalars(run_dir, tag: str) -> list[tuple[int, float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir / "tensorboard"))
    acc.Reload()
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def test_tensorboard_holds_each_epoch_once_after_a_resume(tiny_dfew_module, tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    run = tmp_path / "run"
    # stopped in epoch 2 (12 steps per epoch): the checkpoint holds epoch 1
    fit(_cfg(tiny_dfew_module, run, **{"optim.epochs": 2, "run.max_steps": 15}))
    assert [s for s, _ in _tensorboard_scalars(run, "train_loss")] == [1]
    with SummaryWriter(str(run / "tensorboard")) as w:  # as if killed after logging epoch 2, before saving
        w.add_scalar("train_loss", 99.0, 2)
    fit(_cfg(tiny_dfew_module, run, **{"optim.epochs": 2}), resume=str(run / "last.pt"))
    logged = _tensorboard_scalars(run, "train_loss")
    assert [s for s, _ in logged] == [1, 2] and logged[1][1] != 99.0


def test_tensorboard_gets_the_test_metrics_of_a_finished_run(finished):
    logged = _tensorboard_scalars(finished, "test/uar")
    metrics = json.loads((finished / "metrics.json").read_text())
    assert [round(v, 5) for _, v in logged] == [round(metrics["uar"], 5)]
