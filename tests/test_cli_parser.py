"""The parser's shared pieces: --folds type, --deterministic as an override, options declared once."""

import subprocess
import sys

import pytest

from softfer.cli import build_parser, folds_type
from softfer.data.formats import FORMATS


def test_folds_type_parses_and_rejects():
    assert folds_type("1,2,5") == (1, 2, 5)
    for bad in ("1,x", "0,1", "", "2,2"):
        with pytest.raises(Exception, match="fold numbers"):
            folds_type(bad)
    r = subprocess.run(
        [sys.executable, "-m", "softfer.cli", "cv", "demo/base.yaml", "--folds", "1,x"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "fold numbers" in r.stderr


def test_shared_options_exist_where_they_belong():
    parser = build_parser()
    for cmd in ("train", "eval", "cv", "reproduce"):
        assert parser.parse_args(
            [cmd, "x", "--set", "a.b=1"] if cmd != "reproduce" else [cmd, "--set", "a=1"]
        ).set
    for cmd in ("preprocess", "predict"):
        extra = ["in", "out"] if cmd == "preprocess" else ["in", "--checkpoint", "c"]
        args = parser.parse_args([cmd, *extra, "--every", "3", "--device", "cuda"])
        assert (args.every, args.device) == (3, "cuda")
    assert parser.parse_args(["data", "inspect", "affwild", "root"]).format == "affwild"
    with pytest.raises(SystemExit):
        parser.parse_args(["data", "inspect", "nope", "root"])
    assert set(FORMATS) >= {"dfew", "affwild"}


def test_eval_and_calibrate_name_every_settable_key_in_help_and_refusal(capsys):
    """The help and the refusal of eval/calibrate --set say what HELD_OUT_SETTABLE allows, from the tuple
    itself (they repeated the list by hand)."""
    from softfer.engine.runs import check_held_out_overrides
    from softfer.limits import HELD_OUT_SETTABLE

    words = [k + "*" if k.endswith(".") else k for k in HELD_OUT_SETTABLE]
    with pytest.raises(ValueError) as refused:
        check_held_out_overrides(["optim.lr=5"], "eval")
    for command in ("eval", "calibrate"):
        with pytest.raises(SystemExit):
            build_parser().parse_args([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
        assert all(w in text and w in str(refused.value) for w in words), (command, words)
    check_held_out_overrides([f"{k}x=1" if k.endswith(".") else f"{k}=1" for k in HELD_OUT_SETTABLE], "eval")
