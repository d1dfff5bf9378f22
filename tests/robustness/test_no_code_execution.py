"""Issue 14, security: no file softfer reads can make it run code.

Each hostile file below would run ``Path(MARKER).touch()`` (a harmless stand-in for any command) if it
were unpickled or constructed: a checkpoint, a pretrained weights file, a frame cache entry, a config with
a Python YAML tag. The test asserts the clear refusal (or the rebuild) and that the marker never appears.
"""

import pathlib
import pickle

import numpy as np
import pytest
import torch

from softfer.config import load_config, packaged_configs
from softfer.data.datasets import ClipDataset
from softfer.inference.checkpoint import load_checkpoint
from softfer.models.pretrained import read_state_dict
from tests.robustness.test_engine_unreadable import _clip


class _Payload:
    """Unpickling this calls ``Path(marker).touch()``."""

    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def _hostile_torch_file(path: pathlib.Path, marker: pathlib.Path) -> None:
    torch.save({"model": {"w": torch.zeros(1)}, "config": {}, "x": _Payload(marker)}, path)


def test_a_hostile_checkpoint_is_refused_without_running_it(tmp_path):
    marker, ckpt = tmp_path / "ran", tmp_path / "last.pt"
    _hostile_torch_file(ckpt, marker)
    with pytest.raises(ValueError, match=r"last\.pt: refused: it holds code or Python objects") as err:
        load_checkpoint(ckpt)
    message = str(err.value)
    assert "corrupt" not in message and "truncated" not in message  # refused for safety, not damaged
    # never advise the unsafe load, nor allowlisting what the file names
    for advice in ("weights_only", "add_safe_globals", "safe_globals", "if you trust", "\x1b"):
        assert advice not in message, advice
    assert not marker.exists()


@pytest.mark.parametrize("how", ["torch", "pickle"])
def test_a_hostile_weights_file_is_refused_without_running_it(tmp_path, how):
    marker, weights = tmp_path / "ran", tmp_path / "resnet18.pth"
    if how == "torch":
        _hostile_torch_file(weights, marker)
    else:
        with weights.open("wb") as f:
            pickle.dump({"conv1.weight": torch.zeros(1), "x": _Payload(marker)}, f)
    with pytest.raises(ValueError, match=r"resnet18\.pth: not a safe checkpoint") as err:
        read_state_dict(weights)
    for advice in ("weights_only", "add_safe_globals", "can still be loaded", "if you trust", "\x1b"):
        assert advice not in str(err.value), advice
    assert not marker.exists()


def test_a_hostile_frame_cache_entry_is_rebuilt_without_running_it(tmp_path, caplog):
    rec = _clip(tmp_path / "c0")
    cache = tmp_path / "cache"
    expected = ClipDataset([rec], num_classes=3, train=False, size=16, segments=4, cache_dir=cache)[0]
    (entry,) = cache.iterdir()
    marker = tmp_path / "ran"
    np.save(entry, np.array([_Payload(marker)], dtype=object), allow_pickle=True)
    item = ClipDataset([rec], num_classes=3, train=False, size=16, segments=4, cache_dir=cache)[0]
    assert torch.equal(item["clips"], expected["clips"])
    assert "rebuilding" in caplog.text
    assert not marker.exists()


def test_a_python_yaml_tag_in_a_config_or_override_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "ran"
    tag = f"!!python/object/apply:pathlib.Path.touch [{str(marker)!r}]"
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(f"name: {tag}\n")
    with pytest.raises(ValueError, match=r"exp\.yaml"):
        load_config(cfg)
    with pytest.raises(ValueError, match="name"):
        load_config(packaged_configs() / "demo" / "base.yaml", [f"name={tag}"])
    assert not marker.exists()
