"""Issue 23: the FER+ reader on hand-made files in both layouts (fer2013.csv + fer2013new.csv as distributed,
and the FER+ repository's FER2013Train/Valid/Test folders), fuzzed like every table reader, and
`softfer reproduce ferplus --smoke` on the synthetic FER+ tree.

Expected labels are written out by hand from the vote rows below (vote share = votes / class votes; the
hard label is the first class with the most votes), not computed with the code under test."""

import csv
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given

from softfer.data.formats import FORMATS, ReadRequest
from softfer.data.formats.fer2013_faces import CACHE_FOLDER
from softfer.data.formats.ferplus import read_ferplus
from softfer.data.records import ReadReport
from softfer.data.synthetic.ferplus import generate_ferplus
from softfer.studies import reproduce as reproduce_module
from softfer.studies.reproduce import smoke_table
from tests.robustness.test_data_fuzz import FUZZ, _any_bytes, _check, _valid_records

VOTE_HEADER = "neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"
# Usage, Image name, 10 votes: kept faces, each rule that leaves a face out, a tie, every split.
ROWS = [
    ("Training", "fer0000000.png", [4, 0, 0, 1, 3, 2, 0, 0, 0, 0]),  # neutral 4/10
    ("Training", "fer0000001.png", [0, 6, 0, 0, 0, 0, 0, 0, 4, 0]),  # happy; unknown votes are no class
    ("Training", "", [0, 0, 0, 0, 0, 0, 0, 0, 0, 10]),  # no image name: not a face in FER+
    ("Training", "fer0000003.png", [2, 0, 0, 0, 0, 0, 0, 0, 6, 2]),  # majority unknown
    ("Training", "fer0000004.png", [1, 0, 0, 0, 0, 0, 0, 0, 2, 7]),  # majority NF
    ("Training", "fer0000005.png", [0, 0, 0, 4, 0, 0, 0, 0, 4, 2]),  # sad ties unknown: left out
    ("Training", "fer0000006.png", [3, 0, 0, 0, 0, 0, 0, 5, 2, 0]),  # contempt: kept with 8 classes only
    ("Training", "fer0000007.png", [0, 0, 5, 0, 0, 0, 5, 0, 0, 0]),  # surprise ties fear: surprise first
    ("PublicTest", "fer0000008.png", [0, 0, 0, 0, 9, 1, 0, 0, 0, 0]),
    ("PrivateTest", "fer0000009.png", [0, 0, 0, 0, 0, 0, 8, 1, 1, 0]),
    ("PrivateTest", "fer0000010.png", [1, 0, 0, 0, 0, 7, 0, 0, 0, 2]),
]
# split -> [(id, hard label, soft label)], 8 classes: neutral happy surprise sad angry disgust fear contempt
EXPECTED_8 = {
    "train": [
        ("fer0000000.png", 0, [0.4, 0, 0, 0.1, 0.3, 0.2, 0, 0]),
        ("fer0000001.png", 1, [0, 1, 0, 0, 0, 0, 0, 0]),
        ("fer0000006.png", 7, [3 / 8, 0, 0, 0, 0, 0, 0, 5 / 8]),
        ("fer0000007.png", 2, [0, 0, 0.5, 0, 0, 0, 0.5, 0]),
    ],
    "val": [("fer0000008.png", 4, [0, 0, 0, 0, 0.9, 0.1, 0, 0])],
    "test": [
        ("fer0000009.png", 6, [0, 0, 0, 0, 0, 0, 8 / 9, 1 / 9]),
        ("fer0000010.png", 5, [1 / 8, 0, 0, 0, 0, 7 / 8, 0, 0]),
    ],
}
DROPPED_TRAIN = {
    "no image name (not a face in FER+)": 1,
    "majority unknown": 2,
    "majority NF (not a face)": 1,
}
FOLDER = {"Training": "FER2013Train", "PublicTest": "FER2013Valid", "PrivateTest": "FER2013Test"}


def face(i: int) -> np.ndarray:
    """Row i's 48x48 face: a pattern of its own."""
    return ((np.arange(48 * 48) * (i + 1) + 17 * i) % 256).astype(np.uint8).reshape(48, 48)


def write_csv_layout(root: Path, rows=ROWS) -> None:
    root.mkdir(parents=True, exist_ok=True)
    with (root / "fer2013.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["emotion", "pixels", "Usage"])
        for i, (usage, _, _) in enumerate(rows):
            w.writerow([i % 7, " ".join(map(str, face(i).ravel())), usage])
    with (root / "fer2013new.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Usage", "Image name", *VOTE_HEADER.split(",")])
        for usage, name, votes in rows:
            w.writerow([usage, name, *votes])


def write_folder_layout(root: Path, *, box_in: tuple[str, ...] = ("Training",)) -> None:
    """The FER+ script's folders; label.csv with the box column in the folders of ``box_in``."""
    for usage, folder in FOLDER.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        lines = []
        for i, (use, name, votes) in enumerate(ROWS):
            if use != usage or not name:
                continue
            cv2.imwrite(str(root / folder / name), face(i))
            box = ['"(0, 0, 48, 48)"'] if usage in box_in else []
            lines.append(",".join([name, *box, *map(str, votes)]))
        (root / folder / "label.csv").write_text("\n".join(lines) + "\n")


def summary(records) -> list[tuple]:
    return [(r.id, r.label, r.split) for r in records]


def check_expected(records, split: str) -> None:
    want = EXPECTED_8[split]
    assert [(r.id, r.label) for r in records] == [(i, h) for i, h, _ in want]
    for r, (_, _, soft) in zip(records, want, strict=True):
        np.testing.assert_allclose(r.soft, soft, atol=1e-12)
        assert r.soft_is_votes and r.split == split


@pytest.mark.parametrize("layout", ["csv", "folders"])
def test_both_layouts_give_the_votes_splits_and_faces(tmp_path, layout):
    root = tmp_path / "ferplus"
    write_csv_layout(root) if layout == "csv" else write_folder_layout(root)
    for split in ("train", "val", "test"):
        report = ReadReport()
        records = FORMATS["ferplus"].read(ReadRequest(root=root, split=split, num_classes=8, report=report))
        check_expected(records, split)
        for r in records:  # the pixels of the row the face came from, whichever layout holds them
            row = next(i for i, (_, name, _) in enumerate(ROWS) if name == r.id)
            np.testing.assert_array_equal(cv2.imread(str(r.path), cv2.IMREAD_UNCHANGED), face(row))
            inside = Path(os.path.abspath(r.path)).is_relative_to(os.path.abspath(root))
            assert inside == (layout == "folders")  # the CSV layout's faces are cached outside the data
        if split == "train":
            dropped = dict(DROPPED_TRAIN)
            if layout == "folders":  # the FER+ script writes no image for a row without a name
                del dropped["no image name (not a face in FER+)"]
            assert report.dropped == dropped
            assert report.total == 4 and not report.skipped


def test_seven_classes_drop_contempt_votes_and_contempt_faces(tmp_path):
    write_csv_layout(tmp_path)
    report = ReadReport()
    train = read_ferplus(tmp_path, split="train", num_classes=7, report=report)
    assert [(r.id, r.label) for r in train] == [
        ("fer0000000.png", 0),
        ("fer0000001.png", 1),
        ("fer0000007.png", 2),
    ]
    assert report.dropped["majority contempt (7 classes)"] == 1
    (fear, disgust) = read_ferplus(tmp_path, split="test", num_classes=7)
    np.testing.assert_allclose(fear.soft, [0, 0, 0, 0, 0, 0, 1])  # its contempt vote is no class here
    assert fear.votes.tolist() == [0, 0, 0, 0, 0, 0, 8] and len(disgust.soft) == 7
    with pytest.raises(ValueError, match=r"num_classes must be 7 .* or 8, got 6"):
        read_ferplus(tmp_path, split="train", num_classes=6)
    with pytest.raises(ValueError, match="unknown split 'PublicTest'; the valid splits are train, val, test"):
        read_ferplus(tmp_path, split="PublicTest")


def test_usage_columns_must_agree_row_by_row(tmp_path):
    rows = list(ROWS)
    write_csv_layout(tmp_path, rows)
    rows[8] = ("PrivateTest", *rows[8][1:])  # fer2013new.csv moves row 9 to the test split
    with (tmp_path / "fer2013new.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Usage", "Image name", *VOTE_HEADER.split(",")])
        w.writerows([u, n, *v] for u, n, v in rows)
    with pytest.raises(
        ValueError,
        match=r"fer2013new.csv:line 10: Usage 'PrivateTest', but row 9 of fer2013.csv says 'PublicTest'",
    ):
        read_ferplus(tmp_path, split="train")


def test_row_counts_pixels_and_votes_are_checked_naming_file_and_row(tmp_path):
    write_csv_layout(tmp_path, ROWS[:-1])
    (tmp_path / "fer2013new.csv").write_text(
        (tmp_path / "fer2013new.csv").read_text() + "PrivateTest,fer0000099.png,1,0,0,0,0,0,0,0,0,9\n"
    )
    with pytest.raises(ValueError, match=r"fer2013new.csv has 11 rows and .*fer2013.csv 10"):
        read_ferplus(tmp_path, split="train")
    bad = tmp_path / "bad"
    write_csv_layout(bad)
    text = (bad / "fer2013.csv").read_text().splitlines()
    text[3] = text[3].replace(" 0 ", " 256 ", 1)
    (bad / "fer2013.csv").write_text("\n".join(text) + "\n")
    with pytest.raises(ValueError, match=r"fer2013.csv:line 4: pixels must be 2304 integers 0..255"):
        read_ferplus(bad, split="val")
    votes = tmp_path / "votes"
    write_csv_layout(votes)
    lines = (votes / "fer2013new.csv").read_text().splitlines()
    lines[2] = lines[2].replace(",6,", ",-6,")
    (votes / "fer2013new.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"fer2013new.csv:line 3 contains negative vote counts"):
        read_ferplus(votes, split="test")
    lines[2] = lines[2].replace(",-6,", f",{'9' * 25},")  # would wrap round as an int64
    (votes / "fer2013new.csv").write_text("\n".join(lines) + "\n")
    big = r"fer2013new.csv:line 3 has a vote count of 1e\+25 in column .happiness., above 1000"
    with pytest.raises(ValueError, match=big):
        read_ferplus(votes, split="test")


def test_the_faces_are_written_once_and_again_for_an_edited_file(tmp_path):
    write_csv_layout(tmp_path)
    first = read_ferplus(tmp_path, split="val")[0].path
    stamp = first.stat().st_mtime_ns
    assert read_ferplus(tmp_path, split="test")[0].path.parent == first.parent
    assert first.stat().st_mtime_ns == stamp  # read from the cache, not written again
    (first.parent / "index.json").write_text("{")  # a damaged cache is rebuilt, not trusted
    assert read_ferplus(tmp_path, split="val")[0].path == first
    text = (tmp_path / "fer2013.csv").read_text()
    (tmp_path / "fer2013.csv").write_text(text.replace("0 1 2 3", "9 1 2 3", 1))  # row 0's face edited
    edited = read_ferplus(tmp_path, split="train")[0].path
    assert edited.parent != first.parent and cv2.imread(str(edited), cv2.IMREAD_UNCHANGED)[0, 0] == 9
    assert first.parent.parent.name == CACHE_FOLDER and not (tmp_path / "softfer_fer2013_png").exists()
    assert sorted(p.name for p in first.parent.parent.iterdir()) == sorted(
        [first.parent.name, edited.parent.name]
    )


def test_a_cache_folder_where_the_faces_cannot_be_written_is_an_error_naming_it(tmp_path):
    write_csv_layout(tmp_path / "data")
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / CACHE_FOLDER).write_text("a file where the cache folder goes")
    with pytest.raises(
        ValueError, match=rf"cache/{CACHE_FOLDER} exists and is not a folder: choose another data.cache_dir"
    ):
        read_ferplus(tmp_path / "data", split="train", cache_dir=tmp_path / "cache")


def test_folder_layout_paths_boxes_missing_images_and_overlap(tmp_path):
    root = tmp_path / "data"  # a clone of the FER+ repository: the folders are under data/
    write_folder_layout(root, box_in=("Training", "PrivateTest"))
    train = read_ferplus(tmp_path, split="train")
    assert [r.box for r in train] == [(0, 0, 48, 48)] * 4
    assert [r.box for r in read_ferplus(tmp_path, split="val")] == [None]
    (root / "FER2013Train" / "fer0000001.png").unlink()
    report = ReadReport()
    assert len(read_ferplus(tmp_path, split="train", max_skip=0.5, report=report)) == 3
    assert report.skipped[0].startswith("fer0000001.png: image missing")
    with pytest.raises(ValueError, match=r"1 of 4 clips have unusable media"):
        read_ferplus(tmp_path, split="train", max_skip=0.1)
    label = root / "FER2013Valid" / "label.csv"
    label.write_text("../../../outside.png,0,0,0,0,9,1,0,0,0,0\n")
    with pytest.raises(
        ValueError, match=r"label.csv:line 1: path '../../../outside.png' leads outside the data"
    ):
        read_ferplus(tmp_path, split="val")
    label.write_text("fer0000000.png,0,0,0,0,9,1,0,0,0,0\n")  # a training image listed for validation
    with pytest.raises(ValueError, match=r"FER2013Train/label.csv and .*FER2013Valid/label.csv share 1 item"):
        FORMATS["ferplus"].read(ReadRequest(root=tmp_path, split="train", num_classes=8))
    label.write_text("fer0000008.png,(0 0 48),0,0,0,0,9,1,0,0,0,0\n")
    with pytest.raises(ValueError, match=r"label.csv:line 1: face box '\(0 0 48\)' is not \(x, y, w, h\)"):
        read_ferplus(tmp_path, split="val")
    label.write_text("fer0000008.png,0,0,0,9,1,0,0,0,0\n")
    with pytest.raises(ValueError, match=r"label.csv: 10 columns; a FER\+ label.csv has the image name"):
        read_ferplus(tmp_path, split="val")


def test_no_ferplus_files_names_both_layouts(tmp_path):
    with pytest.raises(ValueError, match=r"no FER\+ data: expected fer2013new.csv .* FER2013Train"):
        read_ferplus(tmp_path, split="train")
    (tmp_path / "fer2013new.csv").write_text("Usage,Image name\n")
    with pytest.raises(ValueError, match=r"fer2013new.csv needs FER2013's fer2013.csv beside it"):
        read_ferplus(tmp_path, split="train")


def test_the_synthetic_tree_reads_alike_in_both_layouts(tmp_path):
    generate_ferplus(tmp_path / "fer", images=60, seed=3)
    for split in ("train", "val", "test"):
        a = read_ferplus(tmp_path / "fer", split=split)
        b = read_ferplus(tmp_path / "fer" / "images", split=split)
        assert summary(a) == summary(b) and len(a) > 0
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x.soft, y.soft)
            np.testing.assert_array_equal(cv2.imread(str(x.path), 0), cv2.imread(str(y.path), 0))


@pytest.fixture(scope="module")
def fuzz_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ferplus_fuzz")
    write_csv_layout(root / "csv")
    write_folder_layout(root / "folders")
    return root


NEW_SEED = f"Usage,Image name,{VOTE_HEADER}\n".encode() + b"".join(
    f"{u},{n},{','.join(map(str, v))}\n".encode() for u, n, v in ROWS
)
LABEL_SEED = b'fer0000000.png,"(0, 0, 48, 48)",4,0,0,1,3,2,0,0,0,0\nfer0000001.png,0,6,0,0,0,0,0,0,4,0\n'


@FUZZ
@given(data=_any_bytes(NEW_SEED))
def test_fuzzed_fer2013new_csv(fuzz_root, data):
    root = fuzz_root / "csv"
    path = root / "fer2013new.csv"
    path.write_bytes(data)
    request = ReadRequest(root=root, split="train", num_classes=8, max_skip=1.0)
    _check(lambda: FORMATS["ferplus"].read(request), path, _valid_records(8, root))


FER_SEED = b"emotion,pixels,Usage\n" + b"".join(
    f"{i},{' '.join(map(str, face(i).ravel()[:2304]))},{u}\n".encode() for i, (u, _, _) in enumerate(ROWS[:3])
)


@FUZZ
@given(data=_any_bytes(FER_SEED))
def test_fuzzed_fer2013_csv(fuzz_root, data):
    root = fuzz_root / "short"
    if not (root / "fer2013new.csv").exists():
        write_csv_layout(root, ROWS[:3])
    path = root / "fer2013.csv"
    path.write_bytes(data)
    request = ReadRequest(root=root, split="train", num_classes=8, max_skip=1.0)
    _check(lambda: FORMATS["ferplus"].read(request), path, _valid_records(8, root))


@FUZZ
@given(data=_any_bytes(LABEL_SEED))
def test_fuzzed_label_csv(fuzz_root, data):
    root = fuzz_root / "folders"
    path = root / "FER2013Train" / "label.csv"
    path.write_bytes(data)
    request = ReadRequest(root=root, split="train", num_classes=8, max_skip=1.0)
    _check(lambda: FORMATS["ferplus"].read(request), path, _valid_records(8, root))


def test_reproduce_ferplus_smoke_on_the_synthetic_tree(tmp_path, monkeypatch):
    generate_ferplus(tmp_path / "data" / "FERPlus", images=120, seed=0)
    monkeypatch.chdir(tmp_path)  # the configs name data/FERPlus relative to the working directory
    fast = ["data.num_workers=0", "optim.batch_size=8", "model.options.width=8", "model.options.hidden=32"]
    report, ok = smoke_table("ferplus", overrides=fast)
    assert ok, report
    assert report.count("- ok ") == 3 and "ferplus_vgg13_soft_midas" in report


def test_reproduce_ferplus_prints_the_paper_beside_ours_and_our_own_row(monkeypatch):
    wars = {"ferplus-ferplus_vgg13_hard": 0.8012, "ferplus-ferplus_vgg13_soft": 0.8123}
    wars["ferplus-ferplus_vgg13_soft_midas"] = 0.8234

    def one_seed(cfg, folds, *_):
        return {"war": [wars[cfg.name]], "uar": [0.5]}

    monkeypatch.setattr(reproduce_module, "_seed_runs", lambda cfg, folds, overwrite: [])  # nothing trains
    monkeypatch.setattr(reproduce_module, "_one_seed", one_seed)
    table = reproduce_module.reproduce("ferplus")
    assert table.splitlines()[0] == "## ferplus (%): the paper's number beside ours"
    rows = [line.split(" | ") for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    assert [r[:4] for r in rows[1:]] == [
        ["| Majority voting (hard)", "war", "83.85", "80.12"],
        ["| Cross-entropy on the votes (soft)", "war", "84.72", "81.23"],
        ["| Soft + MIDAS mixing (ours)", "war", "-", "82.34"],  # no paper number: ours still shown
    ]


def test_synth_ferplus_cli_writes_both_layouts_that_data_inspect_reads(tmp_path, capsys):
    from softfer.cli import main

    out, png = tmp_path / "fer", tmp_path / "m.png"
    argv = ["synth", "ferplus", str(out), "--images", "30", "--workers", "1", "--stats"]
    argv += ["--montage", str(png)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "wrote 30 FER+ rows" in printed and "majority vote counts: neutral=" in printed and png.is_file()
    assert sorted(p.name for p in (out / "images").iterdir() if p.is_dir()) == sorted(FOLDER.values())
    for root in (out, out / "images"):
        assert main(["data", "inspect", "ferplus", str(root), "--verify"]) == 0
        assert "problems: 0" in capsys.readouterr().out
    assert main(argv) == 2  # an existing tree is never written over without --overwrite


def test_the_demo_recipes_ship_with_the_cpu_settings_and_stay_out_of_the_paper_table():
    from softfer.config import load_config, packaged_configs

    demo = {
        stem: load_config(f"ferplus/{stem}.yaml") for stem in ("demo_hard", "demo_soft", "demo_soft_midas")
    }
    paper_rows = [p.stem for paths in reproduce_module.table_paths().values() for p in paths]
    assert not set(demo) & set(paper_rows)  # `softfer reproduce ferplus` lists the paper's rows only
    assert {"ferplus_vgg13_hard", "ferplus_vgg13_soft", "ferplus_vgg13_soft_midas"} <= set(paper_rows)
    soft = demo["demo_soft"]
    # docs/BENCHMARKS.md "FER+: the demo-sized recipe": the overrides that learn on 2 cores
    assert soft.model.name == "vgg13_ferplus" and soft.model.options == {
        "dropout": 0.5,
        "width": 16,
        "hidden": 256,
        "batch_norm": True,
    }
    assert (soft.optim.name, soft.optim.lr, soft.optim.schedule, soft.optim.epochs) == (
        "adam",
        0.002,
        "cosine",
        10,
    )
    assert (soft.data.augment.affine_degrees, soft.data.num_workers, soft.data.size) == (0, 0, 48)
    assert (soft.data.format, soft.data.root, soft.data.num_classes) == ("ferplus", "softfer_ferplus/data", 8)
    assert (soft.reference.table, soft.reference.metrics) == ("", {})
    labels = {stem: (c.labels.target, c.labels.mixing) for stem, c in demo.items()}
    assert labels == {
        "demo_hard": ("hard", "none"),
        "demo_soft": ("soft", "none"),
        "demo_soft_midas": ("soft", "midas"),
    }
    for stem, cfg in demo.items():  # the three differ only in their labels (and name and run folder)
        same = cfg.model_dump(exclude={"name", "labels", "run"}) == soft.model_dump(
            exclude={"name", "labels", "run"}
        )
        assert same and cfg.run.out_dir == f"softfer_ferplus/runs/ferplus_{stem}"
        assert "not the paper's" in (packaged_configs() / "ferplus" / f"{stem}.yaml").read_text()
    # the paper's configs keep the paper's recipe
    paper = load_config("ferplus/ferplus_vgg13_soft.yaml")
    assert (paper.optim.name, paper.optim.lr, paper.data.augment.affine_degrees) == ("sgd", 0.05, 20)
