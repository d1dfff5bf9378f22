"""Evaluation -> metrics.json: the ambiguity-aware keys of every run; vote metrics only where votes are."""

import json

import numpy as np
import pytest
import torch
from scipy.stats import entropy
from sklearn.metrics import log_loss

from softfer.engine.evaluate import compute_metrics, predict, write_metrics
from softfer.models import create_model

K = 3
CLASSES = ("a", "b", "c")


def _batches(with_flag: bool, voted: list[bool]) -> list[dict[str, torch.Tensor]]:
    gen = torch.Generator().manual_seed(0)
    n = len(voted)
    labels = torch.tensor([i % K for i in range(n)])
    votes = torch.distributions.Dirichlet(torch.ones(K)).sample((n,))
    soft = torch.where(torch.tensor(voted)[:, None], votes, torch.nn.functional.one_hot(labels, K).float())
    batch = {
        "images": torch.randint(0, 256, (n, 3, 16, 16), generator=gen, dtype=torch.uint8),
        "label": labels,
        "soft": soft,
        "va": torch.full((n, 2), float("nan")),
        "index": torch.arange(n),
    }
    if with_flag:
        batch["has_votes"] = torch.tensor(voted)
    return [{k: v[: n // 2] for k, v in batch.items()}, {k: v[n // 2 :] for k, v in batch.items()}]


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return create_model("fer_mini_xception", num_classes=K).eval()


def test_every_run_reports_the_ambiguity_metrics_and_vote_metrics_of_voted_items(model, tmp_path):
    voted = [True, False, True, True, False, True, True, False]
    pred = predict(model, _batches(True, voted), torch.device("cpu"))
    np.testing.assert_array_equal(pred["has_votes"], voted)
    report = compute_metrics(pred, CLASSES)
    for key in ("uar", "war", "macro_f1", "ece", "nll", "brier", "ece_equal_mass", "aurc", "risk_coverage"):
        assert report[key] is not None, key
    assert report["nll"] == pytest.approx(log_loss(pred["label"], pred["probs"], labels=range(K)), rel=1e-6)
    mask = np.array(voted)
    assert report["num_vote_samples"] == mask.sum()
    kl = np.mean([entropy(q, p) for p, q in zip(pred["probs"][mask], pred["soft"][mask], strict=True)])
    assert report["kl_to_votes"] == pytest.approx(kl, rel=1e-5)
    groups = report["clear_vs_ambiguous"]
    assert groups["clear"]["count"] + groups["ambiguous"]["count"] == mask.sum()
    write_metrics(tmp_path / "metrics.json", report)  # every value is JSON
    assert json.loads((tmp_path / "metrics.json").read_text())["aurc"] == pytest.approx(report["aurc"])


def test_items_without_votes_or_without_the_flag_get_no_vote_metrics(model):
    for with_flag in (True, False):  # a dataset that does not say gets none either
        pred = predict(model, _batches(with_flag, [False] * 6), torch.device("cpu"))
        report = compute_metrics(pred, CLASSES)
        assert report["num_vote_samples"] == 0, with_flag
        for key in ("soft_cross_entropy", "kl_to_votes", "js_to_votes", "clear_vs_ambiguous"):
            assert report[key] is None, (with_flag, key)
        assert report["brier"] is not None and report["aurc"] is not None


def test_unlabelled_items_are_left_out_and_an_unlabelled_set_is_refused(model):
    pred = predict(model, _batches(True, [True] * 6), torch.device("cpu"))
    pred["label"][[1, 4]] = -1
    report = compute_metrics(pred, CLASSES)
    assert report["num_samples"] == 4 and report["num_vote_samples"] == 4
    pred["label"][:] = -1
    with pytest.raises(ValueError, match="none of the 6 items has a class label"):
        compute_metrics(pred, CLASSES)
