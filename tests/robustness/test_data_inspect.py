"""Issue 14, `data inspect`: labels checked against their votes (case 2), `--verify` catching what libjpeg
warns about (case 5), special files never opened (case 9)."""

import io
import os
import re
import signal
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from softfer.data.inspect import inspect_dataset
from softfer.data.records import Record
from softfer.io.images import MediaError, decode_image
from tests.data.test_formats import _csv, _frames
from tests.robustness.test_media_gate import _blocks, _jpeg

DFEW_HEADER = ["Happy", "Sad", "Neutral", "Angry", "Surprise", "Disgust", "Fear"]


def _dfew(root: Path, clips: int = 70, header: list[str] = DFEW_HEADER) -> None:
    """Clip c has label (c-1) % 7 (1-based in the files) with 8 votes, and 2 votes for the next class;
    every fold tests on the multiples of 5 and trains on the rest."""
    ids = list(range(1, clips + 1))
    for c in ids:
        _frames(root / "Clip" / "clip_224x224" / f"{c:05d}", n=2)
    votes = []
    for c in ids:
        v = [0] * 7
        v[(c - 1) % 7], v[c % 7] = 8, 2
        votes.append([c, f"{c:05d}", *v])
    _csv(root / "Annotation" / "annotation.csv", ["order", "video_name", *header], votes)
    for fold in range(1, 6):
        for split, rows in (("train", [c for c in ids if c % 5]), ("test", [c for c in ids if c % 5 == 0])):
            _csv(
                root / "EmoLabel_DataSplit" / f"{split}(single-labeled)" / f"set_{fold}.csv",
                ["video_name", "label"],
                [[c, (c - 1) % 7 + 1] for c in rows],
            )


@contextmanager
def _deadline(seconds: int):
    """Fail instead of hanging (opening a FIFO for reading blocks until a writer comes)."""

    def _raise(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, _raise)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def test_a_swapped_vote_header_is_reported_per_split_with_a_loud_warning(tmp_path):
    clean = inspect_dataset("dfew", str(_tree(tmp_path / "clean", DFEW_HEADER)))
    assert re.search(r"fold 1 train\s+0\.0% of 56 labels disagree with their vote argmax", clean), clean
    assert "WARNING" not in clean and "problems: 0" in clean
    swapped = ["Sad", "Happy", *DFEW_HEADER[2:]]  # the happy and sad vote columns swapped
    report = inspect_dataset("dfew", str(_tree(tmp_path / "swapped", swapped)))
    # 8 happy and 8 sad clips of 56 training clips (14 test clips: 2 and 2) now vote for the other class
    assert re.search(r"fold 1 train\s+28\.6% of 56 labels disagree with their vote argmax", report), report
    assert re.search(r"fold 3 test\s+28\.6% of 14 labels disagree", report), report
    warning = (
        "WARNING fold 1 train: 28.6% of its labels are not their votes' argmax, above 10% "
        "(happy: 8 of 8 point to sad; sad: 8 of 8 point to happy): are the annotation table's class "
        "columns swapped?"
    )
    assert warning in report, report
    assert "problems: 10" in report  # one warning per fold and split
    from softfer.data.inspect import LABEL_VOTE_THRESHOLD

    assert LABEL_VOTE_THRESHOLD == 0.10  # the documented threshold (docs/DATASETS.md)


def _tree(root: Path, header: list[str]) -> Path:
    _dfew(root, header=header)
    return root


def test_a_tie_that_includes_the_label_agrees():
    from softfer.data.inspect import label_vote_disagreement

    soft = np.array([0.4, 0.4, 0.2, 0, 0, 0, 0])
    records = [
        Record(id="a", path=Path("a"), label=1, soft=soft),
        Record(id="b", path=Path("b"), label=2, soft=soft),
    ]
    assert label_vote_disagreement(records, ("h", "s", "n", "a", "u", "d", "f"))[:2] == (2, 1)


def _damaged_jpeg(path: Path) -> None:
    """A JPEG whose entropy-coded middle is overwritten: markers intact, OpenCV still returns an image."""
    yy, xx = np.mgrid[:96, :96]
    img = np.stack([(xx * 3) % 256, (yy * 5) % 256, (xx * yy) % 256], axis=-1).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=90)
    data = bytearray(buf.getvalue())
    mid = len(data) // 2
    data[mid : mid + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))


def test_verify_reports_a_jpeg_whose_entropy_data_is_damaged(tmp_path):
    from softfer.io.images import verify_images

    _dfew(tmp_path, clips=7)
    bad = tmp_path / "Clip" / "clip_224x224" / "00003" / "00003_00001.jpg"
    _damaged_jpeg(bad)
    data = bad.read_bytes()
    assert data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9"  # what the old marker check looked at
    # OpenCV alone returns a damaged image; the loader's decode refuses it (issue 21)
    assert cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR).shape == (96, 96, 3)
    with pytest.raises(MediaError, match=r"00003_00001\.jpg: damaged JPEG \(Corrupt JPEG data"):
        decode_image(data, bad)
    found = list(verify_images([bad, bad.with_name("00003_00002.jpg")]))
    damage = "damaged JPEG (Corrupt JPEG data: premature end of data segment); replace the file or remove it"
    assert found == [(bad, damage)]
    report = inspect_dataset("dfew", str(tmp_path), verify=True)
    assert "verified every image and video file: 1 unreadable" in report, report
    assert f"unreadable or damaged image: {bad} ({damage})" in report


def test_verify_passes_exactly_what_training_accepts(tmp_path, capfd):
    """Found: `data inspect --verify` called a JPEG with bytes after its last scan (common in webcam frames,
    no pixel lost) damaged, which training decodes; and passed a 16-bit PNG holding 8-bit values, which
    training refuses."""
    from softfer.io.images import verify_images

    data = _jpeg(_blocks())
    tail = tmp_path / "tail.jpg"
    tail.write_bytes(data[:-2] + b"\x00\x00" + data[-2:])  # as in test_media_gate
    wide = tmp_path / "wide.png"
    cv2.imwrite(str(wide), np.full((32, 48, 3), 200, np.uint16))
    decode_image(tail.read_bytes(), tail)  # training's decode accepts the first, refuses the second
    with pytest.raises(MediaError, match="8-bit pixels in a 16-bit container") as refused:
        decode_image(wide.read_bytes(), wide)
    assert "extraneous bytes before marker 0xd9" in capfd.readouterr().err  # training passes it on
    png = cv2.imencode(".png", np.full((64, 64, 3), 100, np.uint8))[1].tobytes()
    cut = tmp_path / "cut.png"
    cut.write_bytes(png[: len(png) // 2])
    found = list(verify_images([tail, wide, cut]))
    assert found[0] == (wide, str(refused.value).removeprefix(f"{wide}: "))
    assert found[1][0] == cut and re.fullmatch(r"corrupt or unreadable image \(.*incomplete\)", found[1][1])
    assert len(found) == 2 and capfd.readouterr().err == ""  # what decoders said: in the report only


def test_a_fifo_in_a_frame_folder_is_never_opened(tmp_path):
    _dfew(tmp_path, clips=7)
    fifo = tmp_path / "Clip" / "clip_224x224" / "00002" / "00002_00003.jpg"
    os.mkfifo(fifo)
    with _deadline(30):
        report = inspect_dataset("dfew", str(tmp_path), verify=True)
    assert "verified every image and video file: 0 unreadable" in report, report
    note = "fold 1 train: 00002: 1 special file(s) ignored, not regular (00002_00003.jpg)"
    assert note in report, report
    from softfer.io.images import verify_images

    with _deadline(30):
        assert list(verify_images([fifo])) == [(fifo, "not a regular file")]


@pytest.mark.parametrize("kind", ["image", "video"])
def test_verify_refuses_special_files_given_as_media(tmp_path, kind):
    (tmp_path / "clips").mkdir()
    name = "clips/x.jpg" if kind == "image" else "clips/x.mp4"
    os.mkfifo(tmp_path / name)
    man = tmp_path / "m.csv"
    _csv(man, ["path", "label"], [[name, 0]])
    with _deadline(30):
        report = inspect_dataset("manifest", str(man), verify=True)
    kind_name = "image" if kind == "image" else "video file"
    assert f"all: {name}: {kind_name} not a regular file ({tmp_path / name})" in report, report


def test_verify_refuses_a_face_box_outside_its_image_as_training_does(tmp_path, capsys):
    """Found (audit): an AffectNet face box lying wholly outside its image passed `data inspect --verify`
    ("0 unreadable"), and training refused the image."""
    import pandas as pd

    from softfer.cli import main
    from softfer.data.datasets import ImageDataset
    from softfer.data.synthetic.generate import generate_affectnet

    generate_affectnet(tmp_path, images=40, size=32, seed=0, workers=1)
    assert main(["data", "inspect", "affectnet", str(tmp_path), "--verify"]) == 0
    capsys.readouterr()
    table_path = tmp_path / "Manually_Annotated_file_lists" / "training.csv"
    table = pd.read_csv(table_path, dtype=str, keep_default_na=False)
    table.loc[1, "face_x"] = "-50"
    table.to_csv(table_path, index=False)
    assert main(["data", "inspect", "affectnet", str(tmp_path), "--verify"]) == 1
    out = " ".join(capsys.readouterr().out.split())
    listed = re.search(r"unusable image: (\S+): (face box x=-50 .*? inside\))", out)
    assert listed, out
    row = table.loc[1]
    box = tuple(int(row[k]) for k in ("face_x", "face_y", "face_width", "face_height"))
    record = Record(id="x", path=Path(listed[1]), label=0, box=box)
    with pytest.raises(MediaError) as refused:  # training's refusal, word for word
        ImageDataset([record], num_classes=8, train=False, size=32).load(0)
    assert str(refused.value) == f"{listed[1]}: {listed[2]}"


def test_inspect_exits_1_when_it_lists_a_problem(tmp_path, capsys):
    """Found (audit): missing clip folders were listed ("problems: 5") with exit status 0."""
    import shutil

    from softfer.cli import main

    _dfew(tmp_path, clips=7)
    assert main(["data", "inspect", "dfew", str(tmp_path)]) == 0
    assert "problems: 0" in capsys.readouterr().out
    shutil.rmtree(tmp_path / "Clip" / "clip_224x224" / "00003")
    assert main(["data", "inspect", "dfew", str(tmp_path)]) == 1
    assert "problems: 0" not in capsys.readouterr().out


def test_a_manifest_is_counted_per_split_its_rows_name(tmp_path):
    """Found (README walk): a manifest with a split column was counted only as "all 375 items"."""
    rows = [[f"c{i}", i % 7, "train" if i < 5 else "val"] for i in range(7)]
    for row in rows:
        _frames(tmp_path / row[0], n=1)
    _csv(tmp_path / "m.csv", ["path", "label", "split"], rows)
    text = inspect_dataset("manifest", str(tmp_path / "m.csv"))
    counts = {m[1]: int(m[2]) for m in re.finditer(r"^ +(\w+) +(\d+) items", text, re.M)}
    assert counts == {"all": 7, "train": 5, "val": 2}
    assert re.search(
        r"^ +val +2 items  happy=0, sad=0, neutral=0, angry=0, surprise=0, disgust=1, fear=1$", text, re.M
    )
