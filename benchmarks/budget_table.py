"""How the training budget moves a comparison: two `softfer compare` folders of the same configs trained
for different numbers of epochs -> Markdown tables (the ranking at each budget, and each config's change
with the budget as paired differences over the (fold, seed) runs both folders share).

python benchmarks/budget_table.py SHORT_COMPARE_DIR LONG_COMPARE_DIR [--metrics uar,war,nll,ece]

Runs cut short of their configured epochs (metrics.json ``cut_short``) are refused, as by
benchmarks/learning_curves.py; a damaged runs.csv is one line naming it (exit 2).
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any

import yaml

from softfer.engine.evaluate import metric_problem
from softfer.metric_table import COMPARED_METRICS
from softfer.stats import paired_comparison, sign_flip_test_name
from softfer.studies.converged import epochs_text
from softfer.studies.stats_report import cut_short_runs

RUN_COLUMNS = ("config", "fold", "seed")
AGAIN = "run its softfer compare command again, which rewrites it from the runs"


def _csv_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a runs.csv, its header checked for ``RUN_COLUMNS``."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ValueError(f"{path}: cannot read it ({exc}); {AGAIN}") from exc
    if missing := [c for c in RUN_COLUMNS if c not in (reader.fieldnames or [])]:
        raise ValueError(
            f"{path}: not a runs.csv of `softfer compare` (no column {', '.join(missing)}); {AGAIN}"
        )
    return rows


def read_runs(folder: Path) -> dict[tuple[str, int, int], dict[str, float]]:
    """(config, fold, seed) -> metric values, from a comparison's runs.csv.

    Raises:
        ValueError: runs.csv unreadable, without its columns, a row that is no run (fold or seed no whole
            number, a metric no number in its range) or a run given twice; one line naming the file.
    """
    path = folder / "runs.csv"
    out: dict[tuple[str, int, int], dict[str, float]] = {}
    for line, r in enumerate(_csv_rows(path), start=2):  # line 1: the header
        try:
            run = (r["config"], int(r["fold"]), int(r["seed"]))
            values = {k: float(v) for k, v in r.items() if k in COMPARED_METRICS and v != ""}
        except (TypeError, ValueError):  # TypeError: a short row's missing cells are None
            raise ValueError(f"{path}: line {line} is not a run's row ({r}); {AGAIN}") from None
        if problems := [p for k, v in values.items() if (p := metric_problem(k, v))]:
            raise ValueError(f"{path}: line {line}: {problems[0]}; {AGAIN}")
        if run in out:
            raise ValueError(
                f"{path}: line {line}: a second row of {run[0]} fold {run[1]} seed {run[2]}; {AGAIN}"
            )
        out[run] = values
    return out


def epochs(folder: Path, config: str) -> int:
    """The number of epochs the comparison trained ``config`` for (its resolved config.yaml)."""
    path = folder / config / "config.yaml"
    try:
        value = yaml.safe_load(path.read_text(encoding="utf-8"))["optim"]["epochs"]
    except (OSError, ValueError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: cannot read optim.epochs ({type(exc).__name__}: {exc})") from exc
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{path}: optim.epochs is {value!r}, not a number of epochs")
    return value


def refuse_cut_short(folder: Path, rows: list[dict[str, Any]]) -> None:
    """Refuse the runs of ``folder`` (rows: config, fold, seed and its metrics.json values) cut short of
    their configured epochs (``stats_report.cut_short_runs``, demo_reference.py's rule too): labelled
    with their config's epochs, they would misstate the budget."""
    if cut := cut_short_runs(rows):
        raise ValueError(
            f"{folder}: {len(cut)} of its {len(rows)} runs stopped before their configured epochs "
            f"({', '.join(cut[:3])}{', ...' if len(cut) > 3 else ''}): a table by budget needs full-budget "
            "runs; run the comparison into a new folder without run.max_steps and run.time_budget_s"
        )


def check_full_budget(folder: Path, runs: list[tuple[str, int, int]]) -> None:
    """``refuse_cut_short`` of ``runs`` (config, fold, seed) of the compare folder ``folder``, each read
    from its metrics.json (one that cannot be read is refused)."""
    rows = []
    for c, f, s in runs:
        path = folder / c / f"fold_{f}_seed_{s}" / "metrics.json"
        try:
            metrics = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: cannot read it ({exc}): is the comparison finished?") from exc
        rows.append({**(metrics if isinstance(metrics, dict) else {}), "config": c, "fold": f, "seed": s})
    refuse_cut_short(folder, rows)


def check_metric_names(metrics: list[str]) -> None:
    """Refuse a metric given twice (its rows or panels came out twice, with no word): one rule for both
    budget scripts."""
    if twice := sorted({m for m in metrics if list(metrics).count(m) > 1}):
        raise ValueError(f"--metrics names {', '.join(twice)} more than once: give each metric once")


def budget_markdown(short: Path, long: Path, metrics: list[str]) -> str:
    """The two Markdown tables: per-budget means, then each config's paired change with the budget."""
    check_metric_names(metrics)
    a, b = read_runs(short), read_runs(long)
    shared = [k for k in a if k in b]  # runs.csv order: the comparison's configs in the order given
    if not shared:
        raise ValueError(f"{short} and {long} share no (config, fold, seed) run")
    configs = list(dict.fromkeys(k[0] for k in shared))
    pairs = sorted({k[1:] for k in shared})
    if missing := [(c, *p) for c in configs for p in pairs if (c, *p) not in shared]:
        raise ValueError(f"runs missing from one of the folders: {missing}")
    if absent := [m for m in metrics if any(m not in r[k] for r in (a, b) for k in shared)]:
        raise ValueError(f"{short} or {long}: runs.csv has no {absent[0]} for every run: pick from --metrics")
    for folder in (short, long):
        check_full_budget(folder, shared)
    ea, eb = epochs(short, configs[0]), epochs(long, configs[0])
    grid = ", ".join(f"fold {f} seed {s}" for f, s in pairs)
    lines = [f"Runs: {grid} ({len(pairs)} per config and budget). Mean over the runs at each budget:", ""]
    lines += ["| config | " + " | ".join(f"{m} @{ea} | {m} @{eb}" for m in metrics) + " |"]
    lines += ["|---" * (2 * len(metrics) + 1) + "|"]
    for c in configs:
        cells = [f"{sum(r[(c, *p)][m] for p in pairs) / len(pairs):.4f}" for m in metrics for r in (a, b)]
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    for e, runs in ((ea, a), (eb, b)):
        order = sorted(configs, key=lambda c: -sum(runs[(c, *p)]["uar"] for p in pairs))
        lines += ["", f"UAR ranking at {epochs_text(e)}: " + " > ".join(order)]
    lines += ["", *change_lines(a, b, (ea, eb), configs, pairs, metrics)]
    return "\n".join(lines)


def change_lines(
    a: dict[tuple[str, int, int], dict[str, float]],
    b: dict[tuple[str, int, int], dict[str, float]],
    budgets: tuple[int, int],
    configs: list[str],
    pairs: list[tuple[int, int]],
    metrics: list[str],
) -> list[str]:
    """Each config's change from budget ``a`` to ``b`` (``read_runs`` of each; ``budgets``: their epochs)
    as a Markdown table: the paired difference over the (fold, seed) ``pairs``, its interval and test."""
    lines = [
        f"Change from {budgets[0]} to {budgets[1]} epochs (paired by fold and seed; "
        f"{sign_flip_test_name(len(pairs))}):",
        "",
        "| config | metric | change [95% interval] | p | smallest possible p | runs better with more epochs "
        "|",
        "|---|---|---|---|---|---|",
    ]
    for c in configs:
        for m in metrics:
            r = paired_comparison(
                [a[(c, *p)][m] for p in pairs],
                [b[(c, *p)][m] for p in pairs],
                higher_is_better=COMPARED_METRICS[m],
            )
            ci = "" if r["ci_low"] is None else f" [{r['ci_low']:+.4f}, {r['ci_high']:+.4f}]"
            lines.append(
                f"| {c} | {m} | {r['mean_diff']:+.4f}{ci} | {r['p_value']:.3f} | {r['min_p']:.3f} | "
                f"{r['b_wins']} of {r['n']} |"
            )
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("short", type=Path, help="comparison folder of the shorter budget")
    p.add_argument("long", type=Path, help="comparison folder of the longer budget")
    p.add_argument("--metrics", default="uar,war,nll,ece", help="comma-separated (default uar,war,nll,ece)")
    args = p.parse_args()
    try:
        print(budget_markdown(args.short, args.long, args.metrics.split(",")))
    except ValueError as exc:
        p.exit(2, f"budget_table.py: {exc}\n")


if __name__ == "__main__":
    main()
