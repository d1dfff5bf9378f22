"""The synthetic layouts read back through softfer's own readers, and the smoke tree the configs need."""

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from openpyxl import load_workbook
from torchvision.models import resnet18
from torchvision.models.video import r3d_18

from softfer.classes import AFFECTNET_CLASSES, DFEW_CLASSES
from softfer.config import load_config, packaged_configs
from softfer.data import formats
from softfer.data.synthetic.layouts import build_smoke_tree, va_points_by_class
from softfer.labels.affect import AffectStats, fit_affect_stats, gmm_labels
from softfer.models.registry import create_model

# DFEW's published label order (labels 1..7 = happy, sad, neutral, angry, surprise, disgust, fear), written
# out by hand as the reference for every class mapping below.
DFEW_INDEX = {"happy": 0, "sad": 1, "neutral": 2, "angry": 3, "surprise": 4, "disgust": 5, "fear": 6}
AFFECTNET_TO_DFEW = {0: 2, 1: 0, 2: 1, 3: 4, 4: 6, 5: 5, 6: 3}  # AffectNet codes 0-6; 7 (contempt) has none


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("smoke")
    return root, build_smoke_tree(root, size=32, seed=0)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _dfew_votes(dfew: Path) -> dict[str, np.ndarray]:
    """Votes per DFEW clip straight from the workbook, in DFEW order."""
    ws = load_workbook(dfew / "Annotation" / "annotation.xlsx").active
    rows = list(ws.iter_rows(values_only=True))
    cols = [rows[0].index(c) for c in DFEW_INDEX]
    return {r[1]: np.array([r[c] for c in cols], dtype=float) for r in rows[1:]}


def _dfew_clip_of_frame(dfew: Path) -> dict[str, str]:
    """DFEW clip name by the content of its first frame (clips are linked or copied, never re-encoded)."""
    return {_digest(min(d.iterdir())): d.name for d in (dfew / "Clip" / "clip_224x224").iterdir()}


def _affectnet_rows(root: Path, name: str) -> list[dict[str, str]]:
    with (root / "Manually_Annotated_file_lists" / name).open(newline="") as f:
        return list(csv.DictReader(f))


def _affectnet_code_of_image(root: Path) -> dict[str, tuple[int, tuple[float, float]]]:
    out = {}
    for name in ("training.csv", "validation.csv"):
        for row in _affectnet_rows(root, name):
            key = _digest(root / "Manually_Annotated_Images" / row["subDirectory_filePath"])
            out[key] = (int(row["expression"]), (float(row["valence"]), float(row["arousal"])))
    return out


def test_reference_class_orders_match_softfer():
    assert tuple(DFEW_INDEX) == DFEW_CLASSES
    for code, dfew in AFFECTNET_TO_DFEW.items():
        name = {"anger": "angry"}.get(AFFECTNET_CLASSES[code], AFFECTNET_CLASSES[code])
        assert DFEW_INDEX[name] == dfew


def test_dfew_has_five_disjoint_folds_with_every_class(tree):
    _, paths = tree
    tests = []
    for fold in range(1, 6):
        train = formats.read_dfew(paths["dfew"], fold=fold, split="train")
        test = formats.read_dfew(paths["dfew"], fold=fold, split="test")
        assert not {r.id for r in train} & {r.id for r in test}
        assert len(train) >= 40  # several batch-8 steps
        assert set(r.label for r in test) == set(range(7))
        tests += [r.id for r in test]
    assert len(tests) == len(set(tests))  # every single-labelled clip is tested exactly once


def test_ferv39k_labels_in_dfew_order_and_plus_votes(tree):
    _, paths = tree
    votes = _dfew_votes(paths["dfew"])
    clip_of = _dfew_clip_of_frame(paths["dfew"])
    seen = []
    for split in ("train", "test"):
        recs = formats.read_ferv39k(paths["ferv39k"], split=split, soft_labels=paths["ferv39k_soft_labels"])
        for r in recs:
            scene, folder, number = r.id.split("/")
            assert scene in ("Action", "Daily_life")
            assert len(number) == 4 and number.isdigit()
            assert r.label == DFEW_INDEX[folder.lower()]
            v = votes[clip_of[_digest(r.path / r.frames[0])]]
            assert r.label == int(np.argmax(v))  # the majority vote of the DFEW clip it came from
            np.testing.assert_allclose(r.soft, v / v.sum())
            assert r.frames == tuple(sorted(r.frames)) and len(r.frames) >= 12
        seen.append(len(recs))
    assert seen == [56, 14]
    # The vote table is headed in FERV39k's order (not DFEW's): the reader must match columns by name.
    header = paths["ferv39k_soft_labels"].read_text().splitlines()[0]
    assert header == "clip,Angry,Disgust,Fear,Happy,Neutral,Sad,Surprise"


def test_afew_train_and_val_frame_folders(tree):
    _, paths = tree
    votes = _dfew_votes(paths["dfew"])
    clip_of = _dfew_clip_of_frame(paths["dfew"])
    ids = {}
    for split in ("Train", "Val"):
        recs = formats.read_afew(paths["afew"], split=split)
        ids[split] = {r.id for r in recs}
        assert len(recs) == 35
        for r in recs:
            folder = r.id.split("/")[0]
            assert folder in ("Angry", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise")
            assert r.label == DFEW_INDEX[folder.lower()]
            assert r.label == int(np.argmax(votes[clip_of[_digest(r.path / r.frames[0])]]))
            assert not r.is_video_file
    assert not ids["Train"] & ids["Val"]


def test_affectnet_lists_hold_non_class_codes_the_reader_drops(tree):
    _, paths = tree
    root = paths["affectnet"]
    for name, split in (("training.csv", "train"), ("validation.csv", "val")):
        rows = _affectnet_rows(root, name)
        codes = [int(r["expression"]) for r in rows]
        assert {8, 9, 10} <= set(codes)
        for r in rows:
            if int(r["expression"]) in (9, 10):
                assert (r["valence"], r["arousal"]) == ("-2", "-2")
            else:
                assert abs(float(r["valence"])) <= 1 and abs(float(r["arousal"])) <= 1
        for k in (8, 7):
            recs = formats.read_affectnet(root, split=split, num_classes=k)
            assert len(recs) == sum(c < k for c in codes)
            assert set(r.label for r in recs) == set(range(k))
    assert len(formats.read_affectnet(root, split="train")) > 256


def test_affectnet_stats_json_fitted_on_the_class_rows_with_va(tree):
    _, paths = tree
    rows = [
        r
        for r in _affectnet_rows(paths["affectnet"], "training.csv")
        if int(r["expression"]) < 8 and r["valence"] != "-2"
    ]
    va = np.array([[float(r["valence"]), float(r["arousal"])] for r in rows])
    expected = fit_affect_stats(va, np.array([int(r["expression"]) for r in rows]), 8)
    got = AffectStats.from_dict(json.loads(paths["affectnet_stats"].read_text()))
    for key in ("priors", "means", "covs", "counts"):
        np.testing.assert_allclose(getattr(got, key), getattr(expected, key), rtol=1e-12)
    assert got.counts.sum() == len(formats.read_affectnet(paths["affectnet"], split="train"))


def test_affwild_frames_labels_and_splits(tree):
    _, paths = tree
    stats = AffectStats.from_dict(json.loads(paths["affectnet_stats"].read_text()))
    code_of = _affectnet_code_of_image(paths["affectnet"])
    videos = {}
    for split in ("train", "test"):
        recs = formats.read_affwild(paths["affwild"], stats, split=split)
        videos[split] = {r.id.split("/")[0] for r in recs}
        labels = np.array([r.label for r in recs])
        assert np.bincount(labels, minlength=8).min() >= 3  # every class can be fitted (fused targets)
        for r in recs:
            np.testing.assert_allclose(r.soft.sum(), 1.0)
            assert code_of[_digest(r.path)][0] == r.label  # the still shows the class its VA lies in
        if split == "train":
            assert len(recs) > 256
    assert len(videos["train"]) == 16 and len(videos["test"]) == 4
    assert not videos["train"] & videos["test"]
    aff = paths["affwild"]
    for video in videos["train"] | videos["test"]:
        n = len(list((aff / "frames" / video).glob("*.jpg")))
        assert len((aff / "annotations" / "valence" / f"{video}.txt").read_text().split()) == n
        assert len((aff / "annotations" / "arousal" / f"{video}.txt").read_text().split()) == n


def test_morphset_manifest_in_dfew_order(tree):
    _, paths = tree
    code_of = _affectnet_code_of_image(paths["affectnet"])
    header = paths["morphset"].read_text().splitlines()[0]
    assert header == "path,label,valence,arousal,split"
    sizes = {}
    for split in ("train", "val"):
        recs = formats.read_manifest(paths["morphset"], split=split)
        sizes[split] = len(recs)
        for r in recs:
            code, va = code_of[_digest(r.path)]
            assert r.label == AFFECTNET_TO_DFEW[code]
            np.testing.assert_allclose(r.va, va)
            assert r.split == split
        assert set(r.label for r in recs) == set(range(7))
    assert sizes == {"train": 300, "val": 75}


def test_weights_have_torchvision_keys_and_load_into_softfer_models(tree):
    _, paths = tree
    for key, reference in (("resnet18", resnet18), ("r3d_18", r3d_18)):
        state = torch.load(paths[key], map_location="cpu", weights_only=True)
        ref = reference(weights=None).state_dict()
        assert list(state) == list(ref)
        assert all(state[k].shape == ref[k].shape for k in ref)
    create_model("tsm_r18", num_classes=7, pretrained=paths["resnet18"])
    create_model("r3d_18", num_classes=7, pretrained=paths["r3d_18"])


def _config_paths() -> list[Path]:
    return sorted((packaged_configs() / "midas").glob("*.yaml")) + sorted(
        (packaged_configs() / "dual_domain").glob("*.yaml")
    )


def test_smoke_tree_has_every_path_the_configs_name(tree):
    root, _ = tree
    named = set()
    for path in _config_paths():
        cfg = load_config(path)
        d = cfg.data
        for value in (
            d.root,
            d.test_root,
            d.affectnet_stats,
            getattr(d, "soft_labels", None),
            cfg.model.pretrained,
        ):
            if value:
                assert not Path(value).is_absolute(), f"{path.name}: {value}"
                assert (root / value).exists(), f"{path.name}: {value} missing from the smoke tree"
                named.add(value)
    assert {"data/DFEW", "data/FERV39k", "data/AFEW", "data/AffectNet", "data/Aff-Wild"} <= named
    assert {"data/MorphSet/manifest.csv", "data/affectnet_va_stats.json"} <= named


def test_smoke_tree_refuses_a_non_empty_root(tree):
    root, _ = tree
    with pytest.raises(ValueError, match="not empty"):
        build_smoke_tree(root)


def test_va_points_lie_in_their_class_region_and_refuse_a_class_that_is_never_most_probable():
    cov = np.eye(2) * 0.05
    means = np.array([[0.0, 0.0], [0.0, 0.0], [0.6, 0.6]])
    covs = np.stack([cov, cov, cov])
    # Class 1 has class 0's mean and covariance but a smaller prior: it is the GMM argmax nowhere.
    shadowed = AffectStats(np.array([0.6, 0.1, 0.3]), means, covs, np.array([60.0, 10.0, 30.0]))
    with pytest.raises(ValueError, match="class 1"):
        va_points_by_class(shadowed)
    means[1] = [-0.6, 0.6]
    stats = AffectStats(np.array([0.6, 0.1, 0.3]), means, covs, np.array([60.0, 10.0, 30.0]))
    points = va_points_by_class(stats, nearest=40)
    for k, pts in enumerate(points):
        assert len(pts) == 40
        assert (gmm_labels(pts, stats).argmax(axis=1) == k).all()
        np.testing.assert_allclose(pts[0], means[k], atol=1e-9)  # the mean itself lies on the grid
