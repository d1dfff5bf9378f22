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
