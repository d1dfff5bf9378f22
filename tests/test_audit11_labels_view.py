"""Audit 11 G5, L11, L16, L18 (`labels votes` and `labels va`) and G4 (`softfer view`).

G5: `labels votes --id-column happy` wrote happy's vote counts as the clip ids. L11: an id such as
``=cmd|' /C calc'!A0`` went into the output CSV as it was (a formula when a spreadsheet opens it). L16:
`labels va --method gmm --unsquared` was accepted and meant nothing. L18: a ';'-separated CSV (Excel's "CSV"
where the decimal mark is a comma) read as one column. G4: `view` drew a hand-edited result whose top,
state, second, margin, times, boxes or summary contradicted its own numbers.
"""

import copy
import csv
import hashlib
import json
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from softfer.cli import main
from softfer.data.label_files import va_to_labels, votes_to_labels
from softfer.io.tables import read_table
from softfer.predict.view import write_view

CLASSES = ["happy", "sad", "neutral", "angry", "surprise", "disgust", "fear"]


def _write(path: Path, rows: list[list], delimiter: str = ",") -> Path:
    with path.open("w", newline="") as f:
        csv.writer(f, delimiter=delimiter).writerows(rows)
    return path


def _votes(tmp_path: Path, ids: list[str], name: str = "v.csv") -> Path:
    rows = [["id", *CLASSES]] + [
        [i, 3, 1, 0, 0, 0, 0, 0] if n % 2 else [i, 0, 0, 4, 0, 0, 0, 0] for n, i in enumerate(ids)
    ]
    return _write(tmp_path / name, rows)


# --- G5: one column, one role ---------------------------------------------------------------------------


def test_an_id_column_that_is_a_vote_column_is_refused(tmp_path, capsys):
    src = _votes(tmp_path, ["a", "b"])
    with pytest.raises(ValueError, match=r"column 'happy' is given as a class's votes and as the clip ids"):
        votes_to_labels(src, tmp_path / "o.csv", id_column="happy")
    assert main(["labels", "votes", str(src), "--out", str(tmp_path / "o.csv"), "--id-column", "Happy"]) == 2
    assert "give each column one role" in capsys.readouterr().err
    assert not (tmp_path / "o.csv").exists()


def test_a_class_mapped_onto_the_id_column_is_refused(tmp_path):
    """Numeric ids read as happy's votes (the header 'happy' then counts as the class's, so nothing else
    caught it): the id column found by its name is a vote column too."""
    src = _votes(tmp_path, ["1", "2"])
    with pytest.raises(ValueError, match=r"column 'id' is given as a class's votes and as the clip ids"):
        votes_to_labels(src, tmp_path / "o.csv", column_map={"happy": "id"})
    votes_to_labels(src, tmp_path / "ok.csv")  # the table itself is fine
    with (tmp_path / "ok.csv").open() as f:
        assert [r["id"] for r in csv.DictReader(f)] == ["1", "2"]


# --- L11: no formula into a CSV made for spreadsheets ---------------------------------------------------


@pytest.mark.parametrize("bad", ["=cmd|' /C calc'!A0", "+1+cmd|'x'!A0", "-2+3", "@SUM(A1:A2)", "=1"])
def test_an_id_a_spreadsheet_runs_as_a_formula_is_refused_naming_its_row(tmp_path, bad):
    src = _votes(tmp_path, ["a", bad, "c"])
    with pytest.raises(ValueError, match=r"v\.csv:line 3: clip id .* begins with .*formula") as caught:
        votes_to_labels(src, tmp_path / "o.csv")
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "o.csv").exists()


def test_ids_that_are_numbers_or_plain_text_are_written_as_they_are(tmp_path):
    ids = ["-3", "+4.5", "1e3", "clip=1", "a-b", "00017"]
    votes_to_labels(_votes(tmp_path, ids), tmp_path / "o.csv")
    with (tmp_path / "o.csv").open() as f:
        assert [r["id"] for r in csv.DictReader(f)] == ids


# --- L16: --unsquared only with --method euclid ---------------------------------------------------------


def _va_table(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    centres = [(0.6, 0.3), (-0.6, 0.3), (0.0, -0.6)]
    rows = [["name", "valence", "arousal", "label"]]
    for i in range(30):
        v, a = np.clip(np.array(centres[i % 3]) + rng.normal(0, 0.1, 2), -1, 1)
        rows.append([f"im{i}", round(float(v), 3), round(float(a), 3), i % 3])
    return _write(tmp_path / "va.csv", rows)


def test_unsquared_with_the_gmm_method_is_refused(tmp_path, capsys):
    src = _va_table(tmp_path)
    with pytest.raises(ValueError, match=r"--unsquared .* applies to --method euclid only"):
        va_to_labels(src, tmp_path / "o.csv", method="gmm", squared=False, num_classes=3)
    argv = ["labels", "va", str(src), "--out", str(tmp_path / "o.csv"), "--num-classes", "3"]
    assert main([*argv, "--unsquared"]) == 2  # --method gmm is the default
    assert "--method euclid" in capsys.readouterr().err and not (tmp_path / "o.csv").exists()
    assert main([*argv, "--unsquared", "--method", "euclid"]) == 0
    assert "euclid (unsquared)" in capsys.readouterr().out


# --- L18: ';'-separated tables ----------------------------------------------------------------------------


def test_a_semicolon_separated_vote_table_reads_as_its_comma_separated_copy(tmp_path):
    rows = [["id", *CLASSES], ["a", 3, 1, 0, 0, 0, 0, 0], ["b", 0, 0, 4, 1, 0, 0, 0]]
    votes_to_labels(_write(tmp_path / "comma.csv", rows), tmp_path / "from_comma.csv")
    votes_to_labels(_write(tmp_path / "semi.csv", rows, ";"), tmp_path / "from_semi.csv")
    assert (tmp_path / "from_semi.csv").read_text() == (tmp_path / "from_comma.csv").read_text()


def test_the_header_line_decides_semicolons_over_decimal_commas(tmp_path):
    """Excel writes 0,5 where the decimal mark is a comma: the commas of the numbers are no delimiters."""
    path = tmp_path / "va.csv"
    path.write_text("valence;arousal;label\n0,5;-0,25;1\n")
    table = read_table(path)
    assert table.header == ["valence", "arousal", "label"] and table.rows == [["0,5", "-0,25", "1"]]
    path.write_text("id,note\na,x;y\n")  # a comma CSV whose cells hold ';' stays one
    assert read_table(path).rows == [["a", "x;y"]]
    path.write_text("id\tnote\na\tx;y\n")
    assert read_table(path).rows == [["a", "x;y"]]


# --- G4: view refuses derived fields that contradict the numbers ----------------------------------------


def _identity(path: Path) -> dict:
    return {"bytes": path.stat().st_size, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def _row(frame: int, time: float, box=(20.0, 10.0, 80.0, 70.0)) -> dict:
    """A face row as predict derives it: p (0.6, 0.3, 0.1) -> top happy, margin 0.3 < 0.8: ambiguous, sad."""
    x0, y0, x1, y1 = box
    return {
        "frame": frame, "time": time, "track": 0, "status": "detected", "x0": x0, "y0": y0, "x1": x1,
        "y1": y1, "p_happy": 0.6, "p_sad": 0.3, "p_neutral": 0.1, "entropy": 0.8979457248, "top": "happy",
        "margin": 0.3, "state": "ambiguous", "second": "sad",
    }  # fmt: skip


def _result(media: Path, rows: list[dict], *, photo: bool, size: tuple[int, int]) -> dict:
    n = len(rows)
    meta = {
        "media": str(media), "media_identity": _identity(media), "model": "m", "note": "n",
        "classes": ["happy", "sad", "neutral"], "photo": photo, "frames": n, "size": list(size),
        "faces": 1, "tracks": [{"id": 0, "first_frame": 0, "last_frame": n - 1, "frames_with_face": n}],
        "calibration": {"ambiguity": {"threshold": 0.8}},
    }  # fmt: skip
    summary = {"track": 0, "frames": n, "p_happy": 0.6, "p_sad": 0.3, "p_neutral": 0.1, "share_happy": 1.0}
    summary |= {"share_sad": 0.0, "share_neutral": 0.0, "share_ambiguous": 1.0}
    return {"meta": meta, "frames": rows, "windows": [], "summary": [summary]}


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> tuple[Path, dict]:
    """A 200x100 photo and a result of one face on it, consistent in every derived field."""
    tmp = tmp_path_factory.mktemp("photo")
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (100, 200, 3), np.uint8)).save(tmp / "p.png")
    return tmp / "p.png", _result(tmp / "p.png", [_row(0, 0.0)], photo=True, size=(100, 200))


def _view(tmp_path: Path, result: dict, media: Path) -> Path:
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(result))
    write_view(path, tmp_path / "page.html", media=media, overwrite=True)
    return tmp_path / "page.html"


def _set(where: list, value):
    def edit(result):
        obj = result
        for key in where[:-1]:
            obj = obj[key]
        obj[where[-1]] = value

    return edit


def _box(x0: float, y0: float, x1: float, y1: float):
    def edit(result):
        result["frames"][0] |= {"x0": x0, "y0": y0, "x1": x1, "y1": y1}

    return edit


def test_a_consistent_result_is_drawn_also_with_a_box_over_the_frame_edge(photo, tmp_path):
    media, result = photo
    assert _view(tmp_path, result, media).is_file()
    edge = copy.deepcopy(result)  # predict's boxes are unclipped: a face at the edge overshoots it
    edge["frames"][0] |= {"x0": -15.0, "y0": -11.0, "x1": 230.0, "y1": 117.0}
    assert _view(tmp_path, edge, media).is_file()
    no_threshold = copy.deepcopy(result)  # no threshold recorded: the state is not checked against it
    del no_threshold["meta"]["calibration"]
    no_threshold["frames"][0] |= {"state": "clear", "second": None}
    no_threshold["summary"][0]["share_ambiguous"] = 0.0
    assert _view(tmp_path, no_threshold, media).is_file()


@pytest.mark.parametrize(
    "edit, said",
    [
        (_set(["frames", 0, "top"], "sad"), r'frames\[0\]\.top is "sad".*largest p_ \(happy, 0\.6000\)'),
        (_set(["frames", 0, "margin"], 0.9), r"frames\[0\]\.margin is 0\.9.*\(0\.300000\)"),
        (_set(["frames", 0, "state"], "clear"), r'frames\[0\]\.state is "clear".*ambiguous: .*0\.3000.*0\.8'),
        (_set(["frames", 0, "state"], "no_face"), r'frames\[0\]\.state is "no_face"'),
        (_set(["frames", 0, "state"], "calm"), r'frames\[0\]\.state is "calm"'),
        (_set(["frames", 0, "second"], "neutral"), r'frames\[0\]\.second is "neutral".*second largest'),
        (_set(["frames", 0, "second"], "happy"), r'frames\[0\]\.second is "happy"'),
        (_set(["frames", 0, "x1"], 10.0), r"frames\[0\] has the box \(20, 10\)-\(10, 70\).*x0 < x1"),
        (_set(["frames", 0, "x0"], 1e9), r"frames\[0\] has the box \(1e\+09, 10\)-\(80, 70\).*x0 < x1"),
        (_box(500, 10, 560, 70), r"frames\[0\] has the box .*outside the 200x100 frame"),
        (_box(-90, 10, -30, 70), r"frames\[0\] has the box .*outside the 200x100 frame"),
        (_set(["frames", 0, "y1"], 99999), r"frames\[0\] has the box .*outside the 200x100 frame"),
        (_set(["frames", 0, "x0"], -5000), r"frames\[0\] has the box .*outside the 200x100 frame"),
        (_set(["frames", 0, "y1"], None), r"frames\[0\]\.y1 is null.*other corners"),
        (_set(["frames", 0, "time"], "0"), r'frames\[0\]\.time is "0"'),
        (_set(["frames", 0, "time"], 5.0), r"frames\[0\]\.time is 5\.0.*time of frame 0 in the media \(0\.0"),
        (_set(["summary", 0, "share_happy"], 0.99), r"summary\[0\]\.share_happy is 0\.99.*1\.000000"),
        (_set(["summary", 0, "p_sad"], 0.5), r"summary\[0\]\.p_sad is 0\.5.*0\.300000"),
        (_set(["summary", 0, "share_ambiguous"], 0.0), r"summary\[0\]\.share_ambiguous is 0\.0"),
        (_set(["summary", 0, "track"], 7), r"summary\[0\]\.track is 7"),
    ],
)
def test_view_refuses_derived_fields_that_contradict_the_numbers(photo, tmp_path, edit, said):
    media, result = photo
    result = copy.deepcopy(result)
    edit(result)
    with pytest.raises(ValueError, match=r"edited\.json: " + said + r".*pass a NAME\.json from predict"):
        _view(tmp_path, result, media)
    assert not (tmp_path / "page.html").exists()


def test_a_row_not_classified_has_no_top_and_the_state_no_face(photo, tmp_path):
    media, result = photo
    result = copy.deepcopy(result)
    result["frames"][0] |= {"p_happy": None, "p_sad": None, "p_neutral": None, "entropy": None}
    result["frames"][0] |= {"top": None, "margin": None, "state": "no_face", "second": None}
    summary = result["summary"][0]
    summary |= {k: None for k in summary if k.startswith(("p_", "share_"))}
    assert _view(tmp_path, result, media).is_file()
    result["frames"][0]["top"] = "happy"
    with pytest.raises(ValueError, match=r'frames\[0\]\.top is "happy", but predict writes null'):
        _view(tmp_path, result, media)


def _video(path: Path, frames: int = 5) -> Path:
    """A 64x64 video whose first frame is at 2 s (pts 50 at 25 fps), as a cut or a stream may start."""
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width = stream.height = 64
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 40 * i, np.uint8), format="rgb24")
            frame.pts = 50 + i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def test_view_checks_each_rows_time_against_its_frame_in_the_video(tmp_path):
    """The times predict records are the decoder's, 2.0, 2.04, ... here (duration 0.2 s): "within
    [0, duration]" would refuse predict's own result; each row must hold its frame's time."""
    media = _video(tmp_path / "v.mp4")
    rows = [_row(i, round(2.0 + 0.04 * i, 6), box=(5.0, 5.0, 40.0, 40.0)) for i in range(5)]
    result = _result(media, rows, photo=False, size=(64, 64))
    assert _view(tmp_path, result, media).is_file()
    for f, t in ((3, 99999.0), (3, -5.0), (0, 0.0)):
        edited = copy.deepcopy(result)
        edited["frames"][f]["time"] = t
        with pytest.raises(ValueError, match=rf"frames\[{f}\]\.time is .*time of frame {f} in the media"):
            _view(tmp_path, edited, media)
    swapped = copy.deepcopy(result)
    swapped["frames"][1]["time"], swapped["frames"][2]["time"] = rows[2]["time"], rows[1]["time"]
    with pytest.raises(
        ValueError, match=r"frames\[1\]\.time is 2\.08, .*frame 1 in the media \(2\.040000 s\)"
    ):
        _view(tmp_path, swapped, media)
