"""Per-run metrics of several configs -> means with intervals, paired differences, tests and verdicts.

Used by `softfer compare`, `softfer demo` and `softfer reproduce`, so that every table softfer prints says
how many runs stand behind each number and whether a difference between methods exceeds the noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations
from typing import Any

from softfer.metric_table import COMPARED_METRICS, SHOWN_IN_TABLE, metric_range
from softfer.stats import TEST_CHOICE, mean_ci, paired_comparison, sign_flip_test_name, verdict

# What a test split's fingerprint says of its items (``data.fingerprint.split_fingerprint``); its "source"
# (how the split was named) may differ between configs that read the same clips.
TEST_DATA_PARTS = ("count", "ids", "labels", "media")


def _values(rows: Sequence[dict[str, Any]], name: str, pairs: list[tuple[int, int]], metric: str) -> list:
    by_run = {(r["fold"], r["seed"]): r.get(metric) for r in rows if r["config"] == name}
    return [by_run.get(p) for p in pairs]


def per_class_recall(rows: Sequence[dict[str, Any]], configs: Sequence[str]) -> dict[str, dict[str, Any]]:
    """config -> class -> mean recall over the config's runs (None where no run's test set has the class)."""
    out: dict[str, dict[str, Any]] = {}
    for name in configs:
        recalls = [r["per_class_recall"] for r in rows if r["config"] == name and r.get("per_class_recall")]
        classes = list(dict.fromkeys(c for rec in recalls for c in rec))
        values = {c: [rec[c] for rec in recalls if rec.get(c) is not None] for c in classes}
        out[name] = {c: (sum(v) / len(v) if v else None) for c, v in values.items()}
    return out


def check_same_scoring(rows: Sequence[dict[str, Any]]) -> None:
    """Refuse to pair runs whose metrics were computed under different evaluation settings (the
    ``evaluation`` of each run's metrics.json fingerprint: data.clear_threshold); runs without a
    fingerprint are not checked.

    Raises:
        ValueError: naming two configs (with fold and seed) and the values that differ.
    """
    seen: tuple[dict[str, Any], dict[str, Any]] | None = None
    for row in rows:
        scoring = (row.get("fingerprint") or {}).get("evaluation")
        if not isinstance(scoring, dict):
            continue
        if seen is None:
            seen = (row, scoring)
            continue
        first, theirs = seen
        if differ := sorted(k for k in set(scoring) | set(theirs) if scoring.get(k) != theirs.get(k)):
            values = "; ".join(
                f"{k}: {_run(first)} {theirs.get(k)!r}, {_run(row)} {scoring.get(k)!r}" for k in differ
            )
            raise ValueError(
                f"runs scored under different evaluation settings cannot be paired ({values}): their "
                "differences would measure the settings, not the methods; run every config with one value"
            )


def check_same_test_data(rows: Sequence[dict[str, Any]]) -> None:
    """Refuse to pair runs of one fold whose metrics.json fingerprints record different test data (ids,
    labels or media of the test split: labels fixed while the study ran); rows without one are not checked.

    Raises:
        ValueError: naming both runs (config, fold and seed) and what differs in the test split.
    """
    first: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}
    for row in rows:
        data = (row.get("fingerprint") or {}).get("data")
        test = ((data.get("splits") or {}) if isinstance(data, dict) else {}).get("test")
        if not isinstance(test, dict):
            continue
        seen = first.setdefault(row["fold"], (row, test))
        if differ := [k for k in TEST_DATA_PARTS if test.get(k) != seen[1].get(k)]:
            raise ValueError(
                f"{_run(seen[0])} and {_run(row)} were scored on different test data (the test split: "
                f"{', '.join(differ)} differ): their paired differences would compare test sets, not "
                "methods; train the older runs again on today's data (--overwrite)"
            )


def _run(row: dict[str, Any]) -> str:
    return f"{row.get('config')} (fold {row.get('fold')}, seed {row.get('seed')})"


def cut_short(metrics: dict[str, Any]) -> str | None:
    """What stopped a finished run before the epochs its config.yaml says, in words ("run.max_steps=2"),
    from its metrics.json ``cut_short`` (written when run.max_steps or run.time_budget_s ended training);
    None when it trained its full budget. The one rule of every reader that labels runs by their epochs."""
    cut = metrics.get("cut_short")
    if not cut:
        return None
    if isinstance(cut, dict):
        return ", ".join(f"run.{k}={v}" for k, v in cut.items())
    return str(cut)  # an older or hand-edited record: still cut short, shown as it is


def cut_short_runs(rows: Sequence[dict[str, Any]]) -> list[str]:
    """``config fold F seed S (run.max_steps=2)`` for every row (config, fold, seed and its metrics.json
    values) whose run was cut short (``cut_short``)."""
    return [
        f"{r.get('config')} fold {r.get('fold')} seed {r.get('seed')} ({cut})"
        for r in rows
        if (cut := cut_short(r))
    ]


def summarize_comparison(
    rows: Sequence[dict[str, Any]],
    *,
    configs: Sequence[str],
    folds: Sequence[int],
    seeds: Sequence[int],
    num_classes: int,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """The comparison's statistics from its per-run rows (config, fold, seed and metric values).

    Every config must have a run for every (fold, seed). A metric missing or absent (None) in any run
    (e.g. the vote metrics on data without votes) is left out.

    Returns:
        {"configs", "folds", "seeds", "grid" (in words), "pairs_of_runs", "confidence", "chance", "test"
        and "test_choice" (which paired test, and why), "metrics": {metric: {"higher_is_better",
        "per_config": {name: mean_ci}, "pairs": [...]}}, "per_class_recall": {name: {class: mean}},
        "verdicts": the UAR verdicts in words, "cut_short": the runs cut short (``cut_short_runs``)}.
    """
    pairs = [(f, s) for f in folds for s in seeds]
    for name in configs:
        have = {(r["fold"], r["seed"]) for r in rows if r["config"] == name}
        if missing := [p for p in pairs if p not in have]:
            raise ValueError(f"{name}: no run for (fold, seed) {missing}")
    check_same_scoring(rows)
    check_same_test_data(rows)
    summary: dict[str, Any] = {
        "configs": list(configs),
        "folds": list(folds),
        "seeds": list(seeds),
        "grid": f"folds {','.join(map(str, folds))} x seeds {','.join(map(str, seeds))}",
        "pairing": "runs of two configs are paired by (fold, seed): same test clips and seed",
        "test": sign_flip_test_name(len(pairs)),
        "test_choice": TEST_CHOICE,
        "pairs_of_runs": pairs,
        "confidence": confidence,
        "chance": {"uar": 1.0 / num_classes, "war": None},
        "metrics": {},
    }
    for metric, higher in COMPARED_METRICS.items():
        values = {n: _values(rows, n, pairs, metric) for n in configs}
        if any(v is None for vs in values.values() for v in vs):
            continue
        entry: dict[str, Any] = {"higher_is_better": higher, "per_config": {}, "pairs": []}
        for n in configs:
            ci = mean_ci(values[n], confidence, bounds=metric_range(metric))
            entry["per_config"][n] = {**ci, "values": values[n]}
        for a, b in combinations(configs, 2):
            result = paired_comparison(values[a], values[b], confidence, higher_is_better=higher)
            result.update(a=a, b=b, verdict=verdict(a, b, result, metric=metric))
            entry["pairs"].append(result)
        summary["metrics"][metric] = entry
    summary["per_class_recall"] = per_class_recall(rows, configs)
    summary["group_clips"] = group_clips(rows, configs[0], pairs)
    uar = summary["metrics"].get("uar")
    summary["verdicts"] = [p["verdict"] for p in uar["pairs"]] if uar else []
    summary["cut_short"] = cut_short_runs(rows)
    return summary


def group_clips(
    rows: Sequence[dict[str, Any]], config: str, pairs: list[tuple[int, int]]
) -> dict[str, list[int]] | None:
    """The test clips of the clear and the ambiguous group in each paired run (the same for every config:
    the groups come from the votes), which clear_uar and ambiguous_uar are scored on; None without votes."""
    counts: dict[str, list[int]] = {"clear": [], "ambiguous": []}
    by_pair = {(r["fold"], r["seed"]): r for r in rows if r["config"] == config}
    for pair in pairs:
        groups = by_pair[pair].get("clear_vs_ambiguous")
        if not isinstance(groups, dict):
            return None
        for name, found in counts.items():
            found.append(int(groups[name]["count"]))
    return counts


def _span(values: list[int]) -> str:
    return f"{min(values)}" if min(values) == max(values) else f"{min(values)}-{max(values)}"


def _interval(c: dict[str, Any]) -> str:
    if c["ci_low"] is None:
        return f"{c['mean']:.4f}"
    cut = " (cut at the range)" if c.get("ci_cut") else ""
    return f"{c['mean']:.4f} [{c['ci_low']:.4f}, {c['ci_high']:.4f}]{cut}"


def _recall_lines(recall: dict[str, dict[str, Any]]) -> list[str]:
    """The per-class recall table (mean over each config's runs), or nothing for older summaries."""
    classes = list(dict.fromkeys(c for per in recall.values() for c in per))
    if not classes:
        return []
    lines = [
        "",
        "Per-class recall, mean over each config's runs (absent: no run's test set has the class):",
        "",
    ]
    lines += ["| config | " + " | ".join(classes) + " |", "|---" * (len(classes) + 1) + "|"]
    for name, per in recall.items():
        cells = ["absent" if per.get(c) is None else f"{per[c]:.4f}" for c in classes]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _cut_short_note(summary: dict[str, Any]) -> list[str]:
    """One line naming the runs cut short (else the table reads as a full-budget comparison), or none."""
    cut = summary.get("cut_short")  # comparison.json files older than the field lack it
    if not cut:
        return []
    runs = len(summary["pairs_of_runs"]) * len(summary["configs"])
    more = ", ..." if len(cut) > 3 else ""
    return [
        f"Not a full-budget comparison: {len(cut)} of the {runs} runs stopped before their configured "
        f"epochs ({', '.join(cut[:3])}{more}).",
        "",
    ]


def comparison_markdown(summary: dict[str, Any], title: str = "Comparison") -> str:
    """The comparison as Markdown: what was run, per-config means with intervals, paired differences."""
    n = len(summary["pairs_of_runs"])
    test = summary.get("test") or sign_flip_test_name(n)  # comparison.json files older than the field
    level = round(100 * summary["confidence"])
    lines = [
        f"## {title}: {len(summary['configs'])} configs, {n} paired run(s) each ({summary['grid']})",
        "",
        *_cut_short_note(summary),
        f"Each value: mean over the {n} run(s) [{level}% t interval]. {summary['pairing']}. "
        f"Chance UAR = {summary['chance']['uar']:.4f}.",
        "",
    ]
    shown = [m for m in SHOWN_IN_TABLE if m in summary["metrics"]]
    arrows = {m: "↑" if summary["metrics"][m]["higher_is_better"] else "↓" for m in shown}
    lines += ["| config | " + " | ".join(f"{m} {arrows[m]}" for m in shown) + " |"]
    lines += ["|---" * (len(shown) + 1) + "|"]
    for name in summary["configs"]:
        cells = [_interval(summary["metrics"][m]["per_config"][name]) for m in shown]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    groups = summary.get("group_clips")  # comparison.json files older than the field lack it
    if groups and {"clear_uar", "ambiguous_uar"} & set(shown):
        lines += [
            "",
            f"clear_uar and ambiguous_uar are scored on {_span(groups['clear'])} clear and "
            f"{_span(groups['ambiguous'])} ambiguous test clips per run: a group of a few clips gives 0 or 1 "
            "by chance.",
        ]
    lines += [
        "",
        f"Paired differences (B - A), {test}, wins of B. Why this test: "
        f"{summary.get('test_choice', TEST_CHOICE)}.",
        "",
        "| metric | A | B | B - A [interval] | p | smallest possible p | B wins / A wins / ties |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in shown:
        for p in summary["metrics"][m]["pairs"]:
            diff = (
                f"{p['mean_diff']:+.4f}"
                if p["ci_low"] is None
                else f"{p['mean_diff']:+.4f} [{p['ci_low']:+.4f}, {p['ci_high']:+.4f}]"
            )
            lines.append(
                f"| {m} | {p['a']} | {p['b']} | {diff} | {p['p_value']:.3f} | {p['min_p']:.3f} | "
                f"{p['b_wins']} / {p['a_wins']} / {p['ties']} |"
            )
    lines += _recall_lines(summary.get("per_class_recall") or {})
    if summary["verdicts"]:
        lines += ["", "In words (UAR):", ""] + [f"- {v}" for v in summary["verdicts"]]
    return "\n".join(lines)
