"""File-to-file label tools behind `softfer labels votes` and `softfer labels va`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from softfer.classes import AFFECTNET_CLASSES, DFEW_CLASSES
from softfer.data.formats.affectnet import AFFECTNET_CODES
from softfer.data.formats.affwild import read_affect_stats
from softfer.data.records import check_unique, parse_int
from softfer.io.files import write_json_atomic
from softfer.io.outputs import check_output, check_outputs
from softfer.io.tables import Table, parse_numbers, read_table, write_csv
from softfer.labels.affect import (
    AffectStats,
    check_stats_classes,
    euclidean_labels,
    fit_affect_stats,
    fuse_labels,
    gmm_labels,
    validate_va,
)
from softfer.labels.vote_columns import check_vote_classes, select_vote_columns
from softfer.labels.votes import (
    TieRule,
    clip_agreement,
    fleiss_kappa,
    hard_labels,
    majority_outside,
    max_share_histogram,
    soft_labels,
    validate_votes,
)

MAX_CLASSES = 100  # a label table without a class count may not imply more classes than this
ID_COLUMNS = ("video_name", "clip", "name", "id", "subdirectory_filepath", "path", "image name")


def _id_column(table: Table, wanted: str | None) -> int | None:
    names = [h.strip().lower() for h in table.header]
    for cand in [wanted] if wanted else ID_COLUMNS:
        if cand and cand.lower() in names:
            return names.index(cand.lower())
    if wanted:
        raise ValueError(f"{table.path}: no id column {wanted!r}; columns are {table.header}")
    return None


def _id_key(text: str) -> str:
    """A clip id as the dataset readers compare it: clip numbers by value (``1`` and ``00001`` are one)."""
    return str(int(text)) if text.isascii() and text.isdigit() and len(text) <= 18 else text


_TIE_RULES = {
    "first": "ties to the lowest class index",
    "random": "ties to one of the tied classes at random, seed 0",
    "drop": "label -1, no majority",
}


def agreement_report(votes: np.ndarray, classes: Sequence[str], *, tie: TieRule = "first") -> str:
    """Human-readable agreement summary of a vote table; majorities by the ``tie`` rule the labels use."""
    agree = clip_agreement(votes)
    hard = hard_labels(votes, tie=tie)  # seed 0, as ``votes_to_labels`` writes them
    counts, edges = max_share_histogram(votes)
    totals = votes.sum(axis=1)
    tied = int(((votes == votes.max(axis=1, keepdims=True)).sum(axis=1) > 1).sum())
    lines = [
        f"clips: {len(votes)}   votes per clip: {int(totals.min())}..{int(totals.max())}",
        f"mean max share: {agree['max_share'].mean():.3f}   mean entropy: {agree['entropy'].mean():.3f} nats",
        f"clips with max share >= 0.9: {(agree['max_share'] >= 0.9).mean():.1%}",
    ]
    if np.all(totals == totals[0]) and totals[0] >= 2:
        lines.append(f"Fleiss' kappa: {fleiss_kappa(votes):.4f}")
    majority = ", ".join(f"{c}={int((hard == i).sum())}" for i, c in enumerate(classes))
    if tie == "drop":
        majority += f", dropped (tie): {int((hard < 0).sum())}"
    lines.append(f"majority class counts: {majority}")
    lines.append(f"clips with a tied top count: {tied} ({_TIE_RULES[tie]})")
    lines.append("histogram of max share:")
    peak = max(int(counts.max()), 1)
    for lo, hi, n in zip(edges[:-1], edges[1:], counts, strict=True):
        lines.append(
            f"  [{lo:.1f}, {hi:.1f}{']' if hi == 1.0 else ')'} {int(n):6d} {'#' * round(40 * n / peak)}"
        )
    return "\n".join(lines)


def _read_votes(
    table: Table,
    classes: list[str],
    id_idx: int | None,
    column_map: Mapping[str, str] | None,
    other_votes: Sequence[str],
    ignore_columns: Sequence[str],
) -> tuple[np.ndarray, np.ndarray, str]:
    """(class votes of the clips kept, their row indices, a report line or "") of a vote table.

    Votes of ``other_votes`` columns count against the majority (``majority_outside``): a clip whose
    majority is there is left out and counted per column in the line; the others' soft labels are
    proportions of their class votes, as the FER+ reader makes them.
    """
    cols, other = select_vote_columns(
        table,
        classes,
        column_map=column_map,
        other_votes=other_votes,
        ignore_columns=ignore_columns,
        id_index=id_idx,
    )
    every = cols + other
    votes = validate_votes(
        parse_numbers(table, every, what="vote counts"),
        num_classes=len(every),
        source=str(table.path),
        row_names=table.where,
        columns=[table.header[c] for c in every],
    )
    outside = majority_outside(votes[:, : len(cols)], votes[:, len(cols) :])
    keep = np.flatnonzero(outside < 0)
    if not other:
        return votes, keep, ""
    per_column = ", ".join(f"{table.header[c]}: {int((outside == j).sum())}" for j, c in enumerate(other))
    line = f"left out, majority in a column that is no class: {len(votes) - len(keep)} ({per_column})"
    if not len(keep):
        named = ", ".join(table.header[c] for c in other)
        raise ValueError(
            f"{table.path}: every clip's majority lies in {named} (--other-votes): no clip is left"
        )
    return votes[keep, : len(cols)], keep, line


def votes_to_labels(
    path: str | Path,
    out: str | Path,
    *,
    classes: Sequence[str] = DFEW_CLASSES,
    column_map: Mapping[str, str] | None = None,
    other_votes: Sequence[str] = (),
    ignore_columns: Sequence[str] = (),
    id_column: str | None = None,
    tie: TieRule = "first",
    overwrite: bool = False,
) -> str:
    """Read vote counts (CSV or XLSX), write soft + hard labels and agreement per clip; return the report.

    Every column that may hold votes must be a class's, or named in ``other_votes`` (answers that are no
    class: a clip whose majority is there is left out, as the FER+ reader does) or ``ignore_columns``
    (``select_vote_columns``). ``out`` is never ``path`` and replaces an existing file only with
    ``overwrite`` (``softfer.io.outputs``).
    """
    check_output(out, inputs=[path], overwrite=overwrite, suffix=".csv")  # CSV is what is written
    classes = check_vote_classes(classes)
    table = read_table(path)
    id_idx = _id_column(table, id_column)
    votes, kept, left_out = _read_votes(table, classes, id_idx, column_map, other_votes, ignore_columns)
    soft, hard, agree = soft_labels(votes), hard_labels(votes, tie=tie), clip_agreement(votes)
    ids = [table.rows[i][id_idx] if id_idx is not None else str(i) for i in kept]
    where = [table.where[i] for i in kept]
    for clip, w in zip(ids, where, strict=True):
        if not clip:  # an output row without an id joins to no clip
            raise ValueError(f"{w}: no clip id in column {table.header[id_idx]!r}")  # type: ignore[index]
    # The rule of the dataset readers: one row per clip (a second row would give one clip two labels).
    check_unique([_id_key(i) for i in ids], where)
    header = ["id", *(f"votes_{c}" for c in classes), *(f"soft_{c}" for c in classes)]
    header += ["hard_label", "hard_name", "max_share", "entropy"]
    rows = []
    for i in range(len(votes)):
        name = classes[hard[i]] if hard[i] >= 0 else ""
        share, ent = f"{agree['max_share'][i]:.6f}", f"{agree['entropy'][i] + 0.0:.6f}"  # no "-0.000000"
        rows.append(
            [ids[i], *votes[i].tolist(), *(f"{p:.6f}" for p in soft[i]), int(hard[i]), name, share, ent]
        )
    write_csv(Path(out), header, rows)
    report = agreement_report(votes, classes, tie=tie)
    return f"{left_out}\n{report}" if left_out else report


def _label_column(table: Table) -> str:
    for cand in ("label", "expression", "class", "emotion"):
        if table.has_column(cand):
            return cand
    raise ValueError(
        f"{table.path}: no class column (label/expression/class/emotion); columns are {table.header}"
    )


def _class_rows(
    table: Table, labels: np.ndarray, num_classes: int | None, affectnet: bool
) -> tuple[int, np.ndarray, dict[str, int]]:
    """(number of classes, mask of rows that carry a class, rows left out per reason).

    In AffectNet's official lists (``affectnet``) codes 0..10 are valid and codes from ``num_classes``
    (default 8) up are not classes, as in ``read_affectnet``; in any other table every label must be a class.
    """
    if affectnet:
        k = num_classes or 8
        if k not in (7, 8):
            raise ValueError(f"AffectNet num_classes must be 7 or 8, got {k}")
        lo, hi = 0, len(AFFECTNET_CODES) - 1
    else:
        k = num_classes or int(labels.max()) + 1
        if k > MAX_CLASSES:
            i = int(np.argmax(labels))
            raise ValueError(
                f"{table.where[i]}: label {labels[i]} means {k} classes, more than {MAX_CLASSES}; "
                "give the number of classes"
            )
        lo, hi = 0, k - 1
    bad = (labels < lo) | (labels > hi)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{table.where[i]}: label {labels[i]} outside {lo}..{hi}")
    is_class = labels < k
    dropped = {
        f"code {c} ({AFFECTNET_CODES[c]})": int((labels == c).sum()) for c in range(k, hi + 1) if affectnet
    }
    return k, is_class, dropped


def _check_class_names(names: Sequence[str] | None) -> None:
    """Refuse empty or repeated class names (compared ignoring case and spaces): each names an output
    column, and two columns of one name are read back as one class."""
    if names is None:
        return
    seen: dict[str, str] = {}
    for name in names:
        key = name.strip().casefold()
        if not key:
            raise ValueError(f"class names {','.join(names)!r}: an empty name; give one name per class")
        if key in seen:
            raise ValueError(
                f"class names {','.join(names)!r}: {name.strip()!r} is given twice (as {seen[key]!r} too); "
                "give each class a distinct name"
            )
        seen[key] = name.strip()


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
    overwrite: bool = False,
) -> str:
    """VA + class columns -> VA-derived (GMM or Euclidean) and fused labels; returns a summary.

    AffectNet's official lists (columns ``subDirectory_filePath`` and ``expression``) are filtered as the
    AffectNet reader does: only codes 0..num_classes-1 (default 8) are classes. Every row with VA gets
    VA-derived labels (code 8 "none" images have VA and count for VA metrics); class statistics and fused
    labels use the class rows with VA only. Rows with VA -2 (missing) are left out of both. The summary
    says how many rows each reason left out. ``out`` and ``save_stats`` are never an input and replace
    existing files only with ``overwrite`` (``softfer.io.outputs``).
    """
    if method not in ("gmm", "euclid"):
        raise ValueError(f"method must be 'gmm' or 'euclid', got {method!r}")
    _check_class_names(class_names)
    outputs, options = ([out, save_stats], ["--out", "--save-stats"]) if save_stats else ([out], ["--out"])
    suffixes = [".csv", None]  # CSV is what --out gets; the statistics' reader does not go by the name
    check_outputs(
        outputs,
        inputs=[path, stats_path],
        overwrite=overwrite,
        what=options,
        kind="file",
        suffix=suffixes[: len(outputs)],
    )
    table = read_table(path)
    if not table.rows:
        raise ValueError(f"{path}: no rows under the header")
    va = np.array(
        parse_numbers(table, [table.column("valence"), table.column("arousal")], what="valence/arousal")
    )
    missing = validate_va(va, source=str(path), row_names=table.where)
    label_name = _label_column(table)
    label_col = table.column(label_name)
    labels = np.array(
        [parse_int(r[label_col], w, label_name) for r, w in zip(table.rows, table.where, strict=True)]
    )
    affectnet = label_name == "expression" and table.has_column("subDirectory_filePath")
    k, is_class, dropped = _class_rows(table, labels, num_classes, affectnet)
    names = list(class_names or (AFFECTNET_CLASSES[:k] if k <= 8 else [str(i) for i in range(k)]))
    if len(names) != k:
        raise ValueError(f"{len(names)} class names given for {k} classes")
    has_va, keep = ~missing, ~missing & is_class  # keep: rows for class statistics and fusion
    given = "--class-names" if class_names else "the defaults: --class-names not given"
    stats = _va_stats(path, va[keep], labels[keep], names, stats_path, f"the table's classes ({given})")
    if save_stats:
        write_json_atomic(save_stats, stats.to_dict())
    p_va = np.full((len(va), k), np.nan)
    p_va[has_va] = (
        gmm_labels(va[has_va], stats)
        if method == "gmm"
        else euclidean_labels(va[has_va], stats.means, squared=squared)
    )
    fused = np.full_like(p_va, np.nan)
    fused[keep] = fuse_labels(labels[keep], p_va[keep], alpha=alpha)
    _write_va_labels(Path(out), table, va, labels, missing, p_va, fused, names)
    method_name = "gmm" if method == "gmm" else f"euclid ({'squared' if squared else 'unsquared'})"
    agree = (p_va[keep].argmax(1) == labels[keep]).mean() if keep.any() else float("nan")
    # returned, not logged too: the CLI prints it (logging it as well showed each count twice)
    lines = _row_counts(missing, is_class, dropped if affectnet else None, k)
    lines += [
        f"method: {method_name}  alpha: {alpha}",
        f"VA-derived argmax agrees with the class label on {agree:.1%} of class rows with VA",
    ]
    return "\n".join(lines)


def _va_stats(
    path: str | Path,
    va: np.ndarray,
    labels: np.ndarray,
    names: list[str],
    stats_path: str | Path | None,
    whose: str,
) -> AffectStats:
    """The statistics of ``stats_path`` (checked against the table's classes ``names``: their number and,
    when the file records them, their names and order), or fitted on the class rows; named ``names``."""
    if stats_path:
        return check_stats_classes(read_affect_stats(stats_path), names, str(stats_path), whose)
    try:
        return fit_affect_stats(va, labels, len(names), classes=names)
    except ValueError as exc:  # e.g. a class without a row with valence/arousal
        raise ValueError(f"{path}: {exc}") from exc


def _row_counts(
    missing: np.ndarray, is_class: np.ndarray, dropped: dict[str, int] | None, k: int
) -> list[str]:
    """Summary lines: how many rows were used, and how many each reason left out."""
    lines = [
        f"rows: {len(missing)}  with VA: {int((~missing).sum())}  missing VA (-2): {int(missing.sum())} "
        "(left out of VA statistics and labels)"
    ]
    if dropped is not None:
        left = ", ".join(f"{n}: {c}" for n, c in dropped.items())
        lines.append(f"not a class (left out of class statistics and fused labels): {left}")
        lines.append(
            f"class rows (codes 0..{k - 1}) with VA: {int((is_class & ~missing).sum())}, "
            f"without VA: {int((is_class & missing).sum())}"
        )
    return lines


def _write_va_labels(
    out: Path,
    table: Table,
    va: np.ndarray,
    labels: np.ndarray,
    missing: np.ndarray,
    p_va: np.ndarray,
    fused: np.ndarray,
    names: Sequence[str],
) -> None:
    """One output row per input row; cells with nothing to say (no VA, no class) are empty."""
    header = ["row", "valence", "arousal", "label", "va_missing"]
    header += [f"pva_{n}" for n in names] + [f"fused_{n}" for n in names] + ["va_argmax"]
    rows = []
    for i in range(len(va)):
        fmt = ["" if np.isnan(v) else f"{v:.6f}" for v in (*p_va[i], *fused[i])]
        arg = "" if missing[i] else int(np.argmax(p_va[i]))
        rows.append([table.where[i], *va[i].tolist(), int(labels[i]), int(missing[i]), *fmt, arg])
    write_csv(out, header, rows)
