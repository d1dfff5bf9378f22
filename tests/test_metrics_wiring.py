"""Evaluation -> metrics.json: the ambiguity-aware keys of every run; vote metrics only where votes are."""

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import entropy
from sklearn.metrics import log_loss

from softfer import metrics
from softfer.engine.evaluate import (
    compute_metrics,
    metric_value_problems,
    predict,
    read_metrics,
    summary_scalars,
    write_metrics,
)
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


# --- metrics.json values: finite, in the range the metric table states ---


def _written(tmp_path, model) -> tuple[Path, dict]:
    """A metrics.json as evaluation writes it (votes, groups, counts, per-class recall), and its content."""
    pred = predict(
        model, _batches(True, [True, False, True, True, False, True, True, False]), torch.device("cpu")
    )
    report = compute_metrics(pred, CLASSES)
    report["skipped"] = {"count": 0, "ids": []}
    write_metrics(tmp_path / "metrics.json", report)
    return tmp_path / "metrics.json", json.loads((tmp_path / "metrics.json").read_text())


@pytest.mark.parametrize(
    ("edit", "said"),
    [
        (lambda m: m.update(uar=7.5), "out of range: uar = 7.5 (a number in [0, 1])"),  # cv printed 3.7500
        (lambda m: m.update(war=math.nan), "not a number: war = NaN"),  # cv printed nan
        (lambda m: m.update(nll=-0.5), "out of range: nll = -0.5 (a number >= 0)"),
        (lambda m: m.update(kl_to_votes=math.inf), "not a number: kl_to_votes = Infinity"),
        (lambda m: m.update(brier=2.5), "out of range: brier = 2.5 (a number in [0, 2])"),
        (lambda m: m.update(js_to_votes=0.7), "out of range: js_to_votes = 0.7 (a number in [0, 0.693147])"),
        (lambda m: m["clear_vs_ambiguous"]["ambiguous"].update(uar=1.5), "ambiguous_uar = 1.5"),
        (lambda m: m.update(num_samples=8.0), "not a count: num_samples = 8.0 (an integer >= 0)"),
        (lambda m: m.update(num_vote_samples=-1), "not a count: num_vote_samples = -1"),
        (
            lambda m: m["clear_vs_ambiguous"]["clear"].update(count=True),
            "clear_vs_ambiguous.clear.count = true",
        ),
        (lambda m: m["clear_vs_ambiguous"].update(threshold=9), "clear_vs_ambiguous.threshold = 9"),
        (
            lambda m: m["clear_vs_ambiguous"].pop("ambiguous"),
            "malformed: clear_vs_ambiguous.ambiguous = null",
        ),
        (lambda m: m["per_class_recall"].update(a=1.2), "out of range: per_class_recall.a = 1.2"),
        (lambda m: m["confusion_matrix"][1].__setitem__(2, -3), "not a count: confusion_matrix[1][2] = -3"),
        (lambda m: m["confusion_matrix"].pop(), "malformed: confusion_matrix = [["),
        (lambda m: m["skipped"].update(count="2"), 'not a count: skipped.count = "2"'),
        # another JSON written over it (found by audit: a calibration report; `report` showed no scores)
        (lambda m: (m.clear(), m.update(temperature=1.3)), "malformed: no uar, war"),
        (lambda m: m.pop("war"), "malformed: no war"),
        # audit 11 L17: a score edited within its range showed as the run's (report, cv, compare)
        (lambda m: m.update(uar=0.9), "inconsistent: uar = 0.9, the mean of per_class_recall is "),
        (lambda m: m.update(war=0.9), "inconsistent: war = 0.9, the confusion matrix gives "),
    ],
)
def test_a_metric_value_softfer_never_writes_is_refused_naming_the_file_and_key(model, tmp_path, edit, said):
    """Found (audit): a fold's "uar": 7.5 and "war": NaN passed (numbers), and `softfer cv` printed them."""
    path, written = _written(tmp_path, model)
    assert read_metrics(path) == written  # as written: accepted
    edit(written)
    path.write_text(json.dumps(written))
    with pytest.raises(ValueError, match=re.escape(f"{path}: not as softfer writes it (")) as caught:
        read_metrics(path)
    assert said in str(caught.value) and "delete it to evaluate the run again" in str(caught.value)


def test_nll_and_the_divergences_have_no_upper_bound_and_nulls_mean_not_measured(model, tmp_path):
    path, written = _written(tmp_path, model)
    written.update(nll=40.0, soft_cross_entropy=1e6, kl_to_votes=1e6, num_va_samples=0)
    written["clear_vs_ambiguous"]["clear"].update(count=0, accuracy=None, uar=None)  # an empty group
    written["per_class_recall"]["b"] = None  # a class the test set lacks: uar is the others' mean
    recalls = [v for v in written["per_class_recall"].values() if v is not None]
    written["uar"] = sum(recalls) / len(recalls)
    path.write_text(json.dumps(written))
    assert read_metrics(path)["nll"] == 40.0
    path.write_text(json.dumps({**written, "clear_vs_ambiguous": None, "kl_to_votes": None}))  # no votes
    assert read_metrics(path)["clear_vs_ambiguous"] is None


def test_every_metric_of_the_table_states_its_range_and_reports_stay_inside_it():
    from softfer.metric_table import METRIC_TABLE, MetricEntry

    with pytest.raises(TypeError, match="value_range"):  # a new entry without a range cannot be made
        MetricEntry("new_score", True, "a score")
    for m in METRIC_TABLE:
        lo, hi = m.value_range
        assert math.isfinite(lo) and lo < hi, m.name
    unbounded = {m.name for m in METRIC_TABLE if m.value_range[1] == math.inf}
    assert unbounded == {"nll", "soft_cross_entropy", "kl_to_votes", "rmse_valence", "rmse_arousal"}
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 60)
    votes = rng.dirichlet(np.ones(4) * 0.3, size=60)
    for probs in (rng.dirichlet(np.ones(4), 60), np.eye(4)[labels], np.eye(4)[(labels + 1) % 4]):
        report = summary_scalars(metrics.classification_report(probs, labels, soft_target=votes))
        assert metric_value_problems(report) == []  # perfect, worst and random predictions fit


def test_a_constant_valence_prediction_writes_a_null_ccc_not_nan(tmp_path):
    """torchmetrics' CCC is NaN when a side is constant: written as null, so the file reads back."""
    n = 6
    pred = {
        "probs": np.full((n, K), 1 / K),
        "label": np.arange(n) % K,
        "soft": np.full((n, K), 1 / K),
        "has_votes": np.ones(n, bool),
        "va_true": np.stack([np.linspace(-1, 1, n), np.linspace(1, -1, n)], 1),
        "va_pred": np.stack([np.zeros(n), np.linspace(1, -1, n) / 2], 1),
    }
    report = compute_metrics(pred, CLASSES)
    assert report["ccc_valence"] is None and report["ccc_arousal"] == pytest.approx(0.8)
    write_metrics(tmp_path / "metrics.json", report)
    assert read_metrics(tmp_path / "metrics.json")["ccc_valence"] is None
    # a file an earlier softfer wrote, with NaN for it, reads the same (review: it was refused)
    legacy = tmp_path / "legacy.json"
    legacy.write_text(json.dumps({**report, "ccc_valence": float("nan")}))
    assert read_metrics(legacy)["ccc_valence"] is None
