"""Issue 16: `softfer report` writes one self-contained HTML page per run, cv folder and comparison, and a
real browser (headless Chromium) opens it with no broken image and no script error."""

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from softfer.cli import main
from softfer.config import load_config, packaged_configs
from softfer.data.synthetic.generate import generate_dfew
from softfer.engine.train import fit
from softfer.metric_table import GROUP_KEYS
from softfer.studies.compare import compare_configs
from softfer.studies.crossval import cross_validate
from tests.tiny import tiny_overrides


def _chromium() -> str:
    """The chromium binary, installed with apt-get where it is missing and this process may install."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if shutil.which("apt-get") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "chromium"], env=env, capture_output=True, timeout=900
        )
        found = shutil.which("chromium")
    if not found:
        pytest.skip(
            "headless Chromium is not installed and cannot be installed here (apt-get install chromium)"
        )
    return found


def _open_in_browser(page) -> tuple[str, str]:
    """The DOM after the page loaded, and the browser's console messages."""
    cmd = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--enable-logging=stderr",
        "--v=0",
        "--dump-dom",
        page.resolve().as_uri(),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    return out.stdout, out.stderr


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    root = tmp / "dfew"
    generate_dfew(root, clips=60, size=32, seed=0, workers=1)
    sets = tiny_overrides(root)
    hard = packaged_configs() / "demo" / "hard.yaml"
    fit(load_config(hard, [*sets, f"run.out_dir={tmp / 'run'}"]))
    cross_validate(load_config(hard, [*sets, f"run.out_dir={tmp / 'cv'}"]), folds=(1, 2))
    compare_configs(["demo/hard.yaml", "demo/midas.yaml"], seeds=(0, 1), out=tmp / "cmp", overrides=sets)
    return {"run": tmp / "run", "cv": tmp / "cv", "compare": tmp / "cmp", "root": root}


@pytest.mark.parametrize("kind", ["run", "cv", "compare"])
def test_the_report_is_self_contained_and_opens_cleanly_in_a_browser(folders, kind, capsys):
    assert main(["report", str(folders[kind])]) == 0
    page = folders[kind] / "report.html"
    text = page.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:|//|file:)""", text)  # nothing fetched from elsewhere
    images = re.findall(r'<img [^>]*src="data:image/png;base64,', text)
    assert len(images) >= (4 if kind == "run" else 1)
    assert str(folders["root"].resolve()) in text and "synthetic benchmark" in text  # provenance
    assert "torchvision" in text and "cpu_count" in text
    dom, console = _open_in_browser(page)
    assert 'data-broken-images="0"' in dom, dom[-500:]
    assert "Uncaught" not in console, console


def test_the_run_report_has_the_metrics_and_what_was_left_out(folders):
    main(["report", str(folders["run"]), "--out", str(folders["run"] / "r.html")])
    text = (folders["run"] / "r.html").read_text()
    for needle in (
        "uar",
        "nll",
        "aurc",
        "js_to_votes",
        "Clear versus ambiguous",
        "What was left out",
        "name: demo-hard",
    ):
        assert needle in text, needle


def test_the_cv_report_lists_every_folds_value_of_every_summarised_metric(folders):
    from softfer.analysis.html import cv_page

    summary = json.loads((folders["cv"] / "summary.json").read_text())
    assert any(k in summary["metrics"] for k in GROUP_KEYS)  # the clear / ambiguous columns are there
    _, body = cv_page(folders["cv"])
    every_fold = body[body.index("<h3>Every fold</h3>") :]
    for key, entry in summary["metrics"].items():
        for value in entry["values"]:
            assert f"{value:.4f}" in every_fold, key


def test_compare_report_has_intervals_tests_and_verdicts(folders):
    main(["report", str(folders["compare"])])
    text = (folders["compare"] / "report.html").read_text()
    assert "exact sign-flip permutation test" in text and "smallest possible p" in text
    # two seeds: the test cannot decide, whichever way the t interval leans
    assert any(w in text for w in ("not distinguishable from noise", "a hint only", "identical in all"))


def test_a_folder_without_results_is_one_line(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "not a finished run, cross-validation or comparison" in capsys.readouterr().err


# --- issue 24: directions and definitions, one run per config, the demo folder ---


@pytest.fixture
def demo_folder(tmp_path):
    """A folder in the layout `softfer demo` writes (its own _configs place the runs): comparison.json at
    the top, each regime's run (metrics.json, config.yaml, environment.json) in runs/<regime>; one run
    per regime, as the demo trains. Metrics from random predictions: only the layout matters here."""
    import numpy as np

    from softfer import demo, metrics
    from softfer.classes import DFEW_CLASSES
    from softfer.config import dump_config
    from softfer.engine.environment import environment
    from softfer.engine.evaluate import summary_scalars
    from softfer.studies.stats_report import summarize_comparison

    out, data = tmp_path / "demo", tmp_path / "demo" / "data_quick"
    rng = np.random.default_rng(0)
    rows = []
    for regime, cfg in zip(demo.REGIMES, demo._configs(out, data, True, 32), strict=True):
        run = Path(cfg.run.out_dir)
        run.mkdir(parents=True)
        votes = rng.dirichlet(np.ones(7) * 0.3, size=30)
        report = metrics.classification_report(
            rng.dirichlet(np.ones(7), size=30), votes.argmax(1), soft_target=votes, class_names=DFEW_CLASSES
        )
        (run / "metrics.json").write_text(json.dumps(report))
        dump_config(cfg, run / "config.yaml")
        (run / "environment.json").write_text(json.dumps(environment(str(data), True)))
        rows.append({"config": regime, "fold": 1, "seed": cfg.run.seed, **summary_scalars(report)})
    summary = summarize_comparison(
        rows, configs=list(demo.REGIMES), folds=(1,), seeds=(rows[0]["seed"],), num_classes=7
    )
    (out / "comparison.json").write_text(json.dumps(summary))
    return out


def test_the_demo_folders_report_finds_each_runs_config_and_provenance(demo_folder):
    assert main(["report", str(demo_folder)]) == 0
    text = (demo_folder / "report.html").read_text()
    assert "not recorded" not in text and "not found" not in text
    for regime in ("hard", "soft", "midas"):
        assert f"name: demo-{regime}" in text  # its resolved config
        assert f"runs/{regime}" in text  # its folder, in the table of every run
    assert str((demo_folder / "data_quick").resolve()) in text or str(demo_folder / "data_quick") in text
    assert "synthetic benchmark" in text and "torchvision" in text


def test_one_run_per_config_says_no_test_is_possible_once_and_shows_no_p_values(demo_folder):
    from softfer.analysis.html import compare_page

    _, body = compare_page(demo_folder)
    assert body.count("one run: no test possible") == 1
    assert "smallest possible p" not in body and "<th>p</th>" not in body
    differences = body[body.index("Differences (B - A)") :]
    summary = json.loads((demo_folder / "comparison.json").read_text())
    [hard_soft] = [p for p in summary["metrics"]["uar"]["pairs"] if (p["a"], p["b"]) == ("hard", "soft")]
    assert f"{hard_soft['mean_diff']:.4f}" in differences  # the difference itself is still shown


def _rows(body: str, header: str) -> dict[str, list[str]]:
    """The first table after ``header`` as {first cell: the other cells} (tags stripped)."""
    table = body[body.index(header) :]
    table = table[: table.index("</table>")]
    rows = {}
    for tr in re.findall(r"<tr>(.*?)</tr>", table, re.S):
        cells = [html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td>(.*?)</td>", tr)]
        if cells:
            rows[cells[0]] = cells[1:]
    return rows


def test_every_metric_of_a_page_shows_its_direction_and_definition_from_the_metric_table(demo_folder):
    from softfer.analysis.html import compare_page, run_page
    from softfer.metric_table import METRICS_BY_NAME, SHOWN_IN_TABLE

    def expected(name):
        m = METRICS_BY_NAME[name]
        return ("higher ↑" if m.higher_is_better else "lower ↓"), m.definition

    _, body = run_page(demo_folder / "runs" / "midas")
    rows = _rows(body, "<h2>Metrics")
    assert {"uar", "nll", "ece", "js_to_votes", "kl_to_votes"} <= set(rows)
    for name, (value, direction, what) in rows.items():
        assert (direction, what) == expected(name), name
        assert what and float(value) == float(value)
    _, body = compare_page(demo_folder)
    legend = _rows(body, "<th>definition</th>")
    assert set(legend) == {
        m for m in SHOWN_IN_TABLE if m in json.loads((demo_folder / "comparison.json").read_text())["metrics"]
    }
    for name, cells in legend.items():
        assert tuple(cells) == expected(name), name
    assert "docs/METRICS.md" in body


# --- a summary written by another tool: its intervals are shown as written or refused naming the field ---


def _cv_folder(tmp_path, ci_low, ci_high):
    """A cv folder whose summary.json has one metric with the given interval bounds (as JSON values)."""
    entry = {"mean": 0.5, "std": 0.1, "ci_low": ci_low, "ci_high": ci_high, "values": [0.5]}
    (tmp_path / "fold_1").mkdir(parents=True)
    (tmp_path / "fold_1" / "metrics.json").write_text(json.dumps({"uar": 0.5, "war": 0.5}))
    (tmp_path / "summary.json").write_text(json.dumps({"folds": [1], "metrics": {"uar": entry}}))
    return tmp_path


@pytest.mark.parametrize("bad", ["nan", "0.41", [0.4], True])
def test_a_summary_interval_that_is_no_number_is_refused_naming_the_file_and_field(tmp_path, capsys, bad):
    folder = _cv_folder(tmp_path, bad, 0.6)
    assert main(["report", str(folder)]) == 2
    err = capsys.readouterr().err
    assert f"{folder / 'summary.json'}: metrics.uar.ci_low is" in err and "Traceback" not in err
    assert not (folder / "report.html").exists()


def test_absent_interval_bounds_are_shown_as_absent_not_as_a_number(tmp_path):
    from softfer.analysis.html import cv_page

    _, body = cv_page(_cv_folder(tmp_path / "one", 0.4, None))
    assert _rows(body, "<h2>")["uar"][2] == "[0.4000, —]"
    _, body = cv_page(_cv_folder(tmp_path / "none", None, None))
    assert _rows(body, "<h2>")["uar"][2] == "-"


def test_a_comparison_whose_mean_or_interval_is_a_string_is_refused_naming_the_field(demo_folder, capsys):
    path = demo_folder / "comparison.json"
    summary = json.loads(path.read_text())
    summary["metrics"]["uar"]["per_config"]["soft"]["ci_high"] = "nan"
    path.write_text(json.dumps(summary))
    assert main(["report", str(demo_folder)]) == 2
    assert f"{path}: metrics.uar.per_config.soft.ci_high is 'nan'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "summary",
    [
        '{"folds": [1], "metrics": {"uar": ',
        "{}",
        '{"folds": 7, "metrics": {}}',
        '{"folds": [1], "metrics": []}',
    ],
)
def test_a_summary_not_as_softfer_writes_it_is_one_line_naming_it(tmp_path, capsys, summary):
    """Found (audit): a truncated summary.json said only "Expecting ',' delimiter", and `{}` gave
    "KeyError: 'folds'": neither named the file."""
    folder = _cv_folder(tmp_path, 0.4, 0.6)
    (folder / "summary.json").write_text(summary)
    assert main(["report", str(folder)]) == 2
    err = capsys.readouterr().err
    assert f"{folder / 'summary.json'}: not as softfer writes it" in err and "Traceback" not in err
    assert not (folder / "report.html").exists()


def test_a_fold_whose_metrics_another_fold_made_is_refused(tmp_path, capsys):
    """Found (audit): fold 2's metrics.json replaced by fold 1's was shown as fold 2's result."""
    folder = _cv_folder(tmp_path, 0.4, 0.6)
    made_by_fold_2 = {"uar": 0.99, "war": 0.99, "fingerprint": {"run": {"data.fold": 2}}}
    (folder / "fold_1" / "metrics.json").write_text(json.dumps(made_by_fold_2))
    assert main(["report", str(folder)]) == 2
    assert "made by a run of fold 2, not fold 1" in capsys.readouterr().err


def test_a_run_whose_config_yaml_was_edited_is_refused(folders, tmp_path, capsys):
    """Found (audit): a run's config.yaml edited after the run (another lr) was shown beside its metrics."""
    run = tmp_path / "run"
    shutil.copytree(folders["run"], run, ignore=shutil.ignore_patterns("tensorboard", "*.pt", "*.html"))
    assert main(["report", str(run)]) == 0  # as the run wrote it
    text = (run / "config.yaml").read_text()
    assert "lr: 0.5\n" not in text
    (run / "config.yaml").write_text(re.sub(r"(?m)^(\s+lr): .*$", r"\1: 0.5", text, count=1))
    assert main(["report", str(run), "--out", str(tmp_path / "edited.html")]) == 2
    err = capsys.readouterr().err
    assert f"{run / 'config.yaml'}: its config is not the one metrics.json was made with" in err
    assert not (tmp_path / "edited.html").exists()
    # an edit that leaves no valid config (a key given twice) is refused too, as analyze refuses it; it
    # was shown as text beside the run's results
    (run / "config.yaml").write_text(text + "name: again\n")
    assert main(["report", str(run), "--out", str(tmp_path / "edited.html")]) == 2
    assert "config.yaml" in capsys.readouterr().err and not (tmp_path / "edited.html").exists()


@pytest.mark.parametrize(
    ("key", "value"),
    [("uar", "high"), ("ece", True), ("nll", [1.0]), ("clear_vs_ambiguous", {"clear": {"uar": "0.9"}})],
)
def test_a_metric_that_is_not_a_number_is_refused_naming_the_file(folders, tmp_path, capsys, key, value):
    """Found (audit): a metrics.json value like "uar": "high" was rendered as is on the run page."""
    run = tmp_path / "run"
    shutil.copytree(folders["run"], run, ignore=shutil.ignore_patterns("tensorboard", "*.pt", "*.html"))
    metrics = json.loads((run / "metrics.json").read_text())
    (run / "metrics.json").write_text(json.dumps({**metrics, key: value}))
    assert main(["report", str(run)]) == 2
    err = capsys.readouterr().err
    assert f"{run / 'metrics.json'}: not as softfer writes it (not a number:" in err
    assert "Traceback" not in err and not (run / "report.html").exists()
