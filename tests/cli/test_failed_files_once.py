"""A file that fails in `predict FOLDER` or `preprocess` is said once (earlier notes: its line was printed on
stdout and logged as an error too, twice without --quiet): as the error on stderr, which --quiet keeps;
stdout keeps the count, and the report file lists every failure with its reason."""

import json

import pytest

from softfer.cli import main
from tests.cli.test_quiet import handler_reset  # noqa: F401  (the logging handler left as found)
from tests.faces.test_faces import _checkpoint


@pytest.mark.usefixtures("handler_reset")
@pytest.mark.parametrize("flags", [[], ["--quiet"]])
def test_a_failed_media_file_of_predict_folder_is_said_once_on_stderr(
    tmp_path,
    monkeypatch,
    capsys,
    flags,
):
    monkeypatch.chdir(tmp_path)  # short relative paths: rich does not wrap the lines counted
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "broken.jpg").write_bytes(b"not an image at all")
    _checkpoint(tmp_path / "c.pt")
    assert main(["predict", "m", "--checkpoint", "c.pt", "--out", "o", "--threads", "1", *flags]) == 1
    out, err = capsys.readouterr()
    assert (out + err).count("m/broken.jpg") == 1, (out, err)
    assert "m/broken.jpg: failed: " in err
    assert ("1 of 1 files failed (listed in o/predict_report.json)" in out) == (not flags)
    failed = json.loads((tmp_path / "o" / "predict_report.json").read_text())["failed"]
    assert [f["media"] for f in failed] == ["m/broken.jpg"] and failed[0]["error"]


@pytest.mark.usefixtures("handler_reset")
@pytest.mark.parametrize("flags", [[], ["--quiet"]])
def test_a_failed_video_of_preprocess_is_said_once_on_stderr(
    tmp_path,
    monkeypatch,
    capsys,
    flags,
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "bad.mp4").write_bytes(b"\x00" * 4096)
    assert main(["preprocess", "v", "o", "--threads", "1", *flags]) == 1
    out, err = capsys.readouterr()
    assert (out + err).count("v/bad.mp4") == 1, (out, err)
    assert "v/bad.mp4: not a readable video" in err
    assert ("0 clips written" in out and "1 failed" in out) == (not flags)
    failed = json.loads((tmp_path / "o" / "preprocess_report.json").read_text())["failed"]
    assert [f["video"] for f in failed] == ["v/bad.mp4"] and failed[0]["error"]
