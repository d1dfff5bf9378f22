"""ClipTransform: torchvision crop sampling and resized crop, clip consistency, anti-aliasing, jitter."""

import numpy as np
import torch
from scipy import stats
from torchvision import transforms as tv1
from torchvision.transforms.v2 import functional as F

from softfer.data.transforms import (
    ClipTransform,
    eval_transform,
    random_resized_crop_box,
    train_transform,
)


def _gradient_frames(t=4, h=60, w=80):
    """Smooth, asymmetric content (a wrong crop origin or a transposed box changes it visibly)."""
    yy, xx = np.mgrid[0:h, 0:w]
    frame = np.stack([xx * 3 % 256, yy * 4 % 256, (xx + 2 * yy) % 256], axis=-1).astype(np.uint8)
    return np.stack([frame] * t)


def test_crop_box_sampling_matches_torchvision_random_resized_crop():
    # Asymmetric ranges on a non-square frame: swapped sides or offsets would show in the marginals.
    scale, ratio = (0.2, 0.6), (0.6, 1.5)
    rng = np.random.default_rng(0)
    ours = np.array([random_resized_crop_box(60, 80, scale, ratio, rng) for _ in range(3000)])
    torch.manual_seed(0)
    ref = np.array(
        [
            tv1.RandomResizedCrop.get_params(torch.empty(0, 60, 80), list(scale), list(ratio))
            for _ in range(3000)
        ]
    )
    for k, name in enumerate(("top", "left", "height", "width")):
        assert stats.ks_2samp(ours[:, k], ref[:, k]).pvalue > 1e-3, name
    # When no box fits, both fall back to the same central box.
    for height, width, fallback_ratio in ((100, 10, (2.0, 3.0)), (10, 100, (0.2, 0.4))):
        fallback = random_resized_crop_box(height, width, (0.9, 1.0), fallback_ratio, rng)
        expected = tv1.RandomResizedCrop.get_params(
            torch.empty(0, height, width), [0.9, 1.0], list(fallback_ratio)
        )
        assert fallback == expected


def test_train_crop_matches_torchvision_resized_crop_of_the_sampled_box():
    frames = _gradient_frames()
    tf = train_transform(48, scale=(0.3, 0.6), flip=False)
    for seed in range(10):
        ours = tf(frames, np.random.default_rng(seed))
        top, left, h, w = random_resized_crop_box(60, 80, (0.3, 0.6), (0.9, 1.1), np.random.default_rng(seed))
        ref = F.resized_crop(
            torch.from_numpy(frames).permute(0, 3, 1, 2), top, left, h, w, [48, 48], antialias=True
        )
        assert ours.shape == ref.shape == (4, 3, 48, 48) and ours.dtype == torch.uint8
        assert (ours.float() - ref.float()).abs().mean() < 2.0  # bilinear vs torchvision's bilinear


def test_flip_mirrors_every_frame_and_the_same_generator_reproduces_the_clip():
    frames = _gradient_frames(t=3)
    flipping = ClipTransform(24, train=True, scale=(1.0, 1.0), ratio=(4 / 3, 4 / 3))
    plain = ClipTransform(24, train=True, scale=(1.0, 1.0), ratio=(4 / 3, 4 / 3), flip=False)
    outs = [flipping(frames, np.random.default_rng(seed)) for seed in range(8)]
    reference = plain(frames, np.random.default_rng(0))  # the whole frame: no random box
    mirrored = [torch.equal(out, reference.flip(-1)) for out in outs]
    assert any(mirrored) and not all(mirrored)
    assert all(m or torch.equal(out, reference) for m, out in zip(mirrored, outs, strict=True))
    assert torch.equal(flipping(frames, np.random.default_rng(5)), outs[5])


def test_every_frame_of_a_clip_gets_the_same_crop_and_flip():
    frames = _gradient_frames(t=6)
    tf = train_transform(32, scale=(0.2, 0.5))
    outs = [tf(frames) for _ in range(20)]
    for out in outs:
        assert all(torch.equal(out[0], out[k]) for k in range(1, 6))
    assert len({o[0].float().mean().item() for o in outs}) > 10  # parameters do vary between calls


def test_eval_resizes_the_whole_frame_and_takes_no_random_draws():
    frames = _gradient_frames()
    state = torch.get_rng_state()
    out = eval_transform(40)(frames)
    assert torch.equal(state, torch.get_rng_state())
    ref = F.resize(torch.from_numpy(frames).permute(0, 3, 1, 2), [40, 40], antialias=True)
    assert (out.float() - ref.float()).abs().mean() < 2.0


def test_strong_shrinking_averages_instead_of_aliasing():
    checker = ((np.indices((96, 96)).sum(0) % 2) * 255).astype(np.uint8)
    frames = np.repeat(checker[None, :, :, None], 3, axis=-1)
    out = eval_transform(17)(frames).float()  # 5.6x: bilinear sampling would leave a std of ~40
    assert abs(out.mean().item() - 127.5) < 3 and out.std().item() < 3


def test_colour_jitter_and_affine_apply_to_the_whole_clip():
    frames = _gradient_frames(t=3)
    tf = ClipTransform(32, train=True, scale=(1.0, 1.0), flip=False, color_jitter=0.4, affine_degrees=10)
    torch.manual_seed(0)
    out = tf(frames)
    plain = ClipTransform(32, train=True, scale=(1.0, 1.0), flip=False)(frames)
    assert out.shape == (3, 3, 32, 32) and not torch.equal(out, plain)
    assert torch.equal(out[0], out[1]) and torch.equal(out[1], out[2])
    # a (T, 3, H, W) tensor input gives the same result as the (T, H, W, 3) array it views
    torch.manual_seed(1)
    a = tf(frames)
    torch.manual_seed(1)
    b = tf(torch.from_numpy(frames).permute(0, 3, 1, 2))
    assert torch.equal(a, b)
