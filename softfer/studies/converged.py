"""The demo's stored reference comparison: a finished `softfer compare` of the demo's configs at a longer
budget over folds x seeds, kept as JSON (each run's metrics and what made them: budget, folds, seeds, each
config's fingerprint, the data's fingerprint per fold, the data command, date, softfer version).

``benchmarks/demo_reference.py`` writes it. ``reference_lines`` is what the demo prints of it: the ranking
and the verdicts computed here by ``summarize_comparison`` from the stored rows (never stored sentences),
and only when the reference was made with the demo's recipe on the demo's data; on any mismatch it says so
and compares nothing (the identity guarantee, docs/RELIABILITY.md).
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, ValidationError

from softfer.config import ExperimentConfig
from softfer.config.strict import StrictModel, error_lines
from softfer.data.fingerprint import data_changes
from softfer.data.formats import MAX_FOLD
from softfer.engine.evaluate import metric_problem
from softfer.engine.resume import run_fingerprint
from softfer.limits import MAX_EPOCHS, MAX_SEED
from softfer.metric_table import COMPARED_METRICS
from softfer.studies.stats_report import summarize_comparison

REFERENCE_VERSION = 1
REFERENCE_KEYS = ("version", "epochs", "folds", "seeds", "date", "configs", "data", "num_classes", "rows")
# The settings in which a reference's configs may differ from the demo's and still be the demo's recipe,
# each with the value it is hashed at:
# - optim.epochs: the budget, the one setting the reference exists to change;
# - data.root: where the data lie, not what they are; the data are checked by content instead (the ids
#   and labels of each split of the demo's fold, ``data_content``), as a new rendering of the same clips
#   elsewhere has other paths and file times;
# - data.fold, run.seed: a comparison sets them per run, and the reference holds every fold and seed of
#   its grid as rows.
# Every other setting (model, labels, optimiser, data.size, evaluation) must match, so a `--quick` demo
# (smaller clips) is not compared with the reference.
RECIPE_FREE: dict[str, Any] = {"optim.epochs": 1, "data.root": "", "data.fold": 1, "run.seed": 0}
HOW_TO_MEASURE = (
    "`bash benchmarks/learning_curves.sh` runs it, and `python benchmarks/demo_reference.py OUT/eNN` stores "
    'it for the demo (docs/BENCHMARKS.md, "How the ranking moves with the training budget")'
)


def recipe_fingerprint(cfg: ExperimentConfig) -> str:
    """The config hash a study records in study.json (``engine.resume.run_fingerprint``: every setting
    outside ``REUSE_SAFE``), taken with the ``RECIPE_FREE`` settings at fixed values."""
    neutral = cfg.model_copy(deep=True)
    for dotted, value in RECIPE_FREE.items():
        section, key = dotted.split(".")
        setattr(getattr(neutral, section), key, value)
    return run_fingerprint(neutral, {})["config"]


def data_content(fingerprint: Any) -> dict[str, Any] | None:
    """A run's data fingerprint (``data.fingerprint.data_fingerprint``) without its media hashes, which
    hold file times (None when there is none)."""
    if not isinstance(fingerprint, dict) or not isinstance(fingerprint.get("splits"), dict):
        return None
    splits = {n: {k: v for k, v in s.items() if k != "media"} for n, s in fingerprint["splits"].items()}
    return {"format": fingerprint.get("format"), "splits": splits}


def _calendar_date(text: str) -> str:
    """``text`` when it is a date of the calendar (2026-13-45 matches the pattern but is none)."""
    try:
        datetime.date.fromisoformat(text)
    except ValueError as exc:  # pydantic names the field
        raise ValueError(f"{text!r} is no date of the calendar ({exc}): give YYYY-MM-DD") from None
    return text


def epochs_text(epochs: int) -> str:
    """``1 epoch``, ``96 epochs``."""
    return f"{epochs} epoch{'s' * (epochs != 1)}"


Fold = Annotated[int, Field(ge=1, le=MAX_FOLD)]
Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]
ROW_KEYS = frozenset({"config", "fold", "seed", "per_class_recall", *COMPARED_METRICS})


class RecordModel(StrictModel):
    """A part of the reference file: ``StrictModel``'s rules, and strict types: the file is softfer's own
    record, so a number written as text ("96" epochs, "0.5" a recall) is refused naming the field, never
    converted (pydantic's lax mode read it as the number)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class ConfigRecord(RecordModel):
    """A config of the reference: its hash in the study's study.json and its ``recipe_fingerprint``."""

    study: str
    recipe: str


class SplitRecord(RecordModel):
    """One split of a fold's data as ``data_content`` keeps it (its media hash left out)."""

    source: str
    count: int = Field(ge=0, le=10**9)
    ids: str
    labels: str


class FoldData(RecordModel):
    """The data a fold's runs read (``data_content``)."""

    format: str
    splits: dict[str, SplitRecord] = Field(min_length=1)


class RowRecord(RecordModel):
    """One run of the reference: config, fold, seed, per-class recalls and, as further keys, its compared
    metrics (``COMPARED_METRICS``; ``_row_problems`` checks them against the metric table)."""

    model_config = ConfigDict(extra="allow", strict=True)

    config: str
    fold: Fold
    seed: Seed
    per_class_recall: dict[str, Annotated[float, Field(ge=0, le=1)] | None] | None = None


class ReferenceFile(RecordModel):
    """A stored reference comparison as benchmarks/demo_reference.py writes it; ``rows`` are checked by
    ``_row_problems``."""

    version: Literal[1]
    epochs: int = Field(ge=1, le=MAX_EPOCHS)
    folds: list[Fold] = Field(min_length=1)
    seeds: list[Seed] = Field(min_length=1)
    date: Annotated[str, AfterValidator(_calendar_date)] = Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
    configs: dict[str, ConfigRecord] = Field(min_length=1)
    data: dict[str, FoldData]
    num_classes: int = Field(ge=2, le=1000)
    rows: list[RowRecord] = Field(min_length=1)
    # the longer budgets of the same study that repeat its UAR ranking and reverse none of its decided
    # differences (benchmarks/demo_reference.py --confirmed-by): empty until one is measured
    confirmed_by: list[Annotated[int, Field(ge=1, le=MAX_EPOCHS)]] = Field(default_factory=list)
    # what made it, for people: the demo reads none of these
    data_command: str | None = None
    data_root: str | None = None
    code: list[Any] | None = None
    made_from: str | None = None


def _row_problems(reference: dict[str, Any]) -> list[str]:
    """What in a reference (its shape checked by ``ReferenceFile``) the comparison cannot use: folds or
    seeds given twice, a fold without its data, a row of a config, fold or seed outside the grid, a run given
    twice or missing, an unknown key, a compared metric outside its ``value_range`` or UAR (which ranks the
    configs) absent."""
    folds, seeds, configs = reference["folds"], reference["seeds"], reference["configs"]
    longer = reference["confirmed_by"]
    out = [
        f"{k}: {v} given twice"
        for k, v in (("folds", folds), ("seeds", seeds), ("confirmed_by", longer))
        if len(set(v)) < len(v)
    ]
    if shorter := [e for e in longer if e <= reference["epochs"]]:
        out.append(f"confirmed_by: {shorter} not longer than its {epochs_text(reference['epochs'])}")
    if set(reference["data"]) != {str(f) for f in folds}:
        out.append(f"data: holds folds {sorted(reference['data'])}, the grid folds {folds}")
    seen: set[tuple[str, int, int]] = set()
    for i, row in enumerate(reference["rows"]):
        at, run = f"rows[{i}]", (row["config"], row["fold"], row["seed"])
        if run[0] not in configs or run[1] not in folds or run[2] not in seeds:
            out.append(f"{at}: config {run[0]!r}, fold {run[1]}, seed {run[2]}: not a run of the grid")
        elif run in seen:
            out.append(f"{at}: a second row of {run[0]} fold {run[1]} seed {run[2]}")
        seen.add(run)
        if unknown := sorted(set(row) - ROW_KEYS):
            out.append(f"{at}: unknown keys {unknown}")
        if row.get("uar") is None:
            out.append(f"{at}: no uar")
        out += [f"{at}: {p}" for m in COMPARED_METRICS if (p := metric_problem(m, row.get(m)))]
    grid = {(c, f, s) for c in configs for f in folds for s in seeds}
    if missing := sorted(grid - seen):
        out.append(f"rows: {len(missing)} of the grid's {len(grid)} runs have no row (first: {missing[0]})")
    return out


def _record_problems(exc: ValidationError) -> list[str]:
    """pydantic's errors of a reference file, one per field (``error_lines``), a number given as text said
    as such rather than as pydantic's "Input should be a valid integer"."""
    lines = error_lines(exc)
    for i, e in enumerate(exc.errors()):
        if e["type"] in ("int_type", "float_type") and isinstance(e["input"], str):
            kind = "an integer" if e["type"] == "int_type" else "a number"
            where = ".".join(map(str, e["loc"]))
            lines[i] = f"{where}: {json.dumps(e['input'])} is text, not {kind} (a number has no quotes)"
    return lines


def load_reference(path: Path) -> dict[str, Any] | None:
    """The reference comparison stored at ``path``, or None when none is there.

    Every field the demo and ``reference_lines`` read is checked here, before the demo trains: types,
    ranges (metric values finite and in their ``value_range``), and the grid (every config x fold x seed
    once).

    Raises:
        ValueError: the file is unreadable, of another version, lacks a field or holds a value the
            comparison cannot use; the message names the file and each field.
    """
    if not path.exists():
        return None
    fix = "rebuild it with `python benchmarks/demo_reference.py COMPARE_OUT --overwrite`, or delete it"
    try:
        reference = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: unreadable reference comparison ({exc}); {fix}") from exc
    version = reference.get("version") if isinstance(reference, dict) else None
    if isinstance(version, bool) or version != REFERENCE_VERSION:  # true == 1 in Python
        raise ValueError(f"{path}: not a reference comparison of version {REFERENCE_VERSION}; {fix}")
    if missing := [k for k in REFERENCE_KEYS if k not in reference]:
        raise ValueError(f"{path}: the reference comparison lacks {missing}; {fix}")
    try:
        reference = ReferenceFile.model_validate(reference).model_dump()
        problems = _row_problems(reference)
    except ValidationError as exc:
        problems = _record_problems(exc)
    if problems:
        more = f"\n  ... ({len(problems) - 10} more)" if len(problems) > 10 else ""
        shown = "\n  ".join(problems[:10])
        raise ValueError(f"{path}: not a reference comparison the demo can use:\n  {shown}{more}\n{fix}")
    return reference


def mismatch(reference: dict[str, Any], configs: Mapping[str, ExperimentConfig], data: Any) -> str | None:
    """Why ``reference`` is not the demo's recipe on the demo's data (``configs``: shown name -> config;
    ``data``: the data fingerprint of the demo's runs), or None when it is."""
    stored = reference["configs"]
    if absent := [c.name for c in configs.values() if c.name not in stored]:
        return f"it holds no runs of {', '.join(absent)}"
    differ = [c.name for c in configs.values() if stored[c.name].get("recipe") != recipe_fingerprint(c)]
    if differ:
        free = ", ".join(RECIPE_FREE)
        return f"the settings of {', '.join(differ)} differ from this demo's in more than {free}"
    fold = next(iter(configs.values())).data.fold
    theirs, ours = reference["data"].get(str(fold)), data_content(data)
    if theirs is None:
        return f"it holds no data fingerprint of fold {fold}, the demo's fold"
    if ours is None:
        return "this demo's runs record no data fingerprint to check its data against"
    if set(theirs.get("splits") or {}) != set(ours["splits"]):
        return f"it read the splits {sorted(theirs.get('splits') or {})}, this demo {sorted(ours['splits'])}"
    if changes := data_changes(theirs, ours):
        return f"its data differ from this demo's: {'; '.join(changes)}"
    return None


def reference_summary(reference: dict[str, Any], configs: Mapping[str, ExperimentConfig]) -> dict[str, Any]:
    """``summarize_comparison`` of the reference's runs of ``configs`` (shown name -> config), under the
    shown names."""
    shown = {cfg.name: name for name, cfg in configs.items()}
    rows = [{**r, "config": shown[r["config"]]} for r in reference["rows"] if r["config"] in shown]
    return summarize_comparison(
        rows,
        configs=list(configs),
        folds=reference["folds"],
        seeds=reference["seeds"],
        num_classes=reference["num_classes"],
    )


def uar_order(summary: dict[str, Any]) -> list[str]:
    """The configs of a comparison summary, highest mean UAR first."""
    per = summary["metrics"]["uar"]["per_config"]
    return sorted(summary["configs"], key=lambda n: -per[n]["mean"])


def _ranking(summary: dict[str, Any]) -> str:
    """``soft 0.612 [0.590, 0.634] > hard ...``: the UAR ranking with each mean's interval."""
    per = summary["metrics"]["uar"]["per_config"]

    def shown(n: str) -> str:
        c = per[n]
        return f"{n} {c['mean']:.3f}" + (
            "" if c["ci_low"] is None else f" [{c['ci_low']:.3f}, {c['ci_high']:.3f}]"
        )

    return " > ".join(shown(n) for n in uar_order(summary))


def reference_lines(
    reference: dict[str, Any] | None,
    configs: Mapping[str, ExperimentConfig],
    summary: dict[str, Any],
    data: Any,
) -> list[str]:
    """What the demo prints below its own verdicts about the converged comparison.

    Args:
        reference: the stored reference (``load_reference``), or None when none ships.
        configs: the demo's configs by the names it shows (its regimes).
        summary: the demo's own comparison (``summarize_comparison`` of its runs).
        data: the data fingerprint of the demo's runs (their metrics.json ``fingerprint.data``).
    """
    epochs = next(iter(configs.values())).optim.epochs
    trained = epochs_text(epochs)
    if reference is None:
        return [
            f"Not the converged answer: these runs train {trained}, and the comparison at a converged "
            f"budget over folds and seeds is not measured yet: {HOW_TO_MEASURE}."
        ]
    grid = f"folds {','.join(map(str, reference['folds']))} x seeds {','.join(map(str, reference['seeds']))}"
    made = f"{epochs_text(reference['epochs'])}, {grid}, measured {reference['date']}"
    if longer := reference["confirmed_by"]:
        made += f"; the same UAR ranking, no difference reversed, at {', '.join(map(str, longer))} epochs"
    else:
        made += "; not yet repeated at a longer budget, so its ranking may still move"
    if why := mismatch(reference, configs, data):
        return [
            f"The stored reference comparison ({made}) was not made with this demo's recipe and data: {why}. "
            "Nothing is compared with it."
        ]
    ref = reference_summary(reference, configs)
    lines = [f"The stored reference comparison ({made}), UAR mean [95% interval]:", f"  {_ranking(ref)}"]
    lines += [f"  - {v}" for v in ref["verdicts"]]
    if others := sorted({r["config"] for r in reference["rows"]} - {c.name for c in configs.values()}):
        lines.append(f"  (the reference also holds {', '.join(others)}, which the demo does not train)")
    if epochs < reference["epochs"]:
        ours = uar_order(summary)
        same = "ranks them the same way" if ours == uar_order(ref) else "ranks them differently"
        lines.append(
            f"This demo's ranking at {trained} ({' > '.join(ours)}, one run each) is not the converged one: "
            f"the reference trained {epochs_text(reference['epochs'])}, and {same}."
            if reference["confirmed_by"]
            else f"This demo's ranking at {trained} ({' > '.join(ours)}, one run each) is short of the "
            f"reference's {epochs_text(reference['epochs'])}, which {same}."
        )
    return lines
