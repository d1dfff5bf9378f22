import csv
import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from openpyxl import load_workbook
from sklearn.metrics import balanced_accuracy_score
from torch import nn

from softfer.classes import DFEW_CLASSES
from softfer.data.synthetic.generate import generate_affectnet, generate_dfew
from softfer.data.synthetic.model import SynthConfig, is_single_labelled, sample_clip
from softfer.data.synthetic.render import render_frame, sample_identity, sample_scene


@pytest.fixture(scope="module")
def specs():
    cfg = SynthConfig()
    return [sample_clip(cfg, np.random.default_rng([0, i])) for i in range(4000)]


def test_vote_statistics_with_defaults(specs):
    votes = np.array([s.votes for s in specs])
    share = votes.max(1) / votes.sum(1)
    assert 0.65 <= share.mean() <= 0.85
    assert 0.15 <= (share >= 0.9).mean() <= 0.40
    majority = votes.argmax(1)
    assert (majority == DFEW_CLASSES.index("disgust")).mean() < 0.03
    freq = np.bincount(majority, minlength=7) / len(majority)
    # DFEW-like imbalance: neutral and happy the most frequent classes.
    assert set(np.argsort(-freq)[:2]) == {DFEW_CLASSES.index("neutral"), DFEW_CLASSES.index("happy")}


def test_ambiguity_is_real(specs):
    votes = np.array([s.votes for s in specs])
    primary = np.array([s.primary for s in specs])
    blended = np.array([s.mixture.max() < 1 for s in specs])
    differs = votes.argmax(1) != primary
    assert differs[blended].mean() > 0.05  # majority vote misses the latent primary on ambiguous clips
    assert differs[blended].mean() > 2 * differs[~blended].mean()
    share = votes.max(1) / votes.sum(1)
    assert share[blended].mean() < share[~blended].mean() - 0.1


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_same_seed_gives_byte_identical_files(tmp_path):
    generate_dfew(tmp_path / "a", clips=8, size=48, seed=3, workers=1)
    generate_dfew(tmp_path / "b", clips=8, size=48, seed=3, workers=2)
    generate_dfew(tmp_path / "c", clips=8, size=48, seed=4, workers=1)
    a, b, c = (_tree_digest(tmp_path / n) for n in "abc")
    assert a == b
    assert a != c
    assert not (tmp_path / "a.partial").exists()


def test_dfew_layout(tmp_path):
    root = tmp_path / "dfew"
    records = generate_dfew(root, clips=25, size=48, seed=0, workers=1)
    for r in records:
        folder = root / "Clip" / "clip_224x224" / f"{r.index:05d}"
        assert len(list(folder.glob("*.jpg"))) == r.num_frames
        assert (folder / f"{r.index:05d}_{r.num_frames:05d}.jpg").is_file()
    ws = load_workbook(root / "Annotation" / "annotation.xlsx", read_only=True).worksheets[0]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][2:9] == DFEW_CLASSES
    np.testing.assert_array_equal([r[2:9] for r in rows[1:]], [r.votes for r in records])
    cfg = SynthConfig()
    single = {int(r[1]) for r in rows[1:] if is_single_labelled(np.array(r[2:9]), cfg)}
    seen_test = []
    for k in range(1, 6):
        test = list(
            csv.DictReader(open(root / "EmoLabel_DataSplit" / "test(single-labeled)" / f"set_{k}.csv"))
        )
        train = list(
            csv.DictReader(open(root / "EmoLabel_DataSplit" / "train(single-labeled)" / f"set_{k}.csv"))
        )
        ids_test, ids_train = {int(r["video_name"]) for r in test}, {int(r["video_name"]) for r in train}
        assert not ids_test & ids_train and ids_test | ids_train == single
        assert all(1 <= int(r["label"]) <= 7 for r in test + train)
        seen_test += ids_test
    assert sorted(seen_test) == sorted(single)  # every single-labelled clip is tested exactly once
    gt = list(csv.DictReader(open(root / "softfer_ground_truth.csv")))
    assert len(gt) == 25 and all(-1 <= float(g["valence"]) <= 1 for g in gt)


def test_affectnet_layout(tmp_path):
    root = tmp_path / "affectnet"
    generate_affectnet(root, images=40, size=64, seed=0, workers=1)
    rows = []
    for name in ("training.csv", "validation.csv"):
        rows += list(csv.DictReader(open(root / "Manually_Annotated_file_lists" / name)))
    assert len(rows) == 40
    for r in rows:
        assert (root / "Manually_Annotated_Images" / r["subDirectory_filePath"]).is_file()
        marks = np.array([float(v) for v in r["facial_landmarks"].split(";")]).reshape(68, 2)
        x, y, w, h = (int(r[k]) for k in ("face_x", "face_y", "face_width", "face_height"))
        assert (marks >= [x - 1, y - 1]).all() and (marks <= [x + w + 1, y + h + 1]).all()
        assert 0 <= int(r["expression"]) <= 7
        assert -1 <= float(r["valence"]) <= 1 and -1 <= float(r["arousal"]) <= 1


def _apex_frames(n, size, seed):
    cfg = SynthConfig(size=size)
    images, labels = [], []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        spec = sample_clip(cfg, rng)
        ident, scene = sample_identity(rng), sample_scene(size, rng, occlusion_rate=0.1, jpeg=(70, 95))
        k = int(np.argmax(spec.intensity))
        images.append(
            render_frame(spec.controls[k], ident, scene, k / max(len(spec.intensity) - 1, 1), rng)[0]
        )
        labels.append(int(spec.votes.argmax()))
    x = torch.tensor(np.stack(images)).permute(0, 3, 1, 2).float() / 255 - 0.5
    return x, torch.tensor(labels)


def test_data_is_learnable_by_a_tiny_cnn():
    torch.manual_seed(0)
    x, y = _apex_frames(1200, 64, seed=11)
    net = nn.Sequential(
        *[
            m
            for c_in, c_out in ((3, 16), (16, 32), (32, 64))
            for m in (nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2))
        ],
        nn.Conv2d(64, 64, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(64, 7),
    )
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    for _ in range(18):
        net.train()
        for idx in torch.randperm(900).split(32):
            loss = nn.functional.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        pred = net(x[900:]).argmax(1)
    assert balanced_accuracy_score(y[900:], pred) > 2 * (1 / 7)


def test_the_synthetic_affectnet_stats_record_their_class_names(tmp_path):
    """`data.affectnet_stats` refuses statistics of another class order; the smoke tree's own must say theirs
    (without names every Aff-Wild read of `synth all` warned that the order could not be checked)."""
    import json

    from softfer.classes import AFFECTNET_CLASSES
    from softfer.data.synthetic.layouts import write_affectnet_stats

    generate_affectnet(tmp_path / "affectnet", images=200, size=32, seed=0, workers=1)
    write_affectnet_stats(tmp_path / "affectnet", tmp_path / "stats.json", num_classes=8)
    assert json.loads((tmp_path / "stats.json").read_text())["classes"] == list(AFFECTNET_CLASSES[:8])
