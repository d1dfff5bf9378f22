"""Issue 26: the demo's conclusion about the converged comparison comes from the comparison code applied to
a stored reference (softfer.studies.converged, benchmarks/demo_reference.py), not from a fixed sentence.

The reference is built from a `softfer compare` folder written by softfer's own writers (compare's grid
layout, config dumps, study.json, run fingerprints) with hand-made metrics: soft beats hard in every run
(a clear difference), MIDAS and hard differ by symmetric noise (a null one). No training."""

import io
import json
import re
import sys
from pathlib import Path

import pytest
from rich.console import Console

from softfer.config import dump_config, load_config
from softfer.demo import REGIMES, _configs, _print_results
from softfer.engine.resume import run_fingerprint
from softfer.io.files import write_json_atomic
from softfer.studies.compare import grid_config
from softfer.studies.converged import load_reference, recipe_fingerprint, reference_lines
from softfer.studies.crossval import write_study
from softfer.studies.stats_report import summarize_comparison

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))  # the scripts import each other as `python benchmarks/x.py` does
import demo_reference as dr  # noqa: E402

FOLDS, SEEDS = (1, 2, 3, 4, 5), (0, 1)
OFFSET = [0.0, 0.01, 0.02, 0.005, -0.01, 0.015, -0.005, 0.03, 0.0, 0.012]  # per (fold, seed), shared
NOISE = [0.01, -0.01, 0.02, -0.02, 0.005, -0.005, 0.015, -0.015, 0.003, -0.003]  # sums to 0
UAR = {
    "demo-hard": lambda k: 0.40 + OFFSET[k],
    "demo-soft": lambda k: 0.45 + OFFSET[k] + NOISE[k] / 10,  # better in every run: a clear difference
    "demo-midas": lambda k: 0.398 + OFFSET[k] + NOISE[k],  # noise around hard: a null difference
}


def data_fingerprint(fold: int, media: str, labels: str = "labels") -> dict:
    """A run's data fingerprint; ``media`` stands for the file times of one rendering of the data."""
    split = {
        name: {"source": f"dfew {name} split, fold {fold}", "count": 9, "ids": f"{name}{fold}"}
        | {"labels": f"{labels}-{name}{fold}", "media": media}
        for name in ("test", "train")
    }
    return {"format": "dfew", "splits": split}


@pytest.fixture(autouse=True)
def data_now(monkeypatch) -> dict[str, str]:
    """The data as they are now, where check_reusable reads them (``data_fingerprint_of``): the hand-made
    data the study's runs recorded, with the labels a test may change (``data_now["labels"]``)."""
    now = {"labels": "labels"}

    def fingerprint(cfg) -> dict:
        return data_fingerprint(cfg.data.fold, media="study", labels=now["labels"])

    monkeypatch.setattr("softfer.engine.resume.data_fingerprint_of", fingerprint)
    return now


def fake_compare(out: Path, uar=UAR, epochs: int = 96) -> Path:
    """A finished `softfer compare` folder of the demo's configs at ``epochs``, as compare writes it."""
    configs = [
        load_config(f"demo/{r}.yaml", [f"optim.epochs={epochs}", f"data.root={out}/data"]) for r in REGIMES
    ]
    for f in FOLDS:
        for i, s in enumerate(SEEDS):
            for c in configs:
                run, u = grid_config(c, f, s, out), uar[c.name](2 * (f - 1) + i)
                metrics = {"uar": u, "war": u + 0.1, "nll": 2 - u, "ece": 0.3 - u / 2}
                dump_config(run, Path(run.run.out_dir) / "config.yaml")
                fingerprint = run_fingerprint(run, data_fingerprint(f, media="study"))
                write_json_atomic(
                    Path(run.run.out_dir) / "metrics.json", {**metrics, "fingerprint": fingerprint}
                )
    for c in configs:
        dump_config(c, out / c.name / "config.yaml")
    write_study(out, "compare", configs, FOLDS, SEEDS)
    return out


def demo_side(tmp_path: Path) -> tuple[dict, dict, dict]:
    """The demo's configs (by regime), its own one-run comparison at 32 epochs and its data fingerprint."""
    configs = _configs(tmp_path / "demo", tmp_path / "demo" / "data", False, 64)
    rows = [
        {"config": r, "fold": 1, "seed": 0, "uar": u, "war": u + 0.1, "nll": 1.0, "ece": 0.1}
        for r, u in zip(REGIMES, (0.45, 0.40, 0.38), strict=True)
    ]
    summary = summarize_comparison(rows, configs=list(REGIMES), folds=(1,), seeds=(0,), num_classes=7)
    return dict(zip(REGIMES, configs, strict=True)), summary, data_fingerprint(1, media="demo")


def expected_verdicts(compare: Path) -> list[str]:
    """The verdicts summarize_comparison gives for the folder's runs, under the demo's regime names."""
    rows = []
    for r in REGIMES:
        for f in FOLDS:
            for s in SEEDS:
                m = json.loads((compare / f"demo-{r}" / f"fold_{f}_seed_{s}" / "metrics.json").read_text())
                rows.append({"config": r, "fold": f, "seed": s, **m})
    return summarize_comparison(rows, configs=list(REGIMES), folds=FOLDS, seeds=SEEDS, num_classes=7)[
        "verdicts"
    ]


def printed(lines: list[str], summary: dict) -> str:
    """What the demo prints of its results with ``lines`` as its converged lines."""
    console = Console(file=io.StringIO(), width=2000)
    _print_results(console, summary, Path("DATA"), lines)
    return console.file.getvalue()


def test_the_demo_prints_the_verdicts_the_comparison_code_gives_for_the_stored_rows(tmp_path):
    reference = dr.build_reference(fake_compare(tmp_path / "e96"))
    configs, summary, data = demo_side(tmp_path)
    lines = reference_lines(reference, configs, summary, data)
    text = printed(lines, summary)
    verdicts = expected_verdicts(tmp_path / "e96")
    assert [line for line in lines if line.startswith("  - ")] == [f"  - {v}" for v in verdicts]
    for v in verdicts:
        assert f"  - {v}\n" in text
    # what the hand-made runs were built to show, read from the words
    assert any(v.startswith("soft is better than hard on uar") for v in verdicts)
    assert any(
        v.startswith("midas - hard on uar") and "not distinguishable from noise" in v for v in verdicts
    )
    assert "The stored reference comparison (96 epochs, folds 1,2,3,4,5 x seeds 0,1, measured 20" in text
    mean = sum(OFFSET) / len(OFFSET)  # the UAR ranking, highest mean first, each mean with its interval
    assert f"  soft {0.45 + mean:.3f} [" in text and f"] > hard {0.40 + mean:.3f} [" in text
    assert f"] > midas {0.398 + mean:.3f} [" in text
    # no longer budget confirms it: the words do not call it converged
    assert (
        "measured 20" in text
        and "; not yet repeated at a longer budget, so its ranking may still move" in text
    )
    assert (
        "This demo's ranking at 32 epochs (hard > soft > midas, one run each) is short of the reference's 96 "
        "epochs, which ranks them differently." in text
    )
    assert "converged one" not in text
    assert "Not the converged answer" not in text  # the line printed when no reference ships


def test_other_stored_rows_give_other_words(tmp_path):
    configs, summary, data = demo_side(tmp_path)
    swapped = {**UAR, "demo-hard": UAR["demo-soft"], "demo-soft": UAR["demo-hard"]}
    before = reference_lines(dr.build_reference(fake_compare(tmp_path / "a")), configs, summary, data)
    after = reference_lines(dr.build_reference(fake_compare(tmp_path / "b", swapped)), configs, summary, data)
    assert before != after
    assert [f"  - {v}" for v in expected_verdicts(tmp_path / "b")] == [
        x for x in after if x.startswith("  - ")
    ]
    assert any(x.startswith("  - soft is worse than hard on uar") for x in after)
    assert not any("better than" in x or "worse than" in x for x in before if "midas - hard" in x)


def test_a_demo_at_the_reference_budget_is_not_told_it_has_not_converged(tmp_path):
    reference = dr.build_reference(fake_compare(tmp_path / "e32", epochs=32))
    configs, summary, data = demo_side(tmp_path)
    lines = reference_lines(reference, configs, summary, data)
    assert lines[0].startswith("The stored reference comparison (32 epochs")
    assert not any("not the converged one" in x for x in lines)


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"size": 32}, "the settings of demo-hard, demo-soft, demo-midas differ from this demo's"),
        ({"fold": 6}, "it holds no data fingerprint of fold 6"),
    ],
)
def test_a_reference_of_another_recipe_gives_the_mismatch_line_and_no_verdict(tmp_path, change, said):
    reference = dr.build_reference(fake_compare(tmp_path / "e96"))
    configs, summary, data = demo_side(tmp_path)
    if "fold" in change:  # a fold the reference never ran: its data cannot be checked
        configs = {
            r: c.model_copy(update={"data": c.data.model_copy(update=change)}) for r, c in configs.items()
        }
    else:  # the --quick demo's smaller clips: another recipe, whatever the budget
        configs = {r: load_config(f"demo/{r}.yaml", ["data.size=32"]) for r in REGIMES}
    (line,) = reference_lines(reference, configs, summary, data)
    assert said in line and "Nothing is compared with it." in line
    assert "better than" not in line and "noise" not in line


def test_other_data_give_the_mismatch_line_and_other_file_times_do_not(tmp_path):
    reference = dr.build_reference(fake_compare(tmp_path / "e96"))
    configs, summary, _ = demo_side(tmp_path)
    (line,) = reference_lines(reference, configs, summary, data_fingerprint(1, "demo", labels="relabelled"))
    assert (
        "its data differ from this demo's: the test split (dfew test split, fold 1): labels changed" in line
    )
    same = reference_lines(reference, configs, summary, data_fingerprint(1, "another rendering"))
    assert len(same) > 1 and same[0].startswith("The stored reference comparison (96 epochs")


def test_the_recipe_fingerprint_ignores_budget_data_root_fold_and_seed_only():
    base = load_config("demo/midas.yaml")
    same = load_config("demo/midas.yaml", ["optim.epochs=96", "data.root=/x", "data.fold=3", "run.seed=1"])
    assert recipe_fingerprint(same) == recipe_fingerprint(base)
    for other in ("data.size=32", "labels.mix_alpha=0.2", "optim.lr=0.001", "data.clear_threshold=0.8"):
        assert recipe_fingerprint(load_config("demo/midas.yaml", [other])) != recipe_fingerprint(base), other


def test_without_a_reference_the_demo_says_the_converged_comparison_is_not_measured(tmp_path):
    configs, summary, data = demo_side(tmp_path)
    (line,) = reference_lines(load_reference(tmp_path / "absent.json"), configs, summary, data)
    assert "not measured yet" in line and "bash benchmarks/learning_curves.sh" in line
    assert "docs/BENCHMARKS.md" in line and "32 epochs" in line


def test_the_script_refuses_an_unfinished_study(tmp_path):
    compare = fake_compare(tmp_path / "e96")
    (compare / "demo-soft" / "fold_3_seed_1" / "metrics.json").unlink()
    with pytest.raises(ValueError, match=r"not finished: 1 of its 30 runs .*demo-soft fold 3 seed 1"):
        dr.write_reference(compare, tmp_path / "reference.json")
    assert not (tmp_path / "reference.json").exists()


def test_the_script_refuses_a_run_cut_short_and_a_run_of_other_settings(tmp_path):
    compare = fake_compare(tmp_path / "e96")
    path = compare / "demo-hard" / "fold_2_seed_0" / "metrics.json"
    metrics = json.loads(path.read_text())
    write_json_atomic(path, {**metrics, "cut_short": {"time_budget_s": 60}})
    with pytest.raises(ValueError, match="cut short"):
        dr.build_reference(compare)
    other = load_config("demo/hard.yaml", ["optim.lr=0.1"])
    write_json_atomic(path, {**metrics, "fingerprint": run_fingerprint(other, {})})
    with pytest.raises(ValueError, match="trained with other settings"):
        dr.build_reference(compare)


def test_the_script_refuses_runs_of_data_that_changed_since_naming_the_split(tmp_path, data_now):
    # the runs' metrics.json fingerprints hold the data as they were; check_reusable compares them with
    # the data as they are now
    compare = fake_compare(tmp_path / "e96")
    data_now["labels"] = "relabelled"
    with pytest.raises(ValueError) as caught:
        dr.build_reference(compare)
    message = str(caught.value)
    assert message.startswith(f"{compare}: 30 of its 30 runs cannot be used for their configs (")
    first = compare / "demo-hard" / "fold_1_seed_0" / "metrics.json"
    assert (
        f"{first}: the data changed since this metrics.json was made: the test split (dfew test split, "
        "fold 1): labels changed" in message
    )
    assert message.count("the data changed since") == 3 and "; ...): run the study again" in message


def test_the_script_refuses_a_run_whose_config_yaml_is_not_its_configs(tmp_path):
    # metrics.json still carries the fingerprint of the grid's config, but the run folder's config.yaml
    # (what the run says it trained with) differs: check_reusable compares both
    compare = fake_compare(tmp_path / "e96")
    run_dir = compare / "demo-soft" / "fold_4_seed_1"
    other = load_config(run_dir / "config.yaml", ["optim.lr=0.1"])
    dump_config(other, run_dir / "config.yaml")
    with pytest.raises(
        ValueError,
        match=r"1 of its 30 runs cannot be used for their configs \("
        + re.escape(f"{run_dir} holds a run trained with other settings: optim.lr: stored 0.1, requested "),
    ):
        dr.build_reference(compare)


def test_the_script_refuses_an_existing_reference_without_overwrite(tmp_path):
    compare, out = fake_compare(tmp_path / "e96"), tmp_path / "reference.json"
    out.write_text("kept")
    with pytest.raises(ValueError, match=r"output already exists .*--overwrite"):
        dr.write_reference(compare, out)
    assert out.read_text() == "kept"
    dr.write_reference(compare, out, overwrite=True)
    reference = load_reference(out)
    assert reference["epochs"] == 96 and reference["folds"] == list(FOLDS) and len(reference["rows"]) == 30
    assert reference["data_command"] == "softfer synth dfew DATA --clips 1000 --size 64 --seed 0"
    assert "media" not in json.dumps(reference["data"])


def test_an_unreadable_reference_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "reference.json"
    path.write_text("{")
    with pytest.raises(ValueError, match=f"{path}: unreadable reference comparison"):
        load_reference(path)
    path.write_text(json.dumps({"version": 1, "epochs": 96}))
    with pytest.raises(ValueError, match="lacks"):
        load_reference(path)


@pytest.mark.parametrize(("epochs", "unsettled"), [(32, True), (96, False)])
def test_the_results_table_says_its_budget_and_whether_its_ranking_is_the_converged_one(
    tmp_path, epochs, unsettled
):
    _, summary, _ = demo_side(tmp_path)
    console = Console(file=io.StringIO(), width=200)
    _print_results(console, summary, Path("DATA"), [], epochs=epochs, unsettled=unsettled)
    text = " ".join(console.file.getvalue().split())  # the caption wraps at the table's width
    assert f"trained {epochs} epochs" in text
    assert ("not the converged ranking" in text) is unsettled


# --- the whole reference is checked when it is read, before the demo trains ---


def _edit_row(key, value):
    return lambda r: r["rows"][4].update({key: value})


@pytest.mark.parametrize(
    ("edit", "said"),
    [
        # reference_lines raised AttributeError on it, after the demo had trained for 10 minutes
        (lambda r: r["configs"].update({"demo-hard": "abc"}), "configs.demo-hard: Input should be a valid"),
        (_edit_row("uar", 7.5), "rows[4]: out of range: uar = 7.5 (a number in [0, 1])"),
        (_edit_row("war", float("nan")), "rows[4]: not a number: war = NaN"),
        (_edit_row("nll", "1.2"), 'rows[4]: not a number: nll = "1.2"'),
        (_edit_row("uar", None), "rows[4]: no uar"),
        (_edit_row("fold", True), "rows.4.fold: true is a boolean"),
        (_edit_row("seed", 7), "rows[4]: config 'demo-hard', fold 3, seed 7: not a run of the grid"),
        (
            _edit_row("per_class_recall", {"happy": 1.5}),
            "rows.4.per_class_recall.happy: Input should be less",
        ),
        (_edit_row("ucr", 0.5), "rows[4]: unknown keys ['ucr']"),
        (
            lambda r: r["rows"].pop(4),
            "rows: 1 of the grid's 30 runs have no row (first: ('demo-hard', 3, 0))",
        ),
        (lambda r: r["rows"].append(dict(r["rows"][0])), "a second row of demo-hard fold 1 seed 0"),
        (lambda r: r.update(epochs=0), "epochs: Input should be greater than or equal to 1"),
        (lambda r: r.update(num_classes=True), "num_classes: true is a boolean"),
        (lambda r: r.update(folds=[1, 2, 3, 4, 5, 5]), "folds: [1, 2, 3, 4, 5, 5] given twice"),
        (
            lambda r: r["data"].pop("3"),
            "data: holds folds ['1', '2', '4', '5'], the grid folds [1, 2, 3, 4, 5]",
        ),
        (lambda r: r["data"]["1"]["splits"]["test"].update(count=-1), "data.1.splits.test.count: Input"),
        (lambda r: r.update(date=20240101), "date: Input should be a valid string"),
        (lambda r: r.update(confirmed_by=[96]), "confirmed_by: [96] not longer than its 96 epochs"),
    ],
)
def test_a_reference_the_demo_cannot_use_is_refused_when_read_naming_the_file_and_field(tmp_path, edit, said):
    """Found (audit): load_reference checked only the top-level keys of reference.json."""
    path = dr.write_reference(fake_compare(tmp_path / "e96"), tmp_path / "reference.json")
    reference = json.loads(path.read_text())
    assert reference["rows"][4]["config"] == "demo-hard"  # fold 3, seed 0
    assert load_reference(path)["rows"][4]["uar"] == reference["rows"][4]["uar"]  # as written: accepted
    edit(reference)
    path.write_text(json.dumps(reference))
    with pytest.raises(ValueError) as caught:
        load_reference(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: not a reference comparison the demo can use:\n  ")
    assert said in message and message.endswith("--overwrite`, or delete it")


def test_the_demo_refuses_a_broken_reference_before_it_makes_data_or_trains(tmp_path, monkeypatch, capsys):
    from softfer import demo
    from softfer.cli import main

    path = tmp_path / "reference.json"
    reference = dr.build_reference(fake_compare(tmp_path / "e96"))
    path.write_text(json.dumps({**reference, "configs": {**reference["configs"], "demo-soft": "abc"}}))
    monkeypatch.setattr(demo, "demo_reference_path", lambda: path)
    monkeypatch.setattr(demo, "run_grid", lambda *a, **k: pytest.fail("the demo trained"))
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--quick"]) == 2
    err = capsys.readouterr().err
    assert f"{path}: not a reference comparison the demo can use" in err and "configs.demo-soft" in err
    assert "Traceback" not in err and not out.exists()
