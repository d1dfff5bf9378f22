"""Issue 16: `softfer compare` end to end on the synthetic benchmark, its statistics checked against an
independent SciPy computation on the same per-run numbers, and reuse like `softfer cv`."""

import csv
import json
from itertools import combinations

import numpy as np
import pytest
from scipy import stats as sps

from softfer.cli import main
from softfer.engine import compare as compare_module
from softfer.engine.compare import compare_configs
from softfer.plots.compare import paired_runs_figure

CONFIGS = ["demo/hard.yaml", "demo/soft.yaml", "demo/midas.yaml"]
NAMES = ["demo-hard", "demo-soft", "demo-midas"]


def _tiny(root) -> list[str]:
    return [
        f"data.root={root}",
        "data.size=32",
        "data.segments=4",
        "model.options={width: 8, dropout: 0.5}",
        "optim.epochs=1",
        "optim.batch_size=4",
        "run.progress=false",
    ]


@pytest.fixture(scope="module")
def compared(tiny_dfew, tmp_path_factory):
    out = tmp_path_factory.mktemp("compare") / "cmp"
    summary = compare_configs(CONFIGS, folds=(1, 2), seeds=(0, 1), out=out, overrides=_tiny(tiny_dfew))
    return out, summary


def _runs(out) -> dict[str, dict[tuple[int, int], dict[str, float]]]:
    table: dict = {}
    with (out / "runs.csv").open(newline="") as f:
        for r in csv.DictReader(f):
            table.setdefault(r["config"], {})[(int(r["fold"]), int(r["seed"]))] = r
    return table


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
    runs = _runs(out)
    pairs = [(1, 0), (1, 1), (2, 0), (2, 1)]
    values = {n: np.array([float(runs[n][p][metric]) for p in pairs]) for n in NAMES}
    entry = summary["metrics"][metric]
    for n in NAMES:
        v = values[n]
        got = entry["per_config"][n]
        assert got["mean"] == pytest.approx(v.mean(), abs=1e-6)
        if v.std() > 0:
            low, high = sps.t.interval(0.95, len(v) - 1, loc=v.mean(), scale=sps.sem(v))
            assert (got["ci_low"], got["ci_high"]) == pytest.approx((low, high), abs=1e-6)
    higher = metric in ("uar", "war")
    for (a, b), got in zip(combinations(NAMES, 2), entry["pairs"], strict=True):
        assert (got["a"], got["b"]) == (a, b)
        d = values[b] - values[a]
        assert got["mean_diff"] == pytest.approx(d.mean(), abs=1e-6)
        if np.any(np.abs(d) > 1e-9):
            p = sps.permutation_test((d,), np.mean, permutation_type="samples", n_resamples=np.inf).pvalue
            assert got["p_value"] == pytest.approx(p, abs=1e-6)
        if d.std() > 0:
            ci = sps.ttest_rel(values[b], values[a]).confidence_interval(0.95)
            assert (got["ci_low"], got["ci_high"]) == pytest.approx((ci.low, ci.high), abs=1e-6)
        better = (d > 1e-9) if higher else (d < -1e-9)
        assert got["b_wins"] == int(better.sum())


def test_the_figure_draws_one_line_per_fold_and_seed_and_the_chance_level(compared):
    out, summary = compared
    rows = [
        {"config": n, "fold": f, "seed": s, **{k: float(v) for k, v in r.items() if k in ("uar", "war")}}
        for n, by in _runs(out).items()
        for (f, s), r in by.items()
    ]
    fig = paired_runs_figure(summary, rows)
    uar_ax = fig.axes[0]
    lines = [ln for ln in uar_ax.get_lines() if ln.get_gid() == "pair"]
    assert len(lines) == 4
    first = next(ln for ln in lines)
    assert len(first.get_ydata()) == 3
    assert any(
        ln.get_linestyle() == "--" and ln.get_ydata()[0] == pytest.approx(1 / 7) for ln in uar_ax.get_lines()
    )


def test_a_second_compare_reuses_every_run_and_refuses_changed_settings(
    compared, tiny_dfew, monkeypatch, capsys
):
    out, summary = compared

    def no_training(*args, **kw):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(compare_module, "fit", no_training)
    again = compare_configs(CONFIGS, folds=(1, 2), seeds=(0, 1), out=out, overrides=_tiny(tiny_dfew))
    assert again["metrics"]["uar"] == summary["metrics"]["uar"]
    argv = ["compare", *CONFIGS, "--folds", "1,2", "--seeds", "0,1", "--out", str(out)]
    for s in [*_tiny(tiny_dfew), "optim.lr=0.5"]:
        argv += ["--set", s]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "optim.lr" in err and "--overwrite" in err


def test_configs_must_share_the_test_set_and_have_distinct_names(tiny_dfew, tmp_path):
    with pytest.raises(ValueError, match="share the name"):
        compare_configs(["demo/hard.yaml", "demo/hard.yaml"], out=tmp_path, overrides=_tiny(tiny_dfew))
    with pytest.raises(ValueError, match="at least two"):
        compare_configs(["demo/hard.yaml"], out=tmp_path, overrides=_tiny(tiny_dfew))


def test_reproduce_reports_the_mean_and_interval_over_folds_and_seeds(tiny_dfew, tmp_path):
    from softfer.config import load_config, packaged_configs
    from softfer.engine.reproduce import _run_config

    cfg = load_config(
        packaged_configs() / "demo" / "hard.yaml", [*_tiny(tiny_dfew), f"run.out_dir={tmp_path / 'r'}"]
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
        assert (ours["uar"]["ci_low"], ours["uar"]["ci_high"]) == pytest.approx((low, high))
