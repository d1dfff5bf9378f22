"""The view page's label placement (JavaScript in predict/templates/view.html.j2) is the annotated
video's (``predict.annotate._spot``): both run on the same random frames and must agree on every label."""

import html
import json
import re
from importlib.resources import files

import numpy as np

from softfer.predict.annotate import _spot
from tests.analysis.test_html_report import _open_in_browser


def _cases(n_frames: int, seed: int = 0) -> list[dict]:
    """Every call ``place_labels`` makes on ``n_frames`` random crowded frames: its inputs and its answer."""
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(n_frames):
        width, height = int(rng.integers(40, 400)), int(rng.integers(40, 300))
        boxes = []
        for _ in range(int(rng.integers(1, 8))):
            x0, y0 = int(rng.integers(-20, width)), int(rng.integers(-20, height))
            boxes.append((x0, y0, x0 + int(rng.integers(8, 120)), y0 + int(rng.integers(8, 120))))
        placed: list = []
        for i, box in enumerate(boxes):
            # a label's size, placed first as label_box places it
            w, h = int(rng.integers(10, 160)), int(rng.integers(8, 30))
            x = min(max(0, box[0]), max(0, width - w))
            y = min(box[1] - h if box[1] - h >= 0 else max(0, box[1]), max(0, height - h))
            first, others = (x, y, x + w, y + h), boxes[:i] + boxes[i + 1 :]
            rect = _spot(first, box, list(placed), others, (height, width, 3))
            want = None if rect is None else [int(v) for v in rect]
            case = {"first": first, "box": box, "placed": list(placed), "others": others, "want": want}
            cases.append({**case, "W": width, "H": height})
            if rect is not None:
                placed.append(rect)
    return cases


def test_the_view_pages_labels_go_where_the_annotated_videos_go(tmp_path):
    template = (files("softfer.predict") / "templates" / "view.html.j2").read_text(encoding="utf-8")
    code = re.search(r"\n(\s*function overlaps\(.*?\n)\s*function drawBoxes\(", template, re.S)
    assert code, "the page's overlaps() and spot() were not found"
    cases = _cases(300)
    moved = sum(c["want"] != list(c["first"]) for c in cases)
    assert sum(c["want"] is None for c in cases) > 0 and moved > 50  # crowded: labels moved and left out
    page = tmp_path / "spot.html"
    page.write_text(
        "<!doctype html><html><body><pre id='out'></pre><script>\n"
        + code[1]
        + f"\nvar cases = {json.dumps(cases)};\n"
        + "document.getElementById('out').textContent = JSON.stringify(cases.map(function (c) {"
        + " return spot(c.first, c.box, c.placed, c.others, c.W, c.H); }));\n</script></body></html>",
        encoding="utf-8",
    )
    dom, console = _open_in_browser(page)
    shown = re.search(r"<pre id=\"out\">(.*?)</pre>", dom, re.S)
    assert shown and shown[1], console[-2000:]
    got = json.loads(html.unescape(shown[1]))
    wrong = [(c, g) for c, g in zip(cases, got, strict=True) if g != c["want"]]
    assert not wrong, wrong[:3]
