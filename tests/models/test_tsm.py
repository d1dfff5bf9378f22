import pytest
import torch
from torchvision.models import resnet18

from softfer.models import create_model
from softfer.models.tsm import temporal_shift


def naive_shift(x, t, fold_div=8):
    """Per-frame reference written independently of the vectorised implementation."""
    bt, c, h, w = x.shape
    fold = c // fold_div
    clips = x.view(bt // t, t, c, h, w)
    out = torch.zeros_like(clips)
    for b in range(clips.shape[0]):
        for f in range(t):
            for ch in range(c):
                if ch < fold:
                    src = f + 1
                elif ch < 2 * fold:
                    src = f - 1
                else:
                    src = f
                if 0 <= src < t:
                    out[b, f, ch] = clips[b, src, ch]
    return out.view(bt, c, h, w)


@pytest.mark.parametrize("t", [1, 2, 3, 8])
@pytest.mark.parametrize("c", [4, 8, 13, 16, 64])
def test_shift_matches_naive_reference(t, c):
    x = torch.randn(2 * t, c, 3, 2)
    torch.testing.assert_close(temporal_shift(x, t), naive_shift(x, t), rtol=0, atol=0)


def test_shift_gradients_flow():
    x = torch.randn(2 * 4, 16, 2, 2, requires_grad=True)
    temporal_shift(x, 4).sum().backward()
    grad = x.grad.view(2, 4, 16, 2, 2)
    # Channels 0-1 of frame 0 are never read (frame t takes t+1), channels 2-3 of the last frame neither.
    assert (grad[:, 0, :2] == 0).all() and (grad[:, -1, 2:4] == 0).all()
    assert (grad[:, 1:, :2] == 1).all() and (grad[:, :, 4:] == 1).all()


def test_tsm_loads_torchvision_resnet18_and_matches_without_shift(tmp_path):
    torch.manual_seed(0)
    ref = resnet18(num_classes=1000).eval()
    # Non-trivial BN statistics so that the comparison exercises them.
    for m in ref.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    path = tmp_path / "resnet18.pth"
    torch.save(ref.state_dict(), path)
    model = create_model("tsm_r18", num_classes=7, pretrained=path).eval()
    model.set_shift(False)
    clips = torch.randn(2, 3, 3, 64, 64)
    with torch.no_grad():
        ours = model.frame_features(clips)
        frames = clips.flatten(0, 1)
        ref.fc = torch.nn.Identity()
        theirs = ref(frames).view(2, 3, -1)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    model.set_shift(True)
    with torch.no_grad():
        assert not torch.allclose(model.frame_features(clips), theirs)


def test_tsm_parameter_count_equals_resnet18_with_new_head():
    ours = sum(p.numel() for p in create_model("tsm_r18", num_classes=7).parameters())
    assert ours == sum(p.numel() for p in resnet18(num_classes=7).parameters())


def test_tsm_head_init_and_frame_averaging():
    model = create_model("tsm_r18", num_classes=7, width=16).eval()
    assert model.fc.bias.abs().max() == 0
    assert 0.0005 < model.fc.weight.std() < 0.0015
    clips = torch.randn(2, 4, 3, 32, 32)
    with torch.no_grad():
        per_frame = model.fc(model.frame_features(clips))
        torch.testing.assert_close(model(clips), per_frame.mean(1))
