"""Settings: a true/false key takes true or false, never a number (audit 8, U5).

pydantic's lax mode reads 1, 1.0 and "1" as true, so ``data: {reduced_decode: 1}`` decoded reduced. The test
walks the schema for every true/false key, so that one added later is held to the same rule; the packaged
configs and the words YAML and ``--set`` give for booleans keep loading.
"""

from pathlib import Path

import pytest
from pydantic import BaseModel

from softfer.config import ExperimentConfig, apply_overrides, load_config, validate_config
from softfer.config.strict import StrictModel
from softfer.studies.launch import launch_options

ROOT = Path(__file__).resolve().parents[1]


def _boolean_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """The dotted key of every field typed ``bool`` under ``model`` (nested sections entered)."""
    keys = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys += _boolean_keys(annotation, f"{prefix}{name}.")
        elif annotation is bool:
            keys.append(f"{prefix}{name}")
    return keys


BOOLEAN_KEYS = _boolean_keys(ExperimentConfig)


def test_the_walk_finds_the_true_false_keys():
    # a walk that found none would pass every test below without checking anything
    assert {"data.reduced_decode", "run.deterministic", "optim.swa", "data.augment.flip"} <= set(BOOLEAN_KEYS)


@pytest.mark.parametrize("key", BOOLEAN_KEYS)
@pytest.mark.parametrize("value", ["1", "0", "1.0", "2", "'1'"])
def test_a_number_for_a_true_false_key_is_refused_naming_the_key(key, value):
    with pytest.raises(
        ValueError, match=rf"x.yaml: invalid configuration:\n  {key}: .* is a number, not a boolean"
    ):
        validate_config(apply_overrides({}, [f"{key}={value}"]), "x.yaml")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("false", False), ("yes", True), ("no", False), ("on", True), ("off", False)],
)
def test_the_words_for_true_and_false_keep_loading(value, expected):
    # YAML 1.2 reads yes/no/on/off as text; a true/false key reads them (docs/CONFIG.md)
    cfg = validate_config(apply_overrides({}, [f"data.reduced_decode={value}"]), "x.yaml")
    assert cfg.data.reduced_decode is expected


def test_a_number_in_a_config_file_is_refused_naming_file_and_key(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data: {reduced_decode: 1}\n", encoding="utf-8")
    with pytest.raises(
        ValueError, match=r"c.yaml: invalid configuration:\n  data.reduced_decode: 1 is a number"
    ):
        load_config(path)
    path.write_text("data: {reduced_decode: yes}\n", encoding="utf-8")
    assert load_config(path).data.reduced_decode is True


def test_a_true_false_element_of_a_list_is_held_to_the_rule():
    class Flags(StrictModel):
        each: list[bool]

    assert Flags.model_validate({"each": [True, "no"]}).each == [True, False]
    with pytest.raises(ValueError, match=r"item 1: 1 is a number, not a boolean"):
        Flags.model_validate({"each": [True, 1]})


def test_the_launch_settings_refuse_a_number_for_wait(tmp_path):
    path = tmp_path / "cluster.yaml"
    path.write_text("launch: {launcher: slurm, wait: 0}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"cluster.yaml \(section launch\).*\n  wait: 0 is a number"):
        launch_options(str(path))


def test_every_shipped_config_still_loads():
    files = sorted((ROOT / "softfer" / "configs").rglob("*.yaml")) + sorted(
        (ROOT / "benchmarks" / "configs").rglob("*.yaml")
    )
    assert len(files) > 20
    for path in files:
        load_config(path)  # raises naming the file and key
