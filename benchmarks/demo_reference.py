"""The demo's reference comparison (issue 26): a finished `softfer compare` folder of the demo's configs
(benchmarks/learning_curves.sh writes one per budget, OUT/e<epochs>) -> the JSON that `softfer demo` prints
beside its own results (``softfer.studies.converged``): every run's compared metrics, and what made them
(budget, folds, seeds, each config's fingerprints, the data's fingerprint per fold, the data command, the
date the last run finished, softfer's version).

python benchmarks/demo_reference.py COMPARE_OUT [--confirmed-by LONGER_OUT ...] [--out PATH] [--overwrite]
    [--data-command TEXT]

Default --out: the demo's packaged reference (softfer/configs/demo/reference.json). A study that is not
finished (any config x fold x seed of its study.json without a finished, full-budget run) is refused, and
so is an existing --out without --overwrite. Each run is checked as `softfer compare` checks a run it
reuses (``check_reusable``: its config.yaml, and its metrics.json fingerprint against the data at the
configs' data.root as they are now), so those data must be in place.

--confirmed-by (once or more: every folder given counts): finished compare folders of the same study at
longer budgets (OUT/e160). The reference records their budgets when each repeats its UAR ranking and
reverses none of its paired differences whose interval excludes 0 (uar, war, nll, ece;
benchmarks/learning_curves.py's rule), and the demo then calls it converged; a longer budget that moves
either is refused (store that budget's comparison instead).
"""

from __future__ import annotations

import argparse
import json
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

from softfer.config import ExperimentConfig, load_config
from softfer.demo import DEMO_CLIPS, DEMO_SIZE, demo_reference_path
from softfer.engine.evaluate import read_metrics, summary_scalars
from softfer.engine.resume import check_reusable, run_fingerprint
from softfer.io.files import write_json_atomic
from softfer.io.outputs import check_output, confined
from softfer.metric_table import COMPARED_METRICS
from softfer.studies.compare import grid_config
from softfer.studies.converged import REFERENCE_VERSION, data_content, epochs_text, recipe_fingerprint
from softfer.studies.crossval import STUDY_FILE
from softfer.studies.stats_report import cut_short, summarize_comparison

from learning_curves import difference_signs, ranking, sign_flips  # isort: skip  (benchmarks/ on sys.path)

# How benchmarks/learning_curves.sh and the demo make their data (the demo checks the data by content)
DATA_COMMAND = f"softfer synth dfew DATA --clips {DEMO_CLIPS} --size {DEMO_SIZE} --seed 0"
FINISH = "run its softfer compare command again to finish it"
CONFIRM_METRICS = ("uar", "war", "nll", "ece")  # learning_curves.py's default


def read_study(folder: Path) -> tuple[dict[str, Any], list[ExperimentConfig]]:
    """A compare folder's study.json and its configs (``<name>/config.yaml``), each checked against the
    hash study.json records for it.

    Raises:
        ValueError: no study.json of a comparison, or a config.yaml missing or not the one recorded.
    """
    path = folder / STUDY_FILE
    try:
        study = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: cannot read it ({exc}): is {folder} a `softfer compare` folder?") from exc
    if (
        not isinstance(study, dict)
        or study.get("study") != "compare"
        or not isinstance(study.get("configs"), dict)
    ):
        raise ValueError(f"{path} is not the record of a `softfer compare` study: give a compare folder")
    configs = []
    for name, recorded in study["configs"].items():
        cfg = load_config(confined(folder, name, what="config name") / "config.yaml")
        if run_fingerprint(cfg, {})["config"] != recorded:
            raise ValueError(
                f"{folder / name / 'config.yaml'} is not the config {STUDY_FILE} records for {name}: the "
                "folder was changed after the study ran; run the study again into a new folder"
            )
        configs.append(cfg)
    return study, configs


def read_runs(folder: Path, study: dict[str, Any], configs: list[ExperimentConfig]) -> list[dict[str, Any]]:
    """Every run of the study's grid as a row (config, fold, seed, its metrics.json as compare reads it).

    A run counts when it finished its full budget and ``check_reusable`` would reuse it for its config
    (config.yaml, and the metrics.json fingerprint against the data as they are now).

    Raises:
        ValueError: a run is missing or unfinished or was cut short, or ``check_reusable`` refuses it; the
            message counts them and names the first ones.
    """
    rows, missing, refused = [], [], []
    for cfg in configs:
        for f in study["folds"]:
            for s in study["seeds"]:
                run = grid_config(cfg, f, s, folder)
                run_dir = Path(run.run.out_dir)
                if not (run_dir / "metrics.json").is_file():
                    missing.append(f"{cfg.name} fold {f} seed {s}")
                    continue
                metrics = read_metrics(run_dir / "metrics.json")
                if cut := cut_short(metrics):  # finished, not the full budget: check_reusable allows it
                    missing.append(f"{cfg.name} fold {f} seed {s} (cut short: {cut})")
                    continue
                try:
                    check_reusable(run_dir, run)
                except ValueError as exc:
                    refused.append(str(exc))
                    continue
                row = {"config": cfg.name, "fold": f, "seed": s, "run_dir": run.run.out_dir}
                rows.append({**row, **summary_scalars(metrics)})
    total = len(configs) * len(study["folds"]) * len(study["seeds"])
    if missing:
        raise ValueError(
            f"{folder}: the study is not finished: {len(missing)} of its {total} runs have no finished "
            f"full-budget run ({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}); {FINISH}"
        )
    if refused:
        raise ValueError(
            f"{folder}: {len(refused)} of its {total} runs cannot be used for their configs "
            f"({'; '.join(refused[:3])}{'; ...' if len(refused) > 3 else ''}): run the study again into a "
            "new folder"
        )
    return rows


def _fold_data(folder: Path, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """fold -> the data fingerprint (ids and labels) its runs read; they must agree."""
    data: dict[str, Any] = {}
    for r in rows:
        content = data_content((r.get("fingerprint") or {}).get("data"))
        if content is None:
            raise ValueError(
                f"{r['run_dir']}: its metrics.json records no data fingerprint (an older softfer)"
            )
        if data.setdefault(str(r["fold"]), content) != content:
            raise ValueError(f"{folder}: the runs of fold {r['fold']} read different data")
    return data


def _summary(reference: dict[str, Any]) -> dict[str, Any]:
    return summarize_comparison(
        reference["rows"],
        configs=list(reference["configs"]),
        folds=reference["folds"],
        seeds=reference["seeds"],
        num_classes=reference["num_classes"],
    )


def confirmed_by(reference: dict[str, Any], longer: list[dict[str, Any]]) -> list[int]:
    """The budgets of ``longer`` (``build_reference`` of the same study at more epochs) at which the
    reference's UAR ranking repeats and none of its paired differences whose interval excludes 0 is
    reversed (``learning_curves.sign_flips``, over the budgets in order).

    Raises:
        ValueError: a longer comparison of other configs, grid or data, one not longer, two of one budget
            (a folder given twice, or a copy), or one where the ranking or a difference moved (naming it:
            store that budget's comparison instead).
    """
    longer = sorted(longer, key=lambda r: r["epochs"])
    for a, b in pairwise(longer):
        if a["epochs"] == b["epochs"]:  # one budget counted twice would read as two confirmations
            raise ValueError(
                f"{a['made_from']} and {b['made_from']} are both {epochs_text(a['epochs'])}: give each "
                "longer budget once"
            )
    for other in longer:
        where = f"{other['made_from']} ({epochs_text(other['epochs'])})"
        if other["epochs"] <= reference["epochs"]:
            raise ValueError(f"{where} is not longer than the reference's {epochs_text(reference['epochs'])}")
        for key in ("configs", "folds", "seeds", "data"):
            theirs, ours = other[key], reference[key]
            if key == "configs":  # each config's recipe (its settings but the budget), not its study hash
                theirs, ours = ({n: c["recipe"] for n, c in x.items()} for x in (theirs, ours))
            if theirs != ours:
                raise ValueError(f"{where} is not the reference's study at another budget: its {key} differ")
    summaries = [_summary(r) for r in (reference, *longer)]
    ranks = [ranking(s) for s in summaries]
    for other, rank in zip(longer, ranks[1:], strict=True):
        if rank != ranks[0]:
            raise ValueError(
                f"{other['made_from']}: at {epochs_text(other['epochs'])} the UAR ranking is "
                f"{' > '.join(rank)}, at {reference['epochs']} {' > '.join(ranks[0])}: the ranking still "
                "moves; store the longer "
                "budget's comparison instead"
            )
    flips = sign_flips([difference_signs(s, CONFIRM_METRICS) for s in summaries])
    for other, moved in zip(longer, flips[1:], strict=True):
        if moved:
            said = ", ".join(f"{b} - {a} on {m}" for m, a, b in moved)
            raise ValueError(
                f"{other['made_from']}: at {epochs_text(other['epochs'])} a difference an earlier budget "
                f"decided is reversed ({said}): the differences still move; store the longer budget's "
                "comparison instead"
            )
    return [r["epochs"] for r in longer]


def build_reference(folder: Path, data_command: str = DATA_COMMAND) -> dict[str, Any]:
    """The reference comparison of the finished compare folder ``folder`` (``studies.converged``).

    Raises:
        ValueError: the folder holds no finished study (``read_study``, ``read_runs``), or its configs
            trained for different budgets.
    """
    study, configs = read_study(folder)
    if len(budgets := {c.optim.epochs for c in configs}) != 1:
        raise ValueError(f"{folder}: its configs train for different budgets {sorted(budgets)} epochs")
    rows = read_runs(folder, study, configs)
    num_classes = configs[0].data.num_classes
    finished = max(Path(r["run_dir"], "metrics.json").stat().st_mtime for r in rows)
    codes = {json.dumps(r["fingerprint"].get("code"), sort_keys=True) for r in rows}
    reference = {
        "version": REFERENCE_VERSION,
        "epochs": budgets.pop(),
        "folds": study["folds"],
        "seeds": study["seeds"],
        "date": time.strftime("%Y-%m-%d", time.localtime(finished)),
        "configs": {
            c.name: {"study": study["configs"][c.name], "recipe": recipe_fingerprint(c)} for c in configs
        },
        "data_command": data_command,
        "data_root": configs[0].data.root,
        "data": _fold_data(folder, rows),
        "code": [json.loads(c) for c in sorted(codes)],
        "num_classes": num_classes,
        "confirmed_by": [],  # write_reference fills it (confirmed_by)
        "made_from": str(folder),
        "rows": [
            {k: r[k] for k in ("config", "fold", "seed", *COMPARED_METRICS, "per_class_recall") if k in r}
            for r in rows
        ],
    }
    _summary(reference)  # the comparison the demo computes from these rows must be computable
    return reference


def write_reference(
    folder: Path,
    out: Path | None = None,
    *,
    overwrite: bool = False,
    data_command: str = DATA_COMMAND,
    longer: tuple[Path, ...] = (),
) -> Path:
    """Build the reference of ``folder``, confirmed by the compare folders ``longer`` (``confirmed_by``),
    and write it to ``out`` (default: the demo's packaged reference).

    Raises:
        ValueError: ``out`` exists and ``overwrite`` is not given, or lies inside ``folder`` or a ``longer``
            folder (the output rule, ``softfer.io.outputs``), checked before anything is read; or
            ``build_reference`` or ``confirmed_by`` refuses.
    """
    out = Path(out) if out is not None else demo_reference_path()
    check_output(out, inputs=[folder, *longer], overwrite=overwrite, what="--out")
    reference = build_reference(folder, data_command)
    reference["confirmed_by"] = confirmed_by(reference, [build_reference(f, data_command) for f in longer])
    write_json_atomic(out, reference)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder", type=Path, help="a finished `softfer compare` folder of the demo's configs")
    p.add_argument("--out", type=Path, help=f"where to write the JSON (default {demo_reference_path()})")
    p.add_argument(
        "--confirmed-by",
        type=Path,
        nargs="+",
        action="extend",  # WHY: the default "store" kept only the last of --confirmed-by A --confirmed-by B
        default=[],
        metavar="LONGER_OUT",
        help="finished compare folders of the same study at longer budgets that must repeat its ranking "
        "(given once or more: every folder counts)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("--data-command", default=DATA_COMMAND, help=f"how the data were made ({DATA_COMMAND})")
    args = p.parse_args()
    try:
        out = write_reference(
            args.folder,
            args.out,
            overwrite=args.overwrite,
            data_command=args.data_command,
            longer=tuple(args.confirmed_by),
        )
    except ValueError as exc:
        p.exit(2, f"demo_reference.py: {exc}\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
