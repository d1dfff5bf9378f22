"""FER2013's fer2013.csv read into PNG faces a chunk of rows at a time (softfer.data.formats.fer2013_faces).

Read whole, the 287 MB file of 35,887 faces took 1.8 GB; the promise held here is that reading holds a few
rows of it, not the file, and that the faces, Usage and error lines are those of the file row by row."""

import csv
import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import pandas  # noqa: F401  # imported before the measure below: it measures reading, not importing pandas
import pytest

from softfer.data.formats import fer2013_faces
from softfer.data.formats.fer2013_faces import face_cache
from tests.data.test_ferplus import face

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
