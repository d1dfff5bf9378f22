"""`softfer report DIR`: one self-contained HTML page for a run, a cross-validation or a comparison.

Everything is inside the page (figures as data URIs, no scripts or styles fetched from anywhere), so it
opens from disk in any browser and can be mailed or archived as one file. The page states where the numbers
came from: the resolved config, the data root and whether it is the synthetic benchmark, the softfer commit,
package versions and the machine (``environment.json``, written when the run started).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from softfer.analysis.html_checks import (
    check_report_folder,
    check_summary,
    fold_metrics,
    not_a_report_folder,
    page_figures,
    read_environment,
)
from softfer.config import load_config
from softfer.config.identity import check_own_config
from softfer.engine.evaluate import read_metrics, summary_scalars
from softfer.io.files import write_text_atomic
from softfer.io.outputs import check_output
from softfer.metric_table import METRICS_BY_NAME, RUN_PAGE_KEYS, SHOWN_IN_TABLE, VOTE_METRICS
from softfer.stats import TEST_CHOICE, sign_flip_test_name

# Every value reaches the page through these templates, which escape it: a string from a run folder (a class
# name, a file name, a hand-edited metrics.json) is shown as text, never read as markup.
TEMPLATES = Environment(
    loader=PackageLoader("softfer.analysis", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class Absent:
    """A value the run did not record, shown greyed with why."""

    why: str = "absent"


@dataclass(frozen=True)
class Table:
    """A table of the page; a cell is text, a number (floats shown to 4 places) or ``Absent``."""

    header: list[Any]
    rows: list[list[Any]]


TEMPLATES.tests["absent"] = lambda value: isinstance(value, Absent)


def _num(v: Any, absent: str = "absent") -> Any:
    return Absent(absent) if v is None else v


def _number(value: Any, source: Path, field: str) -> float | None:
    """A number of a summary file as written, or None where it is absent (null).

    Raises:
        ValueError: naming the file and the field when the value is no number (a string such as "nan", a
            list): a summary written by another tool or by hand, whose figure the page will not guess.
    """
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
        return value
    raise ValueError(
        f"{source}: {field} is {repr(value)[:60]}, not a number or null; correct the file or write it "
        "again with softfer (cv, compare)"
    )


def _interval(entry: dict[str, Any], source: Path, field: str, sign: str = "") -> str:
    """``[low, high]`` of a summary entry's ``ci_low`` and ``ci_high``; "-" when it has none (one run),
    "—" for a bound that is absent."""
    low, high = (_number(entry.get(k), source, f"{field}.{k}") for k in ("ci_low", "ci_high"))
    if low is None and high is None:
        return "-"
    return "[" + ", ".join("—" if b is None else f"{b:{sign}.4f}" for b in (low, high)) + "]"


# Where a comparison's run of (config, fold, seed) lives, in the layouts that write comparison.json:
# ``softfer compare`` (``OUT/<config>/fold_<k>_seed_<s>``) and ``softfer demo`` (``OUT/runs/<config>``).
RUN_LAYOUTS = ("{config}/fold_{fold}_seed_{seed}", "runs/{config}")
DEFINITIONS_NOTE = "definitions: softfer's docs/METRICS.md, section 'The metrics table'"


def better(name: str) -> str:
    """A metric's direction as the pages show it, from the metrics table ("" for a key not in it)."""
    entry = METRICS_BY_NAME.get(name)
    return "" if entry is None else ("higher ↑" if entry.higher_is_better else "lower ↓")


def definition(name: str) -> str:
    """A metric's one-line definition from the metrics table ("" for a key not in it)."""
    entry = METRICS_BY_NAME.get(name)
    return "" if entry is None else entry.definition


def metric_legend(names: Iterable[str]) -> Table:
    """Direction and definition of each metric of a table whose columns are metrics."""
    return Table(["metric", "better", "definition"], [[n, better(n), definition(n)] for n in names])


def run_folder(study_dir: Path, config: str, fold: int, seed: int) -> Path | None:
    """The folder of one run of a comparison (``RUN_LAYOUTS``); None when no layout holds its metrics."""
    for layout in RUN_LAYOUTS:
        folder = study_dir / layout.format(config=config, fold=fold, seed=seed)
        if (folder / "metrics.json").is_file():
            return folder
    return None


def _render(template: str, **context: Any) -> str:
    return TEMPLATES.get_template(template).render(**context)


def _figures(root: Path, folder: Path) -> list[dict[str, str]]:
    """The figures (``*.png``) of ``folder``, each embedded or noted as left out: only PNG files that lie
    inside ``root``, the folder of the page, links followed (``html_checks.page_figures``)."""
    return page_figures(root, sorted(folder.glob("*.png")))


def _text_file(path: Path) -> str | None:
    return path.read_text() if path.is_file() else None


def provenance_table(run_dir: Path) -> Table | None:
    """Data root, synthetic or real, commit, versions and machine, from the run's environment.json (None
    for a run made before softfer wrote it)."""
    path = run_dir / "environment.json"
    if not path.is_file():
        return None
    env = read_environment(path)  # a damaged file is named itself, not as the metrics.json it sits beside
    data = env.get("data") or {}
    synthetic, kinds = data.get("synthetic"), {True: "softfer's synthetic benchmark", False: "real data"}
    kind = kinds[synthetic] if isinstance(synthetic, bool) else "unknown"  # null, 1, a list: not said
    rows = [
        ["data root", data.get("root")],
        ["data", kind],
        ["softfer commit", env.get("softfer_commit") or "not a git checkout"],
        ["python", env.get("python")],
        *[[k, v] for k, v in env.get("packages", {}).items()],
        *[[k, v] for k, v in env.get("machine", {}).items()],
    ]
    # shown as written (str): a number here is a count or a version, not a measurement to round
    return Table(["", "value"], [[str(k), str(v)] for k, v in rows])


def _run_metrics(m: dict[str, Any]) -> dict[str, Any]:
    """The metrics, per-class recall and clear / ambiguous tables of a run's page."""
    rows = []
    for k in RUN_PAGE_KEYS:
        if k in m:
            note = "no annotator votes in this test set" if k in VOTE_METRICS else "absent"
            rows.append([k, _num(m[k], note), better(k), definition(k)])
    recall = [[c, _num(r, "absent from the test set")] for c, r in m.get("per_class_recall", {}).items()]
    groups = m.get("clear_vs_ambiguous") or None  # absent without annotator votes
    by_group = [
        [n, str(groups[n]["count"]), _num(groups[n]["accuracy"]), _num(groups[n]["uar"])]
        for n in (("clear", "ambiguous") if groups else ())
    ]
    return {
        "num_samples": m.get("num_samples", "?"),
        "metrics": Table(["metric", "value", "better", "definition"], rows),
        "recall": Table(["class", "recall"], recall),
        "definitions_note": DEFINITIONS_NOTE,
        "threshold": groups and groups["threshold"],
        "groups": groups and Table(["group", "clips", "accuracy", "UAR"], by_group),
    }


def _left_out(m: dict[str, Any]) -> Table:
    skipped = m.get("skipped") or {}
    rows = [
        ["unreadable test items left out", str(skipped.get("count", 0)), ", ".join(skipped.get("ids", []))]
    ]
    for split, r in (m.get("data_reading") or {}).items():
        what = "; ".join(r.get("skipped_first", [])[:5] + r.get("notes_first", [])[:5])
        dropped = ", ".join(f"{k}: {n}" for k, n in r.get("dropped", {}).items())
        rows.append(
            [
                f"{split}: {r.get('source', '')}",
                f"{r.get('skipped', 0)} of {r.get('listed', 0)} skipped; {r.get('notes', 0)} notes",
                what + (f" (left out by rule: {dropped})" if dropped else ""),
            ]
        )
    replaced = sum(
        h.get("replaced", {}).get("count", 0)
        for h in m.get("history", [])
        if isinstance(h.get("replaced"), dict)
    )
    rows.append(["unreadable training items replaced (all epochs)", str(replaced), ""])
    if m.get("cut_short"):
        rows.append(["training cut short", str(m["cut_short"]), ""])
    return Table(["", "count", "details"], rows)


def run_page(run_dir: Path) -> tuple[str, str]:
    """(title, body) of a single run's report."""
    m = read_metrics(run_dir / "metrics.json")
    body = _render(
        "run.html.j2",
        **_run_metrics(m),
        left_out=_left_out(m),
        figures=_figures(run_dir, run_dir),
        config=_checked_config(run_dir, m),
        provenance=provenance_table(run_dir),
    )
    return f"softfer run {run_dir.name}", body


def _checked_config(run_dir: Path, m: dict[str, Any]) -> str | None:
    """RUN/config.yaml's text, refused when it is not a valid config or not the one metrics.json's
    fingerprint records (an edited config.yaml would be shown beside results it did not make), as
    `softfer analyze` refuses it (``analysis.report._run_config``)."""
    path = run_dir / "config.yaml"
    text = _text_file(path)
    if text is None:
        return None
    cfg = load_config(path)  # the config rules (duplicate keys, YAML 1.2); invalid: one line naming it
    check_own_config(m, cfg, path, made="metrics.json was made with", advice="edited after the run?")
    return text


def cv_page(cv_dir: Path) -> tuple[str, str]:
    """(title, body) of a cross-validation's report: the summary, every fold, the folds' figures.

    summary.json is shown only when its numbers are those of the folds' own metrics.json, within each
    metric's range (``html_checks.check_summary``)."""
    source = cv_dir / "summary.json"
    summary = json.loads(source.read_text())
    folds = summary["folds"]
    rows = [
        [
            k,
            _num(v["mean"]),
            _num(v["std"], "one fold"),
            _interval(v, source, f"metrics.{k}"),
            better(k),
            definition(k),
        ]
        for k, v in summary["metrics"].items()
    ]
    # flattened as the summary was, so that its clear / ambiguous columns find their per-fold values
    per_fold = {k: summary_scalars(fold_metrics(cv_dir, k)) for k in folds}
    check_summary(source, summary, per_fold)
    keys = [k for k in RUN_PAGE_KEYS if k in summary["metrics"]]
    body = _render(
        "cv.html.j2",
        folds=folds,
        summary=Table(["metric", "mean", "sample std", "95% t interval", "better", "definition"], rows),
        definitions_note=DEFINITIONS_NOTE,
        every_fold=Table(
            ["fold", *keys], [[f"fold {k}", *(_num(per_fold[k].get(x)) for x in keys)] for k in folds]
        ),
        fold_figures=[(k, _figures(cv_dir, cv_dir / f"fold_{k}")) for k in folds],
        config=_text_file(cv_dir / "config.yaml"),
        provenance=provenance_table(cv_dir / f"fold_{folds[0]}"),
    )
    return f"softfer cross-validation {cv_dir.name}", body


def _recall_table(recall: dict[str, dict[str, Any]]) -> Table | None:
    """Per-class recall, mean over each config's runs (None for comparisons written before it existed)."""
    classes = list(dict.fromkeys(c for per in recall.values() for c in per))
    if not classes:
        return None
    rows = [
        [name, *(_num(per.get(c), "absent from the test set") for c in classes)]
        for name, per in recall.items()
    ]
    return Table(["config", *classes], rows)


def _pairs(s: dict[str, Any], shown: list[str], source: Path) -> Table:
    """Per metric and pair of configs: the paired difference, its interval and test; with one run per
    config only the difference (no interval or test is possible, and the page says so once)."""
    single = len(s["pairs_of_runs"]) < 2
    header = ["metric", "better", "A", "B", "B - A"]
    if not single:
        header += ["interval", "p", "smallest possible p", "B wins / A wins / ties"]
    rows = []
    for m in shown:
        for i, p in enumerate(s["metrics"][m]["pairs"]):
            row = [m, better(m), p["a"], p["b"], _num(p["mean_diff"])]
            if not single:
                row += [
                    _interval(p, source, f"metrics.{m}.pairs[{i}]", "+"),
                    _num(p["p_value"]),
                    _num(p["min_p"]),
                    f"{p['b_wins']} / {p['a_wins']} / {p['ties']}",
                ]
            rows.append(row)
    return Table(header, rows)


def _every_run(s: dict[str, Any], cmp_dir: Path, shown: list[str]) -> Table:
    """One row per run (config, fold, seed): its shown metrics, from comparison.json, and its folder."""
    rows = []
    for name in s["configs"]:
        for i, (fold, seed) in enumerate(s["pairs_of_runs"]):
            folder = run_folder(cmp_dir, name, fold, seed)
            where = Absent("not found") if folder is None else str(folder.relative_to(cmp_dir))
            values = [_num(s["metrics"][m]["per_config"][name]["values"][i]) for m in shown]
            rows.append([name, str(fold), str(seed), *values, where])
    return Table(["config", "fold", "seed", *shown, "folder"], rows)


def _config_text(cmp_dir: Path, name: str, first_run: Path | None) -> str | None:
    """A config of the comparison: compare's ``<config>/config.yaml``, else its first run's resolved one."""
    for path in (cmp_dir / name / "config.yaml", first_run and first_run / "config.yaml"):
        if path and path.is_file():
            return path.read_text()
    return None


def compare_page(cmp_dir: Path) -> tuple[str, str]:
    """(title, body) of a comparison's report (``softfer compare`` or ``softfer demo`` folder): means with
    intervals, paired tests (or, for one run per config, the differences), verdicts, the runs."""
    source = cmp_dir / "comparison.json"
    s = json.loads(source.read_text())
    n = len(s["pairs_of_runs"])
    shown = [m for m in SHOWN_IN_TABLE if m in s["metrics"]]

    def cell(m: str, name: str) -> str:
        c, field = s["metrics"][m]["per_config"][name], f"metrics.{m}.per_config.{name}"
        mean, interval = _number(c["mean"], source, f"{field}.mean"), _interval(c, source, field)
        return ("—" if mean is None else f"{mean:.4f}") + ("" if interval == "-" else f" {interval}")

    means = [[name, *(cell(m, name) for m in shown)] for name in s["configs"]]
    first = {name: run_folder(cmp_dir, name, *s["pairs_of_runs"][0]) for name in s["configs"]}
    body = _render(
        "compare.html.j2",
        n=n,
        grid=s["grid"],
        pairing=s["pairing"],
        chance_uar=s["chance"]["uar"],
        means=Table(["config", *(f"{m} {better(m).split()[-1]}" for m in shown)], means),
        legend=metric_legend(shown),
        definitions_note=DEFINITIONS_NOTE,
        test=s.get("test") or sign_flip_test_name(n),
        test_choice=s.get("test_choice", TEST_CHOICE),
        pairs=_pairs(s, shown, source),
        verdicts=s["verdicts"],
        recall=_recall_table(s.get("per_class_recall") or {}),
        figures=page_figures(
            cmp_dir, [p for p in [cmp_dir / "comparison.png"] if p.is_symlink() or p.exists()]
        ),
        runs=_every_run(s, cmp_dir, shown),
        config_files=[(name, _config_text(cmp_dir, name, first[name])) for name in s["configs"]],
        provenance=provenance_table(first[s["configs"][0]]) if first[s["configs"][0]] else None,
    )
    return f"softfer comparison {cmp_dir.name}", body


def write_report(folder: str | Path, out: str | Path | None = None, *, overwrite: bool = False) -> Path:
    """Write ``report.html`` for a run, cross-validation or comparison folder; returns its path.

    Every file under ``folder`` but earlier pages (``*.html``) is an input: the page is never written onto
    one, and replaces an existing file only with ``overwrite`` (``softfer.io.outputs``).

    Raises:
        ValueError: ``folder`` is a file or missing, holds none of metrics.json, summary.json,
            comparison.json (naming the finished folders below it), or ``out`` may not be written.
    """
    folder = Path(folder)
    check_report_folder(folder)  # `report RUN/model.pt`: said so, not "model.pt is not a folder"
    pages = (("comparison.json", compare_page), ("summary.json", cv_page), ("metrics.json", run_page))
    name, page_of = next(((n, f) for n, f in pages if (folder / n).is_file()), (None, None))
    if page_of is None:
        raise not_a_report_folder(folder)  # naming the finished folders below it, if any
    path = Path(out) if out else folder / "report.html"
    read = [p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() != ".html"]
    check_output(path, inputs=read, overwrite=overwrite)
    try:
        title, body = page_of(folder)
    except (KeyError, IndexError, TypeError, AttributeError, json.JSONDecodeError) as exc:
        # a file edited, truncated or written by something else: one line naming it, not a traceback
        why = f"{type(exc).__name__}: {exc}" if isinstance(exc, (KeyError, IndexError)) else str(exc)
        raise ValueError(
            f"{folder / name}: not as softfer writes it, or a file it names is not ({why}); run the command "
            "that made the folder again"
        ) from exc
    page = _render("page.html.j2", title=title, folder=str(folder.resolve()), body=body)
    write_text_atomic(path, page)
    return path
