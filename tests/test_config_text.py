"""Text settings are one line and names are bounded (audit 8, F1, U7); config files are read as UTF-8 and a
file that is not is named (audit 8, U2).

F1: a config's ``name: "x\\ntouch pwned #"`` became a command line of the sbatch script that ``--launcher
slurm`` submits; the schema now refuses a control character in every text key, naming the key.
"""

from pathlib import Path

import pytest

from softfer.cli import main
from softfer.config import load_config, validate_config
from softfer.studies.launch import launch_options

# every control character class the rule covers: C0 (line feed, carriage return, escape, NUL; not a tab),
# DEL, C1 (next line) and Unicode's line and paragraph separators
NAME_CHARS = 200  # the bound docs/CONFIG.md gives

CONTROLS = ["\n", "\r", "\x1b", "\x00", "\x7f", "\x85", "\u2028", "\u2029"]


def _problem(data: dict) -> str:
    with pytest.raises(ValueError) as caught:
        validate_config(data, "c.yaml")
    return str(caught.value)


@pytest.mark.parametrize("char", CONTROLS)
def test_a_name_with_a_control_character_is_refused_naming_the_key(char):
    said = _problem({"name": f"x{char}touch pwned #"})
    assert said.splitlines()[1].strip().startswith("name: holds the control character")
    assert repr(char) in said and "at position 1" in said


@pytest.mark.parametrize(
    "key", ["run.out_dir", "data.root", "data.cache_dir", "run.device", "data.test_split"]
)
def test_every_text_setting_refuses_a_line_break_naming_its_key(key):
    section, field = key.split(".")
    said = _problem({section: {field: "/tmp/x\ntouch pwned #"}})
    assert f"{key}: holds the control character '\\n'" in said


def test_a_config_file_with_a_line_break_in_its_name_is_refused_by_the_command(tmp_path, capsys):
    cfg = tmp_path / "evil.yaml"
    cfg.write_text('name: "x\\ntouch pwned #"\n', encoding="utf-8")
    assert main(["cv", str(cfg), "--folds", "1", "--out", str(tmp_path / "cv")]) == 2
    err = capsys.readouterr().err
    assert "name: holds the control character '\\n'" in err
    assert not (tmp_path / "cv").exists()


def test_free_text_and_tabs_pass_as_configs_of_earlier_versions_hold_them(tmp_path):
    """Review: a folded YAML note (`note: >`, ending in a line break) and a tab in a path were refused, so
    a checkpoint whose stored config held one could no longer be loaded; neither reaches a script line."""
    cfg = tmp_path / "c.yaml"
    text = 'reference:\n  note: >\n    from the\n    paper\nrun: {out_dir: "a\\tb"}\n'
    cfg.write_text(text, encoding="utf-8")
    loaded = load_config(str(cfg))
    assert loaded.reference.note == "from the paper\n" and loaded.run.out_dir.endswith("a\tb")


def test_printable_text_passes_unchanged():
    for name in ["ok", "a b", "é-ü_名前", "x#y;$(z)", "a" * NAME_CHARS]:
        assert validate_config({"name": name}).name == name


def test_a_name_is_bounded_but_a_studys_run_suffix_is_not_counted():
    long = "a" * (NAME_CHARS + 1)
    said = _problem({"name": long})
    assert "name: 'aaaa" in said and "201 characters long; a name may have at most 200" in said
    assert len(said) < 300  # the name is shown cut, not a megabyte of it
    # compare's and cv's run names (their config.yaml reads back) may go past the bound by the suffix
    base = "a" * NAME_CHARS
    for run_name in [f"{base}-fold5-seed4294967295", f"{base}-fold1", f"{base}-seed3"]:
        assert validate_config({"name": run_name}).name == run_name
    assert "201 characters" in _problem({"name": f"{long}-fold1-seed0"})
    assert "characters long" in _problem({"name": "a" * 1_000_000})


def test_launch_settings_refuse_a_line_break_too():
    # partition, account, qos and constraint are #SBATCH lines of the job script
    with pytest.raises(ValueError, match=r"partition: holds the control character '\\n'"):
        launch_options(None, ['partition="gpu\\ntouch pwned"'], launcher="slurm")


# --- U2: encodings --------------------------------------------------------------------------------------


def test_a_base_file_that_is_not_utf8_is_named(tmp_path):
    base = tmp_path / "deep" / "base.yaml"
    base.parent.mkdir()
    base.write_bytes("name: caf\u00e9\n".encode("latin-1"))
    top = tmp_path / "top.yaml"
    top.write_text("base: deep/base.yaml\noptim: {epochs: 1}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"deep/base\.yaml: not UTF-8 text \(invalid continuation byte at "):
        load_config(top)


def test_a_utf8_config_reads_the_same_whatever_the_locale(tmp_path, monkeypatch):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("name: caf\u00e9-\u540d\n", encoding="utf-8")
    calls = []
    real = Path.read_text

    def read_text(self, *args, **kwargs):
        calls.append(kwargs.get("encoding", args[0] if args else None))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", read_text)
    assert load_config(cfg).name == "caf\u00e9-\u540d"
    assert calls and all(c == "utf-8" for c in calls)  # never the locale's encoding
