"""Audit 9, L2: a true/false key reads true/false and the words yes/no/on/off (any case), as docs/CONFIG.md
says, and nothing else: pydantic's lax mode also read t, f, y and n, so ``--set model.compile=t`` (a typo)
switched compiling on. Every true/false key of the schema is walked (tests/test_u5_boolean_settings.py),
in a config file and on the command line alike."""

import pytest

from softfer.config import apply_overrides, load_config, validate_config
from tests.test_u5_boolean_settings import BOOLEAN_KEYS

WORDS = "one of true, false, yes, no, on, off"


@pytest.mark.parametrize("key", BOOLEAN_KEYS)
@pytest.mark.parametrize("value", ["t", "f", "y", "n", "N", "T", "'t'", "maybe"])
def test_a_letter_for_a_true_false_key_is_refused_naming_the_key_and_the_words(key, value):
    with pytest.raises(
        ValueError, match=rf"x.yaml: invalid configuration:\n  {key}: .* is not a boolean: give {WORDS}$"
    ):
        validate_config(apply_overrides({}, [f"{key}={value}"]), "x.yaml")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("False", False), ("YES", True), ("No", False), ("'on'", True), ("OFF", False)],
)
def test_the_words_in_any_case_still_read(value, expected):
    cfg = validate_config(apply_overrides({}, [f"model.compile={value}"]), "x.yaml")
    assert cfg.model.compile is expected


def test_a_letter_in_a_config_file_is_refused_naming_file_and_key(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text('data: {augment: {flip: "N"}}\n', encoding="utf-8")
    with pytest.raises(
        ValueError, match=r"c.yaml: invalid configuration:\n  data.augment.flip: 'N' is not a"
    ):
        load_config(path)
