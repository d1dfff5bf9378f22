"""Which splits of a dataset must share no item, by their names, and the check that they share none."""

from __future__ import annotations

import re
from collections.abc import Iterable

# A split name's role word: a training split and the evaluation splits named like it must be disjoint.
_ROLE = re.compile(r"(?<![a-z])(training|train|validation|val|test)(?![a-z])", re.IGNORECASE)


def split_role(name: str) -> tuple[str, str] | None:
    """(role, template) of a split name: ("train", "set_1_{}") for "set_1_train", ("eval", "{}") for
    "test"; None for a name without a role word."""
    m = _ROLE.search(name)
    if m is None:
        return None
    role = "train" if m.group(1).lower().startswith("train") else "eval"
    return role, (name[: m.start()] + "{}" + name[m.end() :]).lower()


def paired_splits(split: str, names: Iterable[str]) -> list[str]:
    """The names among ``names`` that must share no clip with ``split``.

    Splits pair by name: a training split (its name holds the word ``train`` or ``training``) with the
    evaluation splits named the same way with ``test``, ``val`` or ``validation`` in its place, and back:
    ``train``/``test``, ``set_1_train``/``set_1_test``, but not ``set_1_train``/``set_2_test`` (two folds).
    """
    mine = split_role(split)
    if mine is None:
        return []
    out = []
    for name in names:
        theirs = split_role(name)
        if name != split and theirs is not None and theirs[1] == mine[1] and theirs[0] != mine[0]:
            out.append(name)
    return out


def check_disjoint(
    ids: Iterable[str],
    other: Iterable[str],
    *,
    source: str,
    other_source: str,
    shown_as: dict[str, str] | None = None,
) -> None:
    """Raise when two splits share clips, naming the first few shared ids and their count.

    A clip in a training split and in its evaluation split would have the evaluation score clips the
    model was trained on. ``ids`` may be ``path_key``s; ``shown_as`` then maps them to the ids to name.
    """
    shared = sorted(set(ids) & set(other))
    if shown_as:
        shared = sorted(shown_as.get(k, k) for k in shared)
    if shared:
        shown = ", ".join(shared[:5]) + (", ..." if len(shared) > 5 else "")
        raise ValueError(
            f"{source} and {other_source} share {len(shared)} item(s) ({shown}): a training item in the "
            "evaluation split would be scored on data the model learnt; fix the split files"
        )
