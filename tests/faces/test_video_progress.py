"""Issue 24: the progress of a video shows its total frames (as the container states them) and an ETA,
on a terminal's bar and in a log file's lines."""

import logging
import re

from softfer.io import console
from softfer.io.video import stated_frames, video_info
from softfer.predict import Predictor
from softfer.predict import api as predict_api
from tests.faces.test_faces import _checkpoint


def test_stated_frames_match_the_decoded_count_and_unreadable_files_state_none(media, tmp_path):
    for name in ("WolfgangLanger_Pexels.mp4", "single_face.mp4"):
        assert stated_frames(media / name) == video_info(media / name).num_frames
    (tmp_path / "bad.mp4").write_bytes(b"not a video")
    assert stated_frames(tmp_path / "bad.mp4") is None
    assert stated_frames(tmp_path / "missing.mp4") is None


def test_a_videos_progress_has_its_total_frames_and_an_eta(media, tmp_path, monkeypatch, caplog):
    totals = []

    def recording(items, **kw):
        totals.append(kw.get("total"))
        return console.progress(items, **kw)

    monkeypatch.setattr(predict_api, "progress", recording)
    monkeypatch.setitem(console._state, "progress", False)
    monkeypatch.setitem(console._state, "lines", True)  # as the CLI into a log file
    monkeypatch.setattr(console, "LINE_EVERY_S", 0.0)
    caplog.set_level(logging.INFO, logger="softfer.progress")
    Predictor.from_checkpoint(_checkpoint(tmp_path / "model.pt"), threads=1).predict(
        media / "single_face.mp4"
    )
    assert totals == [72]  # what the bar is given: its M/N column and ETA need the total
    said = [r.getMessage() for r in caplog.records if "single_face.mp4" in r.getMessage()]
    assert re.fullmatch(r"faces in single_face\.mp4: 1/72, elapsed \d:\d\d:\d\d, ETA \d:\d\d:\d\d", said[0])
    assert re.fullmatch(r"faces in single_face\.mp4: 72/72, done, elapsed .*, ETA 0:00:00", said[-1])
