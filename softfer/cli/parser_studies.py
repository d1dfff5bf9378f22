"""The `softfer` commands over many runs (cv, compare, reproduce) with their launch options, and
`softfer calibrate`."""

from __future__ import annotations

import argparse

from softfer.cli import commands as c
from softfer.cli.parser_tools import CONFIG_HELP, PathArgument, folds_type, int_range, seeds_type
from softfer.data.formats import FORMATS


def launch_options() -> argparse.ArgumentParser:
    """Where the runs of a study train (softfer.studies.launch): cv, compare and reproduce take these."""
    launch = argparse.ArgumentParser(add_help=False)
    # defaults None: a value of the --launch-config file is kept unless the option is given
    launch.add_argument(
        "--launcher",
        choices=["sequential", "local", "slurm"],
        help="sequential (default): in this process, one run after another; local: --jobs runs at once on "
        "this machine, one GPU each (or the CPU cores shared); slurm: one SLURM job per run",
    )
    launch.add_argument(
        "--jobs",
        type=int_range(1, 1024),
        help="local: runs at once (default: one per GPU, or 1 on CPU); each takes cores / N torch threads, "
        "or --threads (OMP_NUM_THREADS) if fewer",
    )
    launch.add_argument(
        "--gpus-per-run",
        type=int_range(0, 64),
        help="GPUs of each run (default 1 where there are GPUs; above 1 a run trains under torchrun)",
    )
    launch.add_argument(
        "--no-wait",
        dest="wait",
        action="store_const",
        const=False,
        help="slurm: submit and return; the same command again collects the runs and writes the summary",
    )
    launch.add_argument(
        "--slurm",
        action="append",
        metavar="KEY=VALUE",
        help="a SLURM setting: partition, time_min, cpus_per_run, mem_gb, account, qos, constraint, setup, "
        "sbatch.OPTION (any sbatch option), max_requeues, signal_delay_s",
    )
    launch.add_argument(
        "--launch-config",
        action=PathArgument,
        metavar="FILE",
        help="a YAML file whose `launch:` section holds these settings",
    )
    return launch


def add_study_commands(sub, parents: dict[str, argparse.ArgumentParser]) -> None:
    """Commands over many runs: cv, compare, reproduce (each takes the launch options)."""
    parents = {**parents, "launch": launch_options()}
    _add_cv(sub, parents)
    _add_compare(sub, parents)
    _add_reproduce(sub, parents)


def _add_cv(sub, parents: dict[str, argparse.ArgumentParser]) -> None:
    cv = sub.add_parser(
        "cv",
        parents=[parents["overrides"], parents["common"], parents["launch"], parents["threads"]],
        help="k-fold cross-validation of a config; mean +- std of every metric",
    )
    cv.add_argument("config", action=PathArgument, help=CONFIG_HELP)
    cv.add_argument(
        "--out",
        action=PathArgument,
        help="study folder: the folds in OUT/fold_K, the summary in OUT (default: the config's run.out_dir; "
        "the same as --set run.out_dir=OUT)",
    )
    cv.add_argument(
        "--folds", type=folds_type, default=(1, 2, 3, 4, 5), help="comma-separated folds (default 1,2,3,4,5)"
    )
    cv.add_argument(
        "--overwrite",
        action="store_true",
        help="train the given --folds again, which become the whole study (folds trained with other "
        "settings are refused without it)",
    )
    cv.set_defaults(func=c.cmd_cv)


def _add_compare(sub, parents: dict[str, argparse.ArgumentParser]) -> None:
    cmp = sub.add_parser(
        "compare",
        parents=[parents["overrides"], parents["common"], parents["launch"], parents["threads"]],
        help="several configs on every fold and seed: means with intervals, paired tests, a figure",
        description="Train (or reuse) every config on every fold and seed, pair the runs by (fold, seed) "
        "and report per metric the mean and 95% interval of each config, and for each pair of configs the "
        "paired difference with its interval, a sign-flip permutation test (exact up to 16 runs) and the "
        "wins.",
    )
    cmp.add_argument("configs", action=PathArgument, nargs="+", metavar="CONFIG", help=CONFIG_HELP)
    cmp.add_argument(
        "--folds",
        type=folds_type,
        help="comma-separated folds (default: the configs' own data.fold, which must then agree)",
    )
    cmp.add_argument(
        "--seeds",
        type=seeds_type,
        help="comma-separated seeds (default: the configs' own run.seed, which must then agree)",
    )
    cmp.add_argument(
        "--out", action=PathArgument, default="runs/compare", help="comparison folder (default runs/compare)"
    )
    cmp.add_argument(
        "--overwrite",
        action="store_true",
        help="train every run again (runs trained with other settings are refused without it)",
    )
    cmp.set_defaults(func=c.cmd_compare)


def _add_reproduce(sub, parents: dict[str, argparse.ArgumentParser]) -> None:
    rep = sub.add_parser(
        "reproduce",
        parents=[parents["overrides"], parents["common"], parents["launch"], parents["threads"]],
        help="run the configs behind one table of a paper; ours beside the paper's",
    )
    rep.add_argument("table", nargs="?", help="e.g. midas-table2 (see --list)")
    rep.add_argument("--list", action="store_true", help="list the tables and their configs, run nothing")
    rep.add_argument(
        "--smoke",
        action="store_true",
        help="check every config of the table on your data: build data and model, train 2 steps, "
        "evaluate a few test items (outputs in <run.out_dir>-smoke)",
    )
    rep.add_argument(
        "--overwrite", action="store_true", help="retrain runs whose stored config differs from the table's"
    )
    rep.add_argument(
        "--folds", type=folds_type, default=(1, 2, 3, 4, 5), help="folds for DFEW experiments (default 1-5)"
    )
    rep.add_argument(
        "--seeds",
        type=seeds_type,
        help="run every config with these seeds too (default: its own seed); intervals cover folds x seeds",
    )
    # its paper-vs-ours table, --list and the --smoke report are written nowhere else: printed with --quiet
    # too (softfer.cli printed_as_asked)
    rep.set_defaults(func=c.cmd_reproduce, prints_result=True)


def add_calibrate_command(sub, parents: dict[str, argparse.ArgumentParser]) -> None:
    """softfer calibrate: a trained model's temperature and ambiguity threshold (softfer.engine.calibrate)."""
    cal = sub.add_parser(
        "calibrate",
        parents=[parents["held_out"], parents["common"], parents["overwrite"], parents["threads"]],
        help="fit a trained model's temperature and ambiguity threshold on held-out clips; writes a "
        "calibrated copy of the checkpoint",
        description="Fit temperature scaling (one scalar, minimum NLL) and the top-2 margin threshold that "
        "tells clear from ambiguous clips (on clips with votes) on the run's validation split, or on the "
        "held-out clips named by --data/--format/--split; report NLL, ECE and reliability before and after. "
        "The input checkpoint is never changed: the calibrated copy goes to --out (default "
        "<stem>_calibrated<suffix> beside it), the report beside that (.json). predict, eval and "
        "softfer.Predictor apply the calibration and say so.",
    )
    cal.add_argument(
        "checkpoint", action=PathArgument, help="RUN/model.pt, a run folder, or a .safetensors checkpoint"
    )
    cal.add_argument(
        "--data", action=PathArgument, help="root of held-out clips (default: the run's validation split)"
    )
    cal.add_argument(
        "--format", choices=sorted(FORMATS), help="format of the --data clips (default: the model's)"
    )
    cal.add_argument("--split", help="split of the held-out clips (e.g. a fold's test split)")
    cal.add_argument(
        "--out",
        action=PathArgument,
        help="the calibrated checkpoint (default: <stem>_calibrated<suffix> beside the input)",
    )
    cal.add_argument(
        "--bins",
        type=int_range(2, 1000),
        default=15,
        help="bins of the ECE and reliability table (default 15)",
    )
    cal.set_defaults(func=c.cmd_calibrate)
