"""Issue 16: TensorBoard holds a run's test metrics, its hyperparameters (with those metrics) and its
figures, besides the per-epoch loss and lr; read back from the event files with TensorBoard's own reader."""

import io

import numpy as np
import pytest
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

from softfer.config import load_config, packaged_configs
from softfer.engine.logs import RunLog, hparam_values, metric_scalars
from softfer.plots import figures as plots

METRICS = {
    "uar": 0.5,
    "war": 0.625,
    "macro_f1": 0.4,
    "ece": 0.125,
    "num_samples": 8,
    "kl_to_votes": None,  # no votes: absent, not zero
    "per_class_recall": {"a": 1.0, "b": None, "c": 0.0},
    "confusion_matrix": [[2, 0, 0], [0, 0, 0], [1, 0, 0]],
    "risk_coverage": {"coverage": [0.5, 1.0], "risk": [0.0, 0.5]},
    "skipped": {"count": 1, "ids": ["x"]},
    "history": [{"epoch": 1, "train_loss": 9.0}],
}
SCALARS = {
    "test/uar": 0.5,
    "test/war": 0.625,
    "test/macro_f1": 0.4,
    "test/ece": 0.125,
    "test/num_samples": 8.0,
    "test/per_class_recall/a": 1.0,
    "test/per_class_recall/c": 0.0,
    "test/skipped/count": 1.0,
}


def test_metric_scalars_and_hparam_values_flatten_by_hand():
    assert {f"test/{k}": v for k, v in metric_scalars(METRICS).items()} == SCALARS
    config = {"name": "x", "optim": {"lr": 0.01, "epochs": 2, "nesterov": True}, "model": {"options": {}}}
    config["data"] = {"fold": None, "size": 32, "sizes": [1, 2]}
    assert hparam_values(config) == {
        "name": "x",
        "optim.lr": 0.01,
        "optim.epochs": 2,
        "optim.nesterov": "true",
        "model.options": "{}",
        "data.fold": "null",
        "data.size": 32,
        "data.sizes": "[1, 2]",
    }


def test_final_logs_test_scalars_hparams_and_figures(tmp_path):
    cfg = load_config(packaged_configs() / "demo" / "soft.yaml", ["optim.lr=0.0123", "name=tb-test"])
    config = cfg.model_dump(mode="json")
    plots.recall_png(METRICS["per_class_recall"], tmp_path / "per_class_recall.png")
    plots.confusion_matrix_png(
        np.array(METRICS["confusion_matrix"]), ("a", "b", "c"), tmp_path / "confusion_matrix.png"
    )
    logs = RunLog(tmp_path, "tb-test", epochs=2, total_steps=4, done_steps=0, rank=0, progress=False)
    with logs:
        for epoch in (1, 2):
            logs.epoch({"epoch": epoch, "train_loss": 1.0 / epoch, "lr": 0.1 / epoch})
    logs.final(METRICS, config)  # reliability.png was not written: skipped
    logs.close()

    acc = EventAccumulator(str(tmp_path / "tensorboard"), size_guidance={"images": 0})
    acc.Reload()
    tags = acc.Tags()
    assert {t for t in tags["scalars"] if t.startswith("test/")} == set(SCALARS)
    for tag, value in SCALARS.items():
        [event] = acc.Scalars(tag)
        assert (event.step, event.value) == (2, pytest.approx(value))  # at the last epoch
    assert [(e.step, e.value) for e in acc.Scalars("lr")] == [
        (1, pytest.approx(0.1)),
        (2, pytest.approx(0.05)),
    ]

    assert sorted(tags["images"]) == ["figures/confusion_matrix", "figures/per_class_recall"]
    for name in ("confusion_matrix", "per_class_recall"):
        [event] = acc.Images(f"figures/{name}")
        logged = np.asarray(Image.open(io.BytesIO(event.encoded_image_string)).convert("RGB"))
        on_disk = np.asarray(Image.open(tmp_path / f"{name}.png").convert("RGB"))
        np.testing.assert_array_equal(logged, on_disk)
        assert event.step == 2

    content = acc.PluginTagToContent("hparams")
    data = {tag: HParamsPluginData.FromString(raw) for tag, raw in content.items()}
    [start] = [d.session_start_info for d in data.values() if d.HasField("session_start_info")]
    assert start.hparams["optim.lr"].number_value == pytest.approx(0.0123)
    assert start.hparams["name"].string_value == "tb-test"
    assert start.hparams["model.name"].string_value == cfg.model.name
    assert set(start.hparams) == set(hparam_values(config))  # every config key, none dropped
    [experiment] = [d.experiment for d in data.values() if d.HasField("experiment")]
    metric_tags = {m.name.tag for m in experiment.metric_infos}
    assert metric_tags == {"test/uar", "test/war", "test/macro_f1", "test/ece", "test/num_samples"}


def test_other_ranks_and_empty_results_log_nothing(tmp_path):
    logs = RunLog(tmp_path, "r1", epochs=1, total_steps=1, done_steps=0, rank=1, progress=False)
    logs.final(METRICS, {"name": "r1"})
    logs.close()
    assert not (tmp_path / "tensorboard").exists()
    logs = RunLog(tmp_path, "r0", epochs=1, total_steps=1, done_steps=0, rank=0, progress=False)
    logs.final({}, {"name": "r0"})  # rank 0 of a run whose evaluation returned nothing
    logs.close()
    acc = EventAccumulator(str(tmp_path / "tensorboard"))
    acc.Reload()
    assert not acc.Tags()["scalars"]
    with pytest.raises(KeyError, match="hparams"):
        acc.PluginTagToContent("hparams")


def test_validation_scores_match_scikit_learn():
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, log_loss

    from softfer.engine.train import validation_scores

    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.ones(4), size=50)
    labels = np.r_[np.arange(4), rng.integers(0, 4, size=46)]  # every class present: UAR = balanced acc.
    scores = validation_scores(probs, labels, 4)
    assert scores["val_uar"] == pytest.approx(balanced_accuracy_score(labels, probs.argmax(1)))
    assert scores["val_war"] == pytest.approx(accuracy_score(labels, probs.argmax(1)))
    assert scores["val_nll"] == pytest.approx(log_loss(labels, probs, labels=range(4)))
    # one bin holds every clip when all confidences are equal: ECE = |accuracy - confidence|
    flat = np.full((4, 4), 0.25)
    assert validation_scores(flat, np.arange(4), 4)["val_ece"] == pytest.approx(0.0)
    sure = np.eye(4)[[0, 0, 0, 0]]
    assert validation_scores(sure, np.arange(4), 4)["val_ece"] == pytest.approx(0.75)


def test_a_training_run_logs_validation_uar_war_nll_ece_per_epoch_beside_loss_and_lr(tmp_path):
    from softfer.data.synthetic.generate import generate_dfew
    from softfer.engine.train import fit

    root = tmp_path / "dfew"
    generate_dfew(root, clips=40, size=16, seed=0, workers=1)
    cfg = load_config(
        packaged_configs() / "demo" / "hard.yaml",
        [
            f"data.root={root}",
            "data.size=16",
            "data.segments=2",
            "data.val_fraction=0.25",
            "model.options={width: 4, dropout: 0.0}",
            "optim.epochs=2",
            "optim.batch_size=8",
            "run.progress=false",
            f"run.out_dir={tmp_path / 'run'}",
        ],
    )
    history = fit(cfg)["history"]
    acc = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    acc.Reload()
    for tag in ("train_loss", "lr", "val_uar", "val_war", "val_nll", "val_ece"):
        events = acc.Scalars(tag)
        assert [e.step for e in events] == [1, 2], tag
        assert [e.value for e in events] == pytest.approx([h[tag] for h in history], rel=1e-6), tag
