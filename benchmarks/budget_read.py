"""Reading one budget of a learning curve: a finished `softfer compare` folder, its comparison.json, runs.csv
and each run's config.yaml and metrics.json, checked against each other (benchmarks/learning_curves.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from budget_table import AGAIN, read_runs, refuse_cut_short

Run = tuple[str, int, int]  # (config, fold, seed)
# The comparison.json fields this script reads, and the files of a budget folder it reads beside its runs.
SUMMARY_KEYS = {
    "configs": list,
    "folds": list,
    "seeds": list,
    "metrics": dict,
    "grid": str,
    "chance": dict,
    "confidence": float,
}
READ_FILES = ("comparison.json", "runs.csv")
NEW = "run the comparison again into a new folder"


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


def _read_mapping(
    path: Path, parse: Callable[[str], Any], keys: dict[str, type | tuple[type, ...]], fix: str = AGAIN
) -> dict[str, Any]:
    """``_read`` of a file that must hold a mapping with ``keys`` (name -> type), else one line naming it
    and ``fix``."""
    value = _read(path, parse)
    if not isinstance(value, dict):
        wrong = "not a mapping"
    elif missing := [k for k, t in keys.items() if not isinstance(value.get(k), t)]:
        wrong = f"no {', '.join(missing)} of the expected type"
    else:
        return value
    raise ValueError(
        f"{path}: not the file `softfer compare` writes ({wrong}): the folder was changed after the "
        f"comparison; {fix}"
    )


def _check_values(folder: Path, summary: dict[str, Any], values: dict[Run, dict[str, float]]) -> None:
    """runs.csv holds every run of comparison.json's grid with every compared metric, at the values
    comparison.json averaged (to runs.csv's 6 decimals): the tables read both files."""
    pairs = [(f, s) for f in summary["folds"] for s in summary["seeds"]]
    for m, entry in summary["metrics"].items():
        for c in summary["configs"]:
            stored = ((entry.get("per_config") or {}).get(c) or {}) if isinstance(entry, dict) else {}
            stored = stored.get("values") if isinstance(stored, dict) else None
            if not isinstance(stored, list) or len(stored) != len(pairs):
                raise ValueError(
                    f"{folder / 'comparison.json'}: no {len(pairs)} values of {c} for {m}: the folder was "
                    f"changed after the comparison; {AGAIN}"
                )
            for (f, s), want in zip(pairs, stored, strict=True):
                have = values.get((c, f, s), {}).get(m)
                if have is None or not isinstance(want, (int, float)) or abs(have - want) > 1e-6:
                    raise ValueError(
                        f"{folder / 'runs.csv'}: {c} fold {f} seed {s} {m} is {have}, comparison.json says "
                        f"{want}: the folder was changed after the comparison; {AGAIN}"
                    )


def read_budget(folder: Path) -> Budget:
    """A finished `softfer compare` folder (its runs in ``<config>/fold_<k>_seed_<s>``, the layout of
    ``studies.compare.grid_config``), with the budget its runs' own config.yaml files were trained for.

    Raises:
        ValueError: a file is missing or damaged, runs.csv disagrees with comparison.json, a run was cut
            short of its configured epochs, or the runs of the folder were trained for different budgets.
    """
    summary = _read_mapping(folder / "comparison.json", json.loads, SUMMARY_KEYS)
    runs = [(c, f, s) for f in summary["folds"] for s in summary["seeds"] for c in summary["configs"]]
    settings, data, rows = {}, {}, []
    for c, f, s in runs:
        run_dir = folder / c / f"fold_{f}_seed_{s}"
        settings[(c, f, s)] = _read_mapping(run_dir / "config.yaml", yaml.safe_load, {"optim": dict}, NEW)
        metrics = _read_mapping(run_dir / "metrics.json", json.loads, {}, NEW)
        data[(c, f, s)] = (metrics.get("fingerprint") or {}).get("data")
        rows.append({**metrics, "config": c, "fold": f, "seed": s})
    refuse_cut_short(folder, rows)  # labelled with their configured epochs: a false curve
    budgets = {settings[r]["optim"].get("epochs") for r in runs}
    if len(budgets) != 1 or not all(isinstance(e, int) for e in budgets):
        shown = sorted(budgets, key=str)
        raise ValueError(f"{folder}: its runs were trained for different budgets {shown} epochs")
    values = read_runs(folder)
    _check_values(folder, summary, values)
    return Budget(folder, budgets.pop(), summary, values, settings, data)
