"""Audit 7 F9 and F10: `softfer preprocess` into the same OUT keeps every video's dfew clip number, and a
folder's predict outputs (annotated copies) are not taken for videos.

Detection is replaced by a detector that finds one fixed face in every frame (as in
tests/robustness/test_preprocess.py): numbering and listing do not depend on MTCNN.
"""

import csv
import logging
import shutil

import pytest

from softfer.faces.predict_outputs import MEDIA_TAILS, is_own_output
from softfer.faces.preprocess import FaceOptions, list_videos, preprocess_videos
from tests.robustness.test_preprocess import _OneFaceEverywhere


@pytest.fixture
def opts(monkeypatch) -> FaceOptions:
    monkeypatch.setattr(FaceOptions, "detector", lambda self: _OneFaceEverywhere())
    return FaceOptions(size=32)


def _sources(out) -> dict[str, str]:
    """clip id -> the name of its video, from the manifest."""
    with (out / "manifest.csv").open(newline="") as f:
        return {r["id"]: r["source"].rsplit("/", 1)[-1] for r in csv.DictReader(f)}


def _short_video(media, path) -> None:
    shutil.copy(media / "single_face.mp4", path)


def test_a_rerun_with_an_added_video_keeps_every_clip_number(media, tmp_path, opts):
    """Found: with a.mp4 added, --overwrite renumbered in sorted order (00001 a, 00002 b, 00003 c): clip
    00002 passed from c.mp4 to b.mp4, and labels written for the first run's numbers described other
    faces."""
    src, out = tmp_path / "v", tmp_path / "o"
    src.mkdir()
    for name in ("b.mp4", "c.mp4"):
        _short_video(media, src / name)
    preprocess_videos(src, out, options=opts)
    assert _sources(out) == {"00001": "b.mp4", "00002": "c.mp4"}
    frames = out / "Clip" / "clip_32x32"
    marker = (frames / "00002" / "00002_00001.jpg").read_bytes()

    _short_video(media, src / "a.mp4")
    report = preprocess_videos(src, out, options=opts, overwrite=True)
    # hand-computed: b and c keep 00001 and 00002, the new video is numbered after the highest
    assert _sources(out) == {"00001": "b.mp4", "00002": "c.mp4", "00003": "a.mp4"}
    assert sorted(p.name for p in frames.iterdir()) == ["00001", "00002", "00003"]
    assert (frames / "00003" / "00003_00001.jpg").is_file()
    assert (frames / "00002" / "00002_00001.jpg").read_bytes() == marker  # same video, same frames
    assert report["clips_written"] == 3 and report["earlier_clips_kept"] == 0


def test_a_removed_video_keeps_its_clip_and_its_number_is_never_reused(media, tmp_path, opts, caplog):
    src, out = tmp_path / "v", tmp_path / "o"
    src.mkdir()
    for name in ("a.mp4", "b.mp4"):
        _short_video(media, src / name)
    preprocess_videos(src, out, options=opts)
    (src / "a.mp4").unlink()  # 00001's video is gone; a new one comes
    _short_video(media, src / "d.mp4")
    with caplog.at_level(logging.WARNING):
        report = preprocess_videos(src, out, options=opts, overwrite=True)
    # the manifest goes on listing the clip that stays in OUT; d is 00003, not the freed 00001
    assert _sources(out) == {"00001": "a.mp4", "00002": "b.mp4", "00003": "d.mp4"}
    assert report["earlier_clips_kept"] == 1 and report["clips_written"] == 2
    assert "1 earlier clip(s) not written again kept" in caplog.text
    _short_video(media, src / "c.mp4")  # a third run still knows 00001 (from the kept row)
    preprocess_videos(src, out, options=opts, overwrite=True)
    assert _sources(out) == {"00001": "a.mp4", "00002": "b.mp4", "00003": "d.mp4", "00004": "c.mp4"}


def test_a_manifest_giving_one_number_to_two_videos_is_refused(media, tmp_path, opts):
    src, out = tmp_path / "v", tmp_path / "o"
    src.mkdir()
    for name in ("a.mp4", "b.mp4"):
        _short_video(media, src / name)
    preprocess_videos(src, out, options=opts)
    text = (out / "manifest.csv").read_text()
    (out / "manifest.csv").write_text(text.replace(",00002,", ",00001,"))
    with pytest.raises(ValueError, match=r"manifest\.csv: clip 00001 of .*b\.mp4 conflicts"):
        preprocess_videos(src, out, options=opts, overwrite=True)


def test_predicts_annotated_copies_are_not_videos(media, tmp_path, opts, caplog):
    """Found: after `predict v/clip.mp4 --out v --annotate`, preprocess aligned clip.mp4_annotated.mp4
    (predict's boxes and emotion text in its pixels) as a second clip."""
    src, out = tmp_path / "v", tmp_path / "o"
    src.mkdir()
    _short_video(media, src / "clip.mp4")
    _short_video(media, src / "clip.mp4_annotated.mp4")  # as predict --annotate writes it
    (src / "clip.mp4.json").write_text("{}")
    _short_video(media, src / "mine_annotated.mp4")  # a user's video of that name, no mine.json: media
    with caplog.at_level(logging.INFO):
        report = preprocess_videos(src, out, layout="mirror", options=opts)
    assert sorted(_sources(out).values()) == ["clip.mp4", "mine_annotated.mp4"]
    assert report["videos"] == 2
    assert "1 file(s) skipped as predict's own outputs" in caplog.text
    assert list_videos(src) == [src / "clip.mp4", src / "mine_annotated.mp4"]


def test_the_rule_is_predicts_own(tmp_path):
    """predict and preprocess skip the same files: one rule, on the faces floor."""
    from softfer.predict import media

    assert media.is_own_output is is_own_output
    (tmp_path / "x.mp4.json").write_text("{}")
    owned = [
        n
        for n in ("x.mp4_annotated.mp4", "x.mp4_timeline.png", "y_annotated.mp4", "x.mp4")
        if is_own_output(tmp_path / n)
    ]
    assert owned == ["x.mp4_annotated.mp4", "x.mp4_timeline.png"] and all(
        t in MEDIA_TAILS for t in ("_annotated.mp4", "_timeline.png")
    )


def _ids(out) -> list[str]:
    with (out / "manifest.csv").open(newline="") as f:
        return [r["id"] for r in csv.DictReader(f)]


def test_a_rerun_at_another_size_lists_each_video_once(media, tmp_path, opts):
    """Found (review): the earlier size's clips were kept as rows beside the new ones, id 00001 twice, and
    the manifest reader then refused the whole file."""
    src, out = tmp_path / "v", tmp_path / "o"
    src.mkdir()
    for name in ("a.mp4", "b.mp4"):
        _short_video(media, src / name)
    preprocess_videos(src, out, options=opts)
    report = preprocess_videos(src, out, options=FaceOptions(size=48), overwrite=True)
    assert _ids(out) == ["00001", "00002"] and report["earlier_clips_kept"] == 0
    with (out / "manifest.csv").open(newline="") as f:
        assert all(r["path"].startswith("Clip/clip_48x48/") for r in csv.DictReader(f))


def test_a_link_to_a_video_is_a_video_of_its_own_across_reruns(media, tmp_path, opts):
    """Found (review): two videos resolving to one file got 00001 and 00002, and the next --overwrite
    refused the manifest preprocess had written ("not as preprocess writes it")."""
    src, out = tmp_path / "v", tmp_path / "o"
    src.mkdir()
    _short_video(media, src / "a.mp4")
    (src / "b.mp4").symlink_to(src / "a.mp4")
    preprocess_videos(src, out, options=opts)
    assert _sources(out) == {"00001": "a.mp4", "00002": "b.mp4"}
    preprocess_videos(src, out, options=opts, overwrite=True)
    assert _sources(out) == {"00001": "a.mp4", "00002": "b.mp4"}
