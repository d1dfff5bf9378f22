"""What a user types into a config file or ``--set`` means one thing (audit 3, items 4, 5, 6, 8 and 9):
duplicate keys refused, a ``--set`` mapping merged as a ``base`` merges, YAML 1.2 values (a leading-zero
integer refused), ``~`` expanded in every path setting, and malformed input a one-line ValueError."""

import typing
from pathlib import Path

import pytest
import yaml

from softfer.config import ExperimentConfig, apply_overrides, dump_config, load_config, validate_config
from softfer.config.strict import PathSetting

# The schema's settings that name a file or folder, written out by hand from docs/CONFIG.md.
PATH_KEYS = {
    "data.root",
    "data.test_root",
    "data.soft_labels",
    "data.affectnet_stats",
    "data.cache_dir",
    "model.pretrained",
    "run.out_dir",
}


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# --- item 4: a key given twice -------------------------------------------------------------------------


def test_a_key_given_twice_in_a_file_is_refused_naming_file_key_and_both_lines(tmp_path):
    cfg = _write(tmp_path / "c.yaml", "optim: {lr: 0.1}\nrun: {seed: 1}\noptim: {epochs: 1}\n")
    with pytest.raises(ValueError, match=r"c\.yaml: duplicate key 'optim' \(lines 1 and 3\)"):
        load_config(cfg)
    nested = _write(tmp_path / "n.yaml", "optim:\n  lr: 0.1\n  epochs: 2\n  lr: 0.2\n")
    with pytest.raises(ValueError, match=r"n\.yaml: duplicate key 'lr' \(lines 2 and 4\)"):
        load_config(nested)
    # in a base file too: the base is named
    _write(tmp_path / "b.yaml", "name: a\nname: b\n")
    child = _write(tmp_path / "child.yaml", "base: b.yaml\n")
    with pytest.raises(ValueError, match=r"b\.yaml: duplicate key 'name' \(lines 1 and 2\)"):
        load_config(child)


def test_a_key_given_twice_in_a_set_value_is_refused_and_merge_keys_still_work(tmp_path):
    with pytest.raises(ValueError, match=r"override 'optim=\{lr: 1, lr: 2\}': duplicate key 'lr'"):
        apply_overrides({}, ["optim={lr: 1, lr: 2}"])
    # a key a YAML merge key (<<) brings in may be given again: that is what merge keys are for
    loaded = load_config(_write(tmp_path / "m.yaml", "optim:\n  <<: {lr: 0.1, epochs: 3}\n  lr: 0.2\n"))
    assert (loaded.optim.lr, loaded.optim.epochs) == (0.2, 3)


# --- item 5: a mapping for a section merges --------------------------------------------------------------


def test_a_set_mapping_merges_into_the_section_as_a_base_does(tmp_path):
    # independent reference: the same mapping given in a file on top of the same base
    base = "demo/soft.yaml"
    on_top = _write(tmp_path / "top.yaml", f"base: {base}\ndata: {{root: /x, fold: 2}}\n")
    by_set = load_config(base, ["data={root: /x, fold: 2}"])
    assert by_set == load_config(on_top)
    assert by_set.data.size == load_config(base).data.size != 224  # the section's other keys are kept
    assert apply_overrides({"data": {"root": "a", "size": 32}}, ["data={root: b}"]) == {
        "data": {"root": "b", "size": 32}
    }
    # nested sections merge too, and a section absent so far is simply set
    merged = apply_overrides({"data": {"augment": {"flip": False}}}, ["data={augment: {scale: null}}"])
    assert merged == {"data": {"augment": {"flip": False, "scale": None}}}
    assert apply_overrides({}, ["optim={lr: 1}"]) == {"optim": {"lr": 1}}


def test_an_empty_mapping_for_a_section_with_keys_is_refused():
    with pytest.raises(ValueError, match=r"override 'model.options=\{\}': .* would change nothing"):
        load_config("demo/soft.yaml", ["model.options={}"])


# --- item 6: YAML 1.1 surprises ------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["010", "-010", "08", "00"])
def test_an_integer_with_a_leading_zero_is_refused_in_set_and_in_files(tmp_path, text):
    decimal = str(int(text))
    refused = rf"override 'run.seed={text}': {text} is ambiguous .*write {decimal} for decimal"
    with pytest.raises(ValueError, match=refused):
        apply_overrides({}, [f"run.seed={text}"])
    cfg = _write(tmp_path / "c.yaml", f"name: x\nrun:\n  seed: {text}\n")
    with pytest.raises(ValueError, match=rf"c\.yaml: line 3: {text} is ambiguous"):
        load_config(cfg)


@pytest.mark.parametrize(
    ("item", "key", "expected"),
    [
        ("run.seed=10", "run.seed", 10),
        ("run.seed=0", "run.seed", 0),
        ("run.seed=0o10", "run.seed", 8),  # explicit octal
        ("run.seed=0x10", "run.seed", 16),
        ("name=yes", "name", "yes"),  # YAML 1.1: true (then refused: not a string)
        ("name=off", "name", "off"),
        ("name=1:30", "name", "1:30"),  # YAML 1.1: 90 (base 60)
        ("name=2024-01-01", "name", "2024-01-01"),  # YAML 1.1: a date
        ("name=1_000", "name", "1_000"),  # a number key refuses it (tests/test_audit10_low.py)
        ("run.progress=no", "run.progress", False),  # a boolean setting reads yes/no/on/off as before
        ("run.progress=On", "run.progress", True),
        ("optim.lr=1e-3", "optim.lr", 0.001),
        ("optim.lr=5e-4", "optim.lr", 0.0005),
    ],
)
def test_values_read_as_yaml_1_2_reads_them(item, key, expected):
    cfg = validate_config(apply_overrides({}, [item]))
    section, _, name = key.rpartition(".")
    value = getattr(getattr(cfg, section) if section else cfg, name)
    assert value == expected and type(value) is type(expected)


def test_sexagesimal_is_no_number_and_files_read_as_set_does(tmp_path):
    with pytest.raises(ValueError, match=r"optim.epochs: Input should be a valid integer"):
        validate_config(apply_overrides({}, ["optim.epochs=1:30"]))  # YAML 1.1: 90 epochs
    cfg = _write(tmp_path / "c.yaml", "name: yes\nrun: {progress: off, seed: 0o10}\n")
    loaded = load_config(cfg)
    assert (loaded.name, loaded.run.progress, loaded.run.seed) == ("yes", False, 8)
    assert yaml.safe_load("a: yes") == {"a": True}  # PyYAML's own loader is left as it was


def test_dump_config_quotes_what_yaml_1_2_would_misread_and_reads_back_unchanged(tmp_path):
    data = ExperimentConfig().model_dump(mode="json")
    data["name"], data["data"]["train_split"], data["data"]["test_split"] = "1e3", "08", "0o7"
    cfg = validate_config(data)
    dump_config(cfg, tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == cfg


# --- item 8: ~ in path settings ------------------------------------------------------------------------


def _path_keys(model: type, prefix: str = "") -> set[str]:
    """Dotted keys of the schema whose type is ``PathSetting`` (or PathSetting or null)."""
    out = set()
    for name, field in model.model_fields.items():
        if isinstance(field.annotation, type) and hasattr(field.annotation, "model_fields"):
            out |= _path_keys(field.annotation, f"{prefix}{name}.")
        elif PathSetting in (field.rebuild_annotation(), *typing.get_args(field.rebuild_annotation())):
            out.add(f"{prefix}{name}")
    return out


def test_every_path_setting_shares_the_path_type():
    assert _path_keys(ExperimentConfig) == PATH_KEYS


@pytest.mark.parametrize("key", sorted(PATH_KEYS))
def test_a_leading_tilde_is_the_home_folder_in_every_path_setting(tmp_path, monkeypatch, key):
    monkeypatch.setenv("HOME", str(tmp_path))
    extra = ["data.test_format=dfew"] if key == "data.test_root" else []
    section, name = key.split(".")
    for given, expected in (
        ("~/x/y", f"{tmp_path}/x/y"),
        ("'~'", str(tmp_path)),  # quoted: a bare ~ is YAML null
        ("runs/~x", "runs/~x"),  # a relative path keeps its meaning
        ("a/~/b", "a/~/b"),
        ("/abs/p", "/abs/p"),
    ):
        cfg = validate_config(apply_overrides({}, [f"{key}={given}", *extra]))
        assert getattr(getattr(cfg, section), name) == expected, (key, given)


def test_a_tilde_in_a_config_file_and_a_stored_config_read_back_alike(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    cfg = load_config(_write(tmp_path / "c.yaml", "data: {root: ~/data}\nrun: {out_dir: ~/runs/r}\n"))
    assert (cfg.data.root, cfg.run.out_dir) == (f"{tmp_path}/data", f"{tmp_path}/runs/r")
    dump_config(cfg, tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == cfg
    assert validate_config({}).run.out_dir == "runs"  # the default is untouched


# --- item 9: malformed input is a one-line ValueError ----------------------------------------------------


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("optim.lr.x=3", r"override 'optim.lr.x=3': optim.lr is a value \(0.02\), not a section"),
        ("name.x.y=1", r"override 'name.x.y=1': name is a value \('experiment'\), not a section"),
        ("optim.=1", r"override 'optim.=1' must look like key.sub=value"),
        ("=1", r"override '=1' must look like key.sub=value"),
        ("optim.lr", r"override 'optim.lr' must look like key.sub=value"),
    ],
)
def test_a_malformed_set_item_is_a_value_error_naming_it(item, message):
    data = ExperimentConfig().model_dump(mode="json")
    with pytest.raises(ValueError, match=message) as err:
        apply_overrides(data, [item])
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("base", ["[a.yaml]", "3", "{x: 1}", "''", "true"])
def test_a_base_that_names_no_file_is_a_value_error_naming_the_file(tmp_path, base):
    _write(tmp_path / "a.yaml", "name: a\n")
    cfg = _write(tmp_path / "c.yaml", f"base: {base}\n")
    with pytest.raises(ValueError, match=r"c\.yaml: base must name one config file") as err:
        load_config(cfg)
    assert "\n" not in str(err.value)
    assert load_config(_write(tmp_path / "d.yaml", "base: null\nname: d\n")).name == "d"  # no base
