"""Issue 26: benchmarks/learning_curves.py over `softfer compare` folders written by softfer's own writers
(compare's grid layout, config dumps, summarize_comparison, runs_csv) from hand-made per-run metrics, so
that the settling budget is known by construction. No training."""

import io
import sys
from pathlib import Path

import pytest
from PIL import Image

from softfer.config import dump_config, load_config
from softfer.engine.resume import run_fingerprint
from softfer.io.files import write_json_atomic, write_text_atomic
from softfer.studies.compare import grid_config, runs_csv
from softfer.studies.crossval import write_study
from softfer.studies.stats_report import comparison_markdown, summarize_comparison

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))  # the scripts import each other as `python benchmarks/x.py` does
import learning_curves as lc  # noqa: E402

CONFIGS = ("demo/hard.yaml", "demo/soft.yaml", "demo/midas.yaml")
# per run (fold, seed): an offset shared by the configs (paired runs), and a small jitter per config so
# that no difference has zero spread
OFFSET = [0.0, 0.01, 0.02, 0.005]
JITTER = {"demo-hard": [0, 2, -1, 1], "demo-soft": [1, -2, 0, 2], "demo-midas": [0, 1, 2, -1]}


def fake_compare(out: Path, epochs: int, uar: dict[str, float], folds=(1, 2), seeds=(0, 1), extra=()) -> Path:
    """A finished `softfer compare` folder at ``epochs`` whose config ``c`` has UAR ``uar[c]`` (+ offsets)."""
    configs = [load_config(p, [f"optim.epochs={epochs}", "data.root=/nowhere", *extra]) for p in CONFIGS]
    rows = []
    for f in folds:
        for i, s in enumerate(seeds):
            for c in configs:
                run, k = grid_config(c, f, s, out), (2 * (f - 1) + i) % len(OFFSET)
                u = uar[c.name] + OFFSET[k] + JITTER[c.name][k] / 1000
                metrics = {"uar": u, "war": u + 0.1, "nll": 2 - u, "ece": 0.5 - u / 2}
                data = {
                    "format": "dfew",
                    "splits": {"test": {"ids": f"fold{f}"}, "train": {"ids": f"fold{f}"}},
                }
                dump_config(run, Path(run.run.out_dir) / "config.yaml")
                write_json_atomic(
                    Path(run.run.out_dir) / "metrics.json",
                    {**metrics, "fingerprint": run_fingerprint(run, data)},
                )
                rows.append({"config": c.name, "fold": f, "seed": s, "run_dir": run.run.out_dir, **metrics})
    for c in configs:
        dump_config(c, out / c.name / "config.yaml")
    write_study(out, "compare", configs, folds, seeds)
    names = [c.name for c in configs]
    summary = summarize_comparison(rows, configs=names, folds=folds, seeds=seeds, num_classes=7)
    write_json_atomic(out / "comparison.json", summary)
    write_text_atomic(out / "comparison.md", comparison_markdown(summary) + "\n")
    write_text_atomic(out / "runs.csv", runs_csv(rows, list(summary["metrics"])))
    return out


def uar(hard: float, soft: float, midas: float) -> dict[str, float]:
    return {"demo-hard": hard, "demo-soft": soft, "demo-midas": midas}


def test_the_ranking_that_turns_over_once_settles_at_the_second_budget(tmp_path):
    # hard > soft at 8 epochs, soft > hard from 16 on, each difference's interval excluding 0: both the
    # ranking and the differences settle at 16. The folder names hide the budgets: they come from configs.
    a = fake_compare(tmp_path / "a", 24, uar(0.58, 0.64, 0.37))
    b = fake_compare(tmp_path / "b", 8, uar(0.50, 0.45, 0.30))
    c = fake_compare(tmp_path / "c", 16, uar(0.55, 0.60, 0.35))
    png, md = tmp_path / "curves.png", tmp_path / "curves.md"
    text = lc.learning_curves([a, b, c], ["uar", "war", "nll", "ece"], png=png, md=md)
    assert md.read_text() == text + "\n"
    assert f"Folders: {b} (8 epochs), {c} (16 epochs), {a} (24 epochs)." in text
    assert "- 8 epochs: demo-hard > demo-soft > demo-midas" in text
    assert "- 16 epochs: demo-soft > demo-hard > demo-midas" in text
    assert "- 24 epochs: demo-soft > demo-hard > demo-midas" in text
    assert "- UAR ranking: settles at 16 epochs: every later budget (24) repeats it" in text
    assert "- Differences: settle at 16 epochs: from there on" in text
    # the change between consecutive budgets (budget_table's table) and the comparisons' own verdicts
    assert "Change from 8 to 16 epochs" in text and "Change from 16 to 24 epochs" in text
    assert "| demo-soft | uar | +0.1500 [" in text  # 0.45 -> 0.60, the same offsets at both budgets
    for folder in (a, b, c):
        for verdict in lc.read_budget(folder).summary["verdicts"]:
            assert verdict in text
    assert "| uar | 8 epochs | 16 epochs | 24 epochs |" in text
    image = png.read_bytes()
    assert image.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(image)) as im:
        im.verify()
        assert im.size[0] > im.size[1] > 100  # four panels side by side


def test_a_ranking_that_turns_over_at_the_last_budget_does_not_settle(tmp_path):
    folders = [
        fake_compare(tmp_path / "e8", 8, uar(0.50, 0.45, 0.30)),
        fake_compare(tmp_path / "e16", 16, uar(0.55, 0.50, 0.35)),
        fake_compare(tmp_path / "e24", 24, uar(0.55, 0.60, 0.37)),
    ]
    text = lc.learning_curves(folders, ["uar"])
    assert (
        "- UAR ranking: does not settle within the budgets given (8, 16, 24 epochs): it changes from 16"
        in text
    )
    assert "- Differences: do not settle within the budgets given" in text
    assert "at 24 epochs demo-soft - demo-hard on uar excludes 0 on the other side" in text


@pytest.mark.parametrize(
    ("ranks", "expected"),
    [
        ("ABB", 1),
        ("AAA", 0),
        ("AAB", None),  # the last budget changes it: a settled-looking start is not settled
        ("ABA", None),  # the first ranking comes back, but the middle one differs
        ("ABAA", 2),
        ("A", None),  # one budget confirms nothing
    ],
)
def test_the_ranking_settles_where_every_later_budget_repeats_it(ranks, expected):
    assert lc.settles_at(lc.ranking_changes(list(ranks))) == expected


@pytest.mark.parametrize(
    ("signs", "expected"),
    [
        ([1, 0, -1], None),  # an interval including 0 between two opposite ones does not hide the flip
        ([1, 0, -1, -1], 2),
        ([-1, 1, 0, 1], 1),  # includes 0, then the same side again: no new flip
        ([0, 0, 0], 0),  # no interval ever excludes 0: nothing flips
        ([0, 1, 1], 0),  # deciding a sign is no flip
        ([1, -1], None),
    ],
)
def test_differences_settle_after_the_last_interval_on_the_other_side(signs, expected):
    # a second pair that never flips must not move the answer
    states = [{("uar", "a", "b"): s, ("nll", "a", "b"): 1} for s in signs]
    assert lc.settles_at([bool(f) for f in lc.sign_flips(states)]) == expected


def test_folders_that_differ_in_folds_or_settings_are_refused_naming_them(tmp_path):
    base = fake_compare(tmp_path / "e8", 8, uar(0.50, 0.45, 0.30))
    other_folds = fake_compare(tmp_path / "e16", 16, uar(0.55, 0.60, 0.35), folds=(1, 3))
    with pytest.raises(
        ValueError, match=rf"{other_folds} and {base} differ in folds \(\[1, 3\] vs \[1, 2\]\)"
    ):
        lc.learning_curves([base, other_folds], ["uar"])
    other_lr = fake_compare(tmp_path / "lr", 24, uar(0.55, 0.60, 0.35), extra=["optim.lr=0.5"])
    with pytest.raises(ValueError, match=rf"{other_lr} and {base} differ other than by epochs.*optim\.lr"):
        lc.learning_curves([base, other_lr], ["uar"])
    twice = [fake_compare(tmp_path / n, 16, uar(0.55, 0.60, 0.35)) for n in ("x", "y")]
    with pytest.raises(ValueError, match="both 16 epochs"):
        lc.learning_curves([base, *twice], ["uar"])
