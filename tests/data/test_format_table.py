"""The one table of dataset formats (issue 13, item 2): every entry reads its layout through one uniform
``read(ReadRequest)``, refuses unknown splits, and the config, the CLI, the engine and ``data inspect``
all accept exactly the names of ``FORMATS``.

Expected counts come from the smoke tree's documented sizes (``build_smoke_tree``) or from the tree's
own list files, counted here with the csv module, not from the readers under test."""

import argparse
import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

from softfer.classes import AFFECTNET_CLASSES, DFEW_CLASSES
from softfer.data.formats import FORMATS, DatasetFormat, ReadRequest, get_format
from softfer.data.formats import _table as format_table
from softfer.data.records import records_media_kind
from softfer.data.synthetic.layouts import build_smoke_tree

# (split, test) -> number of records, per format; a format added to FORMATS without a row here fails
# test_every_format_has_a_layout_test.
EXPECTED = {
    "ferv39k": {("train", False): 56, ("test", False): 14},
    "afew": {("Train", False): 35, ("Val", False): 35},
    # 360 / 40 class images; evaluation with 8 classes adds the VA-only code-8 row of each list.
    "affectnet": {("train", False): 360, ("val", False): 40, ("val", True): 41},
    # 20 videos of 18 frames, a seeded 16 / 4 split by video.
    "affwild": {("train", False): 288, ("test", False): 72},
    "manifest": {("train", False): 300, ("val", False): 75},
    # 120 seeded rows (96 / 12 / 12 by Usage); training loses 2 rows without an image name (not a face) and
    # 4 faces whose majority is unknown (tests/data/test_ferplus.py checks the rules on hand-made files).
    "ferplus": {("train", False): 90, ("val", False): 12, ("test", False): 12},
}
FORMER_DFER_LABELS = {"train": [0, 1, 2, 3, 4, 5, 6, 0], "test": [6, 5, 4]}


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("formats")
    paths = build_smoke_tree(root, size=32)
    # Former-DFER lists over the DFEW frame folders: relative paths in one list, absolute in the other.
    clips = sorted((paths["dfew"] / "Clip" / "clip_224x224").iterdir())
    lists = root / "data" / "former_dfer"
    lists.mkdir()
    written = {}
    start = 0
    for split, labels in FORMER_DFER_LABELS.items():
        chosen = clips[start : start + len(labels)]
        start += len(labels)
        lines = []
        for clip, label in zip(chosen, labels, strict=True):
            name = f"../DFEW/Clip/clip_224x224/{clip.name}" if split == "train" else str(clip)
            lines.append(f"{name} {len(list(clip.glob('*.jpg')))} {label}")
        (lists / f"{split}.txt").write_text("\n".join(lines) + "\n")
        written[split] = chosen
    paths["former_dfer"] = lists
    paths["former_dfer_clips"] = written
    paths["manifest"] = paths["morphset"]
    return paths


def _request(tree, name: str, split: str | None, *, test: bool = False, **kw) -> ReadRequest:
    kw.setdefault("num_classes", len(FORMATS[name].classes))
    # only a format that reads the statistics is given them: the others refuse them (check_inputs)
    stats = tree["affectnet_stats"] if "affectnet_stats" in FORMATS[name].reads else None
    return ReadRequest(root=tree[name], split=split, affectnet_stats=stats, test=test, **kw)


def _dfew_rows(root: Path, split: str, fold: int) -> list[str]:
    path = root / "EmoLabel_DataSplit" / f"{split}(single-labeled)" / f"set_{fold}.csv"
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    return [f"{int(r[0]):05d}" for r in rows[1:]]


def test_every_format_has_a_layout_test():
    assert set(FORMATS) == {*EXPECTED, "dfew", "former_dfer"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_format_reads_its_layout_through_the_table(tree, name):
    entry = FORMATS[name]
    for (split, test), count in EXPECTED[name].items():
        records = entry.read(_request(tree, name, split, test=test))
        assert len(records) == count, (split, test)
        assert len({r.id for r in records}) == count
        labels = [r.label for r in records]
        # only AffectNet's evaluation keeps label -1 (VA-only images): exactly the rows added above
        va_only = count - EXPECTED[name].get((split, False), count)
        assert labels.count(-1) == va_only
        assert set(labels) - {-1} <= set(range(len(entry.classes)))
        if entry.media != "any":
            assert records_media_kind(records, source=name) == entry.media


def test_dfew_reads_every_fold_and_split_of_its_list_files(tree):
    entry = FORMATS["dfew"]
    assert entry.folds == (1, 2, 3, 4, 5) and entry.media == "clip"
    for fold in entry.folds:
        for split in entry.splits:
            records = entry.read(_request(tree, "dfew", split, fold=fold))
            assert [r.id for r in records] == _dfew_rows(tree["dfew"], split, fold)
            assert {r.fold for r in records} == {fold}
            # votes present in the smoke tree: soft labels are probability vectors
            np.testing.assert_allclose([r.soft.sum() for r in records], 1.0)


def test_former_dfer_reads_a_folder_of_split_lists_and_a_single_list(tree):
    entry = FORMATS["former_dfer"]
    assert entry.present_splits(tree["former_dfer"]) == ("test", "train")
    for split, labels in FORMER_DFER_LABELS.items():
        records = entry.read(_request(tree, "former_dfer", split, allow_outside_root=True))
        assert [r.label for r in records] == labels
        assert [r.path.resolve() for r in records] == [c.resolve() for c in tree["former_dfer_clips"][split]]
        assert [r.num_frames for r in records] == [
            len(list(c.glob("*.jpg"))) for c in tree["former_dfer_clips"][split]
        ]
    single = ReadRequest(root=tree["former_dfer"] / "test.txt", split=None, allow_outside_root=True)
    assert [r.label for r in entry.read(single)] == FORMER_DFER_LABELS["test"]
    with pytest.raises(ValueError, match=r"a folder, not a Former-DFER list file.*\['test', 'train'\]"):
        entry.read(ReadRequest(root=tree["former_dfer"], split=None))


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_unknown_split_is_refused(tree, name):
    with pytest.raises(ValueError, match=r"no_such_split"):
        FORMATS[name].read(_request(tree, name, "no_such_split"))


@pytest.mark.parametrize("name", [n for n in FORMATS if FORMATS[n].splits is not None])
def test_default_test_split_is_one_the_reader_accepts(tree, name):
    entry = FORMATS[name]
    assert entry.default_test_split in entry.splits
    assert entry.read(_request(tree, name, entry.default_test_split))


def test_default_test_splits_of_the_papers():
    # MIDAS Table 5 tests on AFEW's Val; AffectNet's test set is not public (its validation set is used).
    got = {n: f.default_test_split for n, f in FORMATS.items()}
    assert got == {
        "dfew": "test",
        "ferv39k": "test",
        "afew": "Val",
        "affectnet": "val",
        "affwild": "test",
        "manifest": None,
        "former_dfer": None,
        "ferplus": "test",  # FER+ reports FER2013's PrivateTest
    }


def test_only_affwild_borrows_affectnet_statistics():
    assert {n for n, f in FORMATS.items() if f.borrows_va_stats} == {"affwild"}


def test_class_names_come_from_the_table():
    assert FORMATS["affectnet"].class_names(7) == (
        "neutral",
        "happy",
        "sad",
        "surprise",
        "fear",
        "disgust",
        "anger",
    )
    assert FORMATS["affwild"].class_names(8) == AFFECTNET_CLASSES
    for name in ("dfew", "ferv39k", "afew", "manifest", "former_dfer"):
        assert FORMATS[name].class_names(7) == DFEW_CLASSES
    with pytest.raises(ValueError, match=r"num_classes=8, but the dfew format reads 7 classes"):
        FORMATS["dfew"].class_names(8)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_format_takes_only_the_class_counts_its_reader_supports(tree, name):
    """Found (audit): data.num_classes=3 on DFEW passed (only the upper end was checked) and the run
    crashed in the loss on 7-class votes. Each count a format takes reads labels within it."""
    entry = FORMATS[name]
    counts = entry.class_counts or (len(entry.classes),)
    for n in range(2, len(entry.classes) + 1):
        if n not in counts:
            with pytest.raises(ValueError, match=rf"num_classes={n}, but the {name} format reads"):
                entry.class_names(n)
            continue
        assert entry.class_names(n) == entry.classes[:n]
        for split, test in EXPECTED[name]:
            request = _request(tree, name, split, test=test, num_classes=n)
            if entry.borrows_va_stats and n != len(entry.classes):  # the tree's statistics have 8 classes
                with pytest.raises(
                    ValueError, match=rf"statistics of 8 classes, but data.num_classes is {n}"
                ):
                    entry.read(request)
                continue
            records = entry.read(request)
            assert {r.label for r in records} - {-1} <= set(range(n)), (n, split)
            assert all(r.soft is None or len(r.soft) == n for r in records), (n, split)


def test_afew_raw_videos_are_refused_with_the_preprocess_command_and_inspect_accepts_them(tmp_path):
    (tmp_path / "AFEW" / "Val" / "Fear").mkdir(parents=True)
    (tmp_path / "AFEW" / "Val" / "Fear" / "000123.avi").write_bytes(b"stub")
    request = ReadRequest(root=tmp_path / "AFEW", split="Val")
    with pytest.raises(
        ValueError, match=r"1 AFEW clips are raw videos.*softfer preprocess .* --layout mirror"
    ):
        FORMATS["afew"].read(request)
    allowed = ReadRequest(root=tmp_path / "AFEW", split="Val", allow_raw_videos=True)
    assert [r.id for r in FORMATS["afew"].read(allowed)] == ["Fear/000123"]


def test_afew_copy_without_split_folders_is_read_whole(tmp_path, tree):
    entry = FORMATS["afew"]
    assert entry.present_splits(tree["afew"]) == ("Train", "Val")
    # class folders directly under the root (split folders in any case are found too)
    clip = next(p for p in sorted((tree["afew"] / "Val" / "Happy").iterdir()) if p.is_dir())
    shutil.copytree(clip, tmp_path / "flat" / "Happy" / clip.name)
    assert entry.present_splits(tmp_path / "flat") == (None,)
    records = entry.read(ReadRequest(root=tmp_path / "flat", split=None))
    assert [(r.id, r.label) for r in records] == [(f"Happy/{clip.name}", DFEW_CLASSES.index("happy"))]
    shutil.copytree(clip, tmp_path / "lower" / "val" / "Happy" / clip.name)
    assert entry.present_splits(tmp_path / "lower") == ("Val",)
    assert len(entry.read(ReadRequest(root=tmp_path / "lower", split="Val"))) == 1


def test_affwild_without_statistics_names_the_config_key(tree):
    request = ReadRequest(root=tree["affwild"], split="train", num_classes=8)
    with pytest.raises(ValueError, match=r"Aff-Wild labels need data.affectnet_stats"):
        FORMATS["affwild"].read(request)
    # the smoke statistics have AffectNet's 8 classes: a 7-class head would misread the labels
    with pytest.raises(ValueError, match=r"statistics of 8 classes, but data.num_classes is 7"):
        FORMATS["affwild"].read(_request(tree, "affwild", "train", num_classes=7))


def test_malformed_entries_and_duplicate_names_are_refused():
    base = FORMATS["dfew"]
    with pytest.raises(ValueError, match=r"default_test_split 'val' is not one of its splits"):
        DatasetFormat(**{**base.__dict__, "default_test_split": "val"})
    with pytest.raises(ValueError, match=r"media 'video'"):
        DatasetFormat(**{**base.__dict__, "media": "video"})
    with pytest.raises(ValueError, match=r"'dfew' is registered twice"):
        format_table((base, FORMATS["afew"], base))
    with pytest.raises(ValueError, match=r"unknown data format 'nope'; the formats are dfew, ferv39k"):
        get_format("nope")


# --- every consumer derives its list of formats from FORMATS ------------------------------------------


def _schema_enum(schema: dict, prop: dict) -> set[str]:
    """Every string enum value reachable from a property of a pydantic JSON schema ($ref, anyOf)."""
    out: set[str] = set()
    stack = [prop]
    while stack:
        node = stack.pop()
        if "$ref" in node:
            stack.append(schema["$defs"][node["$ref"].split("/")[-1]])
        out |= {v for v in node.get("enum", []) if isinstance(v, str)}
        stack += [n for key in ("anyOf", "oneOf", "allOf") for n in node.get(key, [])]
    return out


def test_config_accepts_exactly_the_table():
    from pydantic import ValidationError

    from softfer.config import DataConfig

    schema = DataConfig.model_json_schema()
    assert _schema_enum(schema, schema["properties"]["format"]) == set(FORMATS)
    assert _schema_enum(schema, schema["properties"]["test_format"]) == set(FORMATS)
    for name in FORMATS:
        assert DataConfig(format=name, test_format=name).format == name
    with pytest.raises(ValidationError):
        DataConfig(format="not_a_format")


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return next(a.choices[name] for a in actions if name in a.choices)


def test_cli_data_inspect_offers_exactly_the_table():
    from softfer.cli import build_parser

    inspect = _subparser(_subparser(build_parser(), "data"), "inspect")
    (fmt,) = [a for a in inspect._actions if a.dest == "format"]
    assert set(fmt.choices) == set(FORMATS)


def test_engine_and_inspect_read_every_format_of_the_table(tree):
    from softfer.config import DataConfig
    from softfer.data.inspect import inspect_dataset
    from softfer.engine.data import class_names, read_records

    for name, entry in FORMATS.items():
        k = len(entry.classes)
        split = entry.default_test_split or ("test" if name == "former_dfer" else "val")
        outside = name == "former_dfer"  # its lists point into data/DFEW, outside its own root
        stats = str(tree["affectnet_stats"]) if "affectnet_stats" in entry.reads else None
        data = DataConfig(
            format=name,
            root=str(tree[name]),
            num_classes=k,
            affectnet_stats=stats,
            allow_outside_root=outside,
        )
        direct = entry.read(_request(tree, name, split, num_classes=k, allow_outside_root=outside))
        assert [r.id for r in read_records(data, split)] == [r.id for r in direct]
        assert class_names(name, k) == entry.classes[:k]
        report = inspect_dataset(name, str(tree[name]), affectnet_stats=stats, allow_outside_root=outside)
        assert report.startswith(f"{name} dataset at ") and "problems: 0" in report, report
