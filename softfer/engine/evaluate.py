"""Evaluation: predictions over a dataset (gathered over all ranks), metrics, and their files."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from softfer import metrics
from softfer.data.datasets import SKIP_ADVICE
from softfer.inference.batch import batch_input, forward, probabilities
from softfer.inference.batch import model_input as model_input  # re-exported: older callers import it here
from softfer.io.console import progress as bar
from softfer.io.files import atomic_write, write_json_atomic
from softfer.io.images import MediaError
from softfer.metric_table import METRICS_BY_NAME


@torch.no_grad()
def predict(
    model: torch.nn.Module,
    loader: DataLoader,
    device: torch.device,
    *,
    amp: str = "none",
    progress=None,
    max_unreadable: int | None = None,
    temperature: float = 1.0,
) -> dict[str, np.ndarray]:
    """Probabilities, logits, labels, soft labels and VA for every readable item of the loader (all ranks
    gathered); the probabilities are softmax(logits / ``temperature``) (a calibrated model's, else 1).

    The input is normalised with the model's own statistics (its spec, found through DDP/compile/SWA).
    Items the dataset could not read (``readable`` False) are left out of every array and their indices
    returned as ``unreadable``; more than ``max_unreadable`` of them (None: no cap) raise ``MediaError``.
    """
    model.eval()
    keys = ("probs", "logits", "label", "soft", "has_votes", "va_true", "va_pred", "index", "readable")
    parts: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    ranked = dist.is_available() and dist.is_initialized()
    shown = progress is None and (not ranked or dist.get_rank() == 0)
    for batch in bar(loader, description="evaluate", enabled=shown):
        logits, va = forward(model, batch_input(model, batch, device), amp=amp)
        parts["probs"].append(probabilities(logits, temperature).cpu().numpy())
        parts["logits"].append(logits.float().cpu().numpy())
        parts["label"].append(batch["label"].numpy())
        parts["soft"].append(batch["soft"].numpy())
        # A dataset that does not say whether its soft labels are votes gets no vote metrics (None), rather
        # than scores against what may be a one-hot stand-in.
        voted = batch.get("has_votes", torch.zeros(len(logits), dtype=torch.bool))
        parts["has_votes"].append(voted.numpy())
        parts["va_true"].append(batch["va"].numpy())
        parts["va_pred"].append(
            va.float().cpu().numpy() if va is not None else np.full((len(logits), 2), np.nan)
        )
        parts["index"].append(batch["index"].numpy())
        readable = batch.get("readable", torch.ones(len(logits), dtype=torch.bool)).numpy()
        parts["readable"].append(readable)
        if max_unreadable is not None:  # this rank's share so far: fail early
            _check_unreadable(parts, max_unreadable, loader.dataset)
        if progress:
            progress(1)
    out = {k: np.concatenate(v) if v else np.zeros(0) for k, v in parts.items()}
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        gathered: list[dict[str, np.ndarray]] = [None] * dist.get_world_size()  # type: ignore[list-item]
        dist.all_gather_object(gathered, out)
        out = {k: np.concatenate([g[k] for g in gathered]) for k in out}
        order = np.argsort(out["index"], kind="stable")
        out = {k: v[order] for k, v in out.items()}
    ok = out.pop("readable").astype(bool)
    unreadable = out["index"][~ok].astype(np.int64)
    out = {k: v[ok] for k, v in out.items()}
    out["unreadable"] = unreadable
    return out


def _check_unreadable(parts: dict[str, list[np.ndarray]], cap: int, dataset: Any) -> None:
    bad = [int(i) for idx, ok in zip(parts["index"], parts["readable"], strict=True) for i in idx[~ok]]
    if len(bad) > cap:
        records = getattr(dataset, "records", None)
        names = [records[i].id for i in bad[:5]] if records is not None else [str(i) for i in bad[:5]]
        raise MediaError(
            f"evaluation: {len(bad)} unreadable items, more than the {cap} data.max_skip allows; first: "
            f"{', '.join(names)} (the log names each file); {SKIP_ADVICE}"
        )


def unreadable_record(indices: np.ndarray, ids: list[str], cap: int, what: str) -> dict[str, Any]:
    """{"count", "ids"} of the items left out of an evaluation, for metrics.json.

    Raises:
        MediaError: more than ``cap`` items were left out (naming the first ones).
    """
    names = [ids[int(i)] for i in sorted(set(indices.tolist()))]
    if len(names) > cap:
        raise MediaError(
            f"{what}: {len(names)} of {len(ids)} items unreadable, more than the {cap} data.max_skip "
            f"allows; first: {', '.join(names[:5])}; {SKIP_ADVICE}"
        )
    return {"count": len(names), "ids": names}


def compute_metrics(
    pred: dict[str, np.ndarray],
    classes: tuple[str, ...],
    *,
    clear_threshold: float = metrics.CLEAR_THRESHOLD,
) -> dict[str, Any]:
    """Classification metrics (+ RMSE/CCC when VA is predicted and known).

    Items without a class label (label < 0) are left out of the classification metrics; the metrics
    against the annotators' votes use only the items whose ``has_votes`` is set (none without the key).
    A voted clip is clear when its top vote share exceeds ``clear_threshold`` (the config's
    ``data.clear_threshold``, which also defines MIDAS's clear training group), ambiguous otherwise.

    Raises:
        ValueError: no item has a class label.
    """
    keep = pred["label"] >= 0
    if not keep.any():
        raise ValueError(f"evaluation: none of the {len(keep)} items has a class label to score")
    has_votes = pred.get("has_votes", np.zeros(len(keep), dtype=bool))[keep]
    report = metrics.classification_report(
        pred["probs"][keep],
        pred["label"][keep],
        soft_target=pred["soft"][keep],
        class_names=classes,
        has_votes=has_votes,
        clear_threshold=clear_threshold,
    )
    known = ~np.isnan(pred["va_true"]).any(1) & ~np.isnan(pred["va_pred"]).any(1)
    if known.sum() >= 2:
        rmse = metrics.rmse(pred["va_pred"][known], pred["va_true"][known])
        ccc = metrics.ccc(pred["va_pred"][known], pred["va_true"][known])
        report.update(
            num_va_samples=int(known.sum()),  # may exceed num_samples: AffectNet's code-8 images
            rmse_valence=float(rmse[0]),
            rmse_arousal=float(rmse[1]),
            # null, not NaN, where a side is constant (torchmetrics' CCC is then NaN): not measured
            ccc_valence=float(ccc[0]) if np.isfinite(ccc[0]) else None,
            ccc_arousal=float(ccc[1]) if np.isfinite(ccc[1]) else None,
        )
    return report


# metrics.json's key for the sha256 of the predictions.csv written with it: `softfer analyze` reads only the
# run's own predictions.csv (another run's file of the same test items passes every check of its shape).
PREDICTIONS_DIGEST = "predictions_sha256"


def write_predictions(
    path: Path, pred: dict[str, np.ndarray], ids: list[str], classes: tuple[str, ...]
) -> str:
    """Per-item CSV: id, label, prediction, predicted p_<class>, target soft label q_<class>, VA, and
    has_votes (1: q_ are the annotators' votes; 0: a one-hot stand-in for a clip without votes).

    Returns the sha256 (hex) of the bytes written, which metrics.json records as ``PREDICTIONS_DIGEST``.
    """
    has_votes = pred.get("has_votes", np.zeros(len(pred["label"]), dtype=bool))
    text = io.StringIO(newline="")
    w = csv.writer(text)
    w.writerow(
        ["id", "label", "pred", *(f"p_{c}" for c in classes), *(f"q_{c}" for c in classes)]
        + ["valence_pred", "arousal_pred", "has_votes"]
    )
    for i, idx in enumerate(pred["index"]):
        w.writerow(
            [ids[int(idx)], int(pred["label"][i]), int(pred["probs"][i].argmax())]
            + [f"{p:.6f}" for p in pred["probs"][i]]
            + [f"{q:.6f}" for q in pred["soft"][i]]
            + [f"{v:.4f}" if not np.isnan(v) else "" for v in pred["va_pred"][i]]
            + [int(has_votes[i])]
        )
    data = text.getvalue().encode("utf-8")  # the digest is of exactly these bytes
    with atomic_write(path, "wb") as f:
        f.write(data)
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    """The sha256 (hex) of a file's bytes, as ``write_predictions`` returns it for what it wrote."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_metrics(path: Path, report: dict[str, Any]) -> None:
    """metrics.json, written atomically."""
    write_json_atomic(path, report)


def summary_scalars(report: dict[str, Any]) -> dict[str, Any]:
    """A run's metrics with the clear / ambiguous group scores as top-level numbers (``clear_uar`` ...),
    as cross-validation and comparison summaries average them; None where the run has no votes or the
    group no clip."""
    groups = report.get("clear_vs_ambiguous") or {}
    flat = {f"{g}_{m}": _group(groups, g).get(m) for g in ("clear", "ambiguous") for m in ("accuracy", "uar")}
    return {**report, **flat}


def _group(groups: Any, name: str) -> dict[str, Any]:
    group = groups.get(name) if isinstance(groups, dict) else None
    return group if isinstance(group, dict) else {}


# Room for float rounding at the ends of a range: the probabilities are float32 softmax outputs whose sum is
# 1 only to float32 precision, so KL(q || p) of equal distributions may come out -1e-7 and a Brier score
# 2 + 1e-7 (more with many classes); the slack is far below any difference a metric is read for.
RANGE_SLACK = 1e-5
# The kinds of problem metric_value_problems names, in the order it lists them.
PROBLEM_KINDS = ("not a number", "out of range", "not a count", "malformed", "inconsistent")
# uar and war as written are the mean of the per-class recalls and the confusion matrix's trace share, to
# the last bits (JSON keeps floats exactly; the slack allows only for another summing order)
DERIVED_TOLERANCE = 1e-9
REQUIRED_METRICS = ("uar", "war")
COUNT_KEYS = ("num_samples", "num_vote_samples", "num_va_samples")


def _shown(value: Any) -> str:
    return json.dumps(value, default=str)[:40]


def number_problem(key: str, value: Any, lo: float, hi: float) -> str | None:
    """Why ``value`` (of ``key``) is not a finite number in [lo, hi] (``RANGE_SLACK`` aside), as
    ``KIND: key = value (...)``; None when it is."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return f"not a number: {key} = {_shown(value)}"  # NaN and Infinity included: JSON writes them so
    if not lo - RANGE_SLACK <= value <= hi + RANGE_SLACK:
        span = f"in [{lo:g}, {hi:g}]" if math.isfinite(hi) else f">= {lo:g}"
        return f"out of range: {key} = {_shown(value)} (a number {span})"
    return None


def _count_problem(key: str, value: Any) -> str | None:
    """Why ``value`` is not a count (an integer >= 0), or None."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return f"not a count: {key} = {_shown(value)} (an integer >= 0)"
    return None


def metric_problem(name: str, value: Any) -> str | None:
    """Why ``value`` cannot be the value of metric ``name`` (``METRICS_BY_NAME``): not a finite number in its
    ``value_range``; None when it can, or is None (not measured: no votes, an empty group)."""
    return None if value is None else number_problem(name, value, *METRICS_BY_NAME[name].value_range)


def _group_problems(groups: Any) -> list[str | None]:
    """The clear / ambiguous groups as ``metrics.clear_vs_ambiguous`` writes them (null: no votes); their
    accuracy and UAR are checked as the table's flattened metrics."""
    if groups is None:
        return []
    if not isinstance(groups, dict):
        return [f"malformed: clear_vs_ambiguous = {_shown(groups)}"]
    out = [number_problem("clear_vs_ambiguous.threshold", groups.get("threshold"), 0.0, 1.0)]
    for name in ("clear", "ambiguous"):
        group = groups.get(name)
        if not isinstance(group, dict):
            out.append(f"malformed: clear_vs_ambiguous.{name} = {_shown(group)}")
        else:
            out.append(_count_problem(f"clear_vs_ambiguous.{name}.count", group.get("count")))
    return out


def _table_problems(report: dict[str, Any]) -> list[str | None]:
    """The per-class recalls (a share, or null for a class the test set lacks) and the confusion matrix
    (a square table of counts), where present."""
    out: list[str | None] = []
    if "per_class_recall" in report:
        recall = report["per_class_recall"]
        if not isinstance(recall, dict):
            return [f"malformed: per_class_recall = {_shown(recall)}"]
        out += [
            number_problem(f"per_class_recall.{c}", v, 0.0, 1.0) for c, v in recall.items() if v is not None
        ]
    if "confusion_matrix" in report:
        matrix = report["confusion_matrix"]
        square = isinstance(matrix, list) and all(
            isinstance(r, list) and len(r) == len(matrix) for r in matrix
        )
        if not square:
            return [*out, f"malformed: confusion_matrix = {_shown(matrix)}"]
        cells = (
            _count_problem(f"confusion_matrix[{i}][{j}]", v)
            for i, r in enumerate(matrix)
            for j, v in enumerate(r)
        )
        out.append(next((c for c in cells if c), None))  # the first bad cell stands for the others
    return out


def metric_value_problems(report: dict[str, Any]) -> list[str]:
    """What in ``report`` (a metrics.json) softfer does not write, each as ``KIND: key = value``, the kinds in
    the order of ``PROBLEM_KINDS``: a metric of the table (``METRIC_TABLE``, nested group scores included)
    that is neither null nor a finite number in its ``value_range``; a count (``COUNT_KEYS``, the groups'
    and the skipped items') that is no integer >= 0; per-class recalls outside [0, 1]; a confusion matrix
    that is no square table of counts. Keys that are absent are not checked (older files lack some)."""
    scalars = summary_scalars(report)
    bad = [metric_problem(name, scalars.get(name)) for name in METRICS_BY_NAME]
    bad += [_count_problem(key, report[key]) for key in COUNT_KEYS if key in report]
    if isinstance(skipped := report.get("skipped"), dict):
        bad.append(_count_problem("skipped.count", skipped.get("count")))
    bad += _group_problems(report.get("clear_vs_ambiguous"))
    bad += _table_problems(report)
    if not any(bad):  # the tables are well formed: the scores must be theirs
        bad += _derived_problems(report)
    return [b for kind in PROBLEM_KINDS for b in bad if b and b.startswith(kind)]


def _derived_problems(report: dict[str, Any]) -> list[str | None]:
    """uar that is not the mean of the per-class recalls, war not the confusion matrix's diagonal share
    (a number edited by hand within its range: a page or a comparison would show it as the run's)."""
    out: list[str | None] = []
    recall = [v for v in (report.get("per_class_recall") or {}).values() if v is not None]
    if recall and isinstance(report.get("uar"), (int, float)):
        mean = math.fsum(recall) / len(recall)
        if abs(report["uar"] - mean) > DERIVED_TOLERANCE:
            out.append(f"inconsistent: uar = {report['uar']!r}, the mean of per_class_recall is {mean!r}")
    matrix = report.get("confusion_matrix")
    total = sum(map(sum, matrix)) if matrix else 0
    if total and isinstance(report.get("war"), (int, float)):
        share = sum(matrix[i][i] for i in range(len(matrix))) / total
        if abs(report["war"] - share) > DERIVED_TOLERANCE:
            out.append(f"inconsistent: war = {report['war']!r}, the confusion matrix gives {share!r}")
    return out


def read_metrics(path: Path) -> dict[str, Any]:
    """A finished run's metrics.json.

    Raises:
        ValueError: one line naming the file when it is not a JSON object (truncated, say) or holds a
            value softfer does not write (``metric_value_problems``), with what to do.
    """
    try:
        report = json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        report = exc
    if not isinstance(report, dict):
        why = str(report).splitlines()[0] if isinstance(report, Exception) else "not a JSON object"
        raise ValueError(
            f"{path}: unreadable metrics.json ({why}); delete it to evaluate the run again from its "
            "last.pt, or retrain it with --overwrite"
        )
    for key in ("ccc_valence", "ccc_arousal"):  # earlier softfer wrote NaN for an undefined CCC: read as null
        value = report.get(key)
        if isinstance(value, float) and math.isnan(value):
            report[key] = None
    # every metrics.json softfer wrote holds these: without them it is another file (a report written
    # over it), and a page or summary of it would show nothing as if the run had no scores
    missing = [k for k in REQUIRED_METRICS if k not in report]
    bad = [f"malformed: no {', '.join(missing)}"] if missing else metric_value_problems(report)
    if bad:
        raise ValueError(
            f"{path}: not as softfer writes it ({'; '.join(bad)}); delete it to "
            "evaluate the run again from its last.pt, or retrain it with --overwrite"
        )
    return report
