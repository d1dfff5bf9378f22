"""The bytes of a table file as rows of text cells: the encodings softfer reads (UTF-8, UTF-16 with its
byte-order mark), CSV and whitespace-separated text, and XLSX workbooks (``softfer.io.tables`` reads
through these and keeps every row's place in its file)."""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO


def text_encoding(path: Path) -> str:
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


def not_text(path: Path, encoding: str) -> ValueError:
    """The error for a file that does not decode, naming its first byte that is not text."""
    try:
        bad = _first_bad_byte(path, encoding)
    except OSError:
        bad = None
    at = f" (byte {bad[0]:#04x} at offset {bad[1]})" if bad else ""  # None: the file changed meanwhile
    name = "UTF-16" if encoding == "utf-16" else "UTF-8"
    return ValueError(f"{path}: not {name} text{at}; save the file as UTF-8 text (CSV UTF-8)")


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


def sniff_delimiter(sample: str) -> str:
    """The delimiter of a text table from its first 4 KiB: "," where there is one, else a tab, else ";"
    when the first line holds one (Excel's "CSV" in locales with a decimal comma, whose numbers may hold
    the commas), else " " (runs of whitespace)."""
    first = next((line for line in sample.splitlines() if line.strip()), "")
    if ";" in first and "," not in first and "\t" not in first:
        return ";"
    return "," if "," in sample else ("\t" if "\t" in sample else " ")


def text_rows(path: Path, delimiter: str | None) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of every record of a text table, read as they are taken."""
    encoding = text_encoding(path)
    try:
        with path.open(encoding=encoding, newline="") as f:
            if delimiter is None:
                sample = f.read(4096)
                f.seek(0)
                delimiter = sniff_delimiter(sample)
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
        raise not_text(path, encoding) from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _cell(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def xlsx_rows(path: Path, sheets: list[str]) -> Iterator[list[str]]:
    """The first sheet's rows as text cells; ``sheets`` is given the workbook's sheet names, in order, when
    it is opened (only the first is read: errors name the others). The workbook stays open until the rows
    end or are closed."""
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several unrelated types for broken files
        raise ValueError(f"{path}: not a readable .xlsx workbook ({exc})") from exc
    try:
        sheets[:] = [ws.title for ws in wb.worksheets]  # chart sheets hold no rows
        if not sheets:
            raise ValueError(f"{path}: the workbook has no worksheet")
        for row in wb.worksheets[0].iter_rows(values_only=True):
            yield [_cell(v) for v in row]
    finally:
        wb.close()
