"""Issue 16: `softfer compare` end to end on the synthetic benchmark, its statistics checked against an
independent SciPy computation on the same per-run numbers, and reuse like `softfer cv`."""

import csv
import json
from itertools import combinations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.container import ErrorbarContainer
from scipy import stats as sps

from softfer.cli import main
from softfer.config import load_config
from softfer.metric_table import metric_range
from softfer.plots.compare import paired_runs_figure
from softfer.studies import launch as launch_module
from softfer.studies.compare import check_comparable, compare_configs
from tests.tiny import tiny_overrides

CONFIGS = ["demo/hard.yaml", "demo/soft.yaml", "demo/midas.yaml"]
NAMES = ["demo-hard", "demo-soft", "demo-midas"]


@pytest.fixture(scope="module")
def compared(tiny_dfew, tmp_path_factory):
    out = tmp_path_factory.mktemp("compare") / "cmp"
    tiny = tiny_overrides(tiny_dfew)
    summary = compare_configs(CONFIGS, folds=(1, 2), seeds=(0, 1), out=out, overrides=tiny)
    return out, summary


def _tick_labels(ticks) -> list[str]:
    return [t.get_text() for t in ticks]


def _runs(out) -> dict[str, dict[tuple[int, int], dict[str, float]]]:
    table: dict = {}
    with (out / "runs.csv").open(newline="") as f:
        for r in csv.DictReader(f):
            table.setdefault(r["config"], {})[(int(r["fold"]), int(r["seed"]))] = r
    return table


def _unrounded(out) -> dict[str, dict[tuple[int, int], dict[str, float]]]:
    """Every run's metrics as its metrics.json holds them: runs.csv rounds to 6 decimals, and an interval
    recomputed from rounded values can be more than 1e-6 off the tool's."""
    return {
        name: {
            (f, s): json.loads((out / name / f"fold_{f}_seed_{s}" / "metrics.json").read_text())
            for f, s in by
        }
        for name, by in _runs(out).items()
    }


def test_every_config_runs_on_every_fold_and_seed(compared):
    out, summary = compared
    runs = _runs(out)
    assert sorted(runs) == sorted(NAMES)
    for name in NAMES:
        assert sorted(runs[name]) == [(1, 0), (1, 1), (2, 0), (2, 1)]
        for fold, seed in runs[name]:
            metrics = json.loads((out / name / f"fold_{fold}_seed_{seed}" / "metrics.json").read_text())
            assert float(runs[name][(fold, seed)]["uar"]) == pytest.approx(metrics["uar"], abs=1e-6)
    assert summary["folds"] == [1, 2] and summary["seeds"] == [0, 1]
    assert "folds 1,2 x seeds 0,1" in (out / "comparison.md").read_text()
    assert json.loads((out / "comparison.json").read_text())["grid"] == "folds 1,2 x seeds 0,1"


@pytest.mark.parametrize("metric", ["uar", "war", "nll", "ece"])
def test_statistics_match_an_independent_scipy_computation(compared, metric):
    out, summary = compared
    runs = _unrounded(out)
    pairs = [(1, 0), (1, 1), (2, 0), (2, 1)]
    values = {n: np.array([runs[n][p][metric] for p in pairs]) for n in NAMES}
    entry = summary["metrics"][metric]
    # scipy cannot compute an interval without spread or a test without differences: those cases are
    # checked against their closed forms, and each kind must meet scipy at least once per metric
    by_scipy = {"config interval": 0, "pair p-value": 0, "pair interval": 0}
    for n in NAMES:
        v = values[n]
        got = entry["per_config"][n]
        assert got["mean"] == pytest.approx(v.mean(), abs=1e-6)
        if v.std() > 0:
            low, high = sps.t.interval(0.95, len(v) - 1, loc=v.mean(), scale=sps.sem(v))
            lo, hi = metric_range(metric)  # an interval past the metric's range is cut at it
            assert (got["ci_low"], got["ci_high"]) == pytest.approx((max(low, lo), min(high, hi)), abs=1e-6)
            assert got["ci_cut"] == (low < lo or high > hi)
            by_scipy["config interval"] += 1
        else:  # no spread: the interval is the mean itself
            assert (got["ci_low"], got["ci_high"]) == pytest.approx((v.mean(), v.mean()), abs=1e-6)
    higher = metric in ("uar", "war")
    for (a, b), got in zip(combinations(NAMES, 2), entry["pairs"], strict=True):
        assert (got["a"], got["b"]) == (a, b)
        d = values[b] - values[a]
        assert got["mean_diff"] == pytest.approx(d.mean(), abs=1e-6)
        if np.any(np.abs(d) > 1e-9):
            p = sps.permutation_test((d,), np.mean, permutation_type="samples", n_resamples=np.inf).pvalue
            assert got["p_value"] == pytest.approx(p, abs=1e-6)
            by_scipy["pair p-value"] += 1
        else:  # identical in every run: nothing to test, p = 1
            assert got["p_value"] == 1.0 and got["ties"] == len(d)
        if d.std() > 0:
            ci = sps.ttest_rel(values[b], values[a]).confidence_interval(0.95)
            assert (got["ci_low"], got["ci_high"]) == pytest.approx((ci.low, ci.high), abs=1e-6)
            by_scipy["pair interval"] += 1
        else:  # a constant difference: the interval is that difference
            assert (got["ci_low"], got["ci_high"]) == pytest.approx((d.mean(), d.mean()), abs=1e-6)
        better = (d > 1e-9) if higher else (d < -1e-9)
        assert got["b_wins"] == int(better.sum())
    assert min(by_scipy.values()) >= 1, f"{metric}: not every statistic met scipy: {by_scipy}"


def _drawn_means(ax) -> dict[int, float]:
    """The mean markers of a comparison panel, by x position (config index)."""
    return {
        round(ln.get_xdata()[0]): float(ln.get_ydata()[0]) for ln in ax.get_lines() if ln.get_gid() == "mean"
    }


def _drawn_intervals(ax) -> dict[int, tuple[float, float]]:
    """The interval bars of a comparison panel, by x position: (low, high) of each vertical segment."""
    bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    segments = [seg for c in bars for seg in c.lines[2][0].get_segments()]
    return {round(seg[0][0]): (float(min(seg[:, 1])), float(max(seg[:, 1]))) for seg in segments}


def test_the_figure_draws_the_runs_means_intervals_values_and_the_chance_level(compared):
    out, summary = compared
    runs = _unrounded(out)
    rows = [
        {"config": n, "fold": f, "seed": s, **{k: v for k, v in r.items() if k in ("uar", "war")}}
        for n, by in runs.items()
        for (f, s), r in by.items()
    ]
    fig = paired_runs_figure(summary, rows)
    assert len(fig.axes) == 2
    for ax, metric, label in zip(fig.axes, ("uar", "war"), ("UAR", "WAR"), strict=True):
        lines = [ln for ln in ax.get_lines() if ln.get_gid() == "pair"]
        assert len(lines) == 4 and all(len(ln.get_ydata()) == 3 for ln in lines)
        assert ax.get_ylabel() == label
        assert _tick_labels(ax.get_xticklabels()) == NAMES
        stats = summary["metrics"][metric]["per_config"]
        runs_mean = [np.mean([r[metric] for r in runs[n].values()]) for n in NAMES]
        means = _drawn_means(ax)
        assert [means[i] for i in range(3)] == pytest.approx(runs_mean, abs=1e-6)
        assert [means[i] for i in range(3)] == pytest.approx([stats[n]["mean"] for n in NAMES])
        intervals = _drawn_intervals(ax)
        want = [bound for n in NAMES for bound in (stats[n]["ci_low"], stats[n]["ci_high"])]
        assert [bound for i in range(3) for bound in intervals[i]] == pytest.approx(want)
        texts = {round(t.xy[0]): t.get_text() for t in ax.texts}
        assert texts == {i: f"{stats[n]['mean']:.3f}" for i, n in enumerate(NAMES)}
        chance = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
        if metric == "uar":
            assert len(chance) == 1 and list(chance[0].get_ydata()) == pytest.approx([1 / 7, 1 / 7])
        else:  # WAR has no chance level that holds for every class balance
            assert not chance
    plt.close(fig)


def test_a_second_compare_reuses_every_run_and_refuses_changed_settings(
    compared, tiny_dfew, monkeypatch, capsys
):
    out, summary = compared

    def no_training(*args, **kw):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(launch_module, "fit", no_training)
    again = compare_configs(CONFIGS, folds=(1, 2), seeds=(0, 1), out=out, overrides=tiny_overrides(tiny_dfew))
    assert again["metrics"]["uar"] == summary["metrics"]["uar"]
    argv = ["compare", *CONFIGS, "--folds", "1,2", "--seeds", "0,1", "--out", str(out)]
    for s in [*tiny_overrides(tiny_dfew), "optim.lr=0.5"]:
        argv += ["--set", s]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "optim.lr" in err and "--overwrite" in err


def test_configs_need_distinct_names_and_at_least_two(tiny_dfew, tmp_path):
    tiny = tiny_overrides(tiny_dfew)
    with pytest.raises(ValueError, match="share the name"):
        compare_configs(["demo/hard.yaml", "demo/hard.yaml"], out=tmp_path, overrides=tiny)
    with pytest.raises(ValueError, match="at least two"):
        compare_configs(["demo/hard.yaml"], out=tmp_path, overrides=tiny)


@pytest.mark.parametrize(
    ("other", "named"),
    [
        (["data.test_split=train"], "'train'"),
        (["data.num_classes=8"], ", 8)"),
        (["data.root=/elsewhere"], "'/elsewhere'"),
        (["data.test_format=ferv39k"], "('ferv39k', '/data/dfew'"),
        (["data.test_format=afew", "data.test_root=/data/afew"], "('afew', '/data/afew'"),
    ],
)
def test_configs_that_test_on_different_sets_are_refused(other, named):
    shared = ["data.root=/data/dfew"]
    hard = load_config("demo/hard.yaml", shared)
    soft = load_config("demo/soft.yaml", [*shared, *other])
    with pytest.raises(ValueError, match="one test set") as refused:
        check_comparable([hard, soft])
    message = str(refused.value)
    assert named in message and "demo-soft" in message and "demo-hard" in message
    assert "('dfew', '/data/dfew', 'test', 7)" in message  # the first config's test set, for comparison


def test_configs_that_test_on_one_set_are_accepted():
    shared = ["data.root=/data/dfew"]
    hard = load_config("demo/hard.yaml", shared)
    # naming the training format as the test format, on the same root, is the same test set
    soft = load_config("demo/soft.yaml", [*shared, "data.test_format=dfew"])
    midas = load_config("demo/midas.yaml", shared)
    assert check_comparable([hard, soft, midas]) is None


def test_reproduce_reports_the_mean_and_interval_over_folds_and_seeds(tiny_dfew, tmp_path):
    from softfer.config import load_config, packaged_configs
    from softfer.studies.reproduce import _run_config

    cfg = load_config(
        packaged_configs() / "demo" / "hard.yaml", [*tiny_overrides(tiny_dfew), f"run.out_dir={tmp_path}/r"]
    )
    ours = _run_config(cfg, (1, 2), (0, 1))
    uars = [
        json.loads((tmp_path / run / f"fold_{k}" / "metrics.json").read_text())["uar"]
        for run in ("r", "r-seed1")
        for k in (1, 2)
    ]
    assert ours["uar"]["n"] == 4 and ours["uar"]["mean"] == pytest.approx(np.mean(uars))
    if np.std(uars) > 0:
        low, high = sps.t.interval(0.95, 3, loc=np.mean(uars), scale=sps.sem(uars))
    else:  # four equal values: scipy's interval is undefined (0/0); the interval is the value itself
        low = high = np.mean(uars)
    assert (ours["uar"]["ci_low"], ours["uar"]["ci_high"]) == pytest.approx((low, high))
