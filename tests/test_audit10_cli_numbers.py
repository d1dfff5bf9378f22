"""Number options of the CLI read ASCII numbers only (audit 10 leftover): Python's int() and float() also
read "1_0" as 10 and "١" (Arabic-Indic one) as 1, so `--workers 1_0` ran ten workers unasked."""

import argparse

import pytest

from softfer.cli import main
from softfer.cli.parser_tools import float_range, int_range


@pytest.mark.parametrize("text", ["1_0", "١", "１", "1_0.5"])
def test_a_number_option_refuses_what_is_not_an_ascii_number(text):
    with pytest.raises(argparse.ArgumentTypeError, match="expected an integer"):
        int_range(0, 100)(text)
    with pytest.raises(argparse.ArgumentTypeError, match="expected a number"):
        float_range(0.0, 100.0)(text)


@pytest.mark.parametrize(("text", "value"), [("10", 10), ("+3", 3), (" 7", 7), ("0", 0)])
def test_ascii_numbers_still_read(text, value):
    assert int_range(0, 100)(text) == value
    assert float_range(0.0, 100.0)(text) == float(value)
    assert float_range(0.0, 100.0)("2.5e1") == 25.0


def test_the_cli_says_so_as_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["synth", "dfew", str(tmp_path / "d"), "--clips", "1_0"])
    assert exit_.value.code == 2 and not (tmp_path / "d").exists()
    assert "argument --clips: expected an integer in [5, 10000000], got '1_0'" in capsys.readouterr().err
