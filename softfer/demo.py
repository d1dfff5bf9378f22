"""`softfer demo`: synthetic DFEW-layout data -> hard vs soft vs MIDAS training -> UAR/WAR table + plots."""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from softfer.analysis.html import write_report
from softfer.classes import DFEW_CLASSES
from softfer.config import ExperimentConfig, load_config, packaged_configs
from softfer.data.formats import read_dfew
from softfer.data.synthetic.cli import synth_dfew
from softfer.engine.resume import plan_run
from softfer.io.files import write_json_atomic, write_text_atomic
from softfer.io.outputs import check_folder, check_outputs
from softfer.plots import figures as plots
from softfer.plots.compare import paired_runs_png
from softfer.studies.compare import run_grid
from softfer.studies.converged import load_reference, reference_lines
from softfer.studies.crossval import STUDY_FILE, holds_study, write_study
from softfer.studies.launch import LaunchOptions, check_launch_outputs
from softfer.studies.schedulers import visible_gpus
from softfer.studies.stats_report import comparison_markdown, summarize_comparison

REGIMES = ("hard", "soft", "midas")
# the comparison table's scores but its group and rank-based ones (comparison.md shows every one)
SHOWN = ("uar", "war", "macro_f1", "nll", "ece", "js_to_votes")
HEADERS = {
    "uar": "UAR",
    "war": "WAR",
    "macro_f1": "macro-F1",
    "nll": "NLL",
    "ece": "ECE",
    "js_to_votes": "JS(votes, pred)",
}
DEMO_CLIPS, DEMO_SIZE = 1000, 64
QUICK_CLIPS, QUICK_SIZE = 150, 32
# The --quick demo's own folder in OUT: its data, runs and files, in the layout of a full demo's, so that
# the two share one OUT without either replacing (or --overwrite of either removing) the other's runs.
QUICK_FOLDER = "quick"
# The demo's own files in OUT (besides data/ and runs/)
DEMO_FILES = (
    "montage.png",
    "coexisting_emotions.png",
    "comparison.png",
    "results.json",
    "comparison.json",
    "comparison.md",
    "report.html",
)


def demo_config_dir() -> Path:
    """The demo configs shipped with softfer (package data, so a wheel install has them too)."""
    return packaged_configs() / "demo"


def demo_reference_path() -> Path:
    """Where the demo's reference comparison ships (``studies.converged``; written by
    benchmarks/demo_reference.py): absent until a converged comparison is measured."""
    return demo_config_dir() / "reference.json"


def _settings(data_dir: Path, quick: bool, size: int) -> list[str]:
    """The ``--set`` values that make the demo's runs of the packaged configs (``run.out_dir`` aside): the
    closing ``softfer compare`` suggestion repeats them, so that it runs what the demo ran."""
    return [f"data.root={data_dir}", *(["optim.epochs=1", f"data.size={size}"] if quick else [])]


def _configs(out: Path, data_dir: Path, quick: bool, size: int) -> list[ExperimentConfig]:
    """The three regimes' configs, one run folder each in OUT/runs."""
    sets = _settings(data_dir, quick, size)
    return [
        load_config(demo_config_dir() / f"{regime}.yaml", [*sets, f"run.out_dir={out / 'runs' / regime}"])
        for regime in REGIMES
    ]


def demo_launch(jobs: int | None) -> LaunchOptions | None:
    """How the regimes train: side by side on the CPU cores, one process each (``jobs`` at once), or in
    this process one after another (``jobs`` 1, or a GPU present and ``jobs`` not given).

    Why side by side: this small network's steps are hundreds of tiny operations, and two threads of one
    process (waking each other between them) train no faster than one thread; two runs at one thread
    each get about twice the clips per second out of 2 cores (docs/BENCHMARKS.md). Results are those of
    a one-thread run, whatever the machine's cores.
    """
    if jobs is None:
        jobs = 1 if visible_gpus() else len(REGIMES)
    if jobs <= 1:
        return None
    return LaunchOptions(launcher="local", jobs=min(jobs, len(REGIMES)), gpus_per_run=0)


def _check_outputs(
    out: Path, data_dir: Path, configs: list[ExperimentConfig], overwrite: bool, launch: LaunchOptions
) -> bool:
    """The output rule (``softfer.io.outputs``) before anything runs: OUT is new, empty or an earlier run of
    this demo (its ``STUDY_FILE``: a rerun, whose own files are rewritten); other existing files are
    replaced, and other folders written into, only with ``overwrite``; the data folder is generated only
    into an empty or absent folder, with ``overwrite`` too (checked first: ``overwrite`` cannot help
    there). A quick demo's folder (``QUICK_FOLDER``) in OUT is its own, never written: it does not make OUT
    another's. Returns whether the data must be made."""
    generate = not (data_dir / "Annotation" / "annotation.xlsx").exists()
    if generate:
        check_folder(data_dir, what="--out", staged=True)
    own = overwrite or holds_study(out, "demo", configs, (1,), (configs[0].run.seed,))
    if not own and _holds_a_demo(out):
        # the runs there are another demo's: say that --overwrite replaces them, not merely "outputs"
        raise ValueError(
            f"{out} holds a run of the demo with other settings (an earlier softfer's, or a --quick demo "
            f"written there before quick demos moved to {out / QUICK_FOLDER}): --overwrite would replace its "
            f"runs ({', '.join(f'runs/{r}' for r in REGIMES)}) and figures; choose a new or empty --out, or "
            "pass --overwrite to replace them"
        )
    check_outputs([*(out / n for n in (*DEMO_FILES, STUDY_FILE))], overwrite=own)
    check_launch_outputs(out, launch, ["demo"], overwrite=overwrite)  # jobs.json, jobs/: the demo's own only
    if not own and _foreign_entries(out):
        raise ValueError(
            f"{out} is not empty and holds no earlier run of this demo: the demo would write its data, runs "
            "and figures among these files; choose a new or empty --out, or pass --overwrite to write there"
        )
    return generate


def _holds_a_demo(folder: Path) -> bool:
    """Whether ``folder`` holds a run of the demo (its ``STUDY_FILE`` says so), of any settings."""
    try:
        return json.loads((folder / STUDY_FILE).read_text(encoding="utf-8")).get("study") == "demo"
    except (OSError, ValueError, AttributeError):
        return False


def _foreign_entries(folder: Path) -> list[Path]:
    """What ``folder`` holds besides a quick demo's own folder."""
    if not folder.is_dir():
        return []
    quick = folder / QUICK_FOLDER
    if quick.is_dir() and (_holds_a_demo(quick) or not any(quick.iterdir())):
        return [p for p in folder.iterdir() if p != quick]
    return list(folder.iterdir())


def _check_quick_parent(root: Path, overwrite: bool) -> None:
    """The quick demo writes ``root``/``QUICK_FOLDER``: ``root`` is new, empty, a demo's OUT (a full demo's
    runs and files stand beside the quick one's, untouched) or, with ``overwrite``, any folder."""
    if overwrite or _holds_a_demo(root) or not _foreign_entries(root):
        return
    raise ValueError(
        f"{root} is not empty and holds no earlier run of this demo: the quick demo would write its data, "
        f"runs and figures in {root / QUICK_FOLDER} among these files; choose a new or empty --out, or pass "
        "--overwrite to write there"
    )


def run_demo(
    out: str | Path = "softfer_demo", *, quick: bool = False, overwrite: bool = False, jobs: int | None = None
) -> dict[str, dict[str, float]]:
    """Create the data if absent, train the three regimes with one seed and budget, report and plot.

    A rerun reuses the data and the finished runs of the same configs; anything else in ``out`` that the
    demo would replace (another run, files of the same names) is refused without ``overwrite``. ``quick``
    (1 epoch, 150 clips of 32 px) writes the same layout into ``out``/``QUICK_FOLDER``, beside a full
    demo's files and never over them. ``jobs`` regimes train at once, each in its own process with its
    share of the cores (default: all three on a machine without a GPU, one after another in this process
    with one; ``jobs=1``: one after another).
    """

    console = Console()
    root = Path(out)
    out = root / QUICK_FOLDER if quick else root
    data_dir = out / "data"
    clips, size = (QUICK_CLIPS, QUICK_SIZE) if quick else (DEMO_CLIPS, DEMO_SIZE)
    started = time.perf_counter()
    configs = _configs(out, data_dir, quick, size)
    reference = load_reference(demo_reference_path())  # an unreadable one is refused before any training
    launch = demo_launch(jobs)
    if quick:
        _check_quick_parent(root, overwrite)
    generate = _check_outputs(out, data_dir, configs, overwrite, launch)
    out.mkdir(parents=True, exist_ok=True)
    write_study(out, "demo", configs, (1,), (configs[0].run.seed,))  # a rerun recognises its folder
    _prepare_data(console, out, data_dir, clips, size, generate=generate)
    train = read_dfew(data_dir, fold=1, split="train")
    soft = np.stack([r.soft for r in train])
    plots.coexistence_png(
        soft, np.array([r.label for r in train]), DFEW_CLASSES, out / "coexisting_emotions.png"
    )
    console.print(
        f"[bold]2/3[/] training TSM-ResNet-18 three times on fold 1 ({len(train)} training clips): "
        "hard labels, soft labels (vote proportions), MIDAS (soft labels + clip mixing)"
    )
    plans = _plans(configs, overwrite)
    rows = run_grid(plans, launch, out, study="demo")
    summary = summarize_comparison(
        rows, configs=list(REGIMES), folds=(1,), seeds=(plans[0][1].run.seed,), num_classes=len(DFEW_CLASSES)
    )
    results = {r["config"]: {k: r[k] for k in SHOWN} for r in rows}
    console.print("[bold]3/3[/] results")
    data = (rows[0].get("fingerprint") or {}).get("data")  # what the runs read: checked against the reference
    converged = reference_lines(reference, dict(zip(REGIMES, configs, strict=True)), summary, data)
    epochs = configs[0].optim.epochs
    # 32 epochs is short of convergence (docs/BENCHMARKS.md, 32 vs 96 epochs) unless a stored reference says
    # this budget is its own
    unsettled = reference is None or epochs < reference["epochs"]
    sets = _settings(data_dir, quick, size)
    _print_results(console, summary, out, converged, epochs=epochs, unsettled=unsettled, sets=sets)
    _write_reports(out, summary, rows, results)
    console.print(
        f"wrote {out}/report.html (open it in a browser), results.json, comparison.md/.json/.png, "
        "coexisting_emotions.png, montage.png and, per "
        "regime, "
        f"runs/<regime>/ (metrics.json, predictions.csv, confusion_matrix.png, reliability.png, model.pt) "
        f"in {time.perf_counter() - started:.0f} s"
    )
    console.print(
        f"try: softfer predict <video> --checkpoint {out}/runs/midas/model.pt  (a synthetic-data model)"
    )
    return results


def _prepare_data(
    console: Console, out: Path, data_dir: Path, clips: int, size: int, *, generate: bool
) -> None:
    """Generate the synthetic DFEW-layout set (and OUT/montage.png), or say that the existing one is used.
    SIGTERM while generating ends the demo as Ctrl-C does (``synthetic.generate.terminate_as_interrupt``,
    held by the set's staging and the montage's write): exit 130, no partial set left."""
    if not generate:
        console.print(f"[bold]1/3[/] using the synthetic DFEW-layout set at {data_dir}")
        return
    console.print(
        f"[bold]1/3[/] generating {clips} synthetic clips ({size}x{size}) in DFEW layout at {data_dir}"
    )
    synth_dfew(
        str(data_dir),
        clips=clips,
        size=size,
        seed=0,
        workers=0,
        stats=False,
        montage=str(out / "montage.png"),
    )


def _plans(configs: list[ExperimentConfig], overwrite: bool) -> list[tuple[str, ExperimentConfig, str]]:
    """(regime, config, plan) per regime: a finished run of exactly this config is reused; anything else
    in its run folder is replaced only with ``overwrite``."""
    hint = "pass --overwrite to train it again, or choose another --out"
    return [
        (
            regime,
            cfg,
            plan_run(Path(cfg.run.out_dir), cfg, overwrite=False, replace_other=overwrite, hint=hint),
        )
        for regime, cfg in zip(REGIMES, configs, strict=True)
    ]


def _print_results(
    console: Console,
    summary: dict,
    out: Path,
    converged: list[str],
    *,
    epochs: int | None = None,
    unsettled: bool = True,
    sets: list[str] | None = None,
) -> None:
    """The results table, the verdict on each difference, the command that can settle them (the demo's
    configs with ``sets``, the demo's own settings, over folds and seeds, into OUT/compare) and the
    ``converged`` lines (``studies.converged.reference_lines``: the stored reference comparison)."""
    console.print(_table(summary, epochs, unsettled))
    console.print(
        "Is a difference real? One seed on one fold cannot say: run-to-run noise on this budget moves UAR "
        "by several points (docs/BENCHMARKS.md). softfer compare over folds and seeds answers it:"
    )
    for line in summary["verdicts"]:
        console.print(f"  - {line}")
    # one line however narrow the terminal: a command to copy
    command = compare_command(out, sets or [f"data.root={out / 'data'}"])
    console.print(command, markup=False, highlight=False, soft_wrap=True)
    for line in converged:
        console.print(line, markup=False, highlight=False)


def compare_command(out: Path, sets: list[str]) -> str:
    """``softfer compare`` of the demo's three configs over 5 folds and 2 seeds with the demo's ``sets``,
    into OUT/compare (its own folder: the quick and the full demo's comparisons do not meet)."""
    configs = " ".join(f"demo/{r}.yaml" for r in REGIMES)
    settings = " ".join(f"--set {shlex.quote(s)}" for s in sets)
    return (
        f"  softfer compare {configs} --folds 1,2,3,4,5 --seeds 0,1 {settings} "
        f"--out {shlex.quote(str(out / 'compare'))}"
    )


def _write_reports(out: Path, summary: dict, rows: list[dict], results: dict[str, dict[str, float]]) -> None:
    """OUT/comparison.png, results.json, comparison.json, comparison.md and report.html (``softfer report``'s
    page of the folder)."""
    paired_runs_png(summary, rows, out / "comparison.png")
    write_json_atomic(out / "results.json", results)
    write_json_atomic(out / "comparison.json", summary)
    write_text_atomic(out / "comparison.md", comparison_markdown(summary, "softfer demo") + "\n")
    write_report(out, out / "report.html", overwrite=True)  # checked with DEMO_FILES before the demo ran


def _table(summary: dict, epochs: int | None = None, unsettled: bool = True) -> Table:
    """The demo's results as a rich table, from the comparison summary (one run per regime), captioned
    with its budget and, when ``unsettled``, that its ranking is not the converged one."""
    chance = summary["chance"]["uar"]
    caption = None
    if epochs is not None:
        caption = f"trained {epochs} epoch{'s' * (epochs != 1)}" + (
            ": not the converged ranking (below)" if unsettled else ""
        )
    table = Table(
        title=f"held-out clips of fold 1, one run per regime (chance UAR = {chance:.3f})", caption=caption
    )
    shown = [k for k in SHOWN if k in summary["metrics"]]
    table.add_column("regime")
    for k in shown:
        arrow = "↑" if summary["metrics"][k]["higher_is_better"] else "↓"
        table.add_column(f"{HEADERS[k]} {arrow}", justify="right")
    for regime in summary["configs"]:
        table.add_row(regime, *(f"{summary['metrics'][k]['per_config'][regime]['mean']:.3f}" for k in shown))
    return table
