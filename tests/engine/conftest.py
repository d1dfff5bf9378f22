"""Helpers of the engine tests (the tiny_dfew fixture is in tests/conftest.py)."""


def tiny_config(root, out, **over) -> list[str]:
    """Overrides turning the packaged demo/base.yaml into a seconds-long CPU run."""
    sets = {
        "data.root": str(root),
        "data.size": 32,
        "data.segments": 4,
        "model.options": "{width: 8, dropout: 0.5}",
        "optim.epochs": 2,
        "optim.batch_size": 4,
        "optim.name": "adam",
        "optim.lr": 0.001,
        "run.out_dir": str(out),
        "run.progress": "false",
    }
    sets.update(over)
    return [f"{k}={v}" for k, v in sets.items()]
