"""`softfer reproduce TABLE`: run the configs behind a paper table and print ours beside the paper's.

``--smoke`` runs every config of a table through the same data and model building, 2 training steps and
an evaluation of a few test items: a check of the data, weights and settings before a long run.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import os
import traceback
from pathlib import Path
from typing import Any

from softfer.config import ExperimentConfig, load_config, packaged_configs, validate_config
from softfer.config.identity import REUSE_SAFE
from softfer.data.formats import get_format
from softfer.engine.data import build_data
from softfer.engine.resume import config_differences, describe, plan_run
from softfer.engine.train import fit
from softfer.metric_table import metric_range
from softfer.stats import mean_ci
from softfer.studies.crossval import STUDY_FILE, check_folds, finish_cv, fold_config, holds_run, prepare_cv
from softfer.studies.launch import LaunchOptions, Run, check_launch_outputs, execute

PERCENT_PAPERS = {"midas", "ferplus"}  # MIDAS and FER+ report percentages, the dual-domain paper fractions
SMOKE_STEPS = 2
SMOKE_EVAL_ITEMS = 16


def configs_dir() -> Path:
    """The configs shipped with softfer (package data, so a wheel install has them too)."""
    return packaged_configs()


def table_key(cfg: ExperimentConfig) -> str:
    """ "midas-table2" for numbered tables, "<paper>-<name>" otherwise (e.g. "midas-ferv39k-plus"), and the
    paper's name alone for a paper of one table named like it ("ferplus")."""
    ref = cfg.reference
    if ref.table == ref.paper:
        return ref.paper
    return f"{ref.paper}-table{ref.table}" if ref.table.isdigit() else f"{ref.paper}-{ref.table}"


def table_paths() -> dict[str, list[Path]]:
    """Every experiment config file grouped by table key (configs as shipped, no overrides)."""
    tables: dict[str, list[Path]] = {}
    root = configs_dir()
    for path in sorted(root.rglob("*.yaml")):
        if path.name.startswith("base") or path.relative_to(root).parts[0] == "demo":
            continue
        cfg = load_config(path)
        if cfg.reference.table:
            tables.setdefault(table_key(cfg), []).append(path)
    return tables


def table_configs(overrides: list[str] | None = None) -> dict[str, list[tuple[Path, ExperimentConfig]]]:
    """Every experiment config grouped by table key, with ``overrides`` applied."""
    return {t: [(p, load_config(p, overrides)) for p in paths] for t, paths in table_paths().items()}


def list_tables(overrides: list[str] | None = None) -> str:
    """The tables and the configs behind each."""
    lines = ["tables and their configs:"]
    for name, paths in table_paths().items():
        lines.append(f"  {name}: " + ", ".join(p.stem for p in paths))
    return "\n".join(lines)


def _paths(table: str) -> list[Path]:
    tables = table_paths()
    if table not in tables:
        raise ValueError(f"unknown table {table!r}; " + list_tables())
    return tables[table]


def _table(table: str, overrides: list[str] | None) -> list[tuple[Path, ExperimentConfig]]:
    return [(p, load_config(p, overrides)) for p in _paths(table)]


def _fmt(v: float | None, percent: bool) -> str:
    if v is None:
        return "-"
    return f"{100 * v:.2f}" if percent else f"{v:.4f}"


def _has_folds(cfg: ExperimentConfig) -> bool:
    return bool(get_format(cfg.data.format).folds) and not cfg.data.test_format


def _seed_configs(cfg: ExperimentConfig, seeds: tuple[int, ...] | None) -> list[ExperimentConfig]:
    """One config per seed: the config's own seed in its ``run.out_dir``, another seed in
    ``<run.out_dir>-seed<s>``."""
    out = []
    for seed in seeds or (cfg.run.seed,):
        scfg = cfg.model_copy(deep=True)
        if seed != cfg.run.seed:
            scfg.run.seed = seed
            scfg.run.out_dir = f"{cfg.run.out_dir.rstrip('/')}-seed{seed}"
        out.append(scfg)
    return out


def _seed_runs(cfg: ExperimentConfig, folds: tuple[int, ...], overwrite: bool) -> list[Run]:
    """The planned runs of one config and seed: its DFEW folds (``prepare_cv``), or its one run."""
    if _has_folds(cfg):
        return prepare_cv(cfg, folds, replace_other=overwrite)
    hint = "pass --overwrite to train it again, or use another run.out_dir"
    return [
        Run(cfg, plan_run(Path(cfg.run.out_dir), cfg, overwrite=False, replace_other=overwrite, hint=hint))
    ]


def plan_table(
    items: list[tuple[Path, ExperimentConfig]],
    folds: tuple[int, ...],
    seeds: tuple[int, ...] | None,
    overwrite: bool,
) -> list[Run]:
    """Every run of a table, planned before any trains; rows that share an experiment share its runs.

    A finished run is reused only when it was trained with its config up to its name and paper reference; a
    run trained otherwise is refused, or trained again with ``overwrite``. Which configs would share a
    folder is settled for every config before any is planned (``check_shared_folders``): planning a DFEW
    config writes its study files (``prepare_cv``), and a collision found after that was reported as files
    "from before this run" that the same call had written. A refusal while planning removes the study
    files the call wrote.

    Raises:
        ValueError: two configs would train one folder with different settings, or ``plan_run``'s.
    """
    configs = [s for _, cfg in items for s in _seed_configs(cfg, seeds)]
    check_shared_folders(configs, folds)
    made = [p for p in _study_files(configs) if not p.exists()]
    runs: dict[str, Run] = {}
    try:
        for scfg in configs:
            for run in _seed_runs(scfg, folds, overwrite):
                runs.setdefault(run.key, run)
    except BaseException:
        _remove_new(made)
        raise
    return list(runs.values())


def _folders(cfg: ExperimentConfig, folds: tuple[int, ...]) -> list[tuple[str, ExperimentConfig]]:
    """(folder, config) of every run of one config and seed, and of its cv study folder, without writing."""
    if not _has_folds(cfg):
        return [(cfg.run.out_dir, cfg)]
    check_folds(cfg, folds)
    base = Path(cfg.run.out_dir)
    return [(str(base), cfg), *((str(base / f"fold_{k}"), fold_config(cfg, k, base)) for k in folds)]


def check_shared_folders(configs: list[ExperimentConfig], folds: tuple[int, ...]) -> None:
    """Refuse two configs that would write one folder with different settings (up to ``REUSE_SAFE``), or
    a cv study folder that is another config's run folder; nothing is read or written.

    Raises:
        ValueError: naming both configs, the folder and the settings that differ.
    """
    owners: dict[str, ExperimentConfig] = {}
    for cfg in configs:
        for folder, this in _folders(cfg, folds):
            first = owners.setdefault(os.path.abspath(folder), this)  # runs/x/ and runs/x are one folder
            if first is this:
                continue
            a, b = first.model_dump(mode="json"), this.model_dump(mode="json")
            differ = config_differences(a, b, REUSE_SAFE)
            if differ or _has_folds(first) != _has_folds(this):
                theirs = describe(differ, first.name, this.name) if differ else "a cv study and a run"
                raise ValueError(
                    f"{first.name} and {this.name} would train one folder {folder} with other settings "
                    f"({theirs}): give one of them another run.out_dir"
                )


def _study_files(configs: list[ExperimentConfig]) -> list[Path]:
    """What ``prepare_cv`` writes while it plans the DFEW configs: config.yaml and the study file in each
    study folder, then the folders themselves."""
    bases = list(dict.fromkeys(Path(c.run.out_dir) for c in configs if _has_folds(c)))
    deepest_first = sorted(bases, key=lambda b: len(b.absolute().parts), reverse=True)
    return [*(b / n for b in bases for n in ("config.yaml", STUDY_FILE)), *deepest_first]


def _remove_new(made: list[Path]) -> None:
    """Remove what this call wrote while planning (``made``: files, then folders, absent before)."""
    for path in made:
        with contextlib.suppress(OSError):  # a folder holding other files stays
            path.rmdir() if path.is_dir() else path.unlink(missing_ok=True)


def _one_seed(
    cfg: ExperimentConfig, folds: tuple[int, ...], metrics: dict[str, dict[str, Any]]
) -> dict[str, list[float]]:
    """Per metric the values of one config and seed from its runs' ``metrics`` (by run folder): one per DFEW
    fold (its cv summary written as ``softfer cv`` does), or one run elsewhere."""
    if _has_folds(cfg):
        summary = finish_cv(cfg, folds, metrics)
        return {k: v["values"] for k, v in summary["metrics"].items()}
    return {
        k: [float(v)]
        for k, v in metrics[cfg.run.out_dir].items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


def _run_config(
    cfg: ExperimentConfig,
    folds: tuple[int, ...],
    seeds: tuple[int, ...] | None = None,
    overwrite: bool = False,
) -> dict[str, dict[str, Any]]:
    """Plan, train here (or reuse) and summarise the runs of one config (``plan_table``, ``_summary``)."""
    metrics = execute(plan_table([(Path(), cfg)], folds, seeds, overwrite), None, Path("."), study="")
    return _summary(cfg, folds, seeds, metrics)


def _summary(
    cfg: ExperimentConfig,
    folds: tuple[int, ...],
    seeds: tuple[int, ...] | None,
    metrics: dict[str, dict[str, Any]],
) -> dict[str, dict[str, Any]]:
    """Per metric ``mean_ci`` (mean, t interval, n) of one config over DFEW folds and ``seeds``, from its
    runs' ``metrics`` (by run folder)."""
    values: dict[str, list[float]] = {}
    for i, scfg in enumerate(_seed_configs(cfg, seeds)):
        found = _one_seed(scfg, folds, metrics)
        keys = found.keys() if i == 0 else found.keys() & values.keys()
        values = {k: values.get(k, []) + found[k] for k in keys}
    return {k: mean_ci(v, bounds=metric_range(k)) for k, v in values.items()}


def _launched(runs: list[Run], table: str, launch: LaunchOptions | None, overwrite: bool) -> dict[str, Any]:
    """Every run's metrics (``execute``); a launcher records its jobs in ``<the runs' common folder>/
    reproduce-<table>``."""
    study, folder = f"reproduce {table}", Path(".")
    if launch is not None and launch.launcher != "sequential" and runs:
        parents = [str(Path(r.key).resolve().parent) for r in runs]
        folder = Path(os.path.commonpath(parents)) / f"reproduce-{table}"
        check_launch_outputs(folder, launch, [study], overwrite=overwrite)
    return execute(runs, launch, folder, study=study)


def reproduce(
    table: str,
    *,
    overrides: list[str] | None = None,
    folds: tuple[int, ...] = (1, 2, 3, 4, 5),
    seeds: tuple[int, ...] | None = None,
    overwrite: bool = False,
    launch: LaunchOptions | None = None,
) -> str:
    """Run one table's experiments; returns a Markdown comparison with the paper's numbers.

    Ours is the mean over the runs (DFEW folds x ``seeds``; default: each config's own seed) with its 95 %
    Student t interval and the number of runs. ``overwrite`` trains again the runs (and folds) that were
    trained with other settings, instead of refusing them; runs trained with these settings are reused
    either way. ``launch``: where the runs train (``studies.launch``; default: here, one after another).
    """
    items = _table(table, overrides)
    metrics = _launched(plan_table(items, folds, seeds, overwrite), table, launch, overwrite)
    percent = items[0][1].reference.paper in PERCENT_PAPERS
    rows, notes = [], []
    for path, cfg in items:
        ours = _summary(cfg, folds, seeds, metrics)
        # a row the paper has no number for still shows ours (its accuracy)
        for key, paper_value in (cfg.reference.metrics or {"war": None}).items():
            paper = None if paper_value is None else paper_value / 100 if percent else paper_value
            v = ours.get(key)
            value = "-" if v is None else _fmt(v["mean"], percent)
            interval = "-"
            if v is not None and v["ci_low"] is not None:
                interval = f"[{_fmt(v['ci_low'], percent)}, {_fmt(v['ci_high'], percent)}]"
            n = "-" if v is None else str(v["n"])
            rows.append(
                f"| {cfg.reference.row} | {key} | {_fmt(paper, percent)} | {value} | {interval} | {n} | "
                f"{path.stem} |"
            )
        if cfg.reference.note:
            notes.append(f"- {cfg.reference.row}: {cfg.reference.note}")
    unit = " (%)" if percent else ""
    head = [
        f"## {table}{unit}: the paper's number beside ours",
        "",
        f"Ours: the mean over n runs (folds {','.join(map(str, folds))} for DFEW configs"
        + (f" x seeds {','.join(map(str, seeds))}" if seeds else ", each config's own seed")
        + ") with its 95% Student t interval; a paper number outside it is unlikely to be run-to-run noise.",
        "",
        "| row | metric | paper | ours | ours 95% interval | n | config |",
        "|---|---|---|---|---|---|---|",
    ]
    return "\n".join(head + rows + ([""] + notes if notes else []))


def _first_items(ds, n: int):
    """A shallow copy of a dataset with ``n`` records spread evenly over it (all when fewer)."""
    if ds is None or len(ds) <= n:
        return ds
    out = copy.copy(ds)
    stride = len(ds.records) / n
    out.records = [ds.records[int(i * stride)] for i in range(n)]
    return out


def smoke_config(
    cfg: ExperimentConfig,
    *,
    steps: int = SMOKE_STEPS,
    eval_items: int = SMOKE_EVAL_ITEMS,
    overwrite: bool = False,
) -> dict:
    """Build a config's data and model, train ``steps`` steps, evaluate ``eval_items`` test items.

    Outputs go to ``<run.out_dir>-smoke``, replacing an earlier smoke run there, whatever settings it was
    made with (``holds_smoke_run``; other files only with ``overwrite``). Everything else is the config as
    it is, so what fails here (paths, file formats, weights, settings that contradict each other) fails the
    real run.
    """
    data = cfg.model_dump(mode="json")
    data["run"].update(max_steps=steps, out_dir=cfg.run.out_dir.rstrip("/") + "-smoke", progress=False)
    smoke = validate_config(data, f"{cfg.name} (smoke)")
    bundle = build_data(smoke)
    bundle = dataclasses.replace(
        bundle, val=_first_items(bundle.val, eval_items), test=_first_items(bundle.test, eval_items)
    )
    own = overwrite or holds_smoke_run(Path(smoke.run.out_dir), smoke)
    return fit(smoke, overwrite=own, data=bundle)


def holds_smoke_run(folder: Path, smoke: ExperimentConfig) -> bool:
    """Whether ``folder`` holds an earlier smoke run that ``smoke`` (a ``smoke_config`` config) may replace
    without --overwrite: its config.yaml is ``smoke`` (``holds_run``), or a smoke config of this folder,
    one written into this very ``<run.out_dir>-smoke`` folder and cut to as many steps, with any other
    settings (a throwaway check of softfer's own, rerun with other --set values). A folder without such a
    config.yaml (a user's files, a real run) is never one; only a run's own files are replaced there
    (``engine.outputs.remove_earlier_run``)."""
    path = folder / "config.yaml"
    if holds_run(path, smoke):
        return True
    if not path.is_file():
        return False
    try:
        stored = load_config(path)
    except ValueError:
        return False
    same_folder = Path(stored.run.out_dir).resolve() == Path(smoke.run.out_dir).resolve() == folder.resolve()
    return same_folder and folder.name.endswith("-smoke") and stored.run.max_steps == smoke.run.max_steps


def smoke_table(
    table: str, *, overrides: list[str] | None = None, overwrite: bool = False
) -> tuple[str, bool]:
    """Smoke-run every config of a table; returns (report, every config passed).

    Raises:
        ValueError: before anything runs, when ``overrides`` do not make a valid config of every one (a
            setting error is the user's, one line, not a failure of each config).
    """
    configs = _table(table, overrides)
    # each config's line says how many it evaluated: a test split smaller than SMOKE_EVAL_ITEMS is whole
    lines = [
        f"## smoke run of {table}: {SMOKE_STEPS} training steps, evaluation of up to {SMOKE_EVAL_ITEMS} test "
        "items per config (all of a smaller test split)",
        "",
    ]
    ok = True
    for path, cfg in configs:
        try:
            metrics: dict[str, Any] = smoke_config(cfg, overwrite=overwrite)
            lines.append(f"- ok      {path.stem}: {metrics.get('num_samples', 0)} test items evaluated")
        except ValueError as exc:  # a usage error (data, settings, outputs): its message says what to do
            ok = False
            lines.append(f"- FAILED  {path.stem}: {exc}")
        except Exception as exc:  # a bug: where it was raised helps a report; every config still runs
            ok = False
            where = traceback.extract_tb(exc.__traceback__)[-1]
            lines.append(
                f"- FAILED  {path.stem}: {type(exc).__name__}: {exc} ({where.filename}:{where.lineno})"
            )
    return "\n".join(lines), ok
