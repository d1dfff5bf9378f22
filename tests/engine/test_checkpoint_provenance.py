"""Every checkpoint of a run says what it was trained on, so that predict's note is right for each."""

import torch

from softfer.config import load_config, packaged_configs
from softfer.engine.train import fit
from softfer.predict import Predictor
from softfer.predict.api import SYNTHETIC_NOTE
from tests.engine.conftest import tiny_config


def test_best_and_last_record_the_synthetic_benchmark_as_model_pt_does(tiny_dfew, tmp_path):
    """Found (audit): best.pt and last.pt held no trained_on, and predict with either described a model of
    the synthetic benchmark as "trained on dfew data"."""
    out = tmp_path / "run"
    fit(
        load_config(
            packaged_configs() / "demo" / "soft.yaml",
            tiny_config(tiny_dfew, out, **{"optim.epochs": 1, "data.val_fraction": 0.25}),
        )
    )
    for name in ("model.pt", "best.pt", "last.pt"):
        saved = torch.load(out / name, weights_only=False)
        assert saved["trained_on"] == {"format": "dfew", "synthetic": True}, name
        assert Predictor.from_checkpoint(out / name, threads=1).note == SYNTHETIC_NOTE, name
