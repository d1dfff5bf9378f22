"""Issue 14, engine side: `softfer cv` and `softfer reproduce` reuse a finished run only when it was trained
with the requested settings, and an unreadable metrics.json is one line naming it."""

import json
import shutil

import pytest

from softfer.config import load_config, packaged_configs
from softfer.studies.crossval import cross_validate
from softfer.studies.reproduce import _run_config
from tests.engine.conftest import tiny_config

DEMO_BASE = packaged_configs() / "demo" / "base.yaml"
ONE_EPOCH = {"optim.epochs": 1, "data.segments": 2}


@pytest.fixture(scope="module")
def dfew(tmp_path_factory):
    from softfer.data.synthetic.generate import generate_dfew

    root = tmp_path_factory.mktemp("reuse_dfew") / "dfew"
    generate_dfew(root, clips=60, size=32, seed=0, workers=1)
    return root


@pytest.fixture(scope="module")
def cv_done(tmp_path_factory, dfew):
    """Fold 1 cross-validated once; tests work on copies."""
    out = tmp_path_factory.mktemp("cv") / "cv"
    cross_validate(load_config(DEMO_BASE, tiny_config(dfew, out, **ONE_EPOCH)), folds=(1,))
    return out


def _snapshot(folder) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_cv_refuses_a_fold_trained_with_other_settings(dfew, cv_done, tmp_path):
    out = tmp_path / "cv"
    shutil.copytree(cv_done, out)
    before = _snapshot(out)
    changed = load_config(DEMO_BASE, tiny_config(dfew, out, **ONE_EPOCH, **{"optim.lr": 0.01}))
    with pytest.raises(ValueError) as err:
        cross_validate(changed, folds=(1,))
    message = str(err.value)
    assert "\n" not in message
    assert str(out / "fold_1") in message and "optim.lr: stored 0.001, requested 0.01" in message
    assert "--overwrite" in message
    assert _snapshot(out) == before  # nothing retrained, no config.yaml or summary rewritten
    # --overwrite trains the fold again with the requested settings
    cross_validate(changed, folds=(1,), overwrite=True)
    assert load_config(out / "fold_1" / "config.yaml").optim.lr == 0.01


def test_cv_reuses_a_fold_trained_with_the_same_settings(dfew, cv_done, tmp_path):
    out = tmp_path / "cv"
    shutil.copytree(cv_done, out)
    fold = _snapshot(out / "fold_1")
    same = load_config(DEMO_BASE, tiny_config(dfew, out, **ONE_EPOCH, **{"run.progress": "true"}))
    summary = cross_validate(same, folds=(1,))
    assert _snapshot(out / "fold_1") == fold  # reused, not retrained
    uar = json.loads((out / "fold_1" / "metrics.json").read_text())["uar"]
    assert summary["metrics"]["uar"]["mean"] == uar


def test_a_truncated_fold_metrics_json_is_one_line_naming_it(dfew, cv_done, tmp_path):
    out = tmp_path / "cv"
    shutil.copytree(cv_done, out)
    metrics = out / "fold_1" / "metrics.json"
    metrics.write_text(metrics.read_text()[:50])
    with pytest.raises(ValueError) as err:
        cross_validate(load_config(DEMO_BASE, tiny_config(dfew, out, **ONE_EPOCH)), folds=(1,))
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{metrics}: unreadable metrics.json")


def test_reproduce_reuses_a_shared_run_only_for_the_same_experiment(dfew, tmp_path):
    # A non-fold run (the cross-dataset path): rows of a table that share an experiment differ only in
    # their name and paper reference and share the run folder.
    cross = {**ONE_EPOCH, "data.test_format": "dfew", "data.test_root": str(dfew)}
    first = load_config(DEMO_BASE, tiny_config(dfew, tmp_path / "run", **cross))
    ours = _run_config(first, (1,))
    before = _snapshot(tmp_path / "run")
    row2 = load_config(
        DEMO_BASE, tiny_config(dfew, tmp_path / "run", **cross, name="row2", **{"reference.row": "b"})
    )
    assert _run_config(row2, (1,)) == ours
    assert _snapshot(tmp_path / "run") == before
    changed = load_config(
        DEMO_BASE, tiny_config(dfew, tmp_path / "run", **cross, **{"labels.mixing": "midas"})
    )
    with pytest.raises(ValueError) as err:
        _run_config(changed, (1,))
    assert "labels.mixing: stored 'none', requested 'midas'" in str(err.value)
    assert _snapshot(tmp_path / "run") == before
