import numpy as np
import pytest
import torch
import torch.nn.functional as F

from softfer.engine.losses import (
    class_weights,
    cosine_loss,
    sample_weights,
    soft_cross_entropy,
    total_loss,
    weighted_l2,
)


def test_soft_ce_with_one_hot_equals_cross_entropy():
    torch.manual_seed(0)
    logits, y = torch.randn(6, 5), torch.tensor([0, 1, 4, 4, 2, 3])
    onehot = F.one_hot(y, 5).float()
    torch.testing.assert_close(soft_cross_entropy(logits, onehot), F.cross_entropy(logits, y))
    w = torch.tensor([1.0, 2.0, 0.5, 3.0, 1.5])
    # eq. 6 divides by N (not by the sum of weights as torch's weighted mean does); both weighting
    # modes agree on one-hot targets
    expected = F.cross_entropy(logits, y, weight=w, reduction="sum") / 6
    torch.testing.assert_close(soft_cross_entropy(logits, onehot, class_weights=w), expected)
    torch.testing.assert_close(soft_cross_entropy(logits, onehot, sample_weights=w[y]), expected)


def test_weight_modes_differ_on_soft_targets():
    logits = torch.zeros(1, 3)
    target = torch.tensor([[0.6, 0.4, 0.0]])
    w = torch.tensor([1.0, 10.0, 1.0])
    log3 = np.log(3)
    # the sample's class is 0: W=1
    assert float(soft_cross_entropy(logits, target, sample_weights=w[[0]])) == pytest.approx(log3)
    assert float(soft_cross_entropy(logits, target, class_weights=w)) == pytest.approx((0.6 + 4.0) * log3)


def test_soft_ce_hand_computed():
    logits = torch.log(torch.tensor([[0.5, 0.25, 0.25]]))
    target = torch.tensor([[0.6, 0.4, 0.0]])
    assert float(soft_cross_entropy(logits, target)) == pytest.approx(
        -(0.6 * np.log(0.5) + 0.4 * np.log(0.25))
    )


def test_class_weights_eq5():
    w = class_weights(np.array([0, 0, 0, 0, 1, 1, 2]), 4)
    torch.testing.assert_close(w, torch.tensor([1.0, 2.0, 4.0, 0.0]))


def test_cosine_and_l2():
    logits = torch.log(torch.tensor([[0.5, 0.5], [1.0, 1e-9]]))
    target = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    expected = (1 - 0.5 / np.sqrt(0.5)) / 2
    assert float(cosine_loss(logits, target)) == pytest.approx(expected, abs=1e-6)
    pred = torch.tensor([[0.1, 0.2], [0.5, 0.5], [0.0, 0.0]])
    true = torch.tensor([[0.0, 0.0], [float("nan"), float("nan")], [1.0, 1.0]])
    w = torch.tensor([2.0, 1.0, 1.0])
    assert float(weighted_l2(pred, true, w)) == pytest.approx((2 * 0.05 + 2.0) / 3)


def test_total_loss_sums_eq9_terms():
    logits = torch.randn(4, 3, requires_grad=True)
    target = torch.softmax(torch.randn(4, 3), 1)
    va_pred, va_true = torch.zeros(4, 2, requires_grad=True), torch.ones(4, 2) * 0.5
    loss, parts = total_loss(logits, target, cosine=True, va_pred=va_pred, va_true=va_true)
    assert float(loss.detach()) == pytest.approx(parts["ce"] + parts["cos"] + parts["l2"], rel=1e-5)
    loss.backward()
    assert logits.grad is not None and va_pred.grad is not None


def test_sample_weight_is_the_categorical_labels_not_the_targets_argmax():
    # Dual-domain Table 4, alpha = 0: the fused target is p_VA alone and often peaks at another class than
    # the sample's label. Eq. 6-8 weight the sample by its class: W_1 = 4 here, not W_0 = 1.
    w = class_weights(np.array([0, 0, 0, 0, 1]), 2)
    labels = torch.tensor([1])
    target = torch.tensor([[0.8, 0.2]])
    logits = torch.zeros(1, 2)
    va_pred, va_true = torch.zeros(1, 2), torch.full((1, 2), 0.5)
    _, parts = total_loss(
        logits, target, sample_w=sample_weights(w, labels), cosine=True, va_pred=va_pred, va_true=va_true
    )
    assert parts["ce"] == pytest.approx(4.0 * np.log(2))
    assert parts["cos"] == pytest.approx(4.0 * (1 - (0.8 * 0.5 + 0.2 * 0.5) / (np.sqrt(0.68) * np.sqrt(0.5))))
    assert parts["l2"] == pytest.approx(4.0 * 0.5)
    with pytest.raises(ValueError, match="class label"):
        sample_weights(w, torch.tensor([-1]))
