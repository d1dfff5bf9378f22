"""Learning curves of a comparison: several `softfer compare` folders of the same configs, folds, seeds and
data, each trained for another number of epochs (``--set optim.epochs=E``) -> Markdown (per-budget means
with intervals, the UAR ranking at each budget, each config's paired change between consecutive budgets,
the paired differences between configs with the comparison's own verdicts, and the budget from which the
ranking and the differences stop moving) and a figure (one panel per metric, a line per config with its
interval as a band).

python benchmarks/learning_curves.py OUT/e32 OUT/e64 OUT/e96 [--metrics uar,war,nll,ece] [--png F] [--md F]
    [--overwrite]

--png and --md follow softfer's output rule (softfer.io.outputs): never onto or inside a budget folder, and
an existing file only with --overwrite, checked before anything is read. Runs cut short of their configured
epochs (run.max_steps, run.time_budget_s: metrics.json ``cut_short``) are refused: their budget is not the
one their config.yaml says.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from itertools import combinations, pairwise
from pathlib import Path
from typing import Any

from budget_read import READ_FILES, Budget, read_budget
from budget_table import change_lines, check_metric_names
from matplotlib.figure import Figure

from softfer.config.identity import REUSE_SAFE
from softfer.engine.resume import config_differences, describe
from softfer.io.files import atomic_write, write_text_atomic
from softfer.io.outputs import check_outputs
from softfer.studies.converged import epochs_text

# What may differ between the budgets' runs: where they live and how they were computed (REUSE_SAFE), and
# the budget itself.
BUDGET_FREE = (*REUSE_SAFE, "optim.epochs")
Pair = tuple[str, str, str]  # (metric, config A, config B)


def check_same_study(budgets: Sequence[Budget]) -> None:
    """Refuse budgets that differ other than by epochs: configs, folds, seeds, any other setting of a run,
    the data a run was trained and tested on (its fingerprint), or two folders of one budget.

    Raises:
        ValueError: naming both folders and what differs.
    """
    for a, b in combinations(budgets, 2):
        if a.epochs == b.epochs:
            raise ValueError(
                f"{a.folder} and {b.folder} are both {epochs_text(a.epochs)}: give each budget once"
            )
    first = budgets[0]
    for b in budgets[1:]:
        for key in ("configs", "folds", "seeds"):
            if b.summary[key] != first.summary[key]:
                raise ValueError(
                    f"{b.folder} and {first.folder} differ in {key} ({b.summary[key]} vs "
                    f"{first.summary[key]}): learning curves need the same comparison at every budget"
                )
        for run, mine in b.settings.items():
            where = f"{run[0]} fold {run[1]} seed {run[2]}"
            if differ := config_differences(first.settings[run], mine, BUDGET_FREE):
                raise ValueError(
                    f"{b.folder} and {first.folder} differ other than by epochs in {where}'s config.yaml: "
                    + describe(differ, str(first.folder), str(b.folder))
                )
            if b.data[run] != first.data[run]:
                raise ValueError(
                    f"{b.folder} and {first.folder} differ in the data fingerprint of {where}'s metrics.json "
                    f"({_split_changes(first.data[run], b.data[run])}): the budgets were run on other data"
                )


def _split_changes(a: dict[str, Any] | None, b: dict[str, Any] | None) -> str:
    """Which splits of two data fingerprints differ, in words."""
    sa, sb = (a or {}).get("splits") or {}, (b or {}).get("splits") or {}
    if splits := sorted(k for k in set(sa) | set(sb) if sa.get(k) != sb.get(k)):
        return "the " + ", ".join(splits) + " split(s)"
    return "no fingerprint in one of them" if not (a and b) else "the data format"


def settles_at(changed: Sequence[bool]) -> int | None:
    """The index of the budget that brought the last change (0 when none did), where the curves settle;
    None when the last budget changed something: no later budget confirms it."""
    last = max((k for k, c in enumerate(changed) if c), default=0)
    return None if last == len(changed) - 1 else last


def ranking_changes(ranks: Sequence[list[str]]) -> list[bool]:
    """Per budget: whether its ranking differs from the previous budget's."""
    return [False, *(a != b for a, b in pairwise(ranks))]


def ranking(summary: dict[str, Any], metric: str = "uar") -> list[str]:
    """The configs of a comparison summary by mean ``metric``, best first (the comparison's order on ties)."""
    entry = summary["metrics"][metric]
    sign = 1 if entry["higher_is_better"] else -1
    return sorted(summary["configs"], key=lambda c: -sign * entry["per_config"][c]["mean"])


def difference_signs(summary: dict[str, Any], metrics: Sequence[str]) -> dict[Pair, int]:
    """(metric, A, B) -> +1 / -1 where the interval of B - A in a comparison summary excludes 0 above /
    below it, else 0."""
    out = {}
    for m in metrics:
        for p in summary["metrics"][m]["pairs"]:
            low, high = p["ci_low"], p["ci_high"]
            out[(m, p["a"], p["b"])] = 0 if low is None else (1 if low > 0 else -1 if high < 0 else 0)
    return out


def sign_flips(signs: Sequence[dict[Pair, int]]) -> list[list[Pair]]:
    """Per budget: the differences (``difference_signs``) whose interval excludes 0 on the other side than
    the last earlier one that excluded 0. A budget whose interval includes 0 flips nothing: the sign is
    compared with the last one the runs decided, so "+, includes 0, -" flips at the third budget."""
    decided: dict[Pair, int] = {}
    out = []
    for state in signs:
        out.append([k for k, s in state.items() if s * decided.get(k, 0) < 0])
        decided.update({k: s for k, s in state.items() if s})
    return out


def _interval(mean: float, low: float | None, high: float | None, sign: str = "") -> str:
    if low is None:
        return f"{mean:{sign}.4f}"
    return f"{mean:{sign}.4f} [{low:{sign}.4f}, {high:{sign}.4f}]"


def settling_lines(budgets: Sequence[Budget], metrics: Sequence[str]) -> list[str]:
    """Where the curves settle, in words: (a) the budget from which every later budget repeats the UAR
    ranking, (b) the budget from which no paired difference between two configs whose interval excludes
    0 has, at a later budget, an interval excluding 0 on the other side (``sign_flips``)."""
    e = [b.epochs for b in budgets]
    given = f"within the budgets given ({', '.join(map(str, e))} epochs)"
    ranks = [ranking(b.summary) for b in budgets]
    if (i := settles_at(ranking_changes(ranks))) is None:
        lines = [f"- UAR ranking: does not settle {given}: it changes from {e[-2]} to {e[-1]} epochs."]
    else:
        lines = [
            f"- UAR ranking: settles at {epochs_text(e[i])}: every later budget "
            f"({', '.join(map(str, e[i + 1 :]))}) repeats it ({' > '.join(ranks[i])})."
        ]
    level = round(100 * budgets[0].summary["confidence"])
    flips = sign_flips([difference_signs(b.summary, metrics) for b in budgets])
    if (j := settles_at([bool(f) for f in flips])) is None:
        lines.append(
            f"- Differences: do not settle {given}: at {epochs_text(e[-1])} "
            + ", ".join(f"{b} - {a} on {m}" for m, a, b in flips[-1])
            + f" excludes 0 on the other side than its last {level}% interval that excluded 0."
        )
    else:
        lines.append(
            f"- Differences: settle at {epochs_text(e[j])}: from there on, no paired difference between two "
            f"configs ({', '.join(metrics)}) whose {level}% interval excludes 0 changes sign at a later "
            "budget."
        )
    return lines


def curves_markdown(budgets: Sequence[Budget], metrics: Sequence[str]) -> str:
    """The learning curves as Markdown (``budgets`` sorted by epochs)."""
    e, first = [b.epochs for b in budgets], budgets[0]
    configs, pairs, level = first.summary["configs"], first.pairs, round(100 * first.summary["confidence"])
    lines = [
        f"## Learning curves: {len(configs)} configs at {', '.join(map(str, e))} epochs, "
        f"{first.summary['grid']} ({len(pairs)} paired runs per config and budget)",
        "",
        "Folders: " + ", ".join(f"{b.folder} ({epochs_text(b.epochs)})" for b in budgets) + ".",
        "",
        "### Where the ranking stops moving",
        "",
        *settling_lines(budgets, metrics),
        "",
        f"### Mean over the runs [{level}% t interval] at each budget",
    ]
    for m in metrics:
        lines += ["", f"| {m} | " + " | ".join(map(epochs_text, e)) + " |", "|---" * (len(e) + 1) + "|"]
        for c in configs:
            cells = [_interval(**_mean(b, m, c)) for b in budgets]
            lines.append(f"| {c} | " + " | ".join(cells) + " |")
    lines += ["", "### UAR ranking at each budget", ""]
    lines += [f"- {epochs_text(b.epochs)}: " + " > ".join(ranking(b.summary)) for b in budgets]
    lines += ["", "### Each config's change between consecutive budgets"]
    for a, b in pairwise(budgets):
        lines += ["", *change_lines(a.values, b.values, (a.epochs, b.epochs), configs, pairs, list(metrics))]
    lines += [
        "",
        f"### Paired differences between configs (B - A [{level}% t interval]), {first.summary['test']}",
    ]
    for m in metrics:
        lines += [
            "",
            f"| {m}: B - A | " + " | ".join(map(epochs_text, e)) + " |",
            "|---" * (len(e) + 1) + "|",
        ]
        for a, b in combinations(configs, 2):
            cells = [_interval(**_diff(x, m, a, b), sign="+") for x in budgets]
            lines.append(f"| {b} - {a} | " + " | ".join(cells) + " |")
        lines += ["", f"In words ({m}):", ""]
        lines += [
            f"- {epochs_text(x.epochs)}: {p['verdict']}"
            for x in budgets
            for p in x.summary["metrics"][m]["pairs"]
        ]
    return "\n".join(lines)


def _mean(b: Budget, metric: str, config: str) -> dict[str, Any]:
    c = b.summary["metrics"][metric]["per_config"][config]
    return {"mean": c["mean"], "low": c["ci_low"], "high": c["ci_high"]}


def _diff(b: Budget, metric: str, a: str, other: str) -> dict[str, Any]:
    p = next(p for p in b.summary["metrics"][metric]["pairs"] if (p["a"], p["b"]) == (a, other))
    return {"mean": p["mean_diff"], "low": p["ci_low"], "high": p["ci_high"]}


def curves_figure(budgets: Sequence[Budget], metrics: Sequence[str]) -> Figure:
    """One panel per metric: x = epochs, a line per config through its means with the interval as a band,
    the chance level (dashed) for UAR."""
    first = budgets[0]
    fig = Figure(figsize=(0.6 + 3.8 * len(metrics), 3.8), layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    x = [b.epochs for b in budgets]
    level = round(100 * first.summary["confidence"])
    for ax, m in zip(axes, metrics, strict=True):
        for c in first.summary["configs"]:
            points = [_mean(b, m, c) for b in budgets]
            means = [p["mean"] for p in points]
            (line,) = ax.plot(x, means, marker="o", label=c)
            low = [p["mean"] if p["low"] is None else p["low"] for p in points]
            high = [p["mean"] if p["high"] is None else p["high"] for p in points]
            ax.fill_between(x, low, high, color=line.get_color(), alpha=0.2, lw=0)
        if m == "uar" and (chance := first.summary["chance"]["uar"]) is not None:
            ax.axhline(chance, color="0.5", ls="--", lw=1, label="chance")
        better = "higher" if first.summary["metrics"][m]["higher_is_better"] else "lower"
        ax.set(xlabel="epochs", xticks=x, title=f"{m.upper()} ({better} is better)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize="small")
    fig.suptitle(f"Test metrics by training budget: mean over {first.summary['grid']}, {level}% t interval")
    return fig


def check_curve_outputs(folders: Sequence[Path], png: Path | None, md: Path | None, overwrite: bool) -> None:
    """softfer's output rule (``softfer.io.outputs``) for --png and --md: never onto or inside a budget
    folder (nor onto a link to its comparison.json or runs.csv), never over an existing file without
    ``overwrite``, a figure named .png.

    Raises:
        ValueError: naming the file and the option.
    """
    outs = [(path, option) for path, option in ((md, "--md"), (png, "--png")) if path is not None]
    inputs = [*folders, *(Path(f) / name for f in folders for name in READ_FILES)]
    check_outputs(
        [path for path, _ in outs],
        inputs=inputs,
        overwrite=overwrite,
        what=[option for _, option in outs],
        kind="file",
        suffix=[".png" if option == "--png" else None for _, option in outs],
    )


def learning_curves(
    folders: Sequence[Path],
    metrics: Sequence[str],
    *,
    png: Path | None = None,
    md: Path | None = None,
    overwrite: bool = False,
) -> str:
    """Check the outputs (``check_curve_outputs``), then read, check and sort the budgets; return the
    Markdown, written to ``md`` and drawn to ``png``."""
    if len(folders) < 2:
        raise ValueError("learning curves need two or more comparison folders, one per budget")
    check_metric_names(metrics)
    check_curve_outputs(folders, png, md, overwrite)
    budgets = sorted((read_budget(Path(f)) for f in folders), key=lambda b: b.epochs)
    check_same_study(budgets)
    if missing := [m for m in metrics if m not in budgets[0].summary["metrics"]]:
        raise ValueError(f"{budgets[0].folder}/comparison.json has no metric {missing}: pick from --metrics")
    text = curves_markdown(budgets, metrics)
    if md is not None:
        write_text_atomic(md, text + "\n")
    if png is not None:
        with atomic_write(png, "wb") as f:
            curves_figure(budgets, metrics).savefig(f, format="png", dpi=120)
    return text


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folders", type=Path, nargs="+", help="`softfer compare` folders, one per budget")
    p.add_argument("--metrics", default="uar,war,nll,ece", help="comma-separated (default uar,war,nll,ece)")
    p.add_argument("--png", type=Path, help="write the figure here")
    p.add_argument("--md", type=Path, help="write the Markdown here")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --png or --md file")
    args = p.parse_args()
    try:
        text = learning_curves(
            args.folders, args.metrics.split(","), png=args.png, md=args.md, overwrite=args.overwrite
        )
        print(text)
    except ValueError as exc:
        p.exit(2, f"learning_curves.py: {exc}\n")


if __name__ == "__main__":
    main()
