"""Reading the tabular files that datasets ship (CSV, space-separated lists, XLSX) with row provenance.

Every row keeps a human-readable location ("annotation.xlsx:row 12") so that errors can name it.
"""

from __future__ import annotations

import codecs
import csv
import itertools
from collections.abc import Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from softfer.io.files import atomic_write

# Spellings seen in FER annotation files, mapped to softfer's canonical class names.
CLASS_SYNONYMS: dict[str, str] = {
    "happiness": "happy",
    "happy": "happy",
    "sadness": "sad",
    "sad": "sad",
    "neutral": "neutral",
    "anger": "angry",
    "angry": "angry",
    "surprise": "surprise",
    "surprised": "surprise",
    "disgust": "disgust",
    "disgusted": "disgust",
    "fear": "fear",
    "fearful": "fear",
    "contempt": "contempt",
}
# Vote columns of answers that are no class: FER+'s "unknown" and "NF" (not a face), AffectNet's codes
# 8-10 (none, uncertain, no face). A table holding one holds votes a reader must not silently drop.
NON_CLASS_ANSWERS: frozenset[str] = frozenset({"unknown", "nf", "notaface", "noface", "none", "uncertain"})


@dataclass
class Table:
    """A header and string rows; ``where[i]`` names row i in its file for error messages."""

    path: Path
    header: list[str]
    rows: list[list[str]]
    where: list[str]

    def column(self, name: str) -> int:
        """Index of a column by (case-insensitive, whitespace-trimmed) name."""
        wanted = name.strip().lower()
        for i, h in enumerate(self.header):
            if h.strip().lower() == wanted:
                return i
        raise ValueError(f"{self.path}: no column named {name!r}; columns are {self.header}")

    def has_column(self, name: str) -> bool:
        return any(h.strip().lower() == name.strip().lower() for h in self.header)

    def values(self, name: str) -> list[str]:
        i = self.column(name)
        return [r[i] for r in self.rows]


def _cell(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


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
        sheet = _read_xlsx(path)
        return _chunks(path, enumerate(sheet, start=1), sheet, "row", header, chunk_rows)
    lines = _read_text_rows(path, delimiter)
    return _chunks(path, lines, lines, "line", header, chunk_rows)


def _chunks(
    path: Path,
    source: Iterator[tuple[int, list[str]]],
    reader: Generator,
    kind: str,
    header: bool,
    chunk_rows: int,
) -> Iterator[Table]:
    """``iter_table_chunks``' work; the file is closed when the chunks end, fail or are closed."""
    try:
        numbered = ((n, r) for n, r in source if any(c.strip() for c in r))
        first = next(numbered, None)
        if first is None:
            raise ValueError(f"{path}: file is empty")
        if header:
            head = [c.strip() for c in first[1]]
        else:
            head = [f"col{i}" for i in range(len(first[1]))]
            numbered = itertools.chain([first], numbered)
        # Trailing empty cells (common in spreadsheets) do not count as columns.
        while head and head[-1] == "":
            head.pop()
        chunk, count = Table(path, list(head), [], []), 0
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
            chunk.where.append(f"{path.name}:{kind} {lineno}")
            count += 1
            if len(chunk.rows) == chunk_rows:
                yield chunk
                chunk = Table(path, list(head), [], [])
        if chunk.rows:
            yield chunk
        elif not count:
            raise ValueError(f"{path}: a header line ({', '.join(head)}) but no rows under it")
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


def _text_encoding(path: Path) -> str:
    """UTF-16 when the file starts with its byte-order mark, else UTF-8 (a byte-order mark allowed)."""
    try:
        with path.open("rb") as f:
            start = f.read(2)
    except OSError as exc:
        raise ValueError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return "utf-16" if start in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"


def _first_bad_byte(path: Path, encoding: str) -> tuple[int, int] | None:
    """(byte, its offset in the file) of the first byte of ``path`` that is not ``encoding`` text, or None;
    decoded a block at a time, as the readers read."""
    decoder = codecs.getincrementaldecoder("utf-8" if encoding == "utf-8-sig" else encoding)()
    with path.open("rb") as f:
        offset = 3 if encoding == "utf-8-sig" and f.read(3) == codecs.BOM_UTF8 else 0
        f.seek(offset)
        while True:
            block = f.read(1 << 20)
            start = offset - len(decoder.getstate()[0])  # file offset of the bytes the decoder is given
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                return exc.object[exc.start], start + exc.start
            if not block:
                return None
            offset += len(block)


def _not_text(path: Path, encoding: str) -> ValueError:
    """The error for a file that does not decode, naming its first byte that is not text."""
    try:
        bad = _first_bad_byte(path, encoding)
    except OSError:
        bad = None
    at = f" (byte {bad[0]:#04x} at offset {bad[1]})" if bad else ""  # None: the file changed meanwhile
    name = "UTF-16" if encoding == "utf-16" else "UTF-8"
    return ValueError(f"{path}: not {name} text{at}; save the file as UTF-8 text (CSV UTF-8)")


def read_text(path: str | Path) -> str:
    """The text of a table file: UTF-8 (byte-order mark allowed) or UTF-16 with a byte-order mark.

    Raises:
        ValueError: naming the file: it cannot be read, or the offset of its first byte that is not text
            in that encoding.
    """
    path = Path(path)
    encoding = _text_encoding(path)
    try:
        with path.open(encoding=encoding, newline="") as f:
            return f.read()
    except UnicodeDecodeError:
        raise _not_text(path, encoding) from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _lines(f: TextIO, path: Path) -> Iterator[str]:
    """The lines of a text table (split at \\n, \\r\\n or \\r, endings kept, as csv wants them), refusing a
    NUL: UTF-16 text without its byte-order mark reads as UTF-8 with a NUL in every other byte."""
    for lineno, line in enumerate(f, start=1):
        if "\x00" in line:
            raise ValueError(
                f"{path}:line {lineno}: a NUL byte: not a UTF-8 text table (UTF-16 text needs its "
                "byte-order mark); save the file as UTF-8 text (CSV UTF-8)"
            )
        yield line


def _read_text_rows(path: Path, delimiter: str | None) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of every record of a text table, read as they are taken."""
    encoding = _text_encoding(path)
    try:
        with path.open(encoding=encoding, newline="") as f:
            if delimiter is None:
                sample = f.read(4096)
                f.seek(0)
                delimiter = "," if "," in sample else ("\t" if "\t" in sample else " ")
            if delimiter == " ":
                for lineno, line in enumerate(_lines(f, path), start=1):
                    yield lineno, line.split()
                return
            reader = csv.reader(_lines(f, path), delimiter=delimiter)
            try:
                for cells in reader:
                    yield reader.line_num, cells
            except csv.Error as exc:
                raise ValueError(f"{path}:line {reader.line_num}: not a readable CSV row ({exc})") from None
    except UnicodeDecodeError:
        raise _not_text(path, encoding) from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _read_xlsx(path: Path) -> Iterator[list[str]]:
    """The first sheet's rows as text cells; the workbook stays open until the rows end or are closed."""
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several unrelated types for broken files
        raise ValueError(f"{path}: not a readable .xlsx workbook ({exc})") from exc
    try:
        sheet = wb.worksheets[0]
        for row in sheet.iter_rows(values_only=True):
            yield [_cell(v) for v in row]
    finally:
        wb.close()


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
            f"{table.path}: no column for class(es) {missing}; columns are {table.header}. "
            "Name the columns after the classes or pass a column map."
        )
    if len(set(out)) != len(out):
        raise ValueError(f"{table.path}: the column map gives one column to two classes ({column_map})")
    return out


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
