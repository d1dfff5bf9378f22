"""A run started anew in a folder of an earlier run (``--overwrite``, a study's plan "overwrite") leaves
exactly what a run in a new folder leaves, plus the files softfer did not name; a resume removes nothing;
the model tested under run.select=val is the best checkpoint of this run, never one another run left."""

import logging
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from softfer.config import load_config, packaged_configs
from softfer.engine.state import TrainState
from softfer.engine.train import final_model, fit
from softfer.inference.checkpoint import save_checkpoint
from tests.engine.conftest import tiny_config

DEMO_BASE = packaged_configs() / "demo" / "base.yaml"
VAL = {"data.val_fraction": 0.3, "run.select": "val", "optim.epochs": 1, "data.segments": 2}
# the audit's second run: another seed and lr, stopped after one step (before any validation, no best.pt)
SHORT = {**VAL, "run.max_steps": 1, "run.seed": 5, "optim.lr": 0.05}
# what `eval`, `analyze`, `calibrate` and `report` leave in a run folder under their default names
LATER = ("analysis/analysis.md", "analysis/gradcam.png", "eval_dfew/metrics.json", "model_calibrated.pt")
USERS = ("notes.txt", "analysis/mine.txt", "eval_mine/metrics.json", "tensorboard/readme.txt")


def _cfg(root, out, sets):
    return load_config(DEMO_BASE, tiny_config(root, out, **sets))


def _files(folder: Path) -> set[str]:
    # TensorBoard's file names hold the time and process id: one name for every event file
    names = (str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    return {"tensorboard/EVENTS" if "tfevents" in n else n for n in names}


def _events(folder: Path) -> list[Path]:
    return sorted((folder / "tensorboard").glob("events.out.tfevents.*"))


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["model"]


@pytest.fixture(scope="module")
def earlier(tmp_path_factory, tiny_dfew):
    """A finished run that selected its best.pt on validation, then eval'd, analysed, calibrated, and
    the user's own files beside softfer's; tests work on copies."""
    run = tmp_path_factory.mktemp("earlier") / "run"
    fit(_cfg(tiny_dfew, run, VAL))
    for name in (*LATER, *USERS):
        (run / name).parent.mkdir(exist_ok=True)
        (run / name).write_bytes((run / "metrics.json").read_bytes())
    return run


def test_a_run_started_again_with_overwrite_leaves_only_its_own_files(tiny_dfew, earlier, tmp_path, caplog):
    run, fresh = tmp_path / "run", tmp_path / "fresh"
    shutil.copytree(earlier, run)
    first_events = _events(run)
    with caplog.at_level(logging.WARNING, logger="softfer.engine.outputs"):
        again = fit(_cfg(tiny_dfew, run, SHORT), overwrite=True)
    reference = fit(_cfg(tiny_dfew, fresh, SHORT))  # the same run in a new folder
    # the model tested and saved is the new run's own, not the earlier run's best.pt
    assert again["ece"] == reference["ece"] and again["confusion_matrix"] == reference["confusion_matrix"]
    new, ref = _weights(run / "model.pt"), _weights(fresh / "model.pt")
    assert all(torch.equal(new[k], ref[k]) for k in ref)
    # nothing of the earlier run stands beside it: the folder holds what a new folder holds, plus the
    # files softfer did not name
    assert _files(run) - set(USERS) == _files(fresh)
    assert all((run / name).is_file() for name in USERS)
    assert not (run / "eval_dfew").exists() and len(_events(run)) == 1
    assert not set(first_events) & set(_events(run))  # the earlier run's curves are gone
    removed = [r.getMessage() for r in caplog.records if "removed" in r.getMessage()]
    assert len(removed) == 1  # one line: how many, the first few by name (the folder check above: which)
    assert "removed its 15 files: log.csv, last.pt, best.pt, model.pt" in removed[0]
    assert "notes.txt" not in removed[0] and "mine.txt" not in removed[0]


def test_a_resume_removes_nothing(tiny_dfew, earlier, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(earlier, run)
    before = _files(run)
    fit(_cfg(tiny_dfew, run, VAL), resume=str(run / "last.pt"), overwrite=True)
    assert _files(run) == before  # best.pt, analyses, eval folders and event files all kept


def _training(run_dir: Path, best: dict) -> SimpleNamespace:
    # What final_model reads of a built run: state, cfg.run.select, data.val, run_dir
    cfg = load_config(DEMO_BASE, ["run.select=val", "data.val_fraction=0.3"])
    state = TrainState.create(torch.nn.Linear(3, 2), cfg.optim, torch.device("cpu"), "none")
    state.best = best
    return SimpleNamespace(state=state, cfg=cfg, data=SimpleNamespace(val=[0]), run_dir=run_dir)


def test_final_model_tests_only_a_best_pt_this_run_wrote(tmp_path):
    other = torch.nn.Linear(3, 2)
    torch.nn.init.constant_(other.weight, 7.0)
    written = {"model": other.state_dict(), "config": {}, "best": {"uar": 0.9, "epoch": 3}}
    save_checkpoint(written, tmp_path / "best.pt")
    # no best recorded in this run (stopped before validating), or another best: its own last weights
    for best in ({"uar": -1.0, "epoch": -1}, {"uar": 0.5, "epoch": 1}):
        t = _training(tmp_path, best)
        mine = {k: v.clone() for k, v in t.state.model.state_dict().items()}
        tested = final_model(t).state_dict()
        assert all(torch.equal(tested[k], mine[k]) for k in mine)
    # the best.pt of this run's recorded best
    t = _training(tmp_path, {"uar": 0.9, "epoch": 3})
    assert torch.equal(final_model(t).weight, other.weight)


def test_a_replacing_run_never_removes_an_input_or_a_linked_folders_files(tiny_dfew, earlier, tmp_path):
    """Review: model.pretrained=RUN/model_calibrated.pt was deleted by the new run it started, and a
    linked RUN/analysis lost the files of the folder it links to."""
    run = tmp_path / "run"
    shutil.copytree(earlier, run)
    calibrated = (run / "model_calibrated.pt").read_bytes()
    with pytest.raises(ValueError, match=r"model_calibrated\.pt is an input of this command"):
        fit(
            _cfg(tiny_dfew, run, {**SHORT, "model.pretrained": str(run / "model_calibrated.pt")}),
            overwrite=True,
        )
    assert (run / "model_calibrated.pt").read_bytes() == calibrated and (run / "best.pt").is_file()
    shared = tmp_path / "shared_analysis"
    shutil.move(run / "analysis", shared)
    (run / "analysis").symlink_to(shared)
    fit(_cfg(tiny_dfew, run, SHORT), overwrite=True)
    assert (shared / "analysis.md").is_file() and (shared / "gradcam.png").is_file()
