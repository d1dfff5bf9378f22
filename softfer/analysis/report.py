"""`softfer analyze RUN_DIR`: the MIDAS/dual-domain analyses of a finished run."""

from __future__ import annotations

import csv
import logging
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from softfer import metrics
from softfer.analysis.gradcam import CAM_SCALE_LABEL, Cam, explain
from softfer.analysis.run_identity import (
    check_predictions_digest,
    checked_gradcam_inputs,
    coexistence_labels,
)
from softfer.config import ExperimentConfig, load_config
from softfer.config.identity import check_own_config
from softfer.engine.data import config_inputs
from softfer.engine.evaluate import read_metrics
from softfer.engine.outputs import ANALYSIS_FILES
from softfer.io.files import atomic_write, write_json_atomic, write_text_atomic
from softfer.io.outputs import check_outputs
from softfer.plots import figures as plots

if TYPE_CHECKING:
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

CAM_CMAP = "inferno"  # perceptually uniform: brightness rises with the map (jet's bands invent edges)


def read_predictions(
    path: Path, *, num_samples: int | None = None, classes: tuple[str, ...] | None = None
) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, tuple[str, ...]]:
    """(ids, labels, predicted probabilities, target soft labels, classes) from predictions.csv, checked
    to be as ``engine.evaluate.write_predictions`` writes it: every column of each class, unique ids,
    labels within the classes, each p_ and q_ row a probability distribution; with ``num_samples`` and
    ``classes`` (metrics.json's), that many labelled rows and those classes.

    Raises:
        ValueError: one line naming the file, the line and column, and what to do.
    """
    header, lines = _csv_lines(path)
    found = tuple(k[2:] for k in header if k.startswith("p_"))
    if classes is not None and found != tuple(classes):
        raise ValueError(
            f"{path}: p_ columns for {', '.join(found) or 'no class'}, but metrics.json scores "
            f"{', '.join(classes)}; {_REWRITE}"
        )
    col = {name: i for i, name in enumerate(header)}
    missing = [n for n in ("id", "label", *(f"{k}_{c}" for k in "pq" for c in found)) if n not in col]
    if not found or missing or len(col) < len(header):
        what = "a column named twice" if found and not missing else f"no column {', '.join(missing) or 'p_*'}"
        raise ValueError(f"{path}: {what}; {_REWRITE}")
    probs = _distributions(path, lines, col, [f"p_{c}" for c in found])
    soft = _distributions(path, lines, col, [f"q_{c}" for c in found])
    ids, labels = _ids_and_labels(path, lines, col, len(found))
    labelled = int((labels >= 0).sum())
    if num_samples is not None and labelled != num_samples:
        raise ValueError(
            f"{path}: {labelled} labelled rows, but metrics.json scored {num_samples} test items (cut short "
            f"or rows added?); {_REWRITE}"
        )
    if not labelled:
        raise ValueError(f"{path}: no row has a class label (every label is -1): nothing to analyse")
    return ids, labels, probs, soft, found


# What to do about a predictions.csv that is not as the run wrote it.
_REWRITE = (
    "not as softfer writes it (edited or cut short?): restore the run's own file, or score the model again "
    "with `softfer eval RUN/model.pt --out DIR`"
)
# write_predictions rounds to 6 decimals: a row's sum moves by at most K * 5e-7, float32 softmax and vote
# shares by about 1e-6; 1e-4 allows for 100 classes and still refuses any edit seen at 4 decimals.
SUM_TOLERANCE = 1e-4


def _csv_lines(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """predictions.csv's header and its non-empty rows with their line numbers, each as long as the header."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            lines = [(reader.line_num, row) for row in reader if row]
    except (csv.Error, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: unreadable CSV ({exc}); {_REWRITE}") from None
    if len(lines) < 2:
        raise ValueError(f"{path}: no predictions; {_REWRITE}")
    header = lines[0][1]
    for line, row in lines[1:]:
        if len(row) != len(header):
            raise ValueError(
                f"{path}: line {line} has {len(row)} fields, the header {len(header)}; {_REWRITE}"
            )
    return header, lines[1:]


def _distributions(
    path: Path, lines: list[tuple[int, list[str]]], col: dict[str, int], names: list[str]
) -> np.ndarray:
    """(N, K) the columns ``names`` as numbers, each row a probability distribution (SUM_TOLERANCE)."""
    x = np.empty((len(lines), len(names)))
    for r, (line, row) in enumerate(lines):
        for j, name in enumerate(names):
            try:
                x[r, j] = float(row[col[name]])
            except ValueError:
                raise ValueError(
                    f"{path}: line {line}, column {name}: {row[col[name]]!r} is not a number; {_REWRITE}"
                ) from None
    bad = ~np.isfinite(x) | (x < 0) | (x > 1)
    if bad.any():
        r, j = (int(v) for v in np.argwhere(bad)[0])
        raise ValueError(
            f"{path}: line {lines[r][0]}, column {names[j]}: {x[r, j]} is not a probability; {_REWRITE}"
        )
    off = np.abs(x.sum(axis=1) - 1) > SUM_TOLERANCE
    if off.any():
        r = int(np.argmax(off))
        raise ValueError(
            f"{path}: line {lines[r][0]}: the {names[0][:2]} columns sum to {x[r].sum():.6g}, not 1; "
            f"{_REWRITE}"
        )
    return x


def _ids_and_labels(
    path: Path, lines: list[tuple[int, list[str]]], col: dict[str, int], k: int
) -> tuple[list[str], np.ndarray]:
    """The id column (each once) and the label column (a class index, or -1 for none)."""
    seen: dict[str, int] = {}
    labels = np.empty(len(lines), dtype=np.int64)
    for r, (line, row) in enumerate(lines):
        rid, text = row[col["id"]], row[col["label"]]
        if rid in seen:
            raise ValueError(f"{path}: line {line}: id {rid!r} repeats line {seen[rid]}; {_REWRITE}")
        seen[rid] = line
        try:
            labels[r] = int(text)
        except ValueError:
            labels[r] = k  # not a number: refused below as no class index
        if not -1 <= labels[r] < k:
            raise ValueError(
                f"{path}: line {line}, column label: {text!r} is not a class index 0..{k - 1} (or -1 for "
                f"none); {_REWRITE}"
            )
    return list(seen), labels


def clear_vs_ambiguous(
    probs: np.ndarray, labels: np.ndarray, soft: np.ndarray, clear_threshold: float = metrics.CLEAR_THRESHOLD
) -> dict[str, Any]:
    """``metrics.clear_vs_ambiguous`` (the definition every run's metrics.json uses), plus the divergence
    of the prediction to the votes in each group. ``soft`` must be annotator votes."""
    out = metrics.clear_vs_ambiguous(probs, labels, soft, clear_threshold=clear_threshold)
    clear = metrics.clear_mask(soft, clear_threshold)
    for name, mask in (("clear", clear), ("ambiguous", ~clear)):
        out[name]["kl_to_votes"] = metrics.kl_to_votes(probs[mask], soft[mask]) if mask.any() else None
    return out


def _voted_rows(pred_path: Path, run_dir: Path, n: int) -> np.ndarray:
    """(n,) True for the rows of predictions.csv whose q_ columns are annotator votes.

    The q_ columns hold one-hot stand-ins for clips without votes, which would count as unanimous votes.
    predictions.csv's has_votes column says which rows are voted; a run written before that column
    counts as voted only when metrics.json says every scored clip was, never by default.
    """
    with pred_path.open() as f:
        flags = [r.get("has_votes") for r in csv.DictReader(f)]
    if all(v in ("0", "1") for v in flags):
        return np.array([v == "1" for v in flags], dtype=bool)
    m = _run_metrics(run_dir) or {}
    counted, scored = m.get("num_vote_samples"), m.get("num_samples")
    return np.full(n, counted is not None and counted > 0 and counted == scored, dtype=bool)


def _what_folder(folder: Path) -> str:
    # a study or predict folder is named as such, with what to analyse instead (the wrong kind of path)
    for name, kind in (("summary.json", "a cross-validation"), ("comparison.json", "a comparison")):
        if (folder / name).is_file():
            runs = sorted(
                p.parent for pattern in ("*/", "*/*/") for p in folder.glob(pattern + "predictions.csv")
            )
            first = f", e.g. softfer analyze {runs[0]}" if runs else ""
            return (
                f"it is {kind} study: analyze one of its runs{first}; softfer report {folder} shows the study"
            )
    return "is it a finished softfer run?"


def _run_metrics(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / "metrics.json"
    return read_metrics(path) if path.is_file() else None


def _gradcam_rows(
    run_dir: Path, m: dict[str, Any] | None, count: int = 3
) -> list[tuple[np.ndarray, Cam, str, str]]:
    """(frames (T, H, W, 3) uint8, Grad-CAM, predicted class, true class) of ``count`` test items, from
    the run's own model.pt and test clips (``checked_gradcam_inputs``, else ValueError)."""
    model, classes, data_classes, data = checked_gradcam_inputs(run_dir, m)
    picks = np.linspace(0, len(data) - 1, min(count, len(data))).astype(int)
    rows = []
    for i in picks:
        item = data[int(i)]
        if "readable" in item and not bool(item["readable"]):
            continue  # an unreadable clip's placeholder is no face to explain
        key = "clips" if "clips" in item else "images"
        cam = explain(model, item[key][None])  # uint8: Grad-CAM normalises with the model's own statistics
        frames = item[key] if key == "clips" else item[key][None]
        true = data_classes[int(item["label"])]  # in the test data's order; the prediction in the model's
        rows.append((frames.permute(0, 2, 3, 1).numpy(), cam, classes[cam.cls], true))
    if not rows:
        raise ValueError(f"{run_dir}: no readable test item to explain")
    return rows


def gradcam_figure(rows: list[tuple[np.ndarray, Cam, str, str]], max_frames: int = 8) -> Figure:
    """Up to ``max_frames`` frames per row under their Grad-CAM in a perceptual colour map (CAM_CMAP, each
    frame min-max scaled to 0..1, with a colour bar). A degenerate map's row is marked and its warning
    written below."""
    import matplotlib.pyplot as plt

    cols = max(min(len(r[0]), max_frames) for r in rows)
    fig, axes = plt.subplots(
        len(rows),
        cols,
        figsize=(cols * 1.3 + 1.2, len(rows) * 1.6 + 0.6),
        squeeze=False,
        layout="constrained",
    )
    overlay = None
    for r, (frames, cam, pred, true) in enumerate(rows):
        for c in range(cols):
            ax = axes[r][c]
            ax.axis("off")
            if c < len(frames):
                ax.imshow(frames[c])
                overlay = ax.imshow(
                    cam.maps[min(c, len(cam.maps) - 1)], cmap=CAM_CMAP, alpha=0.45, vmin=0, vmax=1
                )
        mark = "  [degenerate map]" if cam.warning else ""
        axes[r][0].set_title(
            f"true {true} / predicted {pred}{mark}",
            fontsize=7,
            loc="left",
            color="tab:red" if mark else "black",
        )
    fig.colorbar(overlay, ax=axes, shrink=0.8, label=CAM_SCALE_LABEL)
    warnings = list(dict.fromkeys(r[1].warning for r in rows if r[1].warning))
    if warnings:
        width = max(40, int(cols * 1.3 * 15))
        fig.supxlabel("\n".join(textwrap.fill(w, width) for w in warnings), color="tab:red", fontsize=7)
    return fig


def _gradcam_png(run_dir: Path, m: dict[str, Any] | None, out: Path, count: int = 3) -> list[str]:
    """Save ``gradcam_figure`` of ``count`` test items to ``out``; returns the degeneracy warnings."""
    import matplotlib.pyplot as plt

    rows = _gradcam_rows(run_dir, m, count)
    fig = gradcam_figure(rows)
    with atomic_write(out, "wb") as f:
        fig.savefig(f, dpi=110, format="png")
    plt.close(fig)
    return list(dict.fromkeys(r[1].warning for r in rows if r[1].warning))


def _recorded_threshold(m: dict[str, Any] | None) -> float:
    """The clear threshold metrics.json ``m`` was scored with (a folder without config.yaml: `eval --out`),
    else the default; the analysis then splits clear and ambiguous clips as metrics.json did."""
    recorded = ((m or {}).get("fingerprint") or {}).get("evaluation") or {}
    value = recorded.get("data.clear_threshold") if isinstance(recorded, dict) else None
    ok = isinstance(value, int | float) and not isinstance(value, bool) and 0 < value <= 1
    return float(value) if ok else metrics.CLEAR_THRESHOLD


def _run_config(run_dir: Path, m: dict[str, Any] | None) -> ExperimentConfig | None:
    """The run's config.yaml (None where it has none), refused when it is not valid or not the config
    metrics.json ``m``'s fingerprint records (edited after the run: clear_threshold would split the
    clips otherwise than metrics.json did), as `softfer report` refuses it (html._checked_config).

    Raises:
        ValueError: one line naming config.yaml.
    """
    path = run_dir / "config.yaml"
    if not path.is_file():
        return None
    cfg = load_config(path)
    check_own_config(m or {}, cfg, path, made="metrics.json was made with", advice="edited after the run?")
    return cfg


def analyze_run(run_dir: str | Path, *, gradcam: bool = True, overwrite: bool = False) -> str:
    """Write analysis figures and analysis.json/.md into RUN_DIR/analysis; return the Markdown summary.

    An earlier analysis there is replaced only with ``overwrite``, and nothing is written into the data
    the run read (a run folder inside its data root; ``softfer.io.outputs``).

    Raises:
        ValueError: before anything is written, for a file given instead of the run folder, a config.yaml
            that is invalid or not the one metrics.json's fingerprint records (``_run_config``), or a
            predictions.csv not the one metrics.json was written with (``check_predictions_digest``) or
            not as the run wrote it (``read_predictions``).
    """
    run_dir = Path(run_dir)
    if run_dir.is_file():
        raise ValueError(f"{run_dir}: a file; analyze takes the run folder: softfer analyze {run_dir.parent}")
    pred_path = run_dir / "predictions.csv"
    if not pred_path.is_file():
        raise ValueError(f"{run_dir}: no predictions.csv; {_what_folder(run_dir)}")
    out = run_dir / "analysis"
    m = _run_metrics(run_dir)
    cfg = _run_config(run_dir, m)
    check_predictions_digest(pred_path, m)
    recall = (m or {}).get("per_class_recall")
    _, labels, probs, soft, classes = read_predictions(
        pred_path,
        num_samples=(m or {}).get("num_samples"),
        classes=tuple(recall) if isinstance(recall, dict) else None,
    )
    inputs = [pred_path, run_dir / "model.pt", *(config_inputs(cfg) if cfg else [])]
    check_outputs([out / n for n in ANALYSIS_FILES], inputs=inputs, overwrite=overwrite, what="RUN_DIR")
    out.mkdir(exist_ok=True)
    keep = labels >= 0
    result: dict[str, Any] = {"ece": metrics.ece(probs[keep], labels[keep])}
    cm = metrics.confusion_matrix(probs[keep], labels[keep], len(classes))
    run_name = cfg.name if cfg else run_dir.name
    plots.confusion_matrix_png(cm, classes, out / "confusion_matrix.png", run=run_name)
    plots.reliability_png(probs[keep], labels[keep], out / "reliability.png")
    soft_all, hard_all, source, why = coexistence_labels(cfg, m, soft[keep], labels[keep])
    result["coexistence"] = plots.coexistence_png(
        soft_all, hard_all, classes, out / "coexisting_emotions.png"
    ).tolist()
    result["coexistence_source"] = source
    if why:
        result["coexistence_note"] = why
    voted = _voted_rows(pred_path, run_dir, len(labels)) & keep
    clear_threshold = cfg.data.clear_threshold if cfg else _recorded_threshold(m)
    result["clear_vs_ambiguous"] = (
        clear_vs_ambiguous(probs[voted], labels[voted], soft[voted], clear_threshold) if voted.any() else None
    )
    if gradcam:  # without model.pt too: skipped saying so (checked_gradcam_inputs), not without a word
        result.update(_gradcam_entry(run_dir, m, out))
    if result.get("gradcam") != "gradcam.png":  # an earlier analysis's (check_outputs allowed replacing it)
        (out / "gradcam.png").unlink(missing_ok=True)  # would stand beside this one as its figure
    write_json_atomic(out / "analysis.json", result)
    text = _summary_text(run_dir, out, result, source)
    write_text_atomic(out / "analysis.md", text + "\n")
    return text


def _gradcam_entry(run_dir: Path, m: dict[str, Any] | None, out: Path) -> dict[str, Any]:
    """analysis.json's Grad-CAM entries: the figure's name and its warnings, or why it was skipped.

    A model.pt or test data that is not the run's own skips the figure, with a warning, rather than the
    analysis: every other figure and number comes from predictions.csv and metrics.json, which stay valid."""
    try:
        warnings = _gradcam_png(run_dir, m, out / "gradcam.png")
    except ValueError as exc:
        log.info("Grad-CAM skipped: %s", exc)  # the printed summary (analysis.md) says it once
        return {"gradcam": f"skipped: {exc}"}
    return {"gradcam": "gradcam.png", **({"gradcam_warnings": warnings} if warnings else {})}


def _summary_text(run_dir: Path, out: Path, result: dict[str, Any], source: str) -> str:
    """analysis.md: the analysis in a few lines."""
    cva = result["clear_vs_ambiguous"]
    lines = [
        f"# analysis of {run_dir}",
        f"ECE (15 bins): {result['ece']:.4f}",
        f"coexisting emotions from the {source}: coexisting_emotions.png",
    ]
    if result.get("coexistence_note"):
        lines.append(f"(not from the training split: {result['coexistence_note']})")
    if cva is None:
        lines.append("clear vs ambiguous clips: absent (no test clip is known to have annotator votes)")
    if cva:
        lines.append(f"clear: top vote share above {cva['threshold']} (data.clear_threshold); else ambiguous")
    for name in ("clear", "ambiguous") if cva else ():
        g = cva[name]
        if g["count"]:
            lines.append(
                f"{name} clips (n={g['count']}): accuracy {g['accuracy']:.4f}  UAR {g['uar']:.4f}  "
                f"KL {g['kl_to_votes']:.4f}"
            )
    lines += [f"Grad-CAM warning: {w}" for w in result.get("gradcam_warnings", [])]
    if str(result.get("gradcam", "")).startswith("skipped"):
        lines.append(f"Grad-CAM {result['gradcam']}")
    lines.append(f"figures in {out}")
    return "\n".join(lines)
