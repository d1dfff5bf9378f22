"""Settings that cannot be honoured fail when the run is built; data preparation follows the papers."""

import numpy as np
import pytest

from softfer.config import load_config, packaged_configs
from softfer.engine.data import build_data
from softfer.engine.train import fit, per_rank_batch
from tests.engine.conftest import tiny_config

DEMO_BASE = packaged_configs() / "demo" / "base.yaml"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (["run.select=val"], "run.select=val needs validation data"),
        (["optim.swa=true", "optim.swa_start=5", "optim.epochs=5"], "never averages"),
        (["data.test_format=afwe"], "data.test_format"),
        (["data.test_root=/x"], "data.test_format is not"),
        (["labels.mixing=midas", "optim.batch_size=1"], "optim.batch_size >= 2"),
        (["optim.epochs=0"], "optim.epochs"),
        (["optim.batch_size=0"], "optim.batch_size"),
        (["data.segments=0"], "data.segments"),
        (["data.max_skip=-0.1"], "data.max_skip"),
    ],
)
def test_settings_that_cannot_be_honoured_fail_at_load(override, message):
    with pytest.raises(ValueError, match=message):
        load_config(DEMO_BASE, override)


def test_global_batch_must_split_evenly_over_processes():
    assert per_rank_batch(8, 8) == 1
    with pytest.raises(ValueError, match="multiple of 16"):
        per_rank_batch(8, 16)  # today's floor-then-max(1) trained a global batch of 16 without a word


def test_va_loss_on_a_model_without_va_head_fails_before_training(tiny_dfew, tmp_path):
    cfg = load_config(DEMO_BASE, tiny_config(tiny_dfew, tmp_path / "run", **{"loss.va_l2": "true"}))
    with pytest.raises(ValueError, match=r"loss\.va_l2 needs a model with a valence/arousal head"):
        fit(cfg)
    assert not (tmp_path / "run" / "log.csv").exists()


def test_validation_is_carved_before_the_group_is_built(tiny_dfew, tmp_path):
    # MIDAS Table 6: a group of group_size training clips; oversampled duplicates never reach validation.
    sets = {
        "data.group": "clear",
        "data.group_size": 40,
        "data.val_fraction": 0.2,
        "data.clear_threshold": 0.5,
    }
    cfg = load_config(DEMO_BASE, tiny_config(tiny_dfew, tmp_path / "run", **sets))
    data = build_data(cfg)
    train_ids = {r.id for r in data.train.records}
    val_ids = {r.id for r in data.val.records}
    assert len(data.train) == 40
    assert not train_ids & val_ids
    assert len(val_ids) == len(data.val.records)


def test_class_weights_and_va_statistics_from_clean_or_noisy_labels(tmp_path):
    from softfer.data.synthetic.generate import generate_affectnet

    root = tmp_path / "affectnet"
    generate_affectnet(root, images=300, size=32, seed=0, workers=1)
    common = [f"data.root={root}", "data.label_noise=0.3", "model.pretrained=null"]
    base = packaged_configs() / "dual_domain" / "affectnet_euclid_noise30.yaml"
    noisy = build_data(load_config(base, [*common, "labels.stats_from=noisy"]))
    clean = build_data(load_config(base, [*common, "labels.stats_from=clean"]))
    # the model sees the same noisy labels either way
    np.testing.assert_array_equal(noisy.train_labels, clean.train_labels)
    clean_labels = np.array([r.meta["clean_label"] for r in clean.train.records])
    np.testing.assert_array_equal(clean.weight_labels, clean_labels)
    np.testing.assert_array_equal(noisy.weight_labels, noisy.train_labels)
    assert (clean_labels != noisy.train_labels).mean() == pytest.approx(0.3, abs=0.02)
    # the Euclidean labels come from centroids fitted on different labels, so the targets differ
    t_noisy = np.stack([r.soft for r in noisy.train.records])
    t_clean = np.stack([r.soft for r in clean.train.records])
    assert not np.allclose(t_noisy, t_clean)


def test_affwild_fused_labels_use_affectnet_statistics(tmp_path, monkeypatch):
    # Dual-domain 4.1 / 5.1: Aff-Wild borrows AffectNet's GMM; its VA-derived label is that posterior,
    # not a GMM refitted on the Aff-Wild training frames.
    from softfer.data.synthetic.layouts import build_smoke_tree
    from softfer.engine.targets import affectnet_stats
    from softfer.labels.affect import gmm_labels

    build_smoke_tree(tmp_path, size=32)
    monkeypatch.chdir(tmp_path)
    base = packaged_configs() / "dual_domain" / "affwild_gmm_noise0.yaml"
    cfg = load_config(base, ["labels.fusion_alpha=0.0", "model.pretrained=null"])
    data = build_data(cfg)
    va = np.stack([r.va for r in data.train.records])
    expected = gmm_labels(va, affectnet_stats(cfg.data))
    np.testing.assert_allclose(np.stack([r.soft for r in data.train.records]), expected, atol=1e-9)
    assert {r.id.split("/")[0] for r in data.train.records}.isdisjoint(
        {r.id.split("/")[0] for r in data.test.records}
    )


def test_affectnet_none_images_count_for_va_metrics_only(tmp_path, monkeypatch):
    # Dual-domain 4.1: 4,000 categorical and 4,500 dimensional validation images (code 8 "None" has VA).
    from softfer.data.synthetic.layouts import build_smoke_tree

    build_smoke_tree(tmp_path, size=32)
    monkeypatch.chdir(tmp_path)
    base = packaged_configs() / "dual_domain" / "affectnet_full_t2.yaml"
    data = build_data(load_config(base, ["model.pretrained=null"]))
    test_labels = np.array([r.label for r in data.test.records])
    none_rows = test_labels == -1
    assert none_rows.any() and all(data.test.records[i].va is not None for i in np.flatnonzero(none_rows))
    assert (data.train_labels >= 0).all()  # never trained on
