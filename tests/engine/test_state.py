"""TrainState: what is saved is what is restored, in the checkpoint keys runs have always written."""

import io

import pytest
import torch

from softfer.config import OptimConfig
from softfer.engine.state import STATE_KEYS, TrainState

# The keys of every last.pt written before TrainState existed (besides "config" and "classes").
OLD_CHECKPOINT_KEYS = [
    "model",
    "optimizer",
    "scheduler",
    "scaler",
    "swa_model",
    "swa_scheduler",
    "epoch",
    "step",
    "rng_torch",
    "rng_cuda",
    "history",
    "best",
    "running",
]


def _state(seed: int, **optim) -> TrainState:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 3))
    cfg = OptimConfig(
        **{"name": "adam", "lr": 0.01, "schedule": "step", "step_size": 1, "gamma": 0.5, **optim}
    )
    return TrainState.create(model, cfg, torch.device("cpu"), "none")


def _train(s: TrainState, steps: int) -> None:
    g = torch.Generator().manual_seed(steps)
    for _ in range(steps):
        x, y = torch.randn(6, 4, generator=g), torch.randint(0, 3, (6,), generator=g)
        loss = torch.nn.functional.cross_entropy(s.model(x), y)
        s.optimizer.zero_grad()
        loss.backward()
        s.optimizer.step()


def _through_disk(state: dict) -> dict:
    # As a checkpoint travels: saved, then loaded back without pickled code.
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


def _assert_same(a, b) -> None:
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, list | tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _assert_same(x, y)
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b)
    else:
        assert a == b


def test_state_dict_has_the_keys_of_old_checkpoints():
    assert list(STATE_KEYS) == OLD_CHECKPOINT_KEYS
    assert list(_state(0).state_dict()) == OLD_CHECKPOINT_KEYS


def test_save_then_load_restores_everything_and_training_continues_identically():
    a = _state(0, swa=True, swa_start=1)
    _train(a, 3)
    a.scheduler.step()
    a.average(None)  # averaging starts: the SWA scheduler is built lazily at the lr in force
    assert a.swa_scheduler is not None
    assert a.optimizer.param_groups[0]["lr"] == pytest.approx(0.005)
    a.epoch, a.step = 2, 1
    a.history.append({"epoch": 2, "train_loss": 1.5, "lr": 0.005})
    a.best = {"uar": 0.4, "epoch": 2}
    a.running.update(sum=3.0, count=2)
    saved = _through_disk(a.state_dict())

    b = _state(1, swa=True, swa_start=1)  # other initial weights, no SWA scheduler yet
    assert b.swa_scheduler is None
    torch.manual_seed(123)  # the RNG state travels with the checkpoint, whatever it is now
    b.load_state_dict(saved)
    _assert_same(b.state_dict(), saved)
    after_b = torch.rand(3)
    a.load_state_dict(_through_disk(saved))  # its own copy: loaded optimiser state is not copied by torch
    assert torch.equal(torch.rand(3), after_b)

    # Both continue the same way: another epoch of training and averaging at the same constant lr.
    for s in (a, b):
        _train(s, 2)
        s.average(None)
    _assert_same(a.state_dict(), b.state_dict())
    assert b.optimizer.param_groups[0]["lr"] == pytest.approx(0.005)


def test_a_state_saved_before_averaging_resumes_without_an_swa_scheduler():
    a = _state(0, swa=True, swa_start=3)
    _train(a, 2)
    saved = _through_disk(a.state_dict())
    assert saved["swa_scheduler"] is None and saved["swa_model"] is not None
    b = _state(1, swa=True, swa_start=3)
    b.load_state_dict(saved)
    assert b.swa_scheduler is None
    _assert_same(b.state_dict(), saved)


def test_old_checkpoint_without_running_loss_still_loads():
    saved = _through_disk(_state(0).state_dict())
    del saved["running"]
    b = _state(1)
    b.load_state_dict(saved)
    assert b.running == {"sum": 0.0, "count": 0}
