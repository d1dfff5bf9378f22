"""Every reader of a vote table refuses a vote column it does not read (found by audit: contempt, unknown and
NF votes were dropped and the rest renormalised, in `labels votes`, manifests and soft-label files)."""

import cv2
import numpy as np
import pytest

from softfer.classes import DFEW_CLASSES
from softfer.data.formats.dfew import read_votes
from softfer.data.formats.ferv39k import read_soft_labels
from softfer.data.formats.manifest import read_manifest

VOTES = "1,0,0,0,0,0,0"  # one vote for DFEW's first class


def _clip(folder):
    (folder / "clip1").mkdir()
    cv2.imwrite(str(folder / "clip1" / "00001.jpg"), np.full((8, 8, 3), 128, np.uint8))


def _table(path, key, extra_header, extra_value):
    clip = "1" if key == "video_name" else "clip1"  # DFEW names its clips by number
    path.write_text(f"{key},{','.join(DFEW_CLASSES)}{extra_header}\n{clip},{VOTES}{extra_value}\n")
    return path


@pytest.mark.parametrize("extra", ["contempt", "unknown", "NF", "Not a face"])
def test_a_vote_column_no_reader_reads_is_refused_by_every_reader(tmp_path, extra):
    _clip(tmp_path)
    readers = {
        "dfew votes": (lambda p: read_votes(p), "video_name"),
        "ferv39k soft labels": (lambda p: read_soft_labels(p), "clip"),
        "manifest": (lambda p: read_manifest(p), "path"),
    }
    for name, (read, key) in readers.items():
        path = _table(tmp_path / f"{name.replace(' ', '_')}.csv", key, f",{extra}", ",9")
        with pytest.raises(ValueError, match=rf"column\(s\) '{extra}' hold votes outside the classes read"):
            read(path)
        path = _table(path, key, "", "")  # without it: read, one vote for the first class
        if name != "manifest":
            (votes,) = read(path).values()
            np.testing.assert_array_equal(votes, [1, 0, 0, 0, 0, 0, 0])


def test_columns_that_hold_no_votes_are_read_past(tmp_path):
    """A manifest's label, fold, split, valence and arousal columns name no class: nothing is refused."""
    _clip(tmp_path)
    path = tmp_path / "m.csv"
    path.write_text(
        f"path,{','.join(DFEW_CLASSES)},label,fold,split,valence,arousal\nclip1,{VOTES},0,1,train,0.1,0.2\n"
    )
    (record,) = read_manifest(path)
    assert record.label == 0
