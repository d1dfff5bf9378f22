"""How the training budget moves a comparison: two `softfer compare` folders of the same configs trained
for different numbers of epochs -> Markdown tables (the ranking at each budget, and each config's change
with the budget as paired differences over the (fold, seed) runs both folders share).

python benchmarks/budget_table.py SHORT_COMPARE_DIR LONG_COMPARE_DIR [--metrics uar,war,nll,ece]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import yaml

from softfer.metric_table import COMPARED_METRICS
from softfer.stats import paired_comparison, sign_flip_test_name


def read_runs(folder: Path) -> dict[tuple[str, int, int], dict[str, float]]:
    """(config, fold, seed) -> metric values, from a comparison's runs.csv."""
    with open(folder / "runs.csv", newline="") as f:
        return {
            (r["config"], int(r["fold"]), int(r["seed"])): {
                k: float(v) for k, v in r.items() if k in COMPARED_METRICS and v != ""
            }
            for r in csv.DictReader(f)
        }


def epochs(folder: Path, config: str) -> int:
    """The number of epochs the comparison trained ``config`` for (its resolved config.yaml)."""
    return int(yaml.safe_load((folder / config / "config.yaml").read_text())["optim"]["epochs"])


def budget_markdown(short: Path, long: Path, metrics: list[str]) -> str:
    """The two Markdown tables: per-budget means, then each config's paired change with the budget."""
    a, b = read_runs(short), read_runs(long)
    shared = [k for k in a if k in b]  # runs.csv order: the comparison's configs in the order given
    if not shared:
        raise SystemExit(f"{short} and {long} share no (config, fold, seed) run")
    configs = list(dict.fromkeys(k[0] for k in shared))
    pairs = sorted({k[1:] for k in shared})
    if missing := [(c, *p) for c in configs for p in pairs if (c, *p) not in shared]:
        raise SystemExit(f"runs missing from one of the folders: {missing}")
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
        lines += ["", f"UAR ranking at {e} epochs: " + " > ".join(order)]
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
    print(budget_markdown(args.short, args.long, args.metrics.split(",")))


if __name__ == "__main__":
    main()
