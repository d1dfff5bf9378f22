"""A part of a cv study replaces only its own summaries, and a settings change is advised truly (audit 9).

C1: `softfer cv CONFIG --folds 2` after `--folds 1,2` wrote summary_folds_2.json and .md over whatever was
there, a user's notes included, without --overwrite. Now a file at those names is replaced only when it
reads as the part summary softfer writes of the same folds (the .json: summarize's keys and those folds;
the .md: summary_markdown's title of them, and only beside such a .json); any other is refused and left.

L5: a part of the study with other settings was refused advising "pass --overwrite to train every fold
again", but `--folds 1 --overwrite` trains fold 1 only and leaves a 1-fold study. The advice now names
every fold of the study (`--folds 1,2 --overwrite`), and following it trains them all.
"""

import json
from pathlib import Path

import pytest

from softfer.cli import main
from softfer.studies.crossval import check_part_summaries
from tests.engine.conftest import tiny_config

TITLE = "## demo-hard: 1-fold cross-validation (folds [2])\n"
OWN_JSON = {"folds": [2], "metrics": {}, "per_class_recall": {}}  # summarize's keys, fold 2


def _cv(data: Path, out: Path, folds: str, *extra: str, lr: float = 0.001) -> int:
    sets = [a for s in tiny_config(data, out, **{"optim.epochs": 1, "optim.lr": lr}) for a in ("--set", s)]
    return main(["cv", "demo/hard.yaml", "--folds", folds, *sets, "--quiet", *extra])


@pytest.fixture(scope="module")
def study(tiny_dfew, tmp_path_factory) -> Path:
    """A finished two-fold study of the tiny set (trained once for the module)."""
    out = tmp_path_factory.mktemp("cv9") / "study"
    assert _cv(tiny_dfew, out, "1,2") == 0
    return out


@pytest.fixture()
def part(study):
    """The names of fold 2's part summary in the study, cleared before and after each test."""
    files = [study / "summary_folds_2.json", study / "summary_folds_2.md"]
    for p in files:
        p.unlink(missing_ok=True)
    yield files
    for p in files:
        p.unlink(missing_ok=True)


def test_a_users_markdown_at_the_parts_name_is_refused_and_kept(tiny_dfew, study, part, capsys):
    json_file, md_file = part
    md_file.write_text("my notes\n")
    assert _cv(tiny_dfew, study, "2") == 2
    err = capsys.readouterr().err
    assert "summary_folds_2.md" in err and "not replaced" in err
    assert md_file.read_text() == "my notes\n"
    assert not json_file.exists()  # refused before anything was written


def test_a_users_json_at_the_parts_name_is_refused_and_kept(tiny_dfew, study, part, capsys):
    json_file, _ = part
    json_file.write_text('{"mine": 1}')
    assert _cv(tiny_dfew, study, "2") == 2
    assert "summary_folds_2.json" in capsys.readouterr().err
    assert json_file.read_text() == '{"mine": 1}'


def test_a_summary_of_other_folds_at_the_parts_name_is_refused(tiny_dfew, study, part):
    json_file, _ = part
    other = json.dumps({**OWN_JSON, "folds": [1, 2]})  # summarize's keys, but not the folds its name gives
    json_file.write_text(other)
    assert _cv(tiny_dfew, study, "2") == 2
    assert json_file.read_text() == other


def test_a_users_markdown_beside_softfers_json_is_refused(tiny_dfew, study, part):
    json_file, md_file = part
    assert _cv(tiny_dfew, study, "2") == 0  # softfer's own part summary
    md_file.write_text("my notes\n")  # the user replaced the .md with notes of their own
    before = json_file.read_bytes()
    assert _cv(tiny_dfew, study, "2") == 2
    assert md_file.read_text() == "my notes\n" and json_file.read_bytes() == before


def test_softfers_own_part_summary_is_rewritten(tiny_dfew, study, part):
    json_file, md_file = part
    assert _cv(tiny_dfew, study, "2") == 0
    json_file.write_text(json.dumps({**json.loads(json_file.read_text()), "stale": True}))
    assert _cv(tiny_dfew, study, "2") == 0  # its own, from an earlier call: replaced
    summary = json.loads(json_file.read_text())
    fold = json.loads((study / "fold_2" / "metrics.json").read_text())
    assert "stale" not in summary and summary["metrics"]["uar"]["values"] == [fold["uar"]]
    assert md_file.read_text().startswith("## ")


@pytest.mark.parametrize(
    "json_text, md_text, refused",
    [
        (json.dumps(OWN_JSON), TITLE + "| metric |\n", None),
        (json.dumps(OWN_JSON), None, None),
        (json.dumps(OWN_JSON), "## demo-hard: 1-fold cross-validation (folds [1])\n", "md"),
        (json.dumps(OWN_JSON), "notes\n" + TITLE, "md"),
        (None, TITLE, "md"),  # a .md alone is never recognised
        ('{"folds": [2], "metrics": {}}', TITLE, "json"),
        ("[2]", None, "json"),
        ("not json", None, "json"),
    ],
)
def test_which_files_read_as_a_part_summary(tmp_path, json_text, md_text, refused):
    for suffix, text in (("json", json_text), ("md", md_text)):
        if text is not None:
            (tmp_path / f"summary_folds_2.{suffix}").write_text(text)
    if refused is None:
        check_part_summaries(tmp_path, [2])
    else:
        with pytest.raises(ValueError, match=rf"summary_folds_2\.{refused} exists"):
            check_part_summaries(tmp_path, [2])


def test_a_dangling_link_or_a_folder_at_the_parts_name_is_refused(tmp_path):
    (tmp_path / "summary_folds_2.json").symlink_to(tmp_path / "gone.json")
    with pytest.raises(ValueError, match=r"summary_folds_2\.json exists"):
        check_part_summaries(tmp_path, [2])
    (tmp_path / "summary_folds_2.json").unlink()
    (tmp_path / "summary_folds_2.json").write_text(json.dumps(OWN_JSON))
    (tmp_path / "summary_folds_2.md").mkdir()
    with pytest.raises(ValueError, match=r"summary_folds_2\.md exists"):
        check_part_summaries(tmp_path, [2])


def test_the_advice_after_a_settings_change_names_every_fold_and_is_true(tiny_dfew, study, capsys):
    # last in this file: following the advice trains the study's folds again with the new settings
    assert _cv(tiny_dfew, study, "1", lr=0.002) == 2
    err = capsys.readouterr().err
    assert "optim.lr" in err and "--folds 1,2 --overwrite" in err
    assert "pass --overwrite to train every fold again" not in err  # the advice that shrank the study
    assert _cv(tiny_dfew, study, "1,2", "--overwrite", lr=0.002) == 0
    assert json.loads((study / "study.json").read_text())["folds"] == [1, 2]
    assert json.loads((study / "summary.json").read_text())["folds"] == [1, 2]
    for k in (1, 2):
        assert "lr: 0.002" in (study / f"fold_{k}" / "config.yaml").read_text()
