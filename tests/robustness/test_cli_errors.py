"""Issue 14, the command line: every expected failure is one line with an exit code (0 / 1 / 2), commands
that found failing inputs say so in their exit code, and --quiet / --verbose / --debug work on every command.
"""

import argparse
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from softfer.cli import build_parser, commands, main
from softfer.io import console
from tests.faces.test_faces import _checkpoint
from tests.robustness.test_data_inspect import _damaged_jpeg, _dfew


def _stderr_line(capsys, *, one_line: bool = True) -> str:
    """The error message at the end of stderr (after any log lines), checked to be one line (a config
    error lists each invalid field on a line of its own)."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    message = err[err.index("softfer: ") :].strip()
    assert "\n" not in message or not one_line, err
    return message


def _leaf_parsers(parser: argparse.ArgumentParser, path=()):
    """(command words, parser) for every command that runs something."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
        return
    for name, child in subs[0].choices.items():
        yield from _leaf_parsers(child, (*path, name))


def test_every_command_accepts_quiet_verbose_and_debug():
    leaves = list(_leaf_parsers(build_parser()))
    assert len(leaves) >= 15
    for words, parser in leaves:
        options = {s for a in parser._actions for s in a.option_strings}
        assert {"--quiet", "--verbose", "--debug"} <= options, words


def test_every_help_text_renders_its_percent_signs_once():
    """argparse %-formats help strings but not descriptions: a "%%" written in a description is shown
    doubled, one written in a help string is shown once."""
    for words, parser in _leaf_parsers(build_parser()):
        text = parser.format_help()
        assert "%%" not in text, words


@pytest.mark.parametrize(
    ("argv", "code", "expected"),
    [
        (["train", "no_such.yaml"], 2, "config file not found: no_such.yaml"),
        (["reproduce"], 2, "name a table"),
        (["labels", "votes", "missing.csv", "--out", "x.csv"], 2, "missing.csv"),
        (
            ["train", "demo/base.yaml", "--set", "optim.lr=fast"],
            2,
            "optim.lr: Input should be a valid number",
        ),
    ],
)
def test_usage_errors_exit_2_in_one_line(argv, code, expected, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == code
    assert expected in _stderr_line(capsys, one_line=argv[0] != "train")


def _raising(exc):
    def command(args):
        raise exc

    return command


@pytest.mark.parametrize(
    ("exc", "code", "expected"),
    [
        (
            OSError(28, "No space left on device", "/runs/x/last.pt"),
            1,
            "No space left on device: '/runs/x/last.pt'",
        ),
        (
            RuntimeError("CUDA out of memory.\nTried to allocate 2 GiB"),
            1,
            "RuntimeError: CUDA out of memory. ...",
        ),
        (KeyError("model"), 1, "KeyError: 'model' (run again with --debug for the traceback)"),
        (EOFError("Ran out of input"), 1, "EOFError: Ran out of input"),
        (KeyboardInterrupt(), 130, "softfer: interrupted"),
    ],
)
def test_runtime_failures_exit_1_in_one_line_and_debug_shows_the_traceback(
    exc, code, expected, capsys, monkeypatch
):
    monkeypatch.setattr(commands, "cmd_models_list", _raising(exc))
    assert main(["models", "list"]) == code
    assert expected in _stderr_line(capsys)
    with pytest.raises(type(exc)):
        main(["models", "list", "--debug"])


def test_quiet_and_verbose_set_one_rich_handler(capsys, monkeypatch):
    log = logging.getLogger("softfer.engine.build")

    def command(args):
        log.debug("debug line")
        log.info("resumed from last.pt at epoch 1 step 3")
        log.warning("warning line")

    monkeypatch.setattr(commands, "cmd_models_list", command)
    try:
        for flags, shown, hidden in [
            ([], ["resumed from last.pt", "warning line"], ["debug line"]),
            (["--quiet"], ["warning line"], ["resumed from", "debug line"]),
            (["--verbose"], ["debug line", "resumed from", "warning line"], []),
        ]:
            assert main(["models", "list", *flags]) == 0
            err = capsys.readouterr().err
            assert all(s in err for s in shown), (flags, err)
            assert not any(s in err for s in hidden), (flags, err)
            handlers = [h for h in logging.getLogger("softfer").handlers if getattr(h, "_softfer", False)]
            assert len(handlers) == 1
    finally:
        for h in [h for h in logging.getLogger("softfer").handlers if getattr(h, "_softfer", False)]:
            logging.getLogger("softfer").removeHandler(h)
        logging.getLogger("softfer").setLevel(logging.NOTSET)
        console.show_progress(None)


def test_inspect_verify_exits_1_when_a_file_is_damaged_and_bars_do_not_disturb_it(tmp_path, capsys):
    _dfew(tmp_path, clips=7)
    assert main(["data", "inspect", "dfew", str(tmp_path), "--verify"]) == 0
    assert "verified every image and video file: 0 unreadable" in capsys.readouterr().out
    _damaged_jpeg(tmp_path / "Clip" / "clip_224x224" / "00003" / "00003_00001.jpg")
    console.show_progress(True)  # as on a terminal: the bar must not be captured as a libjpeg warning
    try:
        found = list(console.progress(range(3), description="x"))
        assert found == [0, 1, 2]
        assert main(["data", "inspect", "dfew", str(tmp_path), "--verify"]) == 1
    finally:
        console.show_progress(None)
    assert "verified every image and video file: 1 unreadable" in capsys.readouterr().out


def test_predict_on_a_folder_isolates_bad_files_and_exits_1(media, tmp_path, capsys):
    folder = tmp_path / "media"
    folder.mkdir()
    shutil.copy(media / "single_face.jpg", folder / "good.jpg")
    (folder / "broken.jpg").write_bytes(b"not an image at all")
    (folder / "cut.mp4").write_bytes((media / "single_face.mp4").read_bytes()[:2000])
    ckpt = _checkpoint(tmp_path / "model.pt")
    out = tmp_path / "out"
    assert main(["predict", str(folder), "--checkpoint", str(ckpt), "--out", str(out)]) == 1
    printed = capsys.readouterr().out
    assert "2 of 3 files failed" in printed
    report = json.loads((out / "predict_report.json").read_text())
    assert report["files"] == 3 and report["predicted"] == 1
    assert sorted(f["media"] for f in report["failed"]) == [
        str(folder / "broken.jpg"),
        str(folder / "cut.mp4"),
    ]
    assert all(f["error"] for f in report["failed"])
    assert (out / "good.jpg.json").is_file()
    assert not (out / "broken.jpg.json").exists()
    # a single bad file is still a plain one-line error
    assert main(["predict", str(folder / "broken.jpg"), "--checkpoint", str(ckpt), "--out", str(out)]) == 2
    assert "broken.jpg" in _stderr_line(capsys)


def test_preprocess_exits_1_when_a_video_failed(tmp_path, media, capsys):
    src = tmp_path / "videos"
    src.mkdir()
    (src / "bad.mp4").write_bytes(b"\x00" * 4096)
    assert main(["preprocess", str(src), str(tmp_path / "out")]) == 1
    printed = capsys.readouterr()
    assert "1 failed" in printed.out and "bad.mp4" not in printed.out  # said once: the error on stderr
    failed = printed.err[printed.err.index("ERROR") :]
    assert " ".join(failed.split()).count("bad.mp4") == 1, failed  # README walk: the path was said twice


def test_bars_inside_bars_share_one_display_on_a_terminal(tmp_path, monkeypatch):
    """On a terminal, validation's bar opens inside the training bar, and a video's frames inside a
    folder's bar: they share one live display (rich before 14 refuses a second one)."""
    from softfer.engine.logs import RunLog

    monkeypatch.setattr(console.console, "_force_terminal", True)
    console.show_progress(True)
    try:
        seen = []
        for _ in console.progress(range(2), description="folder"):
            for _ in console.progress(range(3), description="frames"):
                (bar,) = console._active
                seen.append(sorted(t.description for t in bar.tasks))
        assert seen == [["folder", "frames"]] * 6 and not console._active
        with RunLog(tmp_path, "run", 1, 10, 0, 0, True) as logs:
            for _ in console.progress(range(2), description="evaluate"):
                assert console._active == [logs.bar]
                assert [t.description for t in logs.bar.tasks] == ["run", "evaluate"]
        logs.close()
        assert not console._active
    finally:
        console.show_progress(None)


# --- issue 21: a folder where a file is expected, or a file where a folder is, is named as such ---------


def _paths(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.pt").write_bytes(b"")
    (run / "config.yaml").write_text("name: x\n")
    (tmp_path / "notes.txt").write_text("x\n")
    (tmp_path / "clip.mp4").write_bytes(b"\x00" * 64)
    return run


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["eval", "run"], "run is a folder, not a checkpoint file: did you mean run/model.pt?"),
        (["train", "run"], "run is a folder, not a config file: did you mean run/config.yaml"),
        (
            ["models", "import-fer", "run", "--out", "w.safetensors"],
            "run is a folder, not a file: give the fer",
        ),
        (
            ["data", "inspect", "dfew", "notes.txt"],
            "notes.txt is a file, not a folder: the dfew format reads",
        ),
        (["data", "inspect", "manifest", "run"], "run is a folder, not a file: the manifest format reads"),
        (["preprocess", "clip.mp4", "notes.txt"], "OUT notes.txt is a file, not a folder"),
        (["preprocess", "clip.mp4", "clip.mp4/out"], "OUT clip.mp4/out cannot be made: clip.mp4 is a file"),
        (["preprocess", "notes.txt", "out"], "notes.txt is a file but not a video"),
    ],
)
def test_a_folder_for_a_file_or_a_file_for_a_folder_is_named_as_such(
    argv, expected, tmp_path, capsys, monkeypatch
):
    """Found: "checkpoint not found: RUN", "config file not found", "no such file", "root does not exist"
    and "lies inside the input folder" for a path that exists but is of the other kind."""
    _paths(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert expected in _stderr_line(capsys)


def test_predictor_given_a_folder_says_it_is_a_folder(tmp_path):
    from softfer.predict.api import frames_of

    with pytest.raises(ValueError, match=r"is a folder, not a file: predict takes one video or image file"):
        frames_of(tmp_path)


def test_labels_va_refuses_repeated_class_names(tmp_path, capsys):
    """Found: `labels va --class-names a,a,b,c` wrote two columns of one name."""
    table = tmp_path / "va.csv"
    va = np.random.default_rng(0).uniform(-0.5, 0.5, (40, 2))
    rows = [f"{v:.3f},{a:.3f},{i % 4}" for i, (v, a) in enumerate(va)]
    table.write_text("valence,arousal,label\n" + "\n".join(rows) + "\n")
    out = tmp_path / "out.csv"
    argv = ["labels", "va", str(table), "--method", "euclid", "--out", str(out), "--class-names"]
    assert main([*argv, "a,A ,b,c"]) == 2
    assert "'A' is given twice (as 'a' too)" in _stderr_line(capsys)
    assert not out.exists()
    assert main([*argv, "a,b,c,d"]) == 0
    assert out.is_file()


def test_predict_on_a_folder_lists_pictures_of_unsupported_kinds_as_skipped(media, tmp_path, capsys):
    """Found: .gif, .webp, .tiff and .ico files of a folder were skipped with no word."""
    folder = tmp_path / "media"
    folder.mkdir()
    shutil.copy(media / "single_face.jpg", folder / "good.jpg")
    for name in ("anim.gif", "photo.webp", "scan.tiff", "icon.ico"):
        Image.open(media / "single_face.jpg").save(folder / name)
    (folder / "notes.txt").write_text("not a picture\n")
    out = tmp_path / "out"
    ckpt = _checkpoint(tmp_path / "model.pt")
    assert main(["predict", str(folder), "--checkpoint", str(ckpt), "--out", str(out)]) == 0
    report = json.loads((out / "predict_report.json").read_text())
    skipped = {Path(s["media"]).name: s["reason"] for s in report["skipped"]}
    assert skipped == {
        "anim.gif": "unsupported suffix .gif",
        "icon.ico": "unsupported suffix .ico",
        "photo.webp": "unsupported suffix .webp",
        "scan.tiff": "unsupported suffix .tiff",
    }
    assert report["files"] == report["predicted"] == 1
    err = capsys.readouterr().err
    assert "4 picture or video file(s) of an unsupported kind skipped" in err and "anim.gif" in err
