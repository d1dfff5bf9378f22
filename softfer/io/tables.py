"""Reading the tabular files that datasets ship (CSV, space-separated lists, XLSX) with row provenance.

Every row keeps a human-readable location ("Annotation/annotation.xlsx:row 12", its file named with its
folder) so that errors can name it. The bytes are decoded in ``softfer.io.table_files``.
"""

from __future__ import annotations

import csv
import itertools
import re
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from softfer.classes import CLASS_SYNONYMS
from softfer.io.files import atomic_write
from softfer.io.table_files import not_text, text_encoding, text_rows, xlsx_rows

# Vote columns of answers that are no class: FER+'s "unknown" and "NF" (not a face), AffectNet's codes
# 8-10 (none, uncertain, no face). A table holding one holds votes a reader must not silently drop.
NON_CLASS_ANSWERS: frozenset[str] = frozenset({"unknown", "nf", "notaface", "noface", "none", "uncertain"})


@dataclass
class Table:
    """A header and string rows; ``where[i]`` names row i in its file for error messages (``file_place``);
    ``sheets`` names a workbook's sheets, of which only the first was read (empty for a text file)."""

    path: Path
    header: list[str]
    rows: list[list[str]]
    where: list[str]
    sheets: tuple[str, ...] = ()

    def column(self, name: str) -> int:
        """Index of a column by (case-insensitive, whitespace-trimmed) name.

        Raises:
            ValueError: for no such column, or for two (``valence`` and ``Valence``): which one holds the
                values is not for softfer to guess.
        """
        wanted = name.strip().lower()
        found = [i for i, h in enumerate(self.header) if h.strip().lower() == wanted]
        if not found:
            raise ValueError(f"{self.path}: no column named {name!r}; {self.columns_text()}")
        if len(found) > 1:
            first, second = (self.header[i] for i in found[:2])
            raise ValueError(
                f"{self.path}: columns {first!r} and {second!r} both name {name!r}; rename or remove one"
            )
        return found[0]

    def has_column(self, name: str) -> bool:
        return any(h.strip().lower() == name.strip().lower() for h in self.header)

    def values(self, name: str) -> list[str]:
        i = self.column(name)
        return [r[i] for r in self.rows]

    def columns_text(self) -> str:
        """The "columns are [...]" of an error, saying for a workbook of several sheets that only the first
        was read: a table on another sheet otherwise looks like a file without its columns."""
        return f"columns are {self.header}{sheet_note(self.sheets)}"


def sheet_note(sheets: Sequence[str]) -> str:
    """For a workbook of several sheets, the note that only the first is read, naming the others; else ""."""
    if len(sheets) < 2:
        return ""
    others = ", ".join(map(repr, sheets[1:]))
    return f" (only the workbook's first sheet, {sheets[0]!r}, is read, not {others}: put the table there)"


def file_place(path: Path) -> str:
    """A table file as rows name it (``Table.where``): with its folder (``train(single-labeled)/set_1.csv``),
    as DFEW's train and test folders each hold a ``set_1.csv``."""
    folder = path.absolute().parent.name
    return f"{folder}/{path.name}" if folder else path.name


def name_row(source: str, row_names: Sequence[str] | None, i: int) -> str:
    """Row ``i`` of ``source`` for a message: a row name that names the file already (``Table.where``) as
    it is, another row name or the row's index after the source ("votes.csv: row 3")."""
    if row_names is None:
        return f"{source}: row {i}"
    name = str(row_names[i])
    return name if f"{Path(source).name}:" in name else f"{source}: {name}"


def iter_table_chunks(
    path: str | Path, *, header: bool = True, delimiter: str | None = None, chunk_rows: int = 10_000
) -> Iterator[Table]:
    """``read_table``'s rows, ``chunk_rows`` at a time: each chunk a ``Table`` with the file's header.

    The file is read as the chunks are taken, so memory holds one chunk, not the file (a table read whole
    takes about 6 times its size). The same checks and normalisation as ``read_table``; a problem is raised
    when its row is reached, after the chunks before it. The file stays open until the chunks end, fail
    or the iterator is closed (``close()``, or dropped).

    Raises:
        ValueError: a ``chunk_rows`` below 1 or a missing file (here); as ``read_table`` (at the chunk).
    """
    if chunk_rows < 1:  # checked here, at the call, not at the first chunk
        raise ValueError(f"chunk_rows must be 1 or more, got {chunk_rows}")
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a folder: give the table file in it (.csv, .tsv, .txt or .xlsx)")
    if not path.is_file():
        raise ValueError(f"{path}: file not found")
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        sheets: list[str] = []  # filled when the workbook is opened, before its first row
        rows = xlsx_rows(path, sheets)
        return _chunks(path, enumerate(rows, start=1), rows, "row", header, chunk_rows, sheets)
    lines = text_rows(path, delimiter)
    return _chunks(path, lines, lines, "line", header, chunk_rows, [])


def _chunks(
    path: Path,
    source: Iterator[tuple[int, list[str]]],
    reader: Generator,
    kind: str,
    header: bool,
    chunk_rows: int,
    sheets: list[str],
) -> Iterator[Table]:
    """``iter_table_chunks``' work; the file is closed when the chunks end, fail or are closed."""
    try:
        numbered = ((n, r) for n, r in source if any(c.strip() for c in r))
        first = next(numbered, None)
        if first is None:
            raise ValueError(
                f"{path}: {'the first sheet' if sheets else 'file'} is empty{sheet_note(sheets)}"
            )
        if header:
            head = [c.strip() for c in first[1]]
        else:
            head = [f"col{i}" for i in range(len(first[1]))]
            numbered = itertools.chain([first], numbered)
        # Trailing empty cells (common in spreadsheets) do not count as columns.
        while head and head[-1] == "":
            head.pop()
        chunk, count, place = Table(path, list(head), [], [], tuple(sheets)), 0, file_place(path)
        for lineno, r in numbered:
            cells = [c.strip() for c in r]
            while len(cells) > len(head) and cells[-1] == "":
                cells.pop()
            if len(cells) != len(head):
                raise ValueError(
                    f"{path}:{kind} {lineno}: expected {len(head)} columns ({', '.join(head)}), "
                    f"got {len(cells)}"
                )
            chunk.rows.append(cells)
            chunk.where.append(f"{place}:{kind} {lineno}")
            count += 1
            if len(chunk.rows) == chunk_rows:
                yield chunk
                chunk = Table(path, list(head), [], [], tuple(sheets))
        if chunk.rows:
            yield chunk
        elif not count:
            raise ValueError(
                f"{path}: a header line ({', '.join(head)}) but no rows under it{sheet_note(sheets)}"
            )
    finally:  # not left to the garbage collector: a kept error's traceback would hold the file open
        reader.close()


def read_table(path: str | Path, *, header: bool = True, delimiter: str | None = None) -> Table:
    """Read a .csv/.tsv/.txt (delimiter sniffed unless given) or .xlsx file (first sheet).

    Text is UTF-8 (a byte-order mark is allowed), or UTF-16 with a byte-order mark (Excel's "Unicode
    text" export). Delimiter " " splits on runs of whitespace. A large file can be read a chunk of rows at
    a time with ``iter_table_chunks``, which this reads through.

    Raises:
        ValueError: naming the file (and line) for a missing, empty or undecodable file, a NUL byte, a
            header with no rows under it, or a row whose column count differs from the header's.
    """
    chunks = iter_table_chunks(path, header=header, delimiter=delimiter)
    table = next(chunks)  # there is one: a file without rows raises
    for chunk in chunks:
        table.rows.extend(chunk.rows)
        table.where.extend(chunk.where)
    return table


def read_text(path: str | Path) -> str:
    """The text of a table file: UTF-8 (byte-order mark allowed) or UTF-16 with a byte-order mark.

    Raises:
        ValueError: naming the file: it cannot be read, or the offset of its first byte that is not text
            in that encoding.
    """
    path = Path(path)
    encoding = text_encoding(path)
    try:
        with path.open(encoding=encoding, newline="") as f:
            return f.read()
    except UnicodeDecodeError:
        raise not_text(path, encoding) from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read ({exc.strerror or exc})") from None


def class_key(header: str) -> str:
    """The class a column header (or a class name) spells, canonical when it is a known synonym.

    Tolerant of the spellings seen across copies of one release: case, digits (a label number such as
    "1 Happy", "Happy(1)", "happy_1"), punctuation and whitespace are dropped before the synonym lookup.
    Returns "" for a header with no letters.
    """
    letters = "".join(ch for ch in header.lower() if ch.isalpha())
    return CLASS_SYNONYMS.get(letters, letters)


def names_vote_answer(header: str) -> bool:
    """Whether a column header names a class softfer knows (``CLASS_SYNONYMS``) or an answer that is no
    class (``NON_CLASS_ANSWERS``): a column of votes, whatever classes a reader wants."""
    key = class_key(header)
    return bool(key) and (key in CLASS_SYNONYMS.values() or key in NON_CLASS_ANSWERS)


def check_no_unread_votes(table: Table, read: Iterable[int], classes: Iterable[str]) -> None:
    """Refuse a vote table with a column outside ``read`` whose header names a class or answer
    (``names_vote_answer``): a reader of ``classes`` would drop its votes and renormalise the rest without
    a word (9 contempt votes and 1 happy vote read as a unanimous happy clip).

    Raises:
        ValueError: naming the columns and what to do.
    """
    skip = set(read)
    unread = [h for i, h in enumerate(table.header) if i not in skip and names_vote_answer(h)]
    if unread:
        raise ValueError(
            f"{table.path}: column(s) {', '.join(map(repr, unread))} hold votes outside the classes read "
            f"({', '.join(classes)}), which would be dropped without a word: remove them, or convert the "
            "table with `softfer labels votes` (--other-votes, --classes) and read its output"
        )


def match_class_columns(table: Table, classes: Iterable[str]) -> dict[str, int]:
    """Column index of every wanted class (by its name in ``classes``) whose header names it (``class_key``).

    Raises:
        ValueError: when two columns name the same wanted class (an ambiguous header), naming both.
    """
    wanted = {class_key(c): c for c in classes}
    found: dict[str, int] = {}
    for i, h in enumerate(table.header):
        name = wanted.get(class_key(h)) if class_key(h) else None
        if name is None:
            continue
        if name in found:
            raise ValueError(
                f"{table.path}: columns {table.header[found[name]]!r} and {h!r} both name class {name!r}; "
                "rename one or pass a column map"
            )
        found[name] = i
    return found


def _map_classes(column_map: Mapping[str, str], classes: list[str]) -> dict[str, str]:
    """``column_map`` keyed by the names in ``classes``; a key that names no class (or one named by another
    key) is refused, not ignored: the class would silently take the column its header matches."""
    wanted = {class_key(c): c for c in classes}
    unknown = [k for k in column_map if not class_key(k) or class_key(k) not in wanted]
    if unknown:
        raise ValueError(
            f"column map: {', '.join(map(repr, unknown))} name(s) no class; the classes are "
            f"{', '.join(classes)} (case and synonyms such as 'happiness' are accepted)"
        )
    out: dict[str, str] = {}
    for key, column in column_map.items():
        name = wanted[class_key(key)]
        if name in out:
            raise ValueError(f"column map: two keys name class {name!r}; give one column per class")
        out[name] = column
    return out


def find_class_columns(
    table: Table, classes: Iterable[str], *, column_map: Mapping[str, str] | None = None
) -> list[int]:
    """Column indices holding each class's votes/probabilities, matched by name (tolerantly, ``class_key``).

    Args:
        table: the table.
        classes: canonical class names in the wanted order (e.g. DFEW_CLASSES).
        column_map: optional overrides, class -> column name in the file. The class is named as a header
            names it (``class_key``: "Happy" and "happiness" are "happy"); the column is matched exactly,
            ignoring case and surrounding whitespace.

    Raises:
        ValueError: for a class with no column, two columns naming one class, or a column map whose key
            names no class or a class twice.
    """
    classes = list(classes)
    column_map = _map_classes(column_map or {}, classes)
    matched = match_class_columns(table, [c for c in classes if c not in column_map])
    out, missing = [], []
    for c in classes:
        if c in column_map:
            out.append(table.column(column_map[c]))
        elif c in matched:
            out.append(matched[c])
        else:
            missing.append(c)
    if missing:
        raise ValueError(
            f"{table.path}: no column for class(es) {missing}; {table.columns_text()}. "
            "Name the columns after the classes or pass a column map."
        )
    if len(set(out)) != len(out):
        raise ValueError(f"{table.path}: the column map gives one column to two classes ({column_map})")
    return out


# A cell a spreadsheet opening a CSV reads as a formula: = + - @ first; a number such as -3 is none.
_FORMULA_START = ("=", "+", "-", "@")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def check_no_formulas(cells: Sequence[str], where: Sequence[str], *, what: str) -> None:
    """Refuse a text cell a spreadsheet would run as a formula (``=cmd|' /C calc'!A0``) when it opens a
    CSV that ``write_csv`` wrote, which writes cells as they are; ``where[i]`` names cell i's input row.

    Raises:
        ValueError: naming the first such cell's row.
    """
    for cell, place in zip(cells, where, strict=True):
        if cell.startswith(_FORMULA_START) and not _NUMBER.fullmatch(cell):
            raise ValueError(
                f"{place}: {what} {cell[:40]!r} begins with {cell[0]!r}, which a spreadsheet opening the "
                f"output reads as a formula; rename it (no {what} may begin with = + - @ unless a number)"
            )


def write_csv(path: str | Path, header: Iterable[str], rows: Iterable[Iterable[object]]) -> None:
    """Write a CSV (LF line endings) through a temporary file renamed into place: never half a file."""
    with atomic_write(path, newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(list(header))
        w.writerows(rows)


def parse_numbers(table: Table, columns: list[int], *, what: str) -> list[list[float]]:
    """Parse the given columns of every row as floats; a bad cell raises naming its row."""
    out = []
    for cells, where in zip(table.rows, table.where, strict=True):
        try:
            out.append([float(cells[i]) if cells[i] != "" else float("nan") for i in columns])
        except ValueError as exc:
            raise ValueError(f"{where}: {what} must be numbers, got {[cells[i] for i in columns]}") from exc
    return out
