"""`softfer demo`: synthetic DFEW-layout data -> hard vs soft vs MIDAS training -> UAR/WAR table + plots."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from softfer.classes import DFEW_CLASSES
from softfer.config import load_config, packaged_configs
from softfer.data.formats import read_dfew
from softfer.data.synthetic.cli import synth_dfew
from softfer.engine.train import fit
from softfer.plots import figures as plots

REGIMES = ("hard", "soft", "midas")
DEMO_CLIPS, DEMO_SIZE = 1000, 64


def demo_config_dir() -> Path:
    """The demo configs shipped with softfer (package data, so a wheel install has them too)."""
    return packaged_configs() / "demo"


def run_demo(out: str | Path = "softfer_demo", *, quick: bool = False) -> dict[str, dict[str, float]]:
    """Create the data if absent, train the three regimes with one seed and budget, report and plot."""

    console = Console()
    out = Path(out)
    data_dir = out / ("data_quick" if quick else "data")
    clips, size = (150, 32) if quick else (DEMO_CLIPS, DEMO_SIZE)
    started = time.perf_counter()
    if not (data_dir / "Annotation" / "annotation.xlsx").exists():
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
    else:
        console.print(f"[bold]1/3[/] using the synthetic DFEW-layout set at {data_dir}")
    train = read_dfew(data_dir, fold=1, split="train")
    soft = np.stack([r.soft for r in train])
    plots.coexistence_png(
        soft, np.array([r.label for r in train]), DFEW_CLASSES, out / "coexisting_emotions.png"
    )
    console.print(
        f"[bold]2/3[/] training TSM-ResNet-18 three times on fold 1 ({len(train)} training clips): "
        "hard labels, soft labels (vote proportions), MIDAS (soft labels + clip mixing)"
    )
    results: dict[str, dict[str, float]] = {}
    for regime in REGIMES:
        overrides = [f"data.root={data_dir}", f"run.out_dir={out / 'runs' / regime}"]
        if quick:
            overrides += ["optim.epochs=1", f"data.size={size}"]
        cfg = load_config(demo_config_dir() / f"{regime}.yaml", overrides)
        metrics = fit(cfg, overwrite=True)
        results[regime] = {k: metrics[k] for k in ("uar", "war", "macro_f1", "ece", "kl_to_votes")}
    chance = 1.0 / len(DFEW_CLASSES)
    table = Table(title=f"held-out clips of fold 1 (chance UAR = {chance:.3f})")
    for col in ("regime", "UAR", "WAR", "macro-F1", "ECE", "KL(votes || pred)"):
        table.add_column(col, justify="right" if col != "regime" else "left")
    for regime, m in results.items():
        table.add_row(regime, *(f"{m[k]:.3f}" for k in ("uar", "war", "macro_f1", "ece", "kl_to_votes")))
    console.print("[bold]3/3[/] results")
    console.print(table)
    best = max(results, key=lambda r: results[r]["uar"])
    console.print(
        f"Best UAR: {best}. Measured on this run only (one seed, a short CPU budget): MIDAS is a regulariser "
        "and can trail on short budgets; compare methods with `softfer cv` over 5 folds and longer training."
    )
    plots.compare_png(results, out / "comparison.png")
    (out / "results.json").write_text(json.dumps(results, indent=2))
    console.print(
        f"wrote {out}/results.json, comparison.png, coexisting_emotions.png, montage.png and, per regime, "
        f"runs/<regime>/ (metrics.json, predictions.csv, confusion_matrix.png, reliability.png, model.pt) "
        f"in {time.perf_counter() - started:.0f} s"
    )
    console.print(
        f"try: softfer predict <video> --checkpoint {out}/runs/midas/model.pt  (a synthetic-data model)"
    )
    return results
