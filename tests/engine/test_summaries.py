"""What cv and compare summaries carry and refuse: folds a format does not have, the spread of one fold,
the clear / ambiguous group scores, per-class recall, the name of the paired test, the clear threshold."""

import csv
import json

import numpy as np
import pytest

from softfer.config import load_config
from softfer.engine.evaluate import compute_metrics, summary_scalars
from softfer.engine.train import fit
from softfer.studies.compare import compare_configs
from softfer.studies.crossval import cross_validate, summarize, summary_markdown
from softfer.studies.stats_report import comparison_markdown, summarize_comparison
from tests.engine.conftest import tiny_config

DEMO = ("demo/hard.yaml", "demo/soft.yaml")


def _metrics(uar: float, clear_uar: float | None, recall: dict) -> dict:
    groups = None
    if clear_uar is not None:
        groups = {
            "threshold": 0.9,
            "clear": {"count": 3, "accuracy": clear_uar + 0.1, "uar": clear_uar},
            "ambiguous": {"count": 0, "accuracy": None, "uar": None},
        }
    return {"uar": uar, "war": uar, "per_class_recall": recall, "clear_vs_ambiguous": groups}


@pytest.mark.parametrize("fmt", ["ferv39k", "affectnet", "manifest"])
def test_several_folds_of_a_format_without_folds_are_refused_before_training(fmt, tmp_path):
    sets = [f"data.format={fmt}", f"data.root={tmp_path / 'nowhere'}"]
    with pytest.raises(ValueError, match="one fixed partition"):
        compare_configs(list(DEMO), folds=(1, 2), seeds=(0,), out=tmp_path / "cmp", overrides=sets)
    with pytest.raises(ValueError, match="one fixed partition"):
        cross_validate(load_config(DEMO[0], [*sets, f"run.out_dir={tmp_path / 'cv'}"]), folds=(1, 2, 3))
    assert not (tmp_path / "cmp").exists() and not (tmp_path / "cv").exists()


def test_a_fold_dfew_does_not_have_is_refused_before_training(tmp_path):
    with pytest.raises(ValueError, match=r"has folds 1,2,3,4,5, not \[6\]"):
        compare_configs(list(DEMO), folds=(1, 6), seeds=(0,), out=tmp_path / "cmp")
    assert not (tmp_path / "cmp").exists()


def test_one_fold_has_no_spread_rather_than_a_zero_one():
    summary = summarize({1: _metrics(0.5, None, {"a": 0.5, "b": None})})
    assert summary["metrics"]["uar"]["std"] is None
    assert summary["per_class_recall"]["a"] == {"mean": 0.5, "std": None}
    text = summary_markdown("x", summary)
    assert "+-" not in text.split("\n", 4)[-1]  # no spread is printed for the one fold


def test_cv_summary_averages_the_clear_and_ambiguous_group_scores():
    per_fold = {1: _metrics(0.4, 0.6, {"a": 1.0}), 2: _metrics(0.5, 0.8, {"a": 0.0})}
    m = summarize(per_fold)["metrics"]
    assert m["clear_uar"]["mean"] == pytest.approx(0.7)
    assert m["clear_accuracy"]["values"] == pytest.approx([0.7, 0.9])
    assert m["clear_uar"]["std"] == pytest.approx(np.std([0.6, 0.8], ddof=1))
    assert "ambiguous_uar" not in m  # no ambiguous clip in any fold: absent, not zero
    no_votes = summarize({1: _metrics(0.4, None, {"a": 1.0}), 2: _metrics(0.5, None, {"a": 0.0})})
    assert "clear_uar" not in no_votes["metrics"]


def _rows(n_seeds: int) -> list[dict]:
    rows = []
    for seed in range(n_seeds):
        for name, shift in (("A", 0.0), ("B", 0.05)):
            recall = {"happy": 0.5 + shift + 0.01 * seed, "fear": None if name == "A" else 0.2}
            row = {
                "config": name,
                "fold": 1,
                "seed": seed,
                **_metrics(0.4 + shift + 0.01 * seed, None, recall),
            }
            rows.append(row)
    return rows


def test_compare_summary_has_per_class_recall_means_and_absent_classes():
    s = summarize_comparison(_rows(3), configs=["A", "B"], folds=[1], seeds=[0, 1, 2], num_classes=7)
    assert s["per_class_recall"]["A"]["happy"] == pytest.approx(0.51)
    assert s["per_class_recall"]["B"]["happy"] == pytest.approx(0.56)
    assert s["per_class_recall"]["A"]["fear"] is None
    assert "clear_uar" not in s["metrics"]  # no run has votes: absent, not compared as 0
    assert "uar" in s["metrics"]
    text = comparison_markdown(s)
    assert "| A | 0.5100 | absent |" in text
    json.dumps(s)  # comparison.json takes it as it is


@pytest.mark.parametrize(("seeds", "exact"), [(16, True), (17, False)])
def test_the_reports_name_the_test_they_ran(seeds, exact):
    s = summarize_comparison(
        _rows(seeds), configs=["A", "B"], folds=[1], seeds=list(range(seeds)), num_classes=7
    )
    text = comparison_markdown(s)
    assert ("exact sign-flip" in text) == exact
    assert ("Monte Carlo" in text) != exact
    assert s["metrics"]["uar"]["pairs"][0]["test"] == s["test"]
    assert "Why this test" in text and "Wilcoxon" in text


def test_the_clear_threshold_of_the_config_splits_the_test_clips():
    soft = np.array([[0.95, 0.05], [0.8, 0.2], [0.6, 0.4], [0.3, 0.7]])
    pred = {
        "label": soft.argmax(1),
        "probs": soft,
        "soft": soft,
        "has_votes": np.ones(4, dtype=bool),
        "va_true": np.full((4, 2), np.nan),
        "va_pred": np.full((4, 2), np.nan),
    }
    for threshold, clear in ((0.9, 1), (0.7, 2), (0.5, 4)):  # a top share equal to it: ambiguous
        groups = compute_metrics(pred, ("a", "b"), clear_threshold=threshold)["clear_vs_ambiguous"]
        assert (groups["threshold"], groups["clear"]["count"]) == (threshold, clear)
        assert groups["ambiguous"]["count"] == 4 - clear


def test_a_run_scores_clear_clips_by_its_configs_threshold(tiny_dfew, tmp_path):
    sets = tiny_config(tiny_dfew, tmp_path / "run", **{"optim.epochs": 1, "data.clear_threshold": 0.55})
    fit(load_config("demo/base.yaml", sets))
    report = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert report["clear_vs_ambiguous"]["threshold"] == 0.55
    with (tmp_path / "run" / "predictions.csv").open() as f:
        flags = [row["has_votes"] for row in csv.DictReader(f)]
    assert flags.count("1") == report["num_vote_samples"] > 0  # which rows are voted, for `softfer analyze`


def test_comparison_md_says_how_many_clips_the_group_scores_rest_on():
    """README walk: the demo's clear_uar of 1.0 or 0.0 came from one clear clip, and comparison.md did not
    say so."""
    rows = []
    for seed, clear in ((0, 1), (1, 4)):
        for name in ("A", "B"):
            row = {"config": name, "fold": 1, "seed": seed, **_metrics(0.4, 1.0, {"happy": 0.5})}
            row["clear_vs_ambiguous"] = {**row["clear_vs_ambiguous"], "clear": {"count": clear, "uar": 1.0}}
            rows.append(summary_scalars(row))  # as compare's rows are
    s = summarize_comparison(rows, configs=["A", "B"], folds=[1], seeds=[0, 1], num_classes=7)
    assert s["group_clips"] == {"clear": [1, 4], "ambiguous": [0, 0]}
    assert "scored on 1-4 clear and 0 ambiguous test clips per run" in comparison_markdown(s)
    no_votes = summarize_comparison(_rows(2), configs=["A", "B"], folds=[1], seeds=[0, 1], num_classes=7)
    assert no_votes["group_clips"] is None and "test clips per run" not in comparison_markdown(no_votes)


def test_a_fold_whose_ccc_is_undefined_leaves_ccc_out_of_the_cv_summary():
    """Review: compute_metrics writes ccc null where a side is constant; summarize called float(None)."""
    folds = {
        k: {**_metrics(0.4 + k / 10, None, {"a": 1.0}), "rmse_valence": 0.3, "ccc_valence": c}
        for k, c in ((1, 0.5), (2, None))
    }
    m = summarize(folds)["metrics"]
    assert "ccc_valence" not in m and m["rmse_valence"]["mean"] == pytest.approx(0.3)
