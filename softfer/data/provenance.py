"""Where a dataset comes from, as far as its files tell: softfer's synthetic benchmark leaves a marker.

The synthetic generator writes ``GROUND_TRUTH`` (the generating parameters of every clip or image) at the
root of each set it makes; real datasets never hold that file. The engine records the answer with a
trained model, so `softfer predict` can say that a model trained on cartoon faces is only for trying the
pipeline. The marker's name lives here, below both the generator and the engine.
"""

from __future__ import annotations

from pathlib import Path

GROUND_TRUTH = "softfer_ground_truth.csv"


def is_synthetic(root: str | Path | None) -> bool:
    """Whether the dataset at ``root`` was made by softfer's synthetic generator."""
    return bool(root) and (Path(root) / GROUND_TRUTH).is_file()
