"""Annotator votes -> soft and hard labels, agreement statistics, and the clear/mixed split of MIDAS 5.5."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from softfer.classes import CLEAR_THRESHOLD, SHARE_TOLERANCE
from softfer.io.tables import name_row
from softfer.limits import MAX_VOTES

TieRule = Literal["first", "random", "drop"]


def _empty_hint(source: str) -> str:
    """Why a vote cell may read as NaN: it is empty, or (in a workbook) a formula no spreadsheet computed."""
    hint = " (an empty cell reads as NaN"
    if Path(source).suffix.lower() in (".xlsx", ".xlsm"):
        # openpyxl reads the value a spreadsheet stored; a file written by a script stores none for a formula
        hint += "; so does a formula cell never computed: open and save the file in a spreadsheet program"
    return hint + ")"


def _check_cap(
    arr: np.ndarray, source: str, row_names: Sequence[str] | None, columns: Sequence[str] | None
) -> None:
    """Refuse a (finite) count above ``MAX_VOTES``, naming its row and column."""
    big = arr > MAX_VOTES
    if big.any():
        i, j = (int(k) for k in np.argwhere(big)[0])
        column = f"column {columns[j]!r}" if columns is not None else f"vote column {j + 1} of {arr.shape[1]}"
        raise ValueError(
            f"{name_row(source, row_names, i)} has a vote count of {arr[i, j]:g} in {column}, "
            f"above {MAX_VOTES} (softfer.limits.MAX_VOTES): a damaged cell; fix it"
        )


def validate_votes(
    votes: np.ndarray | Sequence[Sequence[float]],
    *,
    num_classes: int | None = None,
    source: str = "votes",
    row_names: Sequence[str] | None = None,
    columns: Sequence[str] | None = None,
) -> np.ndarray:
    """Check a vote-count table and return it as int64.

    Args:
        votes: (N, C) non-negative integer vote counts, each at most ``softfer.limits.MAX_VOTES``.
        num_classes: expected C; None accepts any C >= 2.
        source: what the table came from (a file name), used in error messages.
        row_names: optional per-row names for error messages (e.g. "annotation.xlsx:row 12", which names
            the file: ``source`` is then not repeated before it).
        columns: optional names of the C vote columns (headers), for the message of a count above the cap.

    Raises:
        ValueError: naming the source and the first offending row.
    """
    arr = np.asarray(votes, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{source}: vote table must be 2-D (clips x classes), got shape {arr.shape}")
    if num_classes is not None and arr.shape[1] != num_classes:
        raise ValueError(f"{source}: expected {num_classes} vote columns, got {arr.shape[1]}")
    if arr.shape[1] < 2:
        raise ValueError(f"{source}: need at least 2 classes, got {arr.shape[1]}")
    checks = (
        (~np.isfinite(arr).all(axis=1), "contains NaN or infinite vote counts" + _empty_hint(source)),
        ((arr < 0).any(axis=1), "contains negative vote counts"),
        ((arr != np.round(arr)).any(axis=1), "contains non-integer vote counts"),
        (arr.sum(axis=1) == 0, "has no votes at all (all-zero row)"),
    )
    for bad, what in checks:
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{name_row(source, row_names, i)} {what}: {arr[i].tolist()}")
    _check_cap(arr, source, row_names, columns)  # before the int64 cast, which would wrap a huge count
    return arr.astype(np.int64)


def soft_labels(votes: np.ndarray) -> np.ndarray:
    """Vote proportions: each row divided by its number of votes (MIDAS section 3.2, q_i)."""
    v = validate_votes(votes)
    return v / v.sum(axis=1, keepdims=True)


def hard_labels(votes: np.ndarray, *, tie: TieRule = "first", seed: int = 0) -> np.ndarray:
    """Majority-vote class per clip.

    Tie rule (several classes share the top count):
        "first": the lowest class index among the tied ones (numpy argmax order; DFEW's class order
            then prefers happy > sad > neutral > ...), deterministic;
        "random": one of the tied classes uniformly at random, seeded by ``seed``;
        "drop": -1, so the caller can exclude the clip (as single-label subsets do).
    """
    v = validate_votes(votes)
    top = v.max(axis=1, keepdims=True)
    is_top = v == top
    if tie == "first":
        return is_top.argmax(axis=1)
    if tie == "drop":
        out = is_top.argmax(axis=1)
        out[is_top.sum(axis=1) > 1] = -1
        return out
    if tie == "random":
        rng = np.random.default_rng(seed)
        # A random key per cell, only tied-top cells eligible: argmax picks a uniform tied class.
        keys = np.where(is_top, rng.random(v.shape), -1.0)
        return keys.argmax(axis=1)
    raise ValueError(f"unknown tie rule {tie!r}; choose 'first', 'random' or 'drop'")


def majority_outside(class_votes: np.ndarray, other_votes: np.ndarray) -> np.ndarray:
    """Per clip, the index of the vote column outside the classes that holds its majority, or -1.

    ``other_votes`` (N, M) count answers that are no class (FER+'s unknown and NF, or a class left out such
    as contempt). The FER+ reader's rule (``softfer.data.formats.ferplus.leave_out_reason`` calls this):
    a clip is left out when one such column has at least as many votes as its top class (a tie leaves it
    out too); the column named is the one with the most votes, the first on a tie. A clip kept has a top
    class count above every other column's, so at least one class vote.
    """
    class_votes, other_votes = np.asarray(class_votes), np.asarray(other_votes)
    if other_votes.shape[1] == 0:
        return np.full(len(class_votes), -1)
    top_other = other_votes.max(axis=1)
    out = other_votes.argmax(axis=1)
    return np.where(top_other >= class_votes.max(axis=1), out, -1)


def clip_agreement(votes: np.ndarray) -> dict[str, np.ndarray]:
    """Per-clip agreement: share of the top class and entropy (nats) of the vote distribution."""
    p = soft_labels(votes)
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=1) + 0.0  # + 0.0: a unanimous clip's -0.0 is 0
    return {"max_share": p.max(axis=1), "entropy": ent}


def fleiss_kappa(votes: np.ndarray) -> float:
    """Fleiss' kappa over all clips; every clip must have the same number of raters."""
    v = validate_votes(votes).astype(np.float64)
    n = v.sum(axis=1)
    if not np.all(n == n[0]):
        i = int(np.flatnonzero(n != n[0])[0])
        raise ValueError(
            f"Fleiss' kappa needs a constant number of raters; row {i} has {n[i]:g}, row 0 {n[0]:g}"
        )
    raters = n[0]
    if raters < 2:
        raise ValueError("Fleiss' kappa needs at least 2 raters per clip")
    p_j = v.sum(axis=0) / v.sum()
    p_i = ((v * v).sum(axis=1) - raters) / (raters * (raters - 1))
    p_bar, p_e = p_i.mean(), (p_j**2).sum()
    if p_e == 1.0:
        return 1.0  # every vote in one class: perfect (and trivial) agreement
    return float((p_bar - p_e) / (1.0 - p_e))


def max_share_histogram(votes: np.ndarray, *, bins: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Histogram of the per-clip top-class share over [0, 1]; returns (counts, bin_edges)."""
    share = clip_agreement(votes)["max_share"]
    # Rounded edges: linspace gives 0.7000000000000001, which would put a 7/10 share in the bin below.
    edges = np.round(np.linspace(0.0, 1.0, bins + 1), 12)
    return np.histogram(share, bins=edges)


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


@dataclass(frozen=True)
class ClearMixedSplit:
    """Indices (into the original clips, with repeats from oversampling) of the two MIDAS 5.5 groups."""

    clear: np.ndarray
    mixed: np.ndarray
    size: int
    class_counts: np.ndarray
    missing_classes: tuple[int, ...]


def _quota(dist: np.ndarray, size: int) -> np.ndarray:
    """Integer counts summing to ``size`` proportional to ``dist`` (largest remainder)."""
    raw = dist / dist.sum() * size
    base = np.floor(raw).astype(np.int64)
    rest = size - base.sum()
    order = np.argsort(-(raw - base), kind="stable")
    base[order[:rest]] += 1
    return base


def _resample(pool: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    if count <= len(pool):
        return rng.choice(pool, size=count, replace=False)
    extra = rng.choice(pool, size=count - len(pool), replace=True)
    return np.concatenate([pool, extra])


def split_clear_mixed(
    soft: np.ndarray,
    hard: np.ndarray,
    *,
    clear_threshold: float = CLEAR_THRESHOLD,
    size: int | None = None,
    seed: int = 0,
    allow_missing: bool = False,
) -> ClearMixedSplit:
    """Clear and mixed expression groups of MIDAS section 5.5.

    The clear group holds clips whose top soft label exceeds ``clear_threshold`` (the rule of
    ``softfer.metrics.clear_mask``: a share within float32 rounding of the threshold is on it, not above);
    the mixed group holds all clips. Both are over/down-sampled to ``size`` clips (default: the number of
    clear clips) with the class distribution (of ``hard``) of the original set.

    Args:
        soft: (N, C) soft labels.
        hard: (N,) hard labels in 0..C-1.
        clear_threshold: clear clips have max(soft) > clear_threshold (``data.clear_threshold``).
        size: clips per group.
        seed: resampling seed.
        allow_missing: when the clear group has no clip of a class, drop the class and spread its quota
            over the others instead of raising.
    """
    soft = np.asarray(soft, dtype=np.float64)
    hard = np.asarray(hard, dtype=np.int64)
    if soft.ndim != 2 or len(soft) != len(hard):
        raise ValueError(f"soft labels {soft.shape} and hard labels {hard.shape} do not match")
    num_classes = soft.shape[1]
    if hard.min(initial=0) < 0 or hard.max(initial=0) >= num_classes:
        raise ValueError(f"hard labels must lie in 0..{num_classes - 1}")
    rng = np.random.default_rng(seed)
    clear_idx = np.flatnonzero(soft.max(axis=1) > clear_threshold + SHARE_TOLERANCE)
    if len(clear_idx) == 0:
        raise ValueError(f"no clip has a top soft label above {clear_threshold}")
    size = len(clear_idx) if size is None else int(size)
    dist = np.bincount(hard, minlength=num_classes).astype(np.float64)
    clear_counts = np.bincount(hard[clear_idx], minlength=num_classes)
    missing = tuple(int(k) for k in np.flatnonzero((dist > 0) & (clear_counts == 0)))
    if missing and not allow_missing:
        raise ValueError(
            f"the clear group has no clip of class(es) {list(missing)}; pass allow_missing=True to drop them"
        )
    dist[list(missing)] = 0.0
    quota = _quota(dist, size)
    groups = []
    for pool_all in (clear_idx, np.arange(len(hard))):
        parts = [
            _resample(pool_all[hard[pool_all] == k], int(quota[k]), rng)
            for k in range(num_classes)
            if quota[k] > 0
        ]
        groups.append(np.sort(np.concatenate(parts)))
    return ClearMixedSplit(groups[0], groups[1], size, quota, missing)
