"""FER2013's fer2013.csv read into PNG faces a chunk of rows at a time (softfer.data.formats.fer2013_faces).

Read whole, the 287 MB file of 35,887 faces took 1.8 GB; the promise held here is that reading holds a few
rows of it, not the file, and that the faces, Usage and error lines are those of the file row by row."""

import csv
import re
import sys
import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from softfer.data.formats import fer2013_faces
from softfer.data.formats.fer2013_faces import face_cache
from softfer.io.tables import read_table
from tests.data.test_ferplus import face
from tests.robustness.test_data_fuzz import FUZZ

USAGES = ("Training", "PublicTest", "PrivateTest")


def _fer2013_csv(path: Path, n: int) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["emotion", "pixels", "Usage"])
        for i in range(n):
            w.writerow([i % 7, " ".join(map(str, face(i).ravel())), USAGES[i % 3]])


def test_fer2013_csv_is_read_a_chunk_at_a_time_not_held_whole(tmp_path, monkeypatch):
    path = tmp_path / "fer2013.csv"
    _fer2013_csv(path, 900)
    monkeypatch.setattr(fer2013_faces, "CHUNK_ROWS", 25)
    # pathlib interns each file name it is given; held here, the names are found, not added: adding 900
    # can grow the interpreter's table of interned strings (7.5 MB in a process that imported torch)
    names = [sys.intern(f"{i:06d}.png") for i in range(900)]  # noqa: F841
    tracemalloc.start()
    try:
        folder, usage = face_cache(path, tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # 7.4 MB of text: read whole it took 6 times that (bytes, text, a UCS-4 copy, every row's cells); now
    # ~2 MB: the file's hash (1 MB blocks) and a chunk of 25 rows (~0.2 MB)
    size = path.stat().st_size
    assert peak < size / 2, f"peak {peak / 1e6:.1f} MB reading a {size / 1e6:.1f} MB file"
    assert usage == [USAGES[i % 3] for i in range(900)]
    for i in (0, 24, 25, 449, 899):  # chunk edges included
        np.testing.assert_array_equal(cv2.imread(str(folder / f"{i:06d}.png"), cv2.IMREAD_UNCHANGED), face(i))


def test_blank_lines_are_skipped_and_counted_in_the_line_an_error_names(tmp_path, monkeypatch):
    path = tmp_path / "fer2013.csv"
    _fer2013_csv(path, 6)
    lines = path.read_text().splitlines()
    monkeypatch.setattr(fer2013_faces, "CHUNK_ROWS", 2)
    path.write_text("\n".join([*lines[:3], "", "  ", *lines[3:]]) + "\n\n")
    folder, usage = face_cache(path, tmp_path / "a")
    assert usage == [USAGES[i % 3] for i in range(6)]
    np.testing.assert_array_equal(cv2.imread(str(folder / "000002.png"), cv2.IMREAD_UNCHANGED), face(2))
    lines[5] = lines[5].replace(",", ",256 ", 1)  # row 4's face: a value above 255, now on line 8
    path.write_text("\n".join([*lines[:3], "", "  ", *lines[3:]]) + "\n")
    with pytest.raises(ValueError, match=r"fer2013.csv:line 8: pixels must be 2304 integers 0..255"):
        face_cache(path, tmp_path / "b")


def _face_row(i: int) -> str:
    return f"{i % 7},{' '.join(map(str, face(i).ravel()))},{USAGES[i % 3]}"


FER_TEXT = "\n".join(["emotion,pixels,Usage", *map(_face_row, range(5))]) + "\n"
# (file bytes, what read_table does with them: None = reads them, else the error it raises, written out)
QUIRKS = {
    "trailing empty cells": (
        FER_TEXT.replace("Usage\n", "Usage,\n").replace("Training\n", "Training,,\n").encode(),
        None,
    ),
    "CRLF line ends": (FER_TEXT.replace("\n", "\r\n").encode(), None),
    "UTF-8 byte-order mark": (FER_TEXT.encode("utf-8-sig"), None),
    "UTF-16 with its byte-order mark": (FER_TEXT.encode("utf-16"), None),
    "UTF-16 without its byte-order mark": (FER_TEXT.encode("utf-16-le"), r"fer2013\.csv:line 1: a NUL byte"),
    "a NUL byte in row 3": (
        FER_TEXT.replace(",PrivateTest", ",Private\0Test", 1).encode(),
        r":line 4: a NUL",
    ),
    "a Latin-1 byte": (FER_TEXT.replace("PublicTest", "Publicé").encode("latin-1"), r"not UTF-8 text"),
    "a cell past the header": (FER_TEXT.replace("Training\n", "Training,x\n", 1).encode(), r"expected 3"),
    "a header and no rows": (b"emotion,pixels,Usage\n\n", r"a header line \(emotion, pixels, Usage\) but no"),
    "an empty file": (b" \n", r"fer2013\.csv: file is empty"),
}


@pytest.mark.parametrize("quirk", QUIRKS)
def test_fer2013_csv_reads_every_quirk_as_read_table_does(tmp_path, monkeypatch, quirk):
    """fer2013.csv is a table like any other: what read_table accepts is read (the same rows), what it
    refuses is refused with read_table's message."""
    data, refusal = QUIRKS[quirk]
    path = tmp_path / "fer2013.csv"
    path.write_bytes(data)
    monkeypatch.setattr(fer2013_faces, "CHUNK_ROWS", 2)  # several chunks: an error past the first one
    if refusal is None:
        table = read_table(path, delimiter=",")
        folder, usage = face_cache(path, tmp_path)
        assert usage == table.values("Usage") == [USAGES[i % 3] for i in range(5)]
        for i in range(5):
            np.testing.assert_array_equal(cv2.imread(str(folder / f"{i:06d}.png"), 0), face(i))
        return
    with pytest.raises(ValueError, match=refusal) as theirs:
        read_table(path, delimiter=",")
    with pytest.raises(ValueError) as ours:
        face_cache(path, tmp_path)
    assert str(ours.value) == str(theirs.value)


CELL = st.text(alphabet=' 0123456789,"\né表', max_size=12)
ROW = st.tuples(
    st.integers(0, 6),  # emotion, never blank: no generated row is a blank one
    CELL,  # pixels (any text here: these tests read the cells, they do not decode faces)
    st.one_of(st.sampled_from(USAGES), CELL),
    st.integers(0, 2),  # trailing empty cells
    st.integers(0, 2),  # blank lines before the row
)


@FUZZ
@given(
    rows=st.lists(ROW, min_size=1, max_size=9),
    ending=st.sampled_from(["\n", "\r\n", "\r"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]),
    padded_header=st.booleans(),
    chunk=st.integers(1, 3),
)
def test_fer2013_rows_read_in_chunks_are_the_rows_of_the_file(
    tmp_path_factory, rows, ending, encoding, padded_header, chunk
):
    """Every chunk size gives each row's cells (stripped, trailing empty cells dropped) and its line (the
    last line of a row with a quoted line break), counted here from the text as written."""

    def record(cells: list[str]) -> str:  # RFC 4180: a cell with a separator, quote or line break quoted
        quoted = ['"' + c.replace('"', '""') + '"' if re.search(r'[,"\r\n]', c) else c for c in cells]
        return ",".join(quoted) + ending

    text = record(["emotion", "pixels", "Usage", *[""] * padded_header])
    expected = []
    path = tmp_path_factory.mktemp("fer") / "fer2013.csv"
    for emotion, pixels, usage, empties, blanks in rows:
        text += (" " + ending) * blanks + record([f" {emotion}", pixels, usage, *["  "] * empties])
        line = len(re.findall(r"\r\n|\r|\n", text))  # the row's own line ending included
        where = f"{path.parent.name}/fer2013.csv:line {line}"
        expected.append((where, [str(emotion), pixels.strip(), usage.strip()]))
    path.write_bytes(text.encode(encoding))
    fer2013_faces.CHUNK_ROWS, before = chunk, fer2013_faces.CHUNK_ROWS  # no monkeypatch: one per example
    try:
        got = list(fer2013_faces._fer_rows(path))
    finally:
        fer2013_faces.CHUNK_ROWS = before
    assert got == expected
    table = read_table(path, delimiter=",")
    assert got == list(zip(table.where, table.rows, strict=True))
