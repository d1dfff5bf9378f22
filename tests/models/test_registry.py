import pickle

import pytest
import torch
from torchvision.models import ResNet18_Weights, resnet18
from torchvision.models.video import R3D_18_Weights, r3d_18

from softfer.models import create_model, list_models, model_spec
from softfer.models.pretrained import hub_weights


def test_registry_lists_the_paper_models():
    assert list_models() == [
        "fer_mini_xception",
        "r18_affect",
        "r18_gru",
        "r3d_18",
        "tsm_r18",
        "vgg13_ferplus",
    ]


def test_unknown_model_and_option():
    with pytest.raises(
        ValueError, match="registered models: fer_mini_xception, r18_affect, r18_gru, r3d_18, tsm_r18"
    ):
        create_model("resnet50")
    with pytest.raises(ValueError, match=r"does not accept \['width'\]; valid options"):
        create_model("r3d_18", width=16)


@pytest.mark.parametrize(
    ("name", "shape", "kw"),
    [
        ("tsm_r18", (2, 4, 3, 32, 32), {"width": 16}),
        ("r18_gru", (2, 4, 3, 32, 32), {"width": 16, "hidden": 32}),
        ("r3d_18", (2, 4, 3, 32, 32), {}),
        ("r18_affect", (2, 3, 32, 32), {"width": 16}),
    ],
)
def test_forward_backward_on_cpu(name, shape, kw):
    model = create_model(name, num_classes=5, **kw)
    out = model(torch.randn(shape))
    has_va = model_spec(name).has_va
    logits = out.logits if has_va else out
    assert logits.shape == (2, 5)
    loss = logits.sum()
    if has_va:
        assert out.va.shape == (2, 2) and out.va.abs().max() <= 1
        loss = loss + out.va.sum()
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


def test_r3d_loads_torchvision_kinetics_layout(tmp_path):
    src = r3d_18(num_classes=400)
    path = tmp_path / "r3d.pth"
    torch.save({"state_dict": src.state_dict()}, path)
    model = create_model("r3d_18", num_classes=7, pretrained=path)
    torch.testing.assert_close(model.net.stem[0].weight, src.stem[0].weight)


def test_pretrained_errors(tmp_path):
    # the setting, what it wants and the two ways out (README walk: only "file not found" was said)
    with pytest.raises(
        ValueError,
        match=r"model\.pretrained: .*nope\.pth is not a file; tsm_r18 starts from "
        r"ImageNet ResNet-18 weights .* 'hub' to download them .* or null",
    ):
        create_model("tsm_r18", pretrained=tmp_path / "nope.pth")
    wrong = tmp_path / "r3d.pth"
    torch.save(r3d_18().state_dict(), wrong)
    with pytest.raises(ValueError, match="another architecture: tsm_r18 takes ImageNet ResNet-18 weights"):
        create_model("tsm_r18", pretrained=wrong)
    narrow = tmp_path / "r18.pth"
    torch.save(resnet18().state_dict(), narrow)
    with pytest.raises(ValueError, match="another shape"):
        create_model("tsm_r18", width=32, pretrained=narrow)
    unsafe = tmp_path / "unsafe.pth"
    with unsafe.open("wb") as f:
        pickle.dump({"conv1.weight": torch.zeros(1), "obj": object()}, f)
    with pytest.raises(ValueError, match=r"not a safe checkpoint|not a readable"):
        create_model("tsm_r18", pretrained=unsafe)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=str(garbage.name)):
        create_model("tsm_r18", pretrained=garbage)


def test_safetensors_timm_style_file(tmp_path):
    from safetensors.torch import save_file

    state = {k: v.contiguous() for k, v in resnet18().state_dict().items()}
    path = tmp_path / "r18.safetensors"
    save_file(state, str(path))
    model = create_model("r18_affect", num_classes=8, pretrained=path)
    torch.testing.assert_close(model.backbone.conv1.weight, state["conv1.weight"])


def test_2d_resnet_file_for_r3d_names_the_weights_r3d_needs(tmp_path):
    # A tiny fake of torchvision's resnet18 layout: the stem and the two blocks of the last stage.
    fake = {
        "conv1.weight": torch.zeros(64, 3, 7, 7),
        "bn1.weight": torch.ones(64),
        "layer4.0.conv1.weight": torch.zeros(512, 256, 3, 3),
        "layer4.1.conv1.weight": torch.zeros(512, 512, 3, 3),
        "fc.weight": torch.zeros(1000, 512),
    }
    path = tmp_path / "resnet18_imagenet.pth"
    torch.save(fake, path)
    message = (
        f"{path}: weights of another architecture: r3d_18 takes Kinetics-400 R3D-18 weights "
        "(torchvision r3d_18-b3b3357e.pth or 'hub'), this file holds a 2-D ResNet-18"
    )
    with pytest.raises(ValueError) as err:
        create_model("r3d_18", num_classes=7, pretrained=path)
    assert str(err.value) == message
    # The same holds for a softfer checkpoint of a 2-D model (keys under "backbone.").
    torch.save({"model": {f"backbone.{k}": v for k, v in fake.items()}}, path)
    with pytest.raises(ValueError, match="this file holds a 2-D ResNet-18"):
        create_model("r3d_18", num_classes=7, pretrained=path)


def test_torchvision_r3d_state_dict_loads_into_r3d(tmp_path):
    src = r3d_18(weights=None)
    path = tmp_path / "r3d_18-b3b3357e.pth"
    torch.save(src.state_dict(), path)
    model = create_model("r3d_18", num_classes=7, pretrained=path)
    for key, value in src.state_dict().items():
        if not key.startswith("fc."):
            torch.testing.assert_close(model.net.state_dict()[key], value, rtol=0, atol=0)
    assert model.net.fc[1].out_features == 7


def test_hub_weights_follow_the_spec(tmp_path):
    assert hub_weights(model_spec("r3d_18").pretrained_kind) is R3D_18_Weights.KINETICS400_V1
    assert R3D_18_Weights.KINETICS400_V1.url.endswith("/r3d_18-b3b3357e.pth")
    for name in ("tsm_r18", "r18_gru", "r18_affect"):
        assert hub_weights(model_spec(name).pretrained_kind) is ResNet18_Weights.IMAGENET1K_V1
    assert ResNet18_Weights.IMAGENET1K_V1.url.endswith("/resnet18-f37072fd.pth")


def test_models_list_counts_each_model_at_its_own_input_size_and_names_the_shape():
    """Found (audit): every model was counted at 224 px, labelled "per image": the FER2013 CNN (64 px) at
    12x its cost, VGG13 FER+ (48 px) at 22x."""
    from rich.console import Console

    from softfer.models import list_models
    from softfer.models.registry import model_spec
    from softfer.models.summary import describe_models

    console = Console(width=400, record=True)
    console.print(describe_models(verbose=True, frames=2))
    lines = {line.split()[0]: line for line in console.export_text().splitlines() if line.strip()}
    for name in list_models():
        spec = model_spec(name)
        shape = f"{spec.channels}x{spec.input_size}x{spec.input_size}"
        assert (f"image ({shape})" if spec.input_kind == "image" else f"clip (2x{shape})") in lines[name]
