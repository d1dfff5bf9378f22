"""File-to-file label tools behind `softfer labels votes` and `softfer labels va`."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from softfer.classes import AFFECTNET_CLASSES, DFEW_CLASSES
from softfer.data.tables import find_class_columns, parse_numbers, read_table, write_csv
from softfer.labels.affect import (
    AffectStats,
    euclidean_labels,
    fit_affect_stats,
    fuse_labels,
    gmm_labels,
    validate_va,
)
from softfer.labels.votes import (
    TieRule,
    clip_agreement,
    fleiss_kappa,
    hard_labels,
    max_share_histogram,
    soft_labels,
    validate_votes,
)

ID_COLUMNS = ("video_name", "clip", "name", "id", "subdirectory_filepath", "path")


def _id_column(header: Sequence[str], wanted: str | None) -> int | None:
    names = [h.strip().lower() for h in header]
    for cand in [wanted] if wanted else ID_COLUMNS:
        if cand and cand.lower() in names:
            return names.index(cand.lower())
    if wanted:
        raise ValueError(f"no id column {wanted!r}; columns are {list(header)}")
    return None


def agreement_report(votes: np.ndarray, classes: Sequence[str]) -> str:
    """Human-readable agreement summary of a vote table."""
    agree = clip_agreement(votes)
    hard = hard_labels(votes)
    counts, edges = max_share_histogram(votes)
    totals = votes.sum(axis=1)
    lines = [
        f"clips: {len(votes)}   votes per clip: {int(totals.min())}..{int(totals.max())}",
        f"mean max share: {agree['max_share'].mean():.3f}   mean entropy: {agree['entropy'].mean():.3f} nats",
        f"clips with max share >= 0.9: {(agree['max_share'] >= 0.9).mean():.1%}",
    ]
    if np.all(totals == totals[0]) and totals[0] >= 2:
        lines.append(f"Fleiss' kappa: {fleiss_kappa(votes):.4f}")
    lines.append(
        "majority class counts: " + ", ".join(f"{c}={int((hard == i).sum())}" for i, c in enumerate(classes))
    )
    lines.append("histogram of max share:")
    peak = max(int(counts.max()), 1)
    for lo, hi, n in zip(edges[:-1], edges[1:], counts, strict=True):
        lines.append(
            f"  [{lo:.1f}, {hi:.1f}{']' if hi == 1.0 else ')'} {int(n):6d} {'#' * round(40 * n / peak)}"
        )
    return "\n".join(lines)


def votes_to_labels(
    path: str | Path,
    out: str | Path,
    *,
    classes: Sequence[str] = DFEW_CLASSES,
    column_map: Mapping[str, str] | None = None,
    id_column: str | None = None,
    tie: TieRule = "first",
) -> str:
    """Read vote counts (CSV or XLSX), write soft + hard labels and agreement per clip; return the report."""
    table = read_table(path)
    cols = find_class_columns(table, classes, column_map=column_map)
    votes = validate_votes(
        parse_numbers(table, cols, what="vote counts"),
        num_classes=len(classes),
        source=str(path),
        row_names=table.where,
    )
    soft, hard, agree = soft_labels(votes), hard_labels(votes, tie=tie), clip_agreement(votes)
    id_idx = _id_column(table.header, id_column)
    ids = [r[id_idx] for r in table.rows] if id_idx is not None else [str(i) for i in range(len(votes))]
    header = ["id", *(f"votes_{c}" for c in classes), *(f"soft_{c}" for c in classes)]
    header += ["hard_label", "hard_name", "max_share", "entropy"]
    rows = []
    for i in range(len(votes)):
        name = classes[hard[i]] if hard[i] >= 0 else ""
        share, ent = f"{agree['max_share'][i]:.6f}", f"{agree['entropy'][i]:.6f}"
        rows.append(
            [ids[i], *votes[i].tolist(), *(f"{p:.6f}" for p in soft[i]), int(hard[i]), name, share, ent]
        )
    write_csv(Path(out), header, rows)
    return agreement_report(votes, classes)


def _label_column(header: Sequence[str]) -> str:
    for cand in ("label", "expression", "class", "emotion"):
        if cand in [h.strip().lower() for h in header]:
            return cand
    raise ValueError(f"no class column (label/expression/class/emotion); columns are {list(header)}")


def va_to_labels(
    path: str | Path,
    out: str | Path,
    *,
    method: str = "gmm",
    alpha: float = 0.5,
    squared: bool = True,
    num_classes: int | None = None,
    class_names: Sequence[str] | None = None,
    stats_path: str | Path | None = None,
    save_stats: str | Path | None = None,
) -> str:
    """VA + class columns -> VA-derived (GMM or Euclidean) and fused labels; returns a summary."""
    if method not in ("gmm", "euclid"):
        raise ValueError(f"method must be 'gmm' or 'euclid', got {method!r}")
    table = read_table(path)
    va = np.array(
        parse_numbers(table, [table.column("valence"), table.column("arousal")], what="valence/arousal")
    )
    missing = validate_va(va, source=str(path), row_names=table.where)
    label_col = table.column(_label_column(table.header))
    try:
        labels = np.array([int(float(r[label_col])) for r in table.rows])
    except ValueError as exc:
        raise ValueError(f"{path}: class labels must be integers ({exc})") from exc
    k = num_classes or int(labels.max()) + 1
    bad = (labels < 0) | (labels >= k)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{table.where[i]}: label {labels[i]} outside 0..{k - 1}")
    names = list(class_names or (AFFECTNET_CLASSES[:k] if k <= 8 else [str(i) for i in range(k)]))
    if len(names) != k:
        raise ValueError(f"{len(names)} class names given for {k} classes")
    keep = ~missing
    if stats_path:
        stats = AffectStats.from_dict(json.loads(Path(stats_path).read_text()))
        if stats.num_classes != k:
            raise ValueError(f"{stats_path}: statistics for {stats.num_classes} classes, data has {k}")
    else:
        stats = fit_affect_stats(va[keep], labels[keep], k)
    if save_stats:
        Path(save_stats).write_text(json.dumps(stats.to_dict(), indent=2))
    p_va = np.full((len(va), k), np.nan)
    p_va[keep] = (
        gmm_labels(va[keep], stats)
        if method == "gmm"
        else euclidean_labels(va[keep], stats.means, squared=squared)
    )
    fused = np.full_like(p_va, np.nan)
    fused[keep] = fuse_labels(labels[keep], p_va[keep], alpha=alpha)
    header = ["row", "valence", "arousal", "label", "va_missing"]
    header += [f"pva_{n}" for n in names] + [f"fused_{n}" for n in names] + ["va_argmax"]
    rows = []
    for i in range(len(va)):
        fmt = ["" if missing[i] else f"{v:.6f}" for v in (*p_va[i], *fused[i])]
        arg = "" if missing[i] else int(np.argmax(p_va[i]))
        rows.append([table.where[i], *va[i].tolist(), int(labels[i]), int(missing[i]), *fmt, arg])
    write_csv(Path(out), header, rows)
    method_name = "gmm" if method == "gmm" else f"euclid ({'squared' if squared else 'unsquared'})"
    agree = (p_va[keep].argmax(1) == labels[keep]).mean() if keep.any() else float("nan")
    return (
        f"rows: {len(va)}  with VA: {int(keep.sum())}  missing VA (-2): {int(missing.sum())}\n"
        f"method: {method_name}  alpha: {alpha}\n"
        f"VA-derived argmax agrees with the class label on {agree:.1%} of rows"
    )
