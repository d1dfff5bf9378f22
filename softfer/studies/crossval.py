"""K-fold cross-validation (DFEW's five official folds): one run per fold, then mean +- std."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from softfer.config import ExperimentConfig, dump_config, load_config
from softfer.config.identity import REUSE_SAFE
from softfer.data.formats import get_format
from softfer.engine.data import config_inputs
from softfer.engine.evaluate import summary_scalars
from softfer.engine.resume import config_differences, plan_run, run_fingerprint
from softfer.io.files import write_json_atomic, write_text_atomic
from softfer.io.outputs import check_outputs
from softfer.metric_table import SUMMARY_KEYS, metric_range
from softfer.stats import mean_ci
from softfer.studies.cv_parts import (
    check_part_summaries,
    fold_list,
    part_summaries,
    summary_files,
    title_tail,
)
from softfer.studies.launch import LaunchOptions, Run, check_launch_outputs, execute

log = logging.getLogger(__name__)
# The mark of a study folder (cv, compare, demo): which study wrote its summary files.
STUDY_FILE = "study.json"


def holds_run(config_yaml: Path, cfg: ExperimentConfig) -> bool:
    """Whether a run folder's ``config_yaml`` is ``cfg`` (up to ``REUSE_SAFE``): the folder holds this run
    (a smoke run), whose files it rewrites without --overwrite (``softfer.io.outputs``)."""
    if not config_yaml.is_file():
        return False
    try:
        stored = load_config(config_yaml).model_dump(mode="json")
    except ValueError:
        return False
    return not config_differences(stored, cfg.model_dump(mode="json"), REUSE_SAFE)


def study_record(
    kind: str, configs: Sequence[ExperimentConfig], folds: Sequence[int], seeds: Sequence[int]
) -> dict[str, Any]:
    """What a study folder's ``STUDY_FILE`` records: the command, each config's name with the hash of its
    settings (outside ``REUSE_SAFE``, as run fingerprints hash them), the folds and the seeds."""
    return {
        "study": kind,
        "configs": {c.name: run_fingerprint(c, {})["config"] for c in configs},
        "folds": sorted(set(folds)),
        "seeds": sorted(set(seeds)),
    }


def _stored_study(folder: Path) -> dict[str, Any] | None:
    try:
        stored = json.loads((Path(folder) / STUDY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # missing or unreadable: not this study's
    return stored if isinstance(stored, dict) else None


def holds_study(
    folder: Path, kind: str, configs: Sequence[ExperimentConfig], folds: Sequence[int], seeds: Sequence[int]
) -> bool:
    """Whether ``folder`` holds this study, whose own summary files a resumed study rewrites without
    --overwrite (``softfer.io.outputs``): its ``STUDY_FILE`` names the same command and configs of the same
    settings, and folds and seeds that are all among ``folds`` and ``seeds`` (the same study, resumed or
    extended). Names are compared by the settings' hashes only: ``name`` is ``REUSE_SAFE`` (a row of two
    paper tables shares one folder under two names). Another comparison in the same folder (``compare a c``
    after ``compare a b``) is not, nor is a folder without the file."""
    stored, want = _stored_study(folder), study_record(kind, configs, folds, seeds)
    try:
        return (
            stored is not None
            and stored["study"] == want["study"]
            and sorted(stored["configs"].values()) == sorted(want["configs"].values())
            and set(stored["folds"]) <= set(want["folds"])
            and set(stored["seeds"]) <= set(want["seeds"])
        )
    except (TypeError, KeyError, AttributeError):
        return False  # not as softfer writes it: not this study's


def recorded_folds(folder: Path) -> list[int]:
    """The folds of the cv study in ``folder`` (its ``STUDY_FILE``); [] without one, or for a record
    not as softfer writes it."""
    stored = _stored_study(folder) or {}
    folds = stored.get("folds") if stored.get("study") == "cv" else None
    if not isinstance(folds, list) or not all(type(k) is int for k in folds):  # bool is no fold
        return []
    return sorted(set(folds))


def part_of_study(folder: Path, cfg: ExperimentConfig, folds: Sequence[int]) -> bool:
    """Whether ``folds`` of ``cfg`` are a part of the cv study in ``folder`` rather than the study itself:
    its ``STUDY_FILE`` records ``cfg``'s settings and seed (as ``holds_study`` compares them) with folds
    that ``folds`` do not all cover (``--folds 1`` after ``--folds 1,2,3``)."""
    recorded = recorded_folds(folder)
    # a strict subset only: folds the study never had (--folds 4,5 after 1,2,3) are no part of it
    return set(folds) < set(recorded) and holds_study(folder, "cv", [cfg], recorded, (cfg.run.seed,))


def retrain_advice(folder: Path, folds: Sequence[int]) -> str:
    """What to pass to train the cv study in ``folder`` again with other settings. ``--overwrite`` makes
    the requested ``folds`` the whole study: where the study holds folds beyond them (``--folds 1`` after
    ``--folds 1,2,3``), the advice names them all, not a call that would shrink the study to ``folds``."""
    recorded = recorded_folds(folder)
    if set(recorded) <= set(folds):
        return "pass --overwrite to train every fold again, or use another run.out_dir"
    return (
        f"the study in {folder} holds folds {fold_list(recorded)}: pass --folds "
        f"{fold_list([*recorded, *folds])} --overwrite to train all of them with these settings "
        f"(--overwrite with --folds {fold_list(folds)} alone leaves a study of those folds only), or use "
        "another run.out_dir"
    )


def extend_advice(folder: Path, cfg: ExperimentConfig, folds: Sequence[int]) -> str | None:
    """Why ``folds`` of ``cfg`` that are neither the cv study in ``folder`` nor a part of it (``--folds 3``
    after ``--folds 1,2``) are refused there, and what to pass; None where the study's folds are all among
    ``folds`` (``--overwrite``, the outputs check's advice, then trains them all)."""
    recorded = recorded_folds(folder)
    if set(recorded) <= set(folds):
        return None
    if not holds_study(folder, "cv", [cfg], recorded, (cfg.run.seed,)):
        return retrain_advice(folder, folds)
    had, given, every = fold_list(recorded), fold_list(folds), fold_list([*recorded, *folds])
    # not extended unasked: --folds names the folds of the summary written, whatever the folder held
    return (
        f"the study in {folder} holds folds {had} of these settings, and --folds {given} is neither all of "
        f"them nor a part: pass --folds {every} to extend it (folds {had} reused, the others trained, the "
        f"summary made over all), or use another run.out_dir; --overwrite with --folds {given} would make "
        f"folds {given} alone the study, trained anew, its summary of folds {had} replaced"
    )


def _jobs_study(name: str) -> str:
    return f"cv {name}"  # how jobs.json names the study (``execute``'s ``study``)


def jobs_studies(folder: Path, cfg: ExperimentConfig) -> list[str]:
    """The names under which jobs.json in ``folder`` records this cv study's jobs (``_jobs_study``): of
    ``cfg``'s name and of every name the study has had (``study_names``)."""
    return [_jobs_study(n) for n in dict.fromkeys([*study_names(folder), cfg.name])]


def study_names(folder: Path) -> list[str]:
    """Every config name that has used the study in ``folder`` (``STUDY_FILE``; [] without one)."""
    stored = _stored_study(folder) or {}
    names = stored.get("names") or list(stored.get("configs") or {})
    return [str(n) for n in names] if isinstance(names, list) else []


def write_study(
    folder: Path, kind: str, configs: Sequence[ExperimentConfig], folds: Sequence[int], seeds: Sequence[int]
) -> None:
    """Mark ``folder`` as this study's (``STUDY_FILE``, read by ``holds_study``), with every name that has
    used it ("names": the same study under another name keeps the earlier ones)."""
    record = study_record(kind, configs, folds, seeds)
    earlier = study_names(folder) if holds_study(folder, kind, configs, folds, seeds) else []
    record["names"] = list(dict.fromkeys([*earlier, *record["configs"]]))
    write_json_atomic(Path(folder) / STUDY_FILE, record)


def check_folds(cfg: ExperimentConfig, folds: tuple[int, ...]) -> None:
    """Refuse folds the training data does not come in, before anything trains.

    A format with one fixed partition (FERV39k, AFEW, AffectNet, manifests, ...) ignores ``data.fold``:
    runs labelled with several folds would train and test on the same split and be counted as independent
    evidence, narrowing every interval without reason.

    Raises:
        ValueError: several folds of a format without folds, or a fold the format does not have.
    """
    offered = get_format(cfg.data.format).folds
    if not offered and len(set(folds)) > 1:
        raise ValueError(
            f"{cfg.name}: the {cfg.data.format} format comes in one fixed partition, so folds "
            f"{','.join(map(str, folds))} would repeat one split and count the repeats as independent runs; "
            "give one fold and repeat over seeds instead (--seeds 0,1,2)"
        )
    if offered and (unknown := sorted(set(folds) - set(offered))):
        raise ValueError(
            f"{cfg.name}: the {cfg.data.format} format has folds {','.join(map(str, offered))}, not {unknown}"
        )


def fold_config(cfg: ExperimentConfig, fold: int, base_dir: Path) -> ExperimentConfig:
    """A copy of ``cfg`` for one fold, writing into ``base_dir/fold_<k>``."""
    out = cfg.model_copy(deep=True)
    out.data.fold = fold
    out.run.out_dir = str(base_dir / f"fold_{fold}")
    out.name = f"{cfg.name}-fold{fold}"
    return out


def summarize(per_fold: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """Mean, sample standard deviation (ddof=1), 95 % t interval and per-fold values of every scalar
    metric; mean and standard deviation of every class's recall."""
    summary: dict[str, Any] = {"folds": sorted(per_fold), "metrics": {}}
    per_fold = {k: summary_scalars(m) for k, m in per_fold.items()}
    # metrics a fold lacks (an older run) or reports as absent (vote metrics without votes) are left out
    keys = [
        *SUMMARY_KEYS,
        *sorted(k for k in next(iter(per_fold.values())) if k.startswith(("rmse_", "ccc_"))),
    ]
    # CCC is null where a fold's predictions or targets are constant (undefined)
    keys = [k for k in keys if all(m.get(k) is not None for m in per_fold.values())]
    for k in keys:
        v = [float(per_fold[f][k]) for f in sorted(per_fold)]
        ci = mean_ci(v, bounds=metric_range(k))
        summary["metrics"][k] = {
            "mean": ci["mean"],
            "std": ci["std"],  # None for one fold: one value has no spread to report
            "ci_low": ci["ci_low"],  # Student t interval of the mean over folds (None for one fold)
            "ci_high": ci["ci_high"],
            "ci_cut": ci["ci_cut"],  # the interval reached past the metric's range and was cut at it
            "values": v,
        }
    classes = list(next(iter(per_fold.values()))["per_class_recall"])
    summary["per_class_recall"] = {}
    for c in classes:
        v = np.array(
            [
                per_fold[f]["per_class_recall"][c]
                for f in per_fold
                if per_fold[f]["per_class_recall"][c] is not None
            ]
        )
        summary["per_class_recall"][c] = {
            "mean": float(v.mean()) if len(v) else None,
            "std": float(v.std(ddof=1)) if len(v) > 1 else None,
        }
    return summary


def summary_markdown(name: str, summary: dict[str, Any]) -> str:
    """The cross-validation summary as a Markdown table."""
    lines = [
        f"## {name}: {title_tail(summary['folds'])}",
        "",
        "| metric | mean +- sample std | 95% t interval of the mean |",
        "|---|---|---|",
    ]
    for k, v in summary["metrics"].items():
        ci = "-" if v.get("ci_low") is None else f"[{v['ci_low']:.4f}, {v['ci_high']:.4f}]"
        ci += " (cut at the metric's range)" if v.get("ci_cut") else ""
        spread = "" if v["std"] is None else f" +- {v['std']:.4f}"
        lines.append(f"| {k} | {v['mean']:.4f}{spread} | {ci} |")
    lines += ["", "| class | recall |", "|---|---|"]
    for c, v in summary["per_class_recall"].items():
        spread = "" if v["std"] is None else f" +- {v['std']:.4f}"
        value = "n/a" if v["mean"] is None else f"{v['mean']:.4f}{spread}"
        lines.append(f"| {c} | {value} |")
    return "\n".join(lines)


def cross_validate(
    cfg: ExperimentConfig,
    *,
    folds: tuple[int, ...] = (1, 2, 3, 4, 5),
    overwrite: bool = False,
    replace_other: bool = False,
    launch: LaunchOptions | None = None,
) -> dict[str, Any]:
    """Run (or reuse the finished runs of) every fold; write summary.json and summary.md.

    A finished fold (its metrics.json) is reused, and an interrupted one (its last.pt) resumed, only
    when it was trained with ``cfg`` (``engine.resume.plan_run``). Every fold is checked before any
    trains; a fold trained otherwise is refused, or trained again with ``replace_other``. ``overwrite``
    trains every fold again. ``launch``: where the folds train (``studies.launch``; default here, in turn).

    Raises:
        ValueError: folds the format does not come in (``check_folds``), a fold trained with other
            settings, or an unreadable metrics.json, naming the file.
        StudyIncomplete: a launched fold did not finish (or still runs): no summary is written.
    """
    runs = prepare_cv(cfg, folds, overwrite=overwrite, replace_other=replace_other, launch=launch)
    metrics = execute(runs, launch, Path(cfg.run.out_dir), study=_jobs_study(cfg.name))
    return finish_cv(cfg, folds, metrics)


def prepare_cv(
    cfg: ExperimentConfig,
    folds: tuple[int, ...],
    *,
    overwrite: bool = False,
    replace_other: bool = False,
    launch: LaunchOptions | None = None,
) -> list[Run]:
    """Plan every fold of ``cfg`` (``plan_run``), check the study's outputs and write its config.yaml.

    Folds that are a part of the study already in ``cfg.run.out_dir`` (``part_of_study``: the same settings,
    other folds too) reuse its finished runs and leave its files as they are: only the part's own summary
    is written (``summary_files``). ``overwrite`` makes them the whole study again, trained anew. Folds beyond
    the study there are refused naming those that extend it (``extend_advice``); launcher files are checked
    by ``check_launch_outputs``.
    """
    check_folds(cfg, folds)
    base = Path(cfg.run.out_dir)
    hint = retrain_advice(base, folds)
    configs = [fold_config(cfg, k, base) for k in folds]
    runs = [
        Run(c, plan_run(Path(c.run.out_dir), c, overwrite=overwrite, replace_other=replace_other, hint=hint))
        for c in configs
    ]
    seeds = (cfg.run.seed,)
    if not (overwrite or replace_other) and part_of_study(base, cfg, folds):
        # its own files only: the study's config.yaml, study file and summary stay those of all its folds
        part = summary_files(base, folds, True)
        check_outputs(part, inputs=config_inputs(cfg), overwrite=True, what="run.out_dir")
        check_part_summaries(base, folds)  # rewritten without --overwrite: only softfer's own
        check_launch_outputs(base, launch, jobs_studies(base, cfg), inputs=config_inputs(cfg))
        return runs
    same_study = holds_study(base, "cv", [cfg], folds, seeds)
    own = overwrite or replace_other or same_study
    if not own and (advice := extend_advice(base, cfg, folds)):
        raise ValueError(advice)  # the outputs check's --overwrite would shrink the study to these folds
    # summaries of parts of an earlier study: refused as any file of it, removed once this one replaces it
    parts = part_summaries(base) if overwrite or not same_study else []
    study_files = [base / n for n in ("config.yaml", STUDY_FILE)] + summary_files(base, folds, False)
    inputs = config_inputs(cfg)
    if same_study:  # relaunched from the study's own config.yaml (the same settings): rewritten as it was
        inputs = [p for p in inputs if p.resolve() != (base / "config.yaml").resolve()]
    check_outputs([*study_files, *parts], inputs=inputs, overwrite=own, what="run.out_dir")
    # jobs.json and jobs/ only where they are this study's own, as in a part: a user's only with --overwrite
    jobs_own = overwrite or replace_other
    check_launch_outputs(base, launch, jobs_studies(base, cfg), inputs=inputs, overwrite=jobs_own)
    for path in parts:
        path.unlink()
    if parts:
        log.warning(
            "removed the summaries of parts of the earlier study: %s", ", ".join(p.name for p in parts)
        )
    base.mkdir(parents=True, exist_ok=True)
    dump_config(cfg, base / "config.yaml")
    write_study(base, "cv", [cfg], folds, seeds)
    return runs


def finish_cv(
    cfg: ExperimentConfig, folds: tuple[int, ...], metrics: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """Summarise the folds' ``metrics`` (keyed by run folder, ``Run.key``); write summary.json and .md, or
    those of a part of the study (``summary_files``)."""
    base = Path(cfg.run.out_dir)
    summary = summarize({k: metrics[fold_config(cfg, k, base).run.out_dir] for k in folds})
    part = part_of_study(base, cfg, folds)
    json_file, md_file = summary_files(base, folds, part)
    if part:  # the study's own summary.json stays that of all its folds: say where this one went
        log.info("folds %s are a part of the study in %s: summary in %s", sorted(folds), base, json_file.name)
    write_json_atomic(json_file, summary)
    # a folder shared by rows of several tables (one experiment, several names) is titled with every name
    names = " = ".join(study_names(base) or [cfg.name])
    write_text_atomic(md_file, summary_markdown(names, summary) + "\n")
    return summary
