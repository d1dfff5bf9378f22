"""Learning curves of a comparison: several `softfer compare` folders of the same configs, folds, seeds and
data, each trained for another number of epochs (``--set optim.epochs=E``) -> Markdown (per-budget means
with intervals, the UAR ranking at each budget, each config's paired change between consecutive budgets,
the paired differences between configs with the comparison's own verdicts, and the budget from which the
ranking and the differences stop moving) and a figure (one panel per metric, a line per config with its
interval as a band).

python benchmarks/learning_curves.py OUT/e32 OUT/e64 OUT/e96 [--metrics uar,war,nll,ece] [--png F] [--md F]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import combinations, pairwise
from pathlib import Path
from typing import Any

import yaml
from budget_table import change_lines, read_runs
from matplotlib.figure import Figure

from softfer.config.identity import REUSE_SAFE
from softfer.engine.resume import config_differences, describe
from softfer.io.files import atomic_write, write_text_atomic

# What may differ between the budgets' runs: where they live and how they were computed (REUSE_SAFE), and
# the budget itself.
BUDGET_FREE = (*REUSE_SAFE, "optim.epochs")
Run = tuple[str, int, int]  # (config, fold, seed)
Pair = tuple[str, str, str]  # (metric, config A, config B)


@dataclass(frozen=True)
class Budget:
    """One comparison folder: its epochs, comparison.json, runs.csv values, and per run its config.yaml and
    the data fingerprint of its metrics.json."""

    folder: Path
    epochs: int
    summary: dict[str, Any]
    values: dict[Run, dict[str, float]]
    settings: dict[Run, dict[str, Any]]
    data: dict[Run, Any]

    @property
    def pairs(self) -> list[tuple[int, int]]:
        return [(f, s) for f in self.summary["folds"] for s in self.summary["seeds"]]


def _read(path: Path, parse: Callable[[str], Any]) -> Any:
    try:
        return parse(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else str(exc).splitlines()[0]
        raise ValueError(
            f"{path}: cannot read it ({why}): is the comparison finished? run its softfer compare command "
            "again to finish it"
        ) from exc


def read_budget(folder: Path) -> Budget:
    """A finished `softfer compare` folder (its runs in ``<config>/fold_<k>_seed_<s>``, the layout of
    ``studies.compare.grid_config``), with the budget its runs' own config.yaml files were trained for.

    Raises:
        ValueError: a file is missing, or the runs of the folder were trained for different budgets.
    """
    summary = _read(folder / "comparison.json", json.loads)
    runs = [(c, f, s) for f in summary["folds"] for s in summary["seeds"] for c in summary["configs"]]
    settings, data = {}, {}
    for c, f, s in runs:
        run_dir = folder / c / f"fold_{f}_seed_{s}"
        settings[(c, f, s)] = _read(run_dir / "config.yaml", yaml.safe_load)
        data[(c, f, s)] = (_read(run_dir / "metrics.json", json.loads).get("fingerprint") or {}).get("data")
    budgets = {settings[r]["optim"]["epochs"] for r in runs}
    if len(budgets) != 1:
        raise ValueError(f"{folder}: its runs were trained for different budgets {sorted(budgets)} epochs")
    return Budget(folder, budgets.pop(), summary, read_runs(folder), settings, data)


def check_same_study(budgets: Sequence[Budget]) -> None:
    """Refuse budgets that differ other than by epochs: configs, folds, seeds, any other setting of a run,
    the data a run was trained and tested on (its fingerprint), or two folders of one budget.

    Raises:
        ValueError: naming both folders and what differs.
    """
    for a, b in combinations(budgets, 2):
        if a.epochs == b.epochs:
            raise ValueError(f"{a.folder} and {b.folder} are both {a.epochs} epochs: give each budget once")
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
            f"- UAR ranking: settles at {e[i]} epochs: every later budget ({', '.join(map(str, e[i + 1 :]))})"
            f" repeats it ({' > '.join(ranks[i])})."
        ]
    level = round(100 * budgets[0].summary["confidence"])
    flips = sign_flips([difference_signs(b.summary, metrics) for b in budgets])
    if (j := settles_at([bool(f) for f in flips])) is None:
        lines.append(
            f"- Differences: do not settle {given}: at {e[-1]} epochs "
            + ", ".join(f"{b} - {a} on {m}" for m, a, b in flips[-1])
            + f" excludes 0 on the other side than its last {level}% interval that excluded 0."
        )
    else:
        lines.append(
            f"- Differences: settle at {e[j]} epochs: from there on, no paired difference between two "
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
        "Folders: " + ", ".join(f"{b.folder} ({b.epochs} epochs)" for b in budgets) + ".",
        "",
        "### Where the ranking stops moving",
        "",
        *settling_lines(budgets, metrics),
        "",
        f"### Mean over the runs [{level}% t interval] at each budget",
    ]
    for m in metrics:
        lines += ["", f"| {m} | " + " | ".join(f"{x} epochs" for x in e) + " |", "|---" * (len(e) + 1) + "|"]
        for c in configs:
            cells = [_interval(**_mean(b, m, c)) for b in budgets]
            lines.append(f"| {c} | " + " | ".join(cells) + " |")
    lines += ["", "### UAR ranking at each budget", ""]
    lines += [f"- {b.epochs} epochs: " + " > ".join(ranking(b.summary)) for b in budgets]
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
            f"| {m}: B - A | " + " | ".join(f"{x} epochs" for x in e) + " |",
            "|---" * (len(e) + 1) + "|",
        ]
        for a, b in combinations(configs, 2):
            cells = [_interval(**_diff(x, m, a, b), sign="+") for x in budgets]
            lines.append(f"| {b} - {a} | " + " | ".join(cells) + " |")
        lines += ["", f"In words ({m}):", ""]
        lines += [
            f"- {x.epochs} epochs: {p['verdict']}" for x in budgets for p in x.summary["metrics"][m]["pairs"]
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


def learning_curves(
    folders: Sequence[Path], metrics: Sequence[str], *, png: Path | None = None, md: Path | None = None
) -> str:
    """Read, check and sort the budgets; return the Markdown, written to ``md`` and drawn to ``png``."""
    if len(folders) < 2:
        raise ValueError("learning curves need two or more comparison folders, one per budget")
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
    args = p.parse_args()
    try:
        print(learning_curves(args.folders, args.metrics.split(","), png=args.png, md=args.md))
    except ValueError as exc:
        p.exit(2, f"learning_curves.py: {exc}\n")


if __name__ == "__main__":
    main()
