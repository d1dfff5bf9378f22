"""The columns `softfer labels votes` reads from a vote table, and the refusal of a vote column nobody said
how to treat: such a column was dropped without a word (9 contempt votes and 1 happy vote became a
unanimous happy clip; FER+'s "not a face" votes vanished the same way)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from softfer.io.tables import Table, class_key, find_class_columns, names_vote_answer

# Columns a vote table holds beside its votes, compared by letters and digits ignoring case: clip keys,
# hard labels, and what DFEW's annotation workbook holds beside its votes (order, label, single_labeled).
NOT_VOTE_HEADERS = frozenset(
    {
        *("videoname", "clip", "name", "id", "path", "subdirectoryfilepath", "imagename"),
        *("order", "label", "expression", "class", "emotion", "singlelabeled", "singlelabelled"),
        *("fold", "split", "usage"),
    }
)


def _plain(header: str) -> str:
    return "".join(ch for ch in header.lower() if ch.isalnum())


def _is_count_column(table: Table, i: int) -> bool:
    """Every cell a whole number >= 0: a column that could hold votes."""
    for row in table.rows:
        try:
            value = float(row[i])
        except ValueError:  # text or an empty cell: no vote column
            return False
        if not (value >= 0 and value.is_integer()):  # nan and inf fail too
            return False
    return True


def check_vote_classes(classes: Sequence[str]) -> list[str]:
    """The class names to read (stripped), refused when fewer than 2, empty, or when two name one class
    as a header would (``class_key``: case, digits and punctuation ignored), which would read one column
    twice."""
    names = [c.strip() for c in classes]
    if len(names) < 2:
        raise ValueError(f"--classes {','.join(names)!r}: give at least 2 classes")
    seen: dict[str, str] = {}
    for name in names:
        key = class_key(name)
        if not key:
            raise ValueError(f"--classes {','.join(names)!r}: {name!r} has no letters; name each class")
        if key in seen:
            raise ValueError(
                f"--classes {','.join(names)!r}: {seen[key]!r} and {name!r} name one class (headers are "
                "matched by their letters, case ignored); give names that differ in letters"
            )
        seen[key] = name
    return names


def _named_columns(table: Table, names: Sequence[str], option: str) -> list[int]:
    out = []
    for name in names:
        if not name.strip() or not table.has_column(name):
            columns = ", ".join(table.header)
            raise ValueError(f"{option} {name!r}: {table.path} has no such column; its columns are {columns}")
        out.append(table.column(name))
    return out


def _unread_vote_columns(table: Table, classes: Sequence[str], skip: set[int]) -> list[str]:
    """Headers of the columns outside ``skip`` that may hold votes: named after a class or answer softfer
    knows (``names_vote_answer``), or whole numbers in every row under a header that is no clip key or
    label (``NOT_VOTE_HEADERS``). A header naming a class read from another column (``--column``) is not
    one: the user chose that class's column."""
    read = {class_key(c) for c in classes}
    unread = []
    for i, header in enumerate(table.header):
        if i in skip or class_key(header) in read:
            continue
        if names_vote_answer(header):
            unread.append(header)
        elif _plain(header) not in NOT_VOTE_HEADERS and _is_count_column(table, i):
            unread.append(header)
    return unread


def select_vote_columns(
    table: Table,
    classes: Sequence[str],
    *,
    column_map: Mapping[str, str] | None = None,
    other_votes: Sequence[str] = (),
    ignore_columns: Sequence[str] = (),
    id_index: int | None = None,
) -> tuple[list[int], list[int]]:
    """(the classes' vote columns in ``classes`` order, the ``other_votes`` columns in their order).

    ``other_votes`` name columns of answers that are no class (their votes count against the majority,
    ``softfer.labels.votes.majority_outside``); ``ignore_columns`` name columns that hold no votes. Both
    are matched exactly, ignoring case and surrounding spaces.

    Raises:
        ValueError: for a class without its column (``find_class_columns``), a named column the table
            lacks or given two roles (the id column ``id_index`` included), or a column that may hold
            votes outside every list (see ``_unread_vote_columns``), naming the columns and the options
            that say how to treat them.
    """
    cols = find_class_columns(table, classes, column_map=column_map)
    other = _named_columns(table, other_votes, "--other-votes")
    ignored = _named_columns(table, ignore_columns, "--ignore-columns")
    roles: dict[int, str] = {}
    for role, indices in (("a class's votes", cols), ("--other-votes", other), ("--ignore-columns", ignored)):
        for i in indices:
            if i in roles:
                raise ValueError(
                    f"{table.path}: column {table.header[i]!r} is given as {roles[i]} and as {role}; "
                    "give each column one role"
                )
            roles[i] = role
    # an id column read as votes too wrote vote counts as the clip ids and dropped the real ids (audit 11)
    if id_index is not None and id_index in roles:
        raise ValueError(
            f"{table.path}: column {table.header[id_index]!r} is given as {roles[id_index]} and as the clip "
            "ids (--id-column, or an id column found by its name); give each column one role"
        )
    skip = set(roles) | ({id_index} if id_index is not None else set())
    unread = _unread_vote_columns(table, classes, skip)
    if unread:
        raise ValueError(
            f"{table.path}: column(s) {', '.join(map(repr, unread))} may hold votes outside the classes read "
            f"({', '.join(classes)}), which would be dropped without a word; say how to treat them: "
            "--other-votes COLS for answers that are no class (their votes leave the soft labels and a clip "
            "whose majority is there is left out, as the FER+ reader does), --classes LIST to read them "
            "as classes, or --ignore-columns COLS for columns that hold no votes (--id-column for the clip's)"
        )
    return cols, other
