"""The batch <-> model contract (engine.batch), checked for every registered model by hand."""

import numpy as np
import pytest
import torch

from softfer.inference.batch import as_input, batch_input, frames_input, split_output
from softfer.models import create_model, list_models, model_options, model_spec
from softfer.predict.pipeline import classify as _classify

SMALL = {"width": 8, "hidden": 16}


def _model(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    opts = {k: v for k, v in SMALL.items() if k in model_options(name)}
    return create_model(name, num_classes=5, **opts).eval()


def _frames(name: str, n: int = 2, t: int = 4, size: int = 16) -> np.ndarray:
    # Decoded frames as files give them: channels last, different values everywhere.
    shape = (n, t, size, size, 3) if model_spec(name).input_kind == "clip" else (n, size, size, 3)
    return np.random.default_rng(0).integers(0, 256, size=shape, dtype=np.uint8)


def _by_hand(frames: np.ndarray, mean, std) -> np.ndarray:
    # (pixel / 255 - mean_c) / std_c, channels moved in front of (H, W), in float64.
    x = (frames.astype(np.float64) / 255.0 - np.asarray(mean)) / np.asarray(std)
    return np.moveaxis(x, -1, -3)


@pytest.mark.parametrize("name", list_models())
def test_frames_input_is_channels_first_and_normalised_with_the_model_spec(name):
    spec = model_spec(name)
    frames = _frames(name)
    got = frames_input(_model(name), frames)
    np.testing.assert_allclose(got.numpy(), _by_hand(frames, spec.mean, spec.std), rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", list_models())
def test_frames_input_refuses_the_other_layout(name):
    clip = model_spec(name).input_kind == "clip"
    wrong = np.zeros((2, 16, 16, 3) if clip else (2, 4, 16, 16, 3), np.uint8)
    with pytest.raises(ValueError, match="takes clips" if clip else "takes images"):
        frames_input(_model(name), wrong)
    with pytest.raises(ValueError, match="float32"):
        frames_input(_model(name), _frames(name).astype(np.float32))


@pytest.mark.parametrize("name", list_models())
def test_predict_classify_is_softmax_of_the_model_on_hand_normalised_frames(name):
    spec, model = model_spec(name), _model(name)
    frames = _frames(name, n=3)
    x = torch.from_numpy(_by_hand(frames, spec.mean, spec.std)).float()
    with torch.no_grad():
        out = model(x)
    logits = out.logits if spec.has_va else out
    want = torch.softmax(logits, 1).numpy()
    got = _classify(model, list(frames), batch=2)  # two batches: 2 + 1
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
    np.testing.assert_allclose(got.sum(1), 1.0, atol=1e-6)


def test_batch_input_and_as_input_agree_with_frames_input():
    name = "tsm_r18"
    model = _model(name)
    frames = _frames(name)
    pixels = torch.from_numpy(frames).permute(0, 1, 4, 2, 3).contiguous()  # as a collated batch holds them
    ref = frames_input(model, frames)
    torch.testing.assert_close(batch_input(model, {"clips": pixels}, torch.device("cpu")), ref)
    torch.testing.assert_close(as_input(model, pixels), ref)
    assert as_input(model, ref) is ref  # already normalised input passes untouched


def test_split_output_separates_logits_and_va():
    model = _model("r18_affect")
    logits, va = split_output(model(torch.zeros(2, 3, 16, 16)))
    assert logits.shape == (2, 5) and va is not None and va.shape == (2, 2)
    plain = torch.ones(2, 5)
    assert split_output(plain)[0] is plain and split_output(plain)[1] is None


def test_bf16_on_a_cpu_without_native_bfloat16_warns_once(monkeypatch, caplog):
    """README walk: the paper configs' run.amp=bf16 trained 5x slower on a CPU, without a word."""
    from softfer.inference import batch

    batch._warn_slow_bf16.cache_clear()
    monkeypatch.setattr(batch, "native_cpu_bf16", lambda: False)
    cpu = torch.device("cpu")
    for amp in ("none", "bf16", "bf16"):
        with batch.autocast(cpu, amp):
            pass
    assert caplog.text.count("run.amp=bf16 on a CPU without native bfloat16") == 1
    batch._warn_slow_bf16.cache_clear()
    monkeypatch.setattr(batch, "native_cpu_bf16", lambda: True)
    caplog.clear()
    with batch.autocast(cpu, "bf16"):
        pass
    assert "bfloat16" not in caplog.text
