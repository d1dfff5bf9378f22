"""Issue 14, case 11: property-based fuzzing of every table reader. Whatever bytes a dataset's table
holds, reading it returns valid records or raises a ValueError naming the file: never another exception
(UnicodeDecodeError, IndexError, KeyError, csv.Error, StopIteration, OverflowError...)."""

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from softfer.data.formats import FORMATS, ReadRequest, read_votes
from softfer.data.formats.ferv39k import read_soft_labels
from softfer.data.label_files import va_to_labels, votes_to_labels
from softfer.data.records import Record
from tests.data.test_formats import _dfew_release, _frames

FUZZ = settings(
    max_examples=60,
    deadline=None,
    database=None,  # nothing written into the repository
    derandomize=True,  # the same examples on every run: CI stays reproducible
    phases=[Phase.explicit, Phase.generate, Phase.shrink],  # no explain phase: it writes patch files
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
# Tokens that reach the corners of table parsing: separators, quotes, encodings, numbers, paths, JSON.
TOKENS = [
    b",", b" ", b"\t", b"\n", b"\r\n", b"\r", b'"', b"'", b"\x00", b"\xff", b"\xfe\xff", b"\xff\xfe",
    b"\xef\xbb\xbf", b"\xe9", b"-", b"-2", b"0", b"1", b"7", b"10", b"1e999", b"-1e999", b"nan", b"inf",
    b"9" * 25, b"3.5", b"../", b"/", b"\\", b".", b"{", b"}", b"[", b"]", b":", b"null", b"true",
    b"Happy", b"happy", b"label", b"path", b"split", b"train", b"test", b"valence", b";",
]  # fmt: skip


def _mutated(seed: bytes) -> st.SearchStrategy[bytes]:
    """``seed`` with a few insertions, deletions and replacements of bytes or tokens."""
    piece = st.one_of(st.sampled_from(TOKENS), st.binary(min_size=1, max_size=3))
    edit = st.tuples(st.integers(0, len(seed)), st.sampled_from(["insert", "delete", "replace"]), piece)

    def apply(edits: list[tuple[int, str, bytes]]) -> bytes:
        data = bytearray(seed)
        for pos, op, token in edits:
            pos = min(pos, len(data))
            if op == "insert":
                data[pos:pos] = token
            elif op == "delete":
                del data[pos : pos + len(token)]
            else:
                data[pos : pos + len(token)] = token
        return bytes(data)

    return st.lists(edit, min_size=1, max_size=6).map(apply)


def _any_bytes(seed: bytes) -> st.SearchStrategy[bytes]:
    tokens = st.lists(st.sampled_from(TOKENS), max_size=30).map(b"".join)
    return st.one_of(_mutated(seed), _mutated(seed), tokens, st.binary(max_size=200))


def _check(read: Callable[[], object], path: Path, check: Callable[[object], None]) -> None:
    """``read()`` returns something ``check`` accepts, or raises a ValueError naming ``path``'s file."""
    try:
        result = read()
    except ValueError as exc:
        # softfer's own error, not a subclass that leaked (UnicodeDecodeError, JSONDecodeError)
        assert type(exc) is ValueError, f"{type(exc).__name__}: {exc}"
        assert path.name in str(exc), f"an error without the file name: {exc}"
        return
    check(result)


def path_key(path: Path) -> str:
    return os.path.normpath(os.path.abspath(path))


def _valid_records(num_classes: int, root: Path) -> Callable[[object], None]:
    def check(records: object) -> None:
        assert isinstance(records, list)
        for r in records:
            assert isinstance(r, Record) and -1 <= r.label < num_classes
            if r.soft is not None:
                assert np.all(r.soft >= 0) and np.isclose(r.soft.sum(), 1.0)
            if r.va is not None:
                assert np.all(np.isfinite(r.va)) and np.all(np.abs(r.va) <= 1)
            assert path_key(r.path).startswith(path_key(root))
        assert len({path_key(r.path) for r in records}) == len(records)

    return check


@pytest.fixture(scope="module")
def trees(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("fuzz")
    _dfew_release(root / "dfew")
    ferv = root / "ferv39k"
    for clip in ("Action/Happy/0001", "Action/Sad/0002"):
        _frames(ferv / "2_ClipsforFaceCrop" / clip, n=2)
    (ferv / "4_setups" / "All_scenes").mkdir(parents=True)
    (ferv / "4_setups" / "All_scenes" / "test_All.csv").write_text("Action/Sad/0009 5\n")
    for c in ("a", "b"):
        _frames(root / "lists" / "clips" / c, n=2)
        _frames(root / "manifest" / "clips" / c, n=2)
    (root / "lists" / "test.txt").write_text("clips/b 2 1\n")
    aff = root / "affectnet"
    (aff / "Manually_Annotated_Images" / "1").mkdir(parents=True)
    from PIL import Image

    Image.new("RGB", (32, 32)).save(aff / "Manually_Annotated_Images" / "1" / "a.jpg")
    (aff / "Manually_Annotated_file_lists").mkdir()
    return {"root": root, "dfew": root / "dfew", "ferv39k": ferv, "lists": root / "lists", "affectnet": aff}


DFEW_SPLIT = b"video_name,label\n1,1\n2,4\n"
ANNOTATION = b"order,video_name,Happy,Sad,Neutral,Angry,Surprise,Disgust,Fear\n1,00001,8,1,1,0,0,0,0\n"
FERV_LIST = b"Action/Happy/0001 3\nAction/Sad/0002 Sad\n"
SOFT = b"clip,happy,sad,neutral,angry,surprise,disgust,fear\nAction/Happy/0001,6,0,4,0,0,0,0\n"
FORMER = b"clips/a 2 0\nclips/b 2 6\n"
AFFECTNET = (
    b"subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal\n"
    b"1/a.jpg,2,3,20,21,,7,0.5,-0.25\n1/a.jpg,0,0,9,9,,9,-2,-2\n"
)
MANIFEST = b"path,label,valence,arousal,split\nclips/a,1,0.1,0.2,train\nclips/b,happy,-2,-2,test\n"
JSONL = b'{"path": "clips/a", "label": 1}\n{"path": "clips/b", "happy": 3, "sad": 1, "neutral": 0, ' + (
    b'"angry": 0, "surprise": 0, "disgust": 0, "fear": 0, "split": "train"}\n'
)
VOTES = (
    b"video_name,Happy,Sad,Neutral,Angry,Surprise,Disgust,Fear\n00001,8,1,1,0,0,0,0\n00002,0,9,1,0,0,0,0\n"
)
_VA_ROWS = np.random.default_rng(0).uniform(-0.3, 0.3, size=(16, 2)) + np.repeat(
    [[0.5, 0.2], [-0.5, -0.1]], 8, 0
)
VA = b"id,label,valence,arousal\n" + b"".join(
    f"r{i},{i // 8},{v:.3f},{a:.3f}\n".encode() for i, (v, a) in enumerate(_VA_ROWS)
)


@FUZZ
@given(data=_any_bytes(DFEW_SPLIT))
def test_dfew_split_csv(trees, data):
    path = trees["dfew"] / "EmoLabel_DataSplit" / "train(single-labeled)" / "set_1.csv"
    path.write_bytes(data)
    request = ReadRequest(root=trees["dfew"], split="train", max_skip=1.0)
    _check(lambda: FORMATS["dfew"].read(request), path, _valid_records(7, trees["dfew"]))


@FUZZ
@given(data=_any_bytes(ANNOTATION))
def test_dfew_annotation_table(trees, data):
    path = trees["root"] / "annotation.csv"
    path.write_bytes(data)

    def check(votes: object) -> None:
        assert isinstance(votes, dict)
        assert all(v.shape == (7,) and v.min() >= 0 and v.sum() > 0 for v in votes.values())

    _check(lambda: read_votes(path), path, check)


@FUZZ
@given(data=_any_bytes(AFFECTNET))
def test_affectnet_csv(trees, data):
    path = trees["affectnet"] / "Manually_Annotated_file_lists" / "training.csv"
    path.write_bytes(data)
    request = ReadRequest(root=trees["affectnet"], split="train", num_classes=8, max_skip=1.0)
    _check(lambda: FORMATS["affectnet"].read(request), path, _valid_records(8, trees["affectnet"]))


@FUZZ
@given(data=_any_bytes(FERV_LIST))
def test_ferv39k_list(trees, data):
    path = trees["ferv39k"] / "4_setups" / "All_scenes" / "train_All.csv"
    path.write_bytes(data)
    request = ReadRequest(root=trees["ferv39k"], split="train", max_skip=1.0)
    _check(lambda: FORMATS["ferv39k"].read(request), path, _valid_records(7, trees["ferv39k"]))


@FUZZ
@given(data=_any_bytes(SOFT))
def test_ferv39k_soft_label_table(trees, data):
    path = trees["root"] / "plus.csv"
    path.write_bytes(data)

    def check(soft: object) -> None:
        assert isinstance(soft, dict)
        assert all(k and np.all(v >= 0) and np.isclose(v.sum(), 1.0) for k, v in soft.items())

    _check(lambda: read_soft_labels(path), path, check)


@FUZZ
@given(data=_any_bytes(FORMER))
def test_former_dfer_list(trees, data):
    path = trees["lists"] / "train.txt"
    path.write_bytes(data)
    request = ReadRequest(root=trees["lists"], split="train", max_skip=1.0)
    _check(lambda: FORMATS["former_dfer"].read(request), path, _valid_records(7, trees["lists"]))


@FUZZ
@given(data=_any_bytes(MANIFEST))
def test_manifest_csv(trees, data):
    path = trees["root"] / "manifest" / "m.csv"
    path.write_bytes(data)
    request = ReadRequest(root=path, split=None, max_skip=1.0)
    _check(lambda: FORMATS["manifest"].read(request), path, _valid_records(7, path.parent))


@FUZZ
@given(data=_any_bytes(JSONL))
def test_manifest_jsonl(trees, data):
    path = trees["root"] / "manifest" / "m.jsonl"
    path.write_bytes(data)
    request = ReadRequest(root=path, split=None, max_skip=1.0)
    _check(lambda: FORMATS["manifest"].read(request), path, _valid_records(7, path.parent))


@FUZZ
@given(data=_any_bytes(VOTES))
def test_vote_table(trees, data):
    path, out = trees["root"] / "votes.csv", trees["root"] / "votes_out.csv"
    path.write_bytes(data)

    def check(report: object) -> None:
        assert isinstance(report, str) and out.is_file()

    _check(lambda: votes_to_labels(path, out, overwrite=True), path, check)


@FUZZ
@given(data=_any_bytes(VA))
def test_va_table(trees, data):
    path, out = trees["root"] / "va.csv", trees["root"] / "va_out.csv"
    path.write_bytes(data)

    def check(report: object) -> None:
        assert isinstance(report, str) and out.is_file()

    _check(lambda: va_to_labels(path, out, num_classes=2, overwrite=True), path, check)


def test_the_seeds_are_valid_tables(trees):
    """Each fuzzed table starts from a file that reads: the mutations explore near valid input."""
    root = trees["root"]
    (root / "votes.csv").write_bytes(VOTES)
    assert "clips: 2" in votes_to_labels(root / "votes.csv", root / "votes_out.csv", overwrite=True)
    (root / "va.csv").write_bytes(VA)
    assert "rows: 16" in va_to_labels(root / "va.csv", root / "va_out.csv", num_classes=2, overwrite=True)
    (root / "manifest" / "m.csv").write_bytes(MANIFEST)
    assert len(FORMATS["manifest"].read(ReadRequest(root=root / "manifest" / "m.csv", split=None))) == 2
