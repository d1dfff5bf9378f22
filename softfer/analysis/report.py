"""`softfer analyze RUN_DIR`: the MIDAS/dual-domain analyses of a finished run."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from softfer import metrics
from softfer.analysis.gradcam import gradcam
from softfer.config import load_config
from softfer.engine.data import build_data, read_records
from softfer.engine.runs import load_trained_model
from softfer.plots import figures as plots


def read_predictions(path: Path) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, tuple[str, ...]]:
    """(ids, labels, predicted probabilities, target soft labels, classes) from predictions.csv."""
    with path.open() as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"{path}: no predictions")
    classes = tuple(k[2:] for k in rows[0] if k.startswith("p_"))
    probs = np.array([[float(r[f"p_{c}"]) for c in classes] for r in rows])
    soft = np.array([[float(r[f"q_{c}"]) for c in classes] for r in rows])
    return [r["id"] for r in rows], np.array([int(r["label"]) for r in rows]), probs, soft, classes


def clear_vs_ambiguous(
    probs: np.ndarray, labels: np.ndarray, soft: np.ndarray, threshold: float = 0.9
) -> dict[str, Any]:
    """Accuracy and UAR on clear clips (max soft label > threshold) and on the others."""
    out: dict[str, Any] = {"threshold": threshold}
    clear = soft.max(axis=1) > threshold
    k = probs.shape[1]
    for name, mask in (("clear", clear), ("ambiguous", ~clear)):
        if mask.sum() == 0:
            out[name] = {"count": 0}
            continue
        out[name] = {
            "count": int(mask.sum()),
            "war": metrics.war(probs[mask], labels[mask], k),
            "uar": metrics.uar(probs[mask], labels[mask], k),
            "kl_to_votes": metrics.kl_to_votes(probs[mask], soft[mask]),
        }
    return out


def _gradcam_figure(run_dir: Path, out: Path, count: int = 3) -> None:
    import matplotlib.pyplot as plt

    model, cfg, classes = load_trained_model(run_dir / "model.pt")
    data = build_data(cfg, with_train=False).test
    picks = np.linspace(0, len(data) - 1, min(count, len(data))).astype(int)
    rows = []
    for i in picks:
        item = data[int(i)]
        if "readable" in item and not bool(item["readable"]):
            continue  # an unreadable clip's placeholder is no face to explain
        key = "clips" if "clips" in item else "images"
        x = item[key][None]  # uint8: Grad-CAM normalises with the model's own statistics
        cams, cls = gradcam(model, x)
        frames = item[key] if key == "clips" else item[key][None]
        rows.append((frames.permute(0, 2, 3, 1).numpy(), cams, classes[cls], classes[int(item["label"])]))
    cols = max(min(len(r[0]), 8) for r in rows)
    fig, axes = plt.subplots(len(rows), cols, figsize=(cols * 1.3, len(rows) * 1.5), squeeze=False)
    for r, (frames, cams, pred, true) in enumerate(rows):
        for c in range(cols):
            ax = axes[r][c]
            ax.axis("off")
            if c < len(frames):
                ax.imshow(frames[c])
                ax.imshow(cams[min(c, len(cams) - 1)], cmap="jet", alpha=0.4)
        axes[r][0].set_title(f"true {true} / predicted {pred}", fontsize=7, loc="left")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def analyze_run(run_dir: str | Path, *, gradcam: bool = True) -> str:
    """Write analysis figures and analysis.json/.md into RUN_DIR/analysis; return the Markdown summary."""
    run_dir = Path(run_dir)
    pred_path = run_dir / "predictions.csv"
    if not pred_path.is_file():
        raise ValueError(f"{run_dir}: no predictions.csv; is it a finished softfer run?")
    out = run_dir / "analysis"
    out.mkdir(exist_ok=True)
    _, labels, probs, soft, classes = read_predictions(pred_path)
    keep = labels >= 0
    result: dict[str, Any] = {"ece": metrics.ece(probs[keep], labels[keep])}
    cm = metrics.confusion_matrix(probs[keep], labels[keep], len(classes))
    plots.confusion_matrix_png(cm, classes, out / "confusion_matrix.png")
    plots.reliability_png(probs[keep], labels[keep], out / "reliability.png")
    source = "test split"
    soft_all, hard_all = soft[keep], labels[keep]
    cfg_path = run_dir / "config.yaml"
    if cfg_path.is_file():
        try:
            cfg = load_config(cfg_path)
            train = [r for r in read_records(cfg.data, cfg.data.train_split) if r.soft is not None]
            if train:
                soft_all = np.stack([r.soft for r in train])
                hard_all = np.array([r.label for r in train])
                source = "training split"
        except ValueError:
            pass  # dataset not reachable from here: the test split's soft labels still tell the story
    result["coexistence"] = plots.coexistence_png(
        soft_all, hard_all, classes, out / "coexisting_emotions.png"
    ).tolist()
    result["coexistence_source"] = source
    result["clear_vs_ambiguous"] = clear_vs_ambiguous(probs[keep], labels[keep], soft[keep])
    if gradcam and (run_dir / "model.pt").is_file():
        try:
            _gradcam_figure(run_dir, out / "gradcam.png")
            result["gradcam"] = "gradcam.png"
        except ValueError as exc:
            result["gradcam"] = f"skipped: {exc}"
    (out / "analysis.json").write_text(json.dumps(result, indent=2))
    cva = result["clear_vs_ambiguous"]
    lines = [
        f"# analysis of {run_dir}",
        f"ECE (15 bins): {result['ece']:.4f}",
        f"coexisting emotions from the {source}: coexisting_emotions.png",
    ]
    for name in ("clear", "ambiguous"):
        g = cva[name]
        if g["count"]:
            lines.append(
                f"{name} clips (n={g['count']}): WAR {g['war']:.4f}  UAR {g['uar']:.4f}  "
                f"KL {g['kl_to_votes']:.4f}"
            )
    lines.append(f"figures in {out}")
    text = "\n".join(lines)
    (out / "analysis.md").write_text(text + "\n")
    return text
