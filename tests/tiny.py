"""The smallest training settings that the study and report tests share: 32 px, 4 segments, width 8, one
epoch of batch 4 (as `--set` values, on top of a demo config)."""

TINY_TRAINING = [
    "data.size=32",
    "data.segments=4",
    "model.options={width: 8, dropout: 0.5}",
    "optim.epochs=1",
    "optim.batch_size=4",
    "run.progress=false",
]


def tiny_overrides(root) -> list[str]:
    """``TINY_TRAINING`` on the dataset at ``root``."""
    return [f"data.root={root}", *TINY_TRAINING]
