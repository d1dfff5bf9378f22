"""Audit 10's low findings L1-L4: numbers written as text were converted (`optim.lr=" 5"` trained at lr 5,
`1_000` epochs read as 1000), --folds/--seeds took `1,,2`, `01` and Arabic-Indic digits, a blank path
(`--cache-dir ' '`) made a folder named ' ', and a checkpoint from a later softfer was refused without
saying so."""

import argparse
from pathlib import Path

import pytest

from softfer.cli import main
from softfer.cli.parser import build_parser
from softfer.config import apply_overrides, load_config, validate_config
from softfer.inference.loading import model_from_state
from softfer.studies.launch import launch_options

ROOT = Path(__file__).resolve().parents[1]

# --- L1: a number key takes a number as written, never text ---


@pytest.mark.parametrize(
    ("item", "key", "written"),
    [
        ('optim.lr=" 5"', "optim.lr", "5"),  # trained at lr 5
        ('optim.lr="0.1"', "optim.lr", "0.1"),
        ('optim.epochs="1_000"', "optim.epochs", "1000"),
        ("optim.epochs=1_0", "optim.epochs", "10"),  # YAML 1.2 reads 1_0 as text; int("1_0") is 10
        ('optim.epochs=" 3 "', "optim.epochs", "3"),
        ('run.max_steps="5"', "run.max_steps", "5"),  # int | None
        ("run.seed='010'", "run.seed", "10"),  # read as 10 (010 unquoted is refused as ambiguous)
        ('optim.swa_lr="0.1"', "optim.swa_lr", "0.1"),  # float | None
        ('data.augment.scale=["0.5", 1]', "data.augment.scale", "0.5"),  # inside a tuple
        ('reference.metrics={uar: "5"}', "reference.metrics", "5"),  # a mapping's value
    ],
)
def test_a_number_written_as_text_is_refused_naming_the_key(item, key, written):
    with pytest.raises(ValueError, match=rf"{key}: .*is text, not a number.*: write {written}$"):
        validate_config(apply_overrides({}, [item]))


@pytest.mark.parametrize(
    ("item", "expected"),
    [("optim.epochs=1000", 1000), ("optim.lr=5", 5.0), ("optim.lr=1e-3", 0.001), ("optim.lr=.5", 0.5)],
)
def test_numbers_as_written_still_read(item, expected):
    cfg = validate_config(apply_overrides({}, [item]))
    assert expected in (cfg.optim.epochs, cfg.optim.lr)


def test_text_that_is_no_number_keeps_pydantics_word_and_nan_its_own():
    with pytest.raises(ValueError, match=r"optim.lr: Input should be a valid number"):
        validate_config(apply_overrides({}, ["optim.lr=fast"]))
    with pytest.raises(ValueError, match=r"optim.lr: nan is not a number here"):
        validate_config(apply_overrides({}, ['optim.lr="nan"']))


def test_a_config_file_and_a_launch_config_refuse_a_quoted_number(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text('optim:\n  epochs: "2"\n')
    with pytest.raises(ValueError, match=rf'{path}: invalid configuration:\n  optim.epochs: "2" is text'):
        load_config(path)
    launch = tmp_path / "cluster.yaml"
    launch.write_text('launch:\n  launcher: slurm\n  mem_gb: "64"\n')
    with pytest.raises(ValueError, match=r'mem_gb: "64" is text, not a number'):
        launch_options(str(launch))


def test_every_shipped_config_still_loads():
    files = [p for d in ("softfer/configs", "benchmarks/configs") for p in sorted((ROOT / d).rglob("*.yaml"))]
    assert len(files) > 50
    for path in files:
        load_config(path)


# --- L2: --folds and --seeds: ASCII digits, comma-separated, no empty item ---


@pytest.mark.parametrize("text", ["1,,2", "01", "\u0661", "1,", ",1", "", "1;2", "\uff11"])
@pytest.mark.parametrize("option", ["--folds", "--seeds"])
def test_folds_and_seeds_take_ascii_digits_only(option, text, capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["compare", "a.yaml", option, text])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}: expected comma-separated" in err and "ASCII digits 0-9" in err


def test_folds_and_seeds_as_meant_still_read():
    args = build_parser().parse_args(["compare", "a.yaml", "--folds", "1,2, 5", "--seeds", "0,10"])
    assert (args.folds, args.seeds) == ((1, 2, 5), (0, 10))


# --- L3: a blank path is refused, by every path-valued argument ---

BLANK_PATHS = [
    ["data", "inspect", "ferplus", "fp", "--cache-dir", " "],
    ["data", "inspect", "ferplus", "  "],
    ["predict", "x.jpg", "--checkpoint", "c.pt", "--out", ""],
    ["predict", "x.jpg", "--checkpoint", " "],
    ["train", " "],
    ["cv", "a.yaml", "--out", " "],
    ["compare", "a.yaml", " "],
    ["eval", "m.pt", "--data", "\t"],
    ["labels", "votes", "v.csv", "--out", " "],
    ["synth", "dfew", "d", "--montage", " "],
    ["export", "m.pt", "--onnx", " "],
]


@pytest.mark.parametrize("argv", BLANK_PATHS, ids=[" ".join(a[:2]) + " " + a[-2] for a in BLANK_PATHS])
def test_a_blank_path_is_a_usage_error_naming_the_argument(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(argv)
    assert exit_.value.code == 2
    assert ": a blank path (" in capsys.readouterr().err


def test_a_blank_cache_dir_makes_no_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        main(["data", "inspect", "ferplus", str(tmp_path / "fp"), "--cache-dir", " "])
    assert exit_.value.code == 2
    assert "argument --cache-dir: a blank path (' ')" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_every_path_valued_argument_takes_the_check():
    from softfer.cli.parser_tools import PathArgument
    from tests.robustness.test_cli_errors import _leaf_parsers

    found = {
        (" ".join(path), a.option_strings[-1] if a.option_strings else a.dest)
        for path, parser in _leaf_parsers(build_parser())
        for a in parser._actions
        if isinstance(a, PathArgument)
    }
    assert {
        ("data inspect", "--cache-dir"),
        ("data inspect", "root"),
        ("predict", "--out"),
        ("compare", "configs"),
        ("labels va", "--save-stats"),
        ("synth all", "out"),
        ("cv", "--launch-config"),
    } <= found
    assert len(found) == 48
    # every other argument that takes free text is no path (a new path option must take PathArgument)
    text = {
        a.dest
        for _, parser in _leaf_parsers(build_parser())
        for a in parser._actions
        if type(a) is argparse._StoreAction and a.type is None and not a.choices
    }
    assert text == {
        "split",
        "table",
        "device",
        "classes",
        "other_votes",
        "ignore_columns",
        "id_column",
        "class_names",
    }


# --- L4: a checkpoint from a later softfer says so ---


def _state(made: str | None) -> dict:
    state = {"config": {"data": {"future_key": 3}}, "model": {}, "classes": ["a", "b"]}
    if made is not None:
        state["fingerprint"] = {"config": "x", "code": {"softfer": made, "commit": None}}
    return state


def test_a_checkpoint_with_a_setting_unknown_here_names_both_versions():
    from softfer import __version__

    with pytest.raises(ValueError) as caught:
        model_from_state(_state("99.0.0"), "runs/v/future.pt")
    said = str(caught.value)
    assert "runs/v/future.pt: invalid configuration" in said
    assert "data.future_key: Extra inputs are not permitted" in said  # the refusal is kept
    assert f"made by softfer 99.0.0, this is softfer {__version__}: use 99.0.0" in said


def test_a_checkpoint_recording_no_version_is_called_another_versions():
    with pytest.raises(ValueError, match=r"made by another softfer version\? \(the checkpoint records none"):
        model_from_state(_state(None), "future.pt")


def test_this_versions_checkpoint_with_an_unknown_key_is_not_blamed_on_a_version():
    from softfer import __version__

    with pytest.raises(ValueError, match="Extra inputs are not permitted") as caught:
        model_from_state(_state(__version__), "edited.pt")
    assert "softfer version" not in str(caught.value) and "made by" not in str(caught.value)
