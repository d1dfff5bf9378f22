"""Recipes as tables: every label method and mixing kind the config offers is one function and one entry."""

import typing
from pathlib import Path

import numpy as np
import pytest
import torch

from softfer.config import ExperimentConfig, LabelConfig
from softfer.data.records import Record
from softfer.engine import targets as engine_targets
from softfer.engine.mixer import MIXING_KINDS, Mixer
from softfer.engine.targets import LABEL_METHODS, training_targets


def _choices(field: str) -> set[str]:
    return set(typing.get_args(LabelConfig.model_fields[field].annotation))


def _records() -> list[Record]:
    soft = [np.array([0.6, 0.3, 0.1]), np.array([0.2, 0.2, 0.6])]
    return [
        Record(id=f"c{i}", path=Path(f"c{i}"), label=lab, soft=s)
        for i, (lab, s) in enumerate(zip([0, 2], soft, strict=True))
    ]


def _cfg(target: str) -> ExperimentConfig:
    cfg = ExperimentConfig(name="t")
    cfg.labels.target = target  # not validated on assignment: lets a test name a method the config lacks
    return cfg


def test_every_configurable_method_and_kind_has_exactly_one_entry():
    assert set(LABEL_METHODS) == _choices("target")
    assert set(MIXING_KINDS) == _choices("mixing")


def test_hard_and_soft_targets():
    hard = training_targets(_records(), _cfg("hard"), 3)
    np.testing.assert_array_equal(np.stack([r.soft for r in hard]), [[1, 0, 0], [0, 0, 1]])
    soft = training_targets(_records(), _cfg("soft"), 3)
    np.testing.assert_array_equal(soft[1].soft, [0.2, 0.2, 0.6])
    no_votes = [Record(id="x", path=Path("x"), label=1)]
    with pytest.raises(ValueError, match=r"labels\.target=soft needs soft labels"):
        training_targets(no_votes, _cfg("soft"), 3)


def test_a_new_label_method_is_one_entry(monkeypatch):
    seen = {}

    def uniform(records, cfg, num_classes, stats_labels):
        seen["stats_labels"] = stats_labels
        return [
            Record(id=r.id, path=r.path, label=r.label, soft=np.full(num_classes, 1 / num_classes))
            for r in records
        ]

    monkeypatch.setitem(engine_targets.LABEL_METHODS, "uniform", uniform)
    out = training_targets(_records(), _cfg("uniform"), 3, stats_labels=np.array([1, 1]))
    np.testing.assert_allclose(out[0].soft, [1 / 3] * 3)
    np.testing.assert_array_equal(seen["stats_labels"], [1, 1])
    with pytest.raises(ValueError, match="choose one of"):
        training_targets(_records(), _cfg("nonsense"), 3)


def test_mixer_refuses_an_unknown_kind_and_none_passes_the_batch_through():
    with pytest.raises(ValueError, match="choose one of"):
        Mixer(kind="cutmix")
    x, y, w = torch.randn(3, 2), torch.eye(3), torch.ones(3)
    mx, my, mw = Mixer(kind="none")(x, y, w, (0, 0, 0))
    assert mx is x and my is y and mw is w
    # label smoothing applies before any mixing: (1 - eps) y + eps / K
    _, smoothed, _ = Mixer(kind="none", smoothing=0.3)(x, y, w, (0, 0, 0))
    torch.testing.assert_close(smoothed, 0.7 * y + 0.1)
