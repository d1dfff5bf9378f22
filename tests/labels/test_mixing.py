import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from softfer.labels import label_smoothing, midas, mixup, random_derangement


def _batch(b, five_d, seed=0):
    g = torch.Generator().manual_seed(seed)
    shape = (b, 3, 2, 4, 4) if five_d else (b, 2, 4, 4)
    x = torch.rand(shape, generator=g)
    y = torch.softmax(torch.randn(b, 7, generator=g), dim=1)
    return x, y


@settings(max_examples=60, deadline=None)
@given(
    b=st.integers(2, 33),
    seed=st.integers(0, 2**32 - 1),
    five_d=st.booleans(),
    norm=st.sampled_from(["softmax", "none"]),
)
def test_midas_properties(b, seed, five_d, norm):
    x, y = _batch(b, five_d)
    out = midas(x, y, alpha=0.4, normalize=norm, rng=seed)
    partner = out.partner
    assert (partner != torch.arange(b)).all(), "a clip was paired with itself"
    assert sorted(partner.tolist()) == list(range(b))  # a permutation
    lam = out.lam.view(-1, *([1] * (x.dim() - 1)))
    expected = lam * x + (1 - lam) * x[partner]
    assert torch.equal(out.inputs, expected)  # every frame, same lambda, exactly
    assert out.inputs.shape == x.shape
    assert torch.all(out.targets >= 0)
    torch.testing.assert_close(out.targets.sum(dim=1), torch.ones(b))
    raw = out.lam[:, None] * y + (1 - out.lam[:, None]) * y[partner]
    torch.testing.assert_close(out.targets, torch.softmax(raw, 1) if norm == "softmax" else raw)
    again = midas(x, y, alpha=0.4, normalize=norm, rng=seed)
    assert torch.equal(again.inputs, out.inputs) and torch.equal(again.targets, out.targets)


def test_midas_lambda_distribution_ks():
    x, y = _batch(2, False)
    rng = np.random.default_rng(123)
    lams = np.concatenate([midas(x, y, alpha=0.4, rng=rng).lam.numpy() for _ in range(10_000)])
    assert len(lams) == 20_000
    assert stats.kstest(lams, stats.beta(0.4, 0.4).cdf).pvalue > 0.01
    # ...and the test has power: the same draws are far from Beta(1, 1).
    assert stats.kstest(lams, stats.beta(1.0, 1.0).cdf).pvalue < 1e-6


def test_midas_with_hard_labels_and_errors():
    x, _ = _batch(4, True)
    onehot = torch.eye(7)[torch.tensor([0, 3, 3, 6])]
    out = midas(x, onehot, normalize="none", rng=0)
    torch.testing.assert_close(out.targets.sum(1), torch.ones(4))
    with pytest.raises(ValueError, match="at least 2"):
        midas(x[:1], onehot[:1])
    with pytest.raises(ValueError, match="floating point"):
        midas((x * 255).to(torch.uint8), onehot)
    with pytest.raises(ValueError, match="B=4"):
        midas(x, onehot[:3])


def test_derangement_has_no_fixed_point():
    for n in range(2, 50):
        d = random_derangement(n, n)
        assert (d != np.arange(n)).all() and sorted(d) == list(range(n))
    partners = np.array([random_derangement(5, s)[0] for s in range(2000)])
    counts = np.bincount(partners, minlength=5)
    assert counts[0] == 0 and counts[1:].min() > 400  # uniform over the other four


def test_classic_mixup_single_lambda_and_permutation():
    x, y = _batch(16, True)
    out = mixup(x, y, alpha=1.0, rng=5)
    assert torch.unique(out.lam).numel() == 1
    lam = float(out.lam[0])
    torch.testing.assert_close(out.inputs, lam * x + (1 - lam) * x[out.partner])
    torch.testing.assert_close(out.targets, lam * y + (1 - lam) * y[out.partner])
    self_pairs = sum(int((mixup(x, y, rng=s).partner == torch.arange(16)).any()) for s in range(50))
    assert self_pairs > 0  # classic mixup does not forbid self-pairs


def test_label_smoothing_closed_form():
    y = torch.eye(4)[[1]]
    torch.testing.assert_close(label_smoothing(y, 0.2), torch.tensor([[0.05, 0.85, 0.05, 0.05]]))
