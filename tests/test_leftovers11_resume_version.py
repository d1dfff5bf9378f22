"""Leftover 10: a checkpoint made by a newer softfer, with a setting this one does not know, was refused on
resume as "trained with other settings" (a key against "missing") without saying which softfer made it:
read as an edit, not as a version mismatch. The resume refusal now names both versions, as loading a
checkpoint elsewhere does (``inference.loading.stored_config``)."""

import pytest
import torch

from softfer import __version__
from softfer.engine.train import fit
from tests.robustness import test_engine_resume as resume_tests
from tests.robustness.test_engine_resume import _cfg, _one_line_error

# the finished one-epoch run and its data, shared with the resume tests
finished = resume_tests.finished
tiny_dfew_module = resume_tests.tiny_dfew_module


def _newer(finished, tmp_path, made: str | None):
    saved = torch.load(finished / "last.pt", weights_only=True)
    saved["config"]["optim"]["lookahead_steps"] = 5  # a setting of a later softfer
    if made is None:
        del saved["fingerprint"]["code"]
    else:
        saved["fingerprint"]["code"]["softfer"] = made
    path = tmp_path / "newer.pt"
    torch.save(saved, path)
    return path


@pytest.mark.parametrize("made", ["99.0", None])
def test_resume_from_a_newer_softfers_checkpoint_names_the_versions(
    tiny_dfew_module,
    finished,
    tmp_path,
    made,
):
    path = _newer(finished, tmp_path, made)
    cfg = _cfg(tiny_dfew_module, tmp_path / "run", **{"optim.epochs": 1})
    message = _one_line_error(lambda: fit(cfg, resume=str(path)))
    assert str(path) in message and "optim.lookahead_steps" in message
    if made:
        assert f"made by softfer 99.0, this is softfer {__version__}: use 99.0" in message
    else:
        assert "made by another softfer version?" in message
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())


def test_a_setting_unknown_to_this_very_version_is_an_edit(tiny_dfew_module, finished, tmp_path):
    path = _newer(finished, tmp_path, __version__)
    cfg = _cfg(tiny_dfew_module, tmp_path / "run", **{"optim.epochs": 1})
    message = _one_line_error(lambda: fit(cfg, resume=str(path)))
    assert "optim.lookahead_steps" in message and "made by softfer" not in message
