import pickle

import pytest
import torch
from torchvision.models import resnet18
from torchvision.models.video import r3d_18

from softfer.models import create_model, list_models


def test_registry_lists_the_paper_models():
    assert list_models() == ["r18_affect", "r18_gru", "r3d_18", "tsm_r18"]


def test_unknown_model_and_option():
    with pytest.raises(ValueError, match="registered models: r18_affect, r18_gru, r3d_18, tsm_r18"):
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
    logits = out.logits if name == "r18_affect" else out
    assert logits.shape == (2, 5)
    loss = logits.sum()
    if name == "r18_affect":
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
    with pytest.raises(ValueError, match="not found"):
        create_model("tsm_r18", pretrained=tmp_path / "nope.pth")
    wrong = tmp_path / "r3d.pth"
    torch.save(r3d_18().state_dict(), wrong)
    with pytest.raises(ValueError, match="another architecture"):
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
