"""`softfer compare CONFIG_A CONFIG_B ...`: every config on every fold and seed, then paired statistics.

One comparison is the grid configs x folds x seeds. Every run lives in ``OUT/<config name>/fold_<k>_seed_<s>``
and is reused, resumed or refused exactly as `softfer cv` does (``engine.resume.plan_run``), so an interrupted
comparison continues where it stopped. The runs of two configs are paired by (fold, seed): same test clips,
same seed, only the method differs, which is what makes a paired test the right one.
"""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path
from typing import Any

from softfer.config import ExperimentConfig, dump_config, load_config
from softfer.config.identity import REUSE_SAFE, config_hash
from softfer.engine.data import config_inputs, evaluation_split
from softfer.engine.evaluate import summary_scalars
from softfer.engine.resume import config_differences, evaluation_settings, plan_run
from softfer.io.files import write_json_atomic, write_text_atomic
from softfer.io.outputs import check_outputs, confined
from softfer.plots.compare import paired_runs_png
from softfer.studies.crossval import STUDY_FILE, check_folds, holds_study, write_study
from softfer.studies.job_records import JOBS_FILE, read_jobs
from softfer.studies.launch import LOG_FOLDER, LaunchOptions, Run, check_launch_outputs, execute
from softfer.studies.stats_report import comparison_markdown, summarize_comparison

log = logging.getLogger(__name__)
# The comparison's own files beside its config folders, and every name a config folder may not take.
SUMMARY_FILES = ("comparison.json", "comparison.md", "comparison.png", "runs.csv", STUDY_FILE)
STUDY_NAMES = (*SUMMARY_FILES, JOBS_FILE, LOG_FOLDER)


def grid_config(cfg: ExperimentConfig, fold: int, seed: int, base: Path) -> ExperimentConfig:
    """A copy of ``cfg`` for one (fold, seed) of a comparison, in ``base/<name>/fold_<k>_seed_<s>``.

    Raises:
        ValueError: the config's ``name`` is no plain folder name inside ``base`` (``confined``).
    """
    out = cfg.model_copy(deep=True)
    out.data.fold = fold
    out.run.seed = seed
    out.run.out_dir = str(confined(base, cfg.name, what="config name") / f"fold_{fold}_seed_{seed}")
    out.name = f"{cfg.name}-fold{fold}-seed{seed}"
    return out


def check_comparable(configs: list[ExperimentConfig]) -> None:
    """Refuse a comparison whose configs do not share names, data and test set.

    Raises:
        ValueError: two configs with one name (their runs would share folders), or configs that test on
            different data (a paired difference would compare test sets, not methods), or that score
            the same predictions differently (``engine.resume.EVALUATION_KEYS``: data.clear_threshold).
    """
    names = [c.name for c in configs]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"configs share the name(s) {twice}: give each a distinct `name` (--set name=...)")
    if len(configs) < 2:
        raise ValueError("compare needs at least two configs")

    def test_set(c: ExperimentConfig) -> tuple:
        d = c.data
        fmt, split = evaluation_split(d)  # as the runs read it: AFEW's Val whether named or by default
        return (fmt, d.test_root or d.root, split, d.num_classes)

    first = test_set(configs[0])
    for c in configs[1:]:
        if test_set(c) != first:
            raise ValueError(
                f"{c.name} tests on {test_set(c)} but {configs[0].name} on {first} "
                "(format, root, split, classes): a comparison needs one test set"
            )
    scoring = evaluation_settings(configs[0])
    for c in configs[1:]:
        if differ := [k for k, v in evaluation_settings(c).items() if v != scoring[k]]:
            values = "; ".join(
                f"{k}: {configs[0].name} {scoring[k]!r}, {c.name} {evaluation_settings(c)[k]!r}"
                for k in differ
            )
            raise ValueError(
                f"{c.name} and {configs[0].name} score their test clips under different settings ({values}): "
                "their paired differences would measure the settings, not the methods; give every config "
                f"the same value (--set {differ[0]}=...)"
            )


def check_grid(
    configs: list[ExperimentConfig], folds: tuple[int, ...] | None, seeds: tuple[int, ...] | None
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The folds and seeds of every config: ``folds``/``seeds``, else the configs' own (which must agree).

    Raises:
        ValueError: a config named like one of the comparison's own files or folders (``STUDY_NAMES``), own
            folds or seeds that differ without --folds/--seeds (each would be replaced), or two configs that
            differ only in them (the grid sets both alike, so both would train the same runs).
    """
    reserved = {n.casefold(): n for n in STUDY_NAMES}  # casefold: one name on a case-blind file system
    for c in configs:
        if c.name.casefold() in reserved:
            raise ValueError(
                f"config name {c.name!r} is the name of the comparison's own {reserved[c.name.casefold()]}: "
                "give the config another `name` (--set name=...)"
            )
    first: dict[str, ExperimentConfig] = {}
    for c in configs:
        same = first.setdefault(config_hash(grid_config(c, 1, 0, Path("."))), c)
        if same is not c:
            a, b = same.model_dump(mode="json"), c.model_dump(mode="json")
            keys = [k for k, *_ in config_differences(a, b, REUSE_SAFE)]
            raise ValueError(
                f"{same.name} and {c.name} differ only in {', '.join(keys) or 'their name'}: a comparison "
                "runs every config on the same folds and seeds, so both would train the same runs; to "
                "compare seeds or folds, give one config --seeds 0,1,2 or --folds 1,2,3"
            )
    for key, given in (("data.fold", folds), ("run.seed", seeds)):
        own = {c.name: c.data.fold if key == "data.fold" else c.run.seed for c in configs}
        if given is None and len(set(own.values())) > 1:
            values = ", ".join(f"{n} {v}" for n, v in own.items())
            option = "--folds" if key == "data.fold" else "--seeds"
            raise ValueError(
                f"the configs' own {key} differ ({values}) and every config of a comparison runs on the same "
                f"folds and seeds: give them with {option} (each config then runs on all)"
            )
    return folds or (configs[0].data.fold,), seeds or (configs[0].run.seed,)


def plan_grid(
    configs: list[ExperimentConfig],
    folds: tuple[int, ...],
    seeds: tuple[int, ...],
    out: Path,
    *,
    overwrite: bool,
) -> list[tuple[str, Run]]:
    """Every run of the grid: (config name, the run with its plan: "reuse", "resume", "train" or "overwrite").

    All are planned before any trains: a run folder trained with other settings is refused up front, not
    after hours of training.
    """
    hint = "pass --overwrite to train every run again, or use another --out"
    plans = []
    # (fold, seed) first: an interrupted comparison holds complete pairs, usable with fewer folds or seeds
    for f in folds:
        for s in seeds:
            for c in configs:
                g = grid_config(c, f, s, out)
                run_dir = Path(g.run.out_dir)
                plans.append(
                    (
                        c.name,
                        Run(g, plan_run(run_dir, g, overwrite=overwrite, replace_other=False, hint=hint)),
                    )
                )
    return plans


def grid_rows(plans: list[tuple[str, Run]], metrics: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per run: config, fold, seed, run_dir and its metrics (``metrics``: by run folder)."""
    return [
        {
            "config": name,
            "fold": run.cfg.data.fold,
            "seed": run.cfg.run.seed,
            "run_dir": run.key,
            **summary_scalars(metrics[run.key]),
        }
        for name, run in plans
    ]


def run_grid(
    plans: list[tuple[str, ExperimentConfig, str]],
    launch: LaunchOptions | None = None,
    study_dir: Path = Path("."),
    study: str = "grid",
) -> list[dict[str, Any]]:
    """Train (or reuse) every planned (config name, run config, plan) as ``launch`` says (default: here,
    one after another; a launcher records its jobs in ``study_dir``); one row per run, as ``grid_rows``
    (the demo's three runs)."""
    grid = [(name, Run(cfg, plan)) for name, cfg, plan in plans]
    return grid_rows(grid, execute([run for _, run in grid], launch, study_dir, study=study))


def runs_csv(rows: list[dict[str, Any]], metrics: list[str]) -> str:
    """The per-run table (one row per config, fold and seed) as CSV text."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["config", "fold", "seed", *metrics, "run_dir"])
    for r in rows:
        values = ["" if r.get(m) is None else f"{r[m]:.6f}" for m in metrics]
        w.writerow([r["config"], r["fold"], r["seed"], *values, r["run_dir"]])
    return buf.getvalue()


def _recorded_compare(out: Path) -> list[str]:
    """The study jobs.json in ``out`` names, where it is a comparison's record (``holds_study`` has said
    the folder holds this comparison: the same runs, whatever the configs' order or names)."""
    try:
        name = read_jobs(out).get("study")
    except ValueError:
        return []
    return [name] if isinstance(name, str) and name.startswith("compare ") else []


def compare_configs(
    config_paths: list[str],
    *,
    folds: tuple[int, ...] | None = None,
    seeds: tuple[int, ...] | None = None,
    out: str | Path = "runs/compare",
    overrides: list[str] | None = None,
    overwrite: bool = False,
    launch: LaunchOptions | None = None,
) -> dict[str, Any]:
    """Run every config on every fold and seed, then write the comparison to ``out``.

    Args:
        config_paths: two or more experiment configs (files or packaged names).
        folds: the folds (default: the configs' ``data.fold``, which must then agree).
        seeds: the seeds (default: the configs' ``run.seed``, which must then agree).
        out: the comparison folder: one sub-folder per config with its runs, and comparison.json, .md,
            .png and runs.csv.
        overrides: ``--set`` values applied to every config.
        overwrite: train every run again.
        launch: where the runs train (``studies.launch``; default: here, one after another).

    Returns:
        The summary (``summarize_comparison``), also written to ``out/comparison.json``.
    """
    configs = [load_config(p, overrides) for p in config_paths]
    check_comparable(configs)
    folds, seeds = check_grid(configs, folds, seeds)
    for c in configs:
        check_folds(c, folds)
    out = Path(out)
    plans = plan_grid(configs, folds, seeds, out, overwrite=overwrite)
    # the comparison's own files, rewritten when the folder holds this comparison (the same configs, folds
    # and seeds: a resumed or extended one), never another comparison's; nothing inside the data read
    folders = [confined(out, c.name, what="config name") for c in configs]
    own = overwrite or holds_study(out, "compare", configs, folds, seeds)
    inputs = [p for p in config_paths if Path(p).is_file()] + [p for c in configs for p in config_inputs(c)]
    own_files = [*(out / n for n in SUMMARY_FILES), *(f / "config.yaml" for f in folders)]
    check_outputs(own_files, inputs=inputs, overwrite=own)
    study = "compare " + ", ".join(c.name for c in configs)
    # jobs.json and jobs/ replaced only where they are this comparison's (a user's there: with --overwrite);
    # the folder's comparison under its recorded name too (its configs in another order, or renamed)
    studies = [study, *(_recorded_compare(out) if own else [])]
    check_launch_outputs(out, launch, studies, inputs=inputs, overwrite=overwrite)
    out.mkdir(parents=True, exist_ok=True)
    for f, c in zip(folders, configs, strict=True):
        dump_config(c, f / "config.yaml")
    write_study(out, "compare", configs, folds, seeds)
    metrics = execute([run for _, run in plans], launch, out, study=study)
    rows = grid_rows(plans, metrics)
    summary = summarize_comparison(
        rows,
        configs=[c.name for c in configs],
        folds=folds,
        seeds=seeds,
        num_classes=configs[0].data.num_classes,
    )
    write_json_atomic(out / "comparison.json", summary)
    write_text_atomic(out / "comparison.md", comparison_markdown(summary) + "\n")
    write_text_atomic(out / "runs.csv", runs_csv(rows, list(summary["metrics"])))
    paired_runs_png(summary, rows, out / "comparison.png")
    return summary
