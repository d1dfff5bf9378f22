"""`softfer report DIR`: one self-contained HTML page for a run, a cross-validation or a comparison.

Everything is inside the page (figures as data URIs, no scripts or styles fetched from anywhere), so it
opens from disk in any browser and can be mailed or archived as one file. The page states where the numbers
came from: the resolved config, the data root and whether it is the synthetic benchmark, the softfer commit,
package versions and the machine (``environment.json``, written when the run started).
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from softfer.engine.crossval import SUMMARY_KEYS
from softfer.engine.evaluate import read_metrics, summary_scalars
from softfer.engine.stats_report import SHOWN_IN_TABLE
from softfer.io.files import write_text_atomic
from softfer.stats import TEST_CHOICE, sign_flip_test_name

# the run-level scalars cv summarises, plus the valence/arousal errors of affect models
SCALARS = (*SUMMARY_KEYS, "rmse_valence", "rmse_arousal", "ccc_valence", "ccc_arousal")
VOTE_METRICS = {"soft_cross_entropy", "kl_to_votes", "js_to_votes"}
STYLE = """
body { font-family: system-ui, sans-serif; max-width: 70em; margin: 2em auto; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
figure { display: inline-block; margin: 0.5em; vertical-align: top; }
figure img { max-width: 32em; border: 1px solid #ddd; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
.absent { color: #888; font-style: italic; }
"""
# Marks the page once it has loaded: how many images failed to decode (a test reads it back).
CHECK = """
window.addEventListener("load", function () {
  var broken = 0;
  for (var i = 0; i < document.images.length; i++) {
    var im = document.images[i];
    if (!im.complete || im.naturalWidth === 0) { broken++; }
  }
  document.body.setAttribute("data-broken-images", String(broken));
});
"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _num(v: Any, absent: str = "absent") -> str:
    if v is None:
        return f'<span class="absent">{_e(absent)}</span>'
    return f"{v:.4f}" if isinstance(v, float) else _e(v)


def _table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    """An HTML table; cells are already HTML (escape text with ``_e``)."""
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _figures(paths: Iterable[Path]) -> str:
    out = []
    for p in paths:
        data = base64.b64encode(p.read_bytes()).decode("ascii")
        out.append(
            f'<figure><img alt="{_e(p.stem)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{_e(p.stem.replace('_', ' '))}</figcaption></figure>"
        )
    return "".join(out) or "<p>no figures</p>"


def _text_file(path: Path) -> str:
    return f"<pre>{_e(path.read_text())}</pre>" if path.is_file() else "<p>not recorded</p>"


def provenance_section(run_dir: Path) -> str:
    """Data root, synthetic or real, commit, versions and machine, from the run's environment.json."""
    path = run_dir / "environment.json"
    if not path.is_file():
        return (
            "<h2>Provenance</h2><p>not recorded: the run was made before softfer wrote environment.json</p>"
        )
    env = json.loads(path.read_text())
    data = env.get("data", {})
    kind = {True: "softfer's synthetic benchmark", False: "real data"}.get(data.get("synthetic"), "unknown")
    rows = [
        ["data root", _e(data.get("root"))],
        ["data", _e(kind)],
        ["softfer commit", _e(env.get("softfer_commit") or "not a git checkout")],
        ["python", _e(env.get("python"))],
        *[[_e(k), _e(v)] for k, v in env.get("packages", {}).items()],
        *[[_e(k), _e(v)] for k, v in env.get("machine", {}).items()],
    ]
    return "<h2>Provenance</h2>" + _table(["", "value"], rows)


def _run_metrics_section(m: dict[str, Any]) -> str:
    rows = []
    for k in SCALARS:
        if k in m:
            note = "no annotator votes in this test set" if k in VOTE_METRICS else "absent"
            rows.append([_e(k), _num(m[k], note)])
    recall = [[_e(c), _num(r, "absent from the test set")] for c, r in m.get("per_class_recall", {}).items()]
    parts = [f"<h2>Metrics ({m.get('num_samples', '?')} test items)</h2>", _table(["metric", "value"], rows)]
    parts += ["<h3>Per-class recall</h3>", _table(["class", "recall"], recall)]
    groups = m.get("clear_vs_ambiguous")
    if groups:
        parts.append(f"<h3>Clear versus ambiguous clips (clear: top vote share > {groups['threshold']})</h3>")
        parts.append(
            _table(
                ["group", "clips", "accuracy", "UAR"],
                [
                    [name, _e(g["count"]), _num(g["accuracy"]), _num(g["uar"])]
                    for name, g in ((n, groups[n]) for n in ("clear", "ambiguous"))
                ],
            )
        )
    return "".join(parts)


def _left_out_section(m: dict[str, Any]) -> str:
    rows = []
    skipped = m.get("skipped") or {}
    rows.append(
        ["unreadable test items left out", _e(skipped.get("count", 0)), _e(", ".join(skipped.get("ids", [])))]
    )
    for split, r in (m.get("data_reading") or {}).items():
        what = "; ".join(r.get("skipped_first", [])[:5] + r.get("notes_first", [])[:5])
        dropped = ", ".join(f"{k}: {n}" for k, n in r.get("dropped", {}).items())
        rows.append(
            [
                _e(f"{split}: {r.get('source', '')}"),
                _e(f"{r.get('skipped', 0)} of {r.get('listed', 0)} skipped; {r.get('notes', 0)} notes"),
                _e(what + (f" (left out by rule: {dropped})" if dropped else "")),
            ]
        )
    replaced = sum(
        h.get("replaced", {}).get("count", 0)
        for h in m.get("history", [])
        if isinstance(h.get("replaced"), dict)
    )
    rows.append(["unreadable training items replaced (all epochs)", _e(replaced), ""])
    if m.get("cut_short"):
        rows.append(["training cut short", _e(m["cut_short"]), ""])
    return "<h2>What was left out</h2>" + _table(["", "count", "details"], rows)


def run_page(run_dir: Path) -> tuple[str, str]:
    """(title, body) of a single run's report."""
    m = read_metrics(run_dir / "metrics.json")
    body = [
        _run_metrics_section(m),
        _left_out_section(m),
        "<h2>Figures</h2>",
        _figures(sorted(run_dir.glob("*.png"))),
        "<h2>Resolved config</h2>",
        _text_file(run_dir / "config.yaml"),
        provenance_section(run_dir),
    ]
    return f"softfer run {run_dir.name}", "".join(body)


def cv_page(cv_dir: Path) -> tuple[str, str]:
    """(title, body) of a cross-validation's report: the summary, every fold, the folds' figures."""
    summary = json.loads((cv_dir / "summary.json").read_text())
    folds = summary["folds"]
    rows = [
        [
            _e(k),
            _num(v["mean"]),
            _num(v["std"], "one fold"),
            _e("-" if v.get("ci_low") is None else f"[{v['ci_low']:.4f}, {v['ci_high']:.4f}]"),
        ]
        for k, v in summary["metrics"].items()
    ]
    # flattened as the summary was, so that its clear / ambiguous columns find their per-fold values
    per_fold = {k: summary_scalars(read_metrics(cv_dir / f"fold_{k}" / "metrics.json")) for k in folds}
    keys = [k for k in SCALARS if k in summary["metrics"]]
    fold_rows = [[_e(f"fold {k}"), *(_num(per_fold[k].get(x)) for x in keys)] for k in folds]
    body = [
        f"<h2>{len(folds)}-fold cross-validation (folds {_e(folds)})</h2>",
        _table(["metric", "mean", "sample std", "95% t interval"], rows),
        "<h3>Every fold</h3>",
        _table(["fold", *keys], fold_rows),
    ]
    for k in folds:
        body += [
            f"<details><summary>fold {k} figures</summary>",
            _figures(sorted((cv_dir / f"fold_{k}").glob("*.png"))),
            "</details>",
        ]
    body += [
        "<h2>Resolved config</h2>",
        _text_file(cv_dir / "config.yaml"),
        provenance_section(cv_dir / f"fold_{folds[0]}"),
    ]
    return f"softfer cross-validation {cv_dir.name}", "".join(body)


def _recall_table(recall: dict[str, dict[str, Any]]) -> str:
    """Per-class recall, mean over each config's runs ("" for comparisons written before it existed)."""
    classes = list(dict.fromkeys(c for per in recall.values() for c in per))
    if not classes:
        return ""
    rows = [
        [_e(name), *(_num(per.get(c), "absent from the test set") for c in classes)]
        for name, per in recall.items()
    ]
    return "<h3>Per-class recall (mean over the runs)</h3>" + _table(["config", *classes], rows)


def compare_page(cmp_dir: Path) -> tuple[str, str]:
    """(title, body) of a comparison's report: means with intervals, paired tests, verdicts, the runs."""
    s = json.loads((cmp_dir / "comparison.json").read_text())
    n = len(s["pairs_of_runs"])
    shown = [m for m in SHOWN_IN_TABLE if m in s["metrics"]]

    def cell(c: dict[str, Any]) -> str:
        return _e(
            f"{c['mean']:.4f}" + ("" if c["ci_low"] is None else f" [{c['ci_low']:.4f}, {c['ci_high']:.4f}]")
        )

    means = [[_e(name), *(cell(s["metrics"][m]["per_config"][name]) for m in shown)] for name in s["configs"]]
    pairs = [
        [
            _e(m),
            _e(p["a"]),
            _e(p["b"]),
            _num(p["mean_diff"]),
            _e("-" if p["ci_low"] is None else f"[{p['ci_low']:+.4f}, {p['ci_high']:+.4f}]"),
            _num(p["p_value"]),
            _num(p["min_p"]),
            _e(f"{p['b_wins']} / {p['a_wins']} / {p['ties']}"),
        ]
        for m in shown
        for p in s["metrics"][m]["pairs"]
    ]
    body = [
        f"<h2>{len(s['configs'])} configs, {n} paired run(s) each ({_e(s['grid'])})</h2>",
        f"<p>{_e(s['pairing'])}. Values: mean [95% t interval]. Chance UAR = {s['chance']['uar']:.4f}.</p>",
        _table(["config", *shown], means),
        f"<h3>Paired differences (B - A), {_e(s.get('test') or sign_flip_test_name(n))}</h3>",
        f"<p>Why this test: {_e(s.get('test_choice', TEST_CHOICE))}.</p>",
        _table(
            ["metric", "A", "B", "B - A", "interval", "p", "smallest possible p", "B wins / A wins / ties"],
            pairs,
        ),
        "<h3>In words (UAR)</h3><ul>" + "".join(f"<li>{_e(v)}</li>" for v in s["verdicts"]) + "</ul>",
        _recall_table(s.get("per_class_recall") or {}),
        _figures([cmp_dir / "comparison.png"] if (cmp_dir / "comparison.png").is_file() else []),
        "<h2>Every run</h2>",
        _text_file(cmp_dir / "runs.csv"),
    ]
    for name in s["configs"]:
        body += [
            f"<details><summary>config {_e(name)}</summary>",
            _text_file(cmp_dir / name / "config.yaml"),
            "</details>",
        ]
    first = cmp_dir / s["configs"][0] / "fold_{}_seed_{}".format(*s["pairs_of_runs"][0])
    body.append(provenance_section(first))
    return f"softfer comparison {cmp_dir.name}", "".join(body)


def write_report(folder: str | Path, out: str | Path | None = None) -> Path:
    """Write ``report.html`` for a run, cross-validation or comparison folder; returns its path.

    Raises:
        ValueError: ``folder`` holds none of metrics.json, summary.json, comparison.json.
    """
    folder = Path(folder)
    if (folder / "comparison.json").is_file():
        title, body = compare_page(folder)
    elif (folder / "summary.json").is_file():
        title, body = cv_page(folder)
    elif (folder / "metrics.json").is_file():
        title, body = run_page(folder)
    else:
        raise ValueError(
            f"{folder}: not a finished run, cross-validation or comparison (no metrics.json, summary.json "
            "or comparison.json)"
        )
    page = (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
        f"<style>{STYLE}</style><script>{CHECK}</script></head>"
        f"<body><h1>{_e(title)}</h1><p>{_e(folder.resolve())}</p>{body}</body></html>\n"
    )
    path = Path(out) if out else folder / "report.html"
    write_text_atomic(path, page)
    return path
