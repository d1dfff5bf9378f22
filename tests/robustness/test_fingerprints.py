"""Issue 21, identity: nothing is reused, served or compared unless it provably came from the same inputs.

A walking test over every dataset format (the small trees of tests/data/test_format_table.py) checks that
the data fingerprint follows the labels, the items and the media of a split and nothing else; regression
tests hold each example of the issue: a frame cache shared by two copies of a dataset or by ids that
sanitise alike, `cv` reusing a fold whose test labels changed or a metrics.json copied from another fold,
`compare` pairing runs scored with two clear thresholds, and `eval` scoring a model on its own training
clips.
"""

import contextlib
import csv
import json
import os
import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from softfer.config import dump_config, load_config, packaged_configs
from softfer.data.datasets import ClipDataset
from softfer.data.fingerprint import data_changes, data_fingerprint, split_fingerprint
from softfer.data.formats import FORMATS
from softfer.data.records import Record, frame_index
from softfer.engine.runs import evaluate_checkpoint
from softfer.studies.compare import compare_configs
from softfer.studies.crossval import cross_validate, fold_config
from softfer.studies.stats_report import summarize_comparison
from tests.data.test_format_table import EXPECTED, _request, tree  # noqa: F401  (tree: a fixture)
from tests.engine.conftest import tiny_config

DEMO_BASE = packaged_configs() / "demo" / "base.yaml"
ONE_EPOCH = {"optim.epochs": 1, "data.segments": 2}


# --- every format: the data fingerprint follows labels, items and media, and nothing else --------------


def _split(name: str) -> tuple[str, bool]:
    return next(iter(EXPECTED[name])) if name in EXPECTED else ("train", False)


def _read(tree, name):  # noqa: F811
    split, test = _split(name)
    return FORMATS[name].read(_request(tree, name, split, test=test, allow_outside_root=True))


def _first_file(rec: Record):
    return rec.path / rec.frames[0] if rec.frames and rec.path.is_dir() else rec.path


def _changed(before, after) -> set[str]:
    return {k for k in ("count", "ids", "labels", "media") if before[k] != after[k]}


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_the_data_fingerprint_of_every_format_follows_labels_items_and_media(tree, name):  # noqa: F811
    records = _read(tree, name)
    assert len(records) >= 2
    before = split_fingerprint(records, name)
    # read again, nothing changed: the same fingerprint
    assert split_fingerprint(_read(tree, name), name) == before
    # a label changes (another class; and the votes where the format has them)
    k = len(FORMATS[name].classes)
    first = records[0]
    relabelled = [replace(first, label=(first.label + 1) % k), *records[1:]]
    assert _changed(before, split_fingerprint(relabelled, name)) == {"labels"}
    if first.soft is not None:
        revoted = [replace(first, soft=np.roll(first.soft, 1)), *records[1:]]
        assert _changed(before, split_fingerprint(revoted, name)) == {"labels"}
    # an item removed, an item added
    assert _changed(before, split_fingerprint(records[1:], name)) == {"count", "ids", "labels", "media"}
    added = [*records, replace(first, id=f"{first.id}_copy")]
    assert _changed(before, split_fingerprint(added, name)) == {"count", "ids", "labels", "media"}
    # a media file touched (mtime only), then grown by a byte at its old mtime: read from disk each time
    path = _first_file(first)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    touched = split_fingerprint(_read(tree, name), name)
    assert _changed(before, touched) == {"media"}
    with path.open("ab") as f:
        f.write(b"\0")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    grown = split_fingerprint(_read(tree, name), name)
    assert _changed(touched, grown) == {"media"}
    # and the change is named per split
    old, new = (data_fingerprint(name, {"train": ("a split", r)}) for r in (records, relabelled))
    assert data_changes(old, new) == ["the train split (a split): labels changed"]
    assert data_changes(old, old) == []


# --- the frame cache: keyed by where the clip is, what its files are and how it is decoded -------------


def _clip(folder, shade: int, n: int = 6, size: int = 24, rec_id: str | None = None) -> Record:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(np.full((size, size, 3), shade + 5 * i, np.uint8)).save(folder / f"f_{i:03d}.jpg")
    return Record(id=rec_id or folder.name, path=folder, label=1, frames=frame_index(folder))


def _clips(records, cache=None) -> list[torch.Tensor]:
    ds = ClipDataset(records, num_classes=3, train=False, size=16, segments=4, cache_dir=cache)
    return [ds[i]["clips"] for i in range(len(records))]


def test_two_copies_of_a_dataset_sharing_a_frame_cache_get_their_own_frames(tmp_path):
    cache = tmp_path / "cache"
    a, b = _clip(tmp_path / "copy_a" / "00001", 20), _clip(tmp_path / "copy_b" / "00001", 200)
    assert a.id == b.id
    (from_a,) = _clips([a], cache)
    (from_b,) = _clips([b], cache)
    assert torch.equal(from_a, _clips([a])[0])
    assert torch.equal(from_b, _clips([b])[0])  # keyed by id, copy_b was served copy_a's frames
    assert not torch.equal(from_a, from_b)


def test_ids_that_sanitise_to_one_name_get_their_own_cache_entries(tmp_path):
    cache = tmp_path / "cache"
    slash = _clip(tmp_path / "a" / "b", 30, rec_id="a/b")
    under = _clip(tmp_path / "a__b", 180, rec_id="a__b")
    want = _clips([slash, under])
    for cached in (_clips([slash, under], cache), _clips([slash, under], cache)):  # written, then read
        for got, expected in zip(cached, want, strict=True):
            assert torch.equal(got, expected)  # keyed by sanitised id, a__b was served a/b's frames
    assert len(list(cache.iterdir())) == 2


def test_an_edited_clip_is_not_served_from_its_old_cache_entry(tmp_path):
    cache = tmp_path / "cache"
    rec = _clip(tmp_path / "c0", 20)
    _clips([rec], cache)
    edited = _clip(tmp_path / "c0", 220, size=28)  # same names, other pixels and sizes
    (got,) = _clips([edited], cache)
    assert torch.equal(got, _clips([edited])[0])


# --- cv and compare reuse a run only with its own fingerprint on today's data -------------------------


@pytest.fixture(scope="module")
def dfew(tmp_path_factory):
    from softfer.data.synthetic.generate import generate_dfew

    root = tmp_path_factory.mktemp("fingerprint_dfew") / "dfew"
    generate_dfew(root, clips=60, size=32, seed=0, workers=1)
    return root


@pytest.fixture(scope="module")
def cv_done(tmp_path_factory, dfew):
    """Fold 1 cross-validated once (1 epoch); tests work on copies of the output."""
    out = tmp_path_factory.mktemp("cv") / "cv"
    cross_validate(load_config(DEMO_BASE, tiny_config(dfew, out, **ONE_EPOCH)), folds=(1,))
    return out


def _snapshot(folder) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _split_ids(root, split: str, fold: int) -> list[str]:
    path = root / "EmoLabel_DataSplit" / f"{split}(single-labeled)" / f"set_{fold}.csv"
    with path.open(newline="") as f:
        return [f"{int(row[0]):05d}" for row in list(csv.reader(f))[1:]]


@contextlib.contextmanager
def _relabelled(root, split: str):
    """The first clip of fold 1's ``split`` list with another label (a corrected label), then restored."""
    labels = root / "EmoLabel_DataSplit" / f"{split}(single-labeled)" / "set_1.csv"
    original = labels.read_text()
    rows = original.splitlines()
    clip, label = rows[1].split(",")
    rows[1] = f"{clip},{int(label) % 7 + 1}"
    labels.write_text("\n".join(rows) + "\n")
    try:
        yield
    finally:
        labels.write_text(original)


def test_cv_refuses_a_fold_whose_test_labels_changed_since(dfew, cv_done, tmp_path):
    out = tmp_path / "cv"
    shutil.copytree(cv_done, out)
    before = _snapshot(out)
    with _relabelled(dfew, "test"), pytest.raises(ValueError) as err:
        cross_validate(load_config(DEMO_BASE, tiny_config(dfew, out, **ONE_EPOCH)), folds=(1,))
    message = str(err.value)
    assert "\n" not in message and str(out / "fold_1" / "metrics.json") in message
    assert "the test split (dfew test split, fold 1): labels changed" in message
    assert "--overwrite" in message
    assert _snapshot(out) == before  # no summary keeping the old UAR


def test_cv_refuses_to_resume_a_fold_whose_training_labels_changed_since(dfew, cv_done, tmp_path):
    out = tmp_path / "cv"
    shutil.copytree(cv_done, out)
    (out / "fold_1" / "metrics.json").unlink()  # an unfinished fold: its last.pt would be resumed
    before = _snapshot(out)
    with _relabelled(dfew, "train"), pytest.raises(ValueError) as err:
        cross_validate(load_config(DEMO_BASE, tiny_config(dfew, out, **ONE_EPOCH)), folds=(1,))
    message = str(err.value)
    assert str(out / "fold_1" / "last.pt") in message
    assert "the train split (dfew train split, fold 1): labels changed" in message
    assert _snapshot(out) == before


def test_cv_refuses_a_metrics_json_copied_over_another_fold(dfew, cv_done, tmp_path):
    out = tmp_path / "cv"
    shutil.copytree(cv_done, out)
    cfg = load_config(DEMO_BASE, tiny_config(dfew, out, **ONE_EPOCH))
    # fold 2's folder holds fold 2's config.yaml, and fold 1's metrics.json copied in by hand
    (out / "fold_2").mkdir()
    dump_config(fold_config(cfg, 2, out), out / "fold_2" / "config.yaml")
    shutil.copy(out / "fold_1" / "metrics.json", out / "fold_2" / "metrics.json")
    before = _snapshot(out)
    with pytest.raises(ValueError) as err:
        cross_validate(cfg, folds=(2,))
    message = str(err.value)
    assert str(out / "fold_2" / "metrics.json") in message and "another run" in message
    assert "data.fold 1" in message and "data.fold 2" in message
    assert _snapshot(out) == before


def test_a_metrics_json_without_a_fingerprint_is_not_reused(dfew, cv_done, tmp_path):
    out = tmp_path / "cv"
    shutil.copytree(cv_done, out)
    metrics = out / "fold_1" / "metrics.json"
    report = json.loads(metrics.read_text())
    del report["fingerprint"]
    metrics.write_text(json.dumps(report))
    with pytest.raises(ValueError, match=r"has no fingerprint.*--overwrite"):
        cross_validate(load_config(DEMO_BASE, tiny_config(dfew, out, **ONE_EPOCH)), folds=(1,))


# --- compare: runs scored under other evaluation settings are never paired -----------------------------


def test_compare_refuses_configs_scored_with_two_clear_thresholds(dfew, tmp_path):
    paths = []
    for name, threshold in (("strict", 0.9), ("lenient", 0.6)):
        sets = {**ONE_EPOCH, "name": name, "data.clear_threshold": threshold}
        cfg = load_config(DEMO_BASE, tiny_config(dfew, tmp_path / "unused", **sets))
        dump_config(cfg, tmp_path / f"{name}.yaml")
        paths.append(str(tmp_path / f"{name}.yaml"))
    with pytest.raises(ValueError) as err:
        compare_configs(paths, out=tmp_path / "cmp")
    message = str(err.value)
    assert "data.clear_threshold: strict 0.9, lenient 0.6" in message
    assert not (tmp_path / "cmp" / "strict").exists()  # refused before anything trained


def test_paired_statistics_refuse_runs_scored_with_two_clear_thresholds():
    # identical predictions: the same UAR; only the threshold that splits clear from ambiguous differs
    def row(config, threshold, clear_uar):
        fingerprint = {"evaluation": {"data.clear_threshold": threshold}}
        return {
            "config": config,
            "fold": 1,
            "seed": 0,
            "uar": 0.5,
            "clear_uar": clear_uar,
            "fingerprint": fingerprint,
        }

    rows = [row("a", 0.9, 0.8), row("b", 0.5, 0.5)]
    with pytest.raises(
        ValueError, match=r"data.clear_threshold: a \(fold 1, seed 0\) 0.9, b \(fold 1, seed 0\) 0.5"
    ):
        summarize_comparison(rows, configs=["a", "b"], folds=(1,), seeds=(0,), num_classes=7)
    same = [row("a", 0.9, 0.8), row("b", 0.9, 0.8)]
    summary = summarize_comparison(same, configs=["a", "b"], folds=(1,), seeds=(0,), num_classes=7)
    assert summary["metrics"]["clear_uar"]["pairs"][0]["mean_diff"] == 0


# --- eval: a model is not scored on the items it was trained on ---------------------------------------


def test_eval_refuses_the_items_a_model_was_trained_on_unless_allowed(dfew, cv_done, tmp_path):
    model = tmp_path / "fold_1" / "model.pt"
    shutil.copytree(cv_done / "fold_1", model.parent)
    trained = set(_split_ids(dfew, "train", 1))
    overlap = [i for i in _split_ids(dfew, "test", 2) if i in trained]
    assert overlap  # fold 2's test clips are among fold 1's training clips
    with pytest.raises(ValueError) as err:
        evaluate_checkpoint(model, overrides=["data.fold=2"], out=tmp_path / "eval_fold2")
    message = str(err.value)
    assert f"{len(overlap)} of the {len(_split_ids(dfew, 'test', 2))} test items" in message
    assert overlap[0] in message and "--allow-train-items" in message
    assert not (tmp_path / "eval_fold2" / "metrics.json").exists()
    # allowed: scored, and labelled as such
    evaluate_checkpoint(model, overrides=["data.fold=2"], out=tmp_path / "eval_fold2", allow_train_items=True)
    report = json.loads((tmp_path / "eval_fold2" / "metrics.json").read_text())
    assert report["evaluated_on_training_items"] == len(overlap)
    # its own fold's test split: nothing it trained on
    evaluate_checkpoint(model, out=tmp_path / "eval_fold1")
    report = json.loads((tmp_path / "eval_fold1" / "metrics.json").read_text())
    assert report["evaluated_on_training_items"] == 0


def test_eval_finds_its_training_items_in_a_copy_whose_jpegs_were_re_saved(dfew, cv_done, tmp_path):
    """Item identity is format, id and labels, never media bytes: re-saved JPEGs (other sizes) in a copy
    of the data are still the clips the model was trained on."""
    model = tmp_path / "fold_1" / "model.pt"
    shutil.copytree(cv_done / "fold_1", model.parent)
    copy = tmp_path / "copy"
    shutil.copytree(dfew, copy)
    for jpeg in copy.rglob("*.jpg"):
        size = jpeg.stat().st_size
        Image.open(jpeg).convert("RGB").save(jpeg, quality=40)
        assert jpeg.stat().st_size != size
    trained = set(_split_ids(dfew, "train", 1))
    overlap = [i for i in _split_ids(dfew, "test", 2) if i in trained]
    with pytest.raises(ValueError) as err:
        evaluate_checkpoint(model, data_root=str(copy), overrides=["data.fold=2"], out=tmp_path / "ev")
    assert f"{len(overlap)} of the {len(_split_ids(dfew, 'test', 2))} test items" in str(err.value)
    # its own test split, in the copy: nothing it trained on (labels as read, not training targets)
    evaluate_checkpoint(model, data_root=str(copy), out=tmp_path / "ev1")
    report = json.loads((tmp_path / "ev1" / "metrics.json").read_text())
    assert report["evaluated_on_training_items"] == 0


# --- a checkpoint is the bytes it was written with ----------------------------------------------------


def _damaged_weights(path, weights: torch.Tensor) -> None:
    """Zero 200 bytes of ``weights``' data where they lie in the file (the zip's CRCs stay as they were)."""
    data = bytearray(path.read_bytes())
    at = bytes(data).find(weights.numpy().tobytes())
    assert at > 0
    data[at + 100 : at + 300] = bytes(200)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_a_checkpoint_whose_weight_bytes_were_zeroed_is_refused(tmp_path, suffix):
    from softfer.inference.checkpoint import load_checkpoint, save_checkpoint, save_safetensors_checkpoint

    weights = torch.arange(1, 1001, dtype=torch.float32)
    state = {"model": {"head.weight": weights.clone()}, "config": {"name": "x"}}
    path = tmp_path / f"model{suffix}"
    (save_safetensors_checkpoint if suffix == ".safetensors" else save_checkpoint)(state, path)
    assert torch.equal(load_checkpoint(path)["model"]["head.weight"], weights)
    _damaged_weights(path, weights)
    with pytest.raises(ValueError, match=r"corrupt checkpoint: its model weights .*sha256") as err:
        load_checkpoint(path)
    assert str(path) in str(err.value)


def test_a_checkpoint_without_a_weights_digest_loads(tmp_path, caplog):
    from softfer.inference.checkpoint import load_checkpoint

    path = tmp_path / "foreign.pt"
    torch.save({"model": {"w": torch.ones(3)}, "config": {}}, path)
    with caplog.at_level("DEBUG", logger="softfer.inference.checkpoint"):
        assert torch.equal(load_checkpoint(path)["model"]["w"], torch.ones(3))
    assert "records no digest" in caplog.text


def test_a_training_checkpoint_whose_optimiser_state_was_damaged_is_refused(tmp_path):
    """Found (audit): zeroing the optimiser's bytes in last.pt went unnoticed (the digest covered the
    weights only); the resumed run then differed from an uninterrupted one."""
    from softfer.inference.checkpoint import load_checkpoint, save_checkpoint

    state = {
        "model": {"w": torch.ones(3)},
        "config": {},
        "optimizer": {"state": {0: {"exp_avg": torch.full((3,), 0.5)}}, "param_groups": [{"lr": 0.1}]},
        "rng_cpu": torch.arange(8, dtype=torch.uint8),
    }
    path = tmp_path / "last.pt"
    save_checkpoint(state, path)
    loaded = load_checkpoint(path)  # as written: loads
    assert torch.equal(loaded["optimizer"]["state"][0]["exp_avg"], torch.full((3,), 0.5))
    for damage in ("optimizer", "rng_cpu"):
        damaged = torch.load(path, weights_only=True)
        (damaged["optimizer"]["state"][0]["exp_avg"] if damage == "optimizer" else damaged["rng_cpu"]).zero_()
        torch.save(damaged, tmp_path / "damaged.pt")  # the bytes changed, the stored digests did not
        with pytest.raises(
            ValueError, match=r"damaged\.pt: corrupt checkpoint: its optimiser or scheduler state"
        ):
            load_checkpoint(tmp_path / "damaged.pt")


def test_editing_a_fingerprint_changes_no_later_one():
    """Found (CI): a test set fingerprint["code"]["softfer"] = "0.0.1" on a fingerprint it had made; the
    dict was the process-wide cached one, so every later fingerprint recorded version 0.0.1 and edited
    configs were logged instead of refused."""
    from softfer import __version__
    from softfer.config import validate_config
    from softfer.engine.resume import run_fingerprint

    cfg = validate_config({})
    run_fingerprint(cfg, {})["code"]["softfer"] = "0.0.1"
    assert run_fingerprint(cfg, {})["code"]["softfer"] == __version__


# --- a checkpoint's entries are read back only as softfer writes them --------------------------------


def _safetensors_with_metadata(path, text: str):
    from safetensors.torch import save_file

    save_file({"w": torch.ones(3)}, str(path), metadata={"softfer": text})
    return path


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[1, 2]", "its metadata 'softfer' is no JSON object with a config: list"),  # was a TypeError
        ('{"config": {}', "its metadata 'softfer' is not JSON (Expecting"),  # named no file
        ('"config"', "its metadata 'softfer' is no JSON object with a config: str"),
    ],
)
def test_a_safetensors_checkpoint_whose_metadata_is_not_a_json_object_is_one_line_naming_it(
    tmp_path, capsys, text, says
):
    """Found (audit): metadata that was a JSON list gave "TypeError: list indices must be integers",
    broken JSON "Expecting property name ..."; neither named the file."""
    from softfer.cli import main
    from softfer.inference.checkpoint import load_checkpoint

    path = _safetensors_with_metadata(tmp_path / "model.safetensors", text)
    with pytest.raises(ValueError) as err:
        load_checkpoint(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: ") and says in msg and "\n" not in msg
    assert main(["export", str(path), "--onnx", str(tmp_path / "m.onnx")]) == 2
    assert capsys.readouterr().err.strip() == f"softfer: error: {msg}"


ENTRY_EDITS = [  # (entry, value, what the error names)
    ("classes", "happy,sad", "classes: Input should be a valid list"),
    ("classes", ["happy", 2], "classes.1: Input should be a valid string"),
    ("classes", ["happy"], "classes: List should have at least 2 items"),
    ("trained_on", ["dfew"], "trained_on: Input should be a JSON object"),
    ("trained_on", {"format": "dfew", "synthetic": "false"}, "trained_on.synthetic"),
    ("fingerprint", "abc", "fingerprint: Input should be a JSON object"),
    ("fingerprint", {"config": ["x"]}, "fingerprint.config"),
    ("training_items", {"paths": [["a"]], "items": []}, "training_items.paths.0"),
    ("calibration_items", [], "calibration_items: Input should be a JSON object"),
    ("calibration", "T=2", "calibration: Input should be a valid dictionary"),
    ("weights_sha256", 5, "weights_sha256: Input should be a valid string"),  # skipped the digest check
    ("config", ["x"], "config: Input should be a valid dictionary"),
]


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
@pytest.mark.parametrize(("entry", "value", "named"), ENTRY_EDITS, ids=[n for _, _, n in ENTRY_EDITS])
def test_a_checkpoint_entry_not_of_the_type_softfer_writes_is_refused_naming_it(
    tmp_path, suffix, entry, value, named
):
    """Found (audit): entries were used as they were read: a list trained_on failed in predict's note,
    a weights_sha256 that was no string skipped the digest check, the string "false" read as true."""
    import json

    from softfer.inference.checkpoint import load_checkpoint, save_checkpoint

    state = {
        "model": {"w": torch.ones(3)},
        "config": {},
        "classes": ["happy", "sad"],
        "trained_on": {"format": "dfew", "synthetic": False},
    }
    path = tmp_path / f"model{suffix}"
    save_checkpoint(state, tmp_path / "good.pt")
    assert load_checkpoint(tmp_path / "good.pt")["trained_on"] == state["trained_on"]
    if suffix == ".pt":
        torch.save({**torch.load(tmp_path / "good.pt", weights_only=True), entry: value}, path)
    else:  # the metadata as save_safetensors_checkpoint writes it, one entry edited
        good = {k: v for k, v in load_checkpoint(tmp_path / "good.pt").items() if k != "model"}
        _safetensors_with_metadata(path, json.dumps({**good, entry: value}))
    with pytest.raises(ValueError) as err:
        load_checkpoint(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: {named}") and "not as softfer writes it" in msg and "\n" not in msg
