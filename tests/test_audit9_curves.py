"""Audit 9 (C2, C3, C4, L3, L4): benchmarks/learning_curves.py writes only where softfer's output rule lets
it (never onto a budget folder's files, never over a file without --overwrite, checked before reading);
a damaged runs.csv is one line naming it; runs cut short of their configured epochs are refused by one
rule shared with demo_reference.py and budget_table.py, and named by `softfer compare`'s own summary; a
hand-edited reference.json with an impossible date, a boolean version or a budget confirmed twice is
refused. Hand-made compare folders (tests/test_learning_curves.py, tests/test_demo_reference.py); no
training."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from softfer.io.files import write_json_atomic
from softfer.studies.converged import load_reference, reference_lines
from softfer.studies.stats_report import comparison_markdown, summarize_comparison
from tests.test_demo_reference import data_now, demo_side, dr  # noqa: F401 (data_now: autouse)
from tests.test_demo_reference import fake_compare as demo_compare
from tests.test_learning_curves import ROOT, fake_compare, lc, uar

import budget_table as bt  # isort: skip  (benchmarks/ on sys.path, put there by the tests imported above)

SCRIPT = ROOT / "benchmarks" / "learning_curves.py"


def budgets(tmp_path: Path, first: int = 8) -> tuple[Path, Path]:
    return (
        fake_compare(tmp_path / "short", first, uar(0.50, 0.45, 0.30)),
        fake_compare(tmp_path / "long", 16, uar(0.55, 0.60, 0.35)),
    )


def script(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True
    )


def test_outputs_onto_a_budget_folders_files_are_refused_with_overwrite_too(tmp_path):
    a, b = budgets(tmp_path)
    kept = {p: p.read_bytes() for p in (a / "runs.csv", b / "comparison.json")}
    link, hard = tmp_path / "link.md", tmp_path / "hard.md"
    link.symlink_to(a / "runs.csv")
    os.link(b / "runs.csv", hard)
    for kw, said in [
        ({"md": a / "runs.csv"}, r"short/runs\.csv is an input of this command.*choose another --md"),
        ({"png": b / "comparison.json"}, r"comparison\.json is an input.*choose another --png"),
        ({"md": link}, r"link\.md is an input of this command \(.*short/runs\.csv\)"),
        ({"md": hard}, r"hard\.md is an input of this command \(.*long/runs\.csv\)"),
        ({"md": a / "curves.md"}, r"lies inside the input folder .*short"),
    ]:
        with pytest.raises(ValueError, match=said):
            lc.learning_curves([a, b], ["uar"], overwrite=True, **kw)
    assert {p: p.read_bytes() for p in kept} == kept
    assert not (a / "curves.md").exists() and link.is_symlink()
    with pytest.raises(ValueError, match=r"--png .*curves\.jpg: the file written is \.png"):
        lc.learning_curves([a, b], ["uar"], png=tmp_path / "curves.jpg")


def test_an_existing_file_is_replaced_only_with_overwrite_and_checked_before_anything_is_read(tmp_path):
    a, b = budgets(tmp_path)
    notes = tmp_path / "notes.md"
    notes.write_text("my notes\n")
    # the budget folder does not even exist: the refusal comes before any reading
    with pytest.raises(ValueError, match=r"notes\.md: output already exists .*pass --overwrite"):
        lc.learning_curves([tmp_path / "absent", b], ["uar"], md=notes)
    done = script(a, b, "--metrics", "uar", "--md", notes, cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("learning_curves.py: ") and "notes.md: output already exists" in done.stderr
    assert notes.read_text() == "my notes\n"
    again = script(a, b, "--metrics", "uar", "--md", notes, "--png", "c.png", "--overwrite", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert notes.read_text().startswith("## Learning curves: 3 configs at 8, 16 epochs")
    assert (tmp_path / "c.png").read_bytes().startswith(b"\x89PNG")


def _drop_last(text: str) -> str:
    return "".join(text.splitlines(keepends=True)[:-1])


def _second_row_twice(text: str) -> str:
    lines = text.splitlines(keepends=True)
    return "".join([*lines, lines[1]])


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        (lambda t: "not,a,table\n1,2,3\n", r"not a runs\.csv of `softfer compare` \(no column config"),
        (lambda t: "## Learning curves: 3 configs\n", r"no column config, fold, seed"),
        (lambda t: t.replace(",1,0,", ",one,0,", 1), r"line 2 is not a run's row"),
        (lambda t: t.replace("0.500000", "nan", 1), r"line 2: not a number: uar = NaN"),
        (_drop_last, r"demo-midas fold 2 seed 1 uar is None, comparison\.json says"),
        (_second_row_twice, r"line 14: a second row of demo-hard fold 1 seed 0"),
        (lambda t: t.replace("0.500000", "0.400000", 1), r"demo-hard fold 1 seed 0 uar is 0\.4, comparison"),
    ],
)
def test_a_damaged_runs_csv_is_one_line_naming_it(tmp_path, damage, said):
    a, b = budgets(tmp_path)
    path = a / "runs.csv"
    path.write_text(damage(path.read_text()))
    with pytest.raises(ValueError, match=rf"{path}: .*{said}"):
        lc.learning_curves([a, b], ["uar"])


def test_a_runs_csv_that_is_no_text_is_one_line_at_exit_2(tmp_path):
    a, b = budgets(tmp_path)
    (a / "runs.csv").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00binary")
    done = script(a, b, cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and f"{a / 'runs.csv'}: cannot read it" in done.stderr


def _cut(folder: Path, config: str, cut: dict) -> None:
    path = folder / config / "fold_2_seed_1" / "metrics.json"
    write_json_atomic(path, {**json.loads(path.read_text()), "cut_short": cut})


def test_runs_cut_short_are_refused_by_the_one_rule_of_every_script(tmp_path):
    # the budget would read as 16 epochs though a run stopped after 2 steps
    a, b = budgets(tmp_path)
    _cut(b, "demo-soft", {"max_steps": 2})
    with pytest.raises(
        ValueError,
        match=rf"{b}: 1 of its 12 runs stopped before their configured epochs \(demo-soft fold 2 seed 1 "
        r"\(run\.max_steps=2\)\)",
    ):
        lc.learning_curves([a, b], ["uar"])
    with pytest.raises(ValueError, match=r"demo-soft fold 2 seed 1 \(run\.max_steps=2\)"):
        bt.budget_markdown(a, b, ["uar"])
    # demo_reference.py names it in the same words
    compare = demo_compare(tmp_path / "e96")
    _cut(compare, "demo-hard", {"time_budget_s": 60})
    with pytest.raises(ValueError, match=r"demo-hard fold 2 seed 1 \(cut short: run\.time_budget_s=60\)"):
        dr.build_reference(compare)


def test_compare_says_when_its_runs_were_cut_short(tmp_path):
    rows = [
        {"config": c, "fold": 1, "seed": s, "uar": u + s / 100, "war": 0.5, "nll": 1.0, "ece": 0.1}
        for c, u in (("hard", 0.4), ("soft", 0.5))
        for s in (0, 1)
    ]
    kw = {"configs": ["hard", "soft"], "folds": [1], "seeds": [0, 1], "num_classes": 7}
    full = summarize_comparison(rows, **kw)
    assert full["cut_short"] == [] and "Not a full-budget comparison" not in comparison_markdown(full)
    rows[1]["cut_short"] = {"max_steps": 2}
    rows[3]["cut_short"] = {"time_budget_s": 30.0}
    summary = summarize_comparison(rows, **kw)
    assert summary["cut_short"] == [
        "hard fold 1 seed 1 (run.max_steps=2)",
        "soft fold 1 seed 1 (run.time_budget_s=30.0)",
    ]
    note = [line for line in comparison_markdown(summary).splitlines() if "full-budget" in line]
    assert note == [
        "Not a full-budget comparison: 2 of the 4 runs stopped before their configured epochs (hard fold 1 "
        "seed 1 (run.max_steps=2), soft fold 1 seed 1 (run.time_budget_s=30.0))."
    ]


@pytest.mark.parametrize(
    ("edit", "said"),
    [
        ({"date": "2026-13-45"}, r"date: '2026-13-45' is no date of the calendar"),
        ({"date": "2026-02-30"}, r"date: '2026-02-30' is no date of the calendar"),
        ({"version": True}, r"not a reference comparison of version 1"),
        ({"confirmed_by": [160, 160]}, r"confirmed_by: \[160, 160\] given twice"),
    ],
)
def test_a_hand_edited_reference_is_refused_naming_the_field(tmp_path, edit, said):
    reference = dr.build_reference(demo_compare(tmp_path / "e96"))
    path = tmp_path / "reference.json"
    write_json_atomic(path, {**reference, **edit})
    with pytest.raises(ValueError, match=rf"(?s){path}: .*{said}"):
        load_reference(path)


def test_one_longer_budget_given_twice_confirms_nothing(tmp_path):
    reference = dr.build_reference(demo_compare(tmp_path / "e96"))
    longer = dr.build_reference(demo_compare(tmp_path / "e160", epochs=160))
    copy = {**longer, "made_from": "a copy"}
    with pytest.raises(
        ValueError, match=r"e160 and a copy are both 160 epochs: give each longer budget once"
    ):
        dr.confirmed_by(reference, [longer, copy])


def test_one_epoch_is_said_in_the_singular(tmp_path):
    text = lc.learning_curves(list(budgets(tmp_path, first=1)), ["uar"])
    assert "Folders: " in text and "short (1 epoch), " in text and "| uar | 1 epoch | 16 epochs |" in text
    assert "- 1 epoch: demo-hard > demo-soft > demo-midas" in text and "1 epochs" not in text
    reference = dr.build_reference(demo_compare(tmp_path / "e1", epochs=1))
    configs, summary, data = demo_side(tmp_path)
    line = reference_lines(reference, configs, summary, data)[0]
    assert (
        line.startswith("The stored reference comparison (1 epoch, folds 1,2,3,4,5")
        and "1 epochs" not in line
    )
