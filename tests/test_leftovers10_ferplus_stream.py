"""Leftover 10, 4: `softfer synth ferplus` held every rendered face (pixels, and each row's text) until it
wrote, about 12 KB a row: a large --images that fits on the disk could exhaust memory. The faces are now
rendered and written ``CHUNK_FACES`` at a time (a first pass draws only each face's votes, by which Usage
is stratified), with the same bytes as the set held whole gave."""

import hashlib
import weakref
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

import softfer.data.synthetic.ferplus as ferplus
from softfer.data.synthetic.ferplus import generate_ferplus, render_faces
from softfer.data.synthetic.generate import iter_run

# The tree of 30 rows, seed 0, as the implementation that held every face wrote it (commit a8c55e2):
# sha256 over each file's path and sha256, in path order.
HELD_WHOLE_30 = "5f595cbe3e8a013a109bf6f422978d6a183fe496f2f7f614eaa5a666a31cde7d"


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(
            str(path.relative_to(root)).encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest()
        )
    return digest.hexdigest()


def test_faces_are_held_a_chunk_at_a_time_not_the_whole_set(tmp_path, monkeypatch):
    monkeypatch.setattr(ferplus, "CHUNK_FACES", 7)
    alive: set[int] = set()
    most = [0]

    @dataclass
    class Counted(ferplus.Face):  # every rendered face, counted while it lives
        def __post_init__(self) -> None:
            alive.add(id(self))
            weakref.finalize(self, alive.discard, id(self))
            most[0] = max(most[0], len(alive))

    monkeypatch.setattr(ferplus, "Face", Counted)
    written = generate_ferplus(tmp_path / "fer", images=40, seed=0, workers=1)
    assert len(written) == 40 and (tmp_path / "fer" / "fer2013.csv").read_text().count("\n") == 41
    assert 1 <= most[0] <= 7  # the set held whole: 40


def test_the_workers_are_handed_a_window_of_jobs_at_a_time():
    drawn: list[int] = []

    def jobs():
        for i in range(23):
            drawn.append(i)
            yield -i

    ahead = []
    for k, result in enumerate(iter_run(abs, jobs(), 2, None, 5)):
        assert result == k  # in order
        ahead.append(len(drawn) - k)
    assert len(drawn) == 23 and max(ahead) <= 5


def test_the_files_are_the_bytes_the_set_held_whole_gave_whatever_the_chunk_and_workers(
    tmp_path, monkeypatch
):
    generate_ferplus(tmp_path / "one", images=30, seed=0, workers=1)
    assert tree_digest(tmp_path / "one") == HELD_WHOLE_30
    monkeypatch.setattr(ferplus, "CHUNK_FACES", 4)
    generate_ferplus(tmp_path / "two", images=30, seed=0, workers=2)
    assert tree_digest(tmp_path / "two") == HELD_WHOLE_30


def test_a_face_drawn_again_is_the_face_written(tmp_path):
    written = generate_ferplus(tmp_path / "fer", images=20, seed=3, workers=1)
    rows = (tmp_path / "fer" / "fer2013new.csv").read_text().splitlines()[1:]
    named = [(i, row.split(",")[1]) for i, row in enumerate(rows) if row.split(",")[1]]
    for (i, name), face in zip(named[:5], render_faces([i for i, _ in named[:5]], 3), strict=True):
        [png] = (tmp_path / "fer" / "images").glob(f"*/{name}")
        np.testing.assert_array_equal(cv2.imread(str(png), cv2.IMREAD_UNCHANGED), face.pixels)
        assert int(face.votes.argmax()) == written.majority[i]
