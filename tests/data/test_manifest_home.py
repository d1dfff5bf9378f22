"""A manifest row naming ``~/x.mp4`` (earlier notes: "~ in manifest rows"): config paths expand ``~``, a
manifest's rows are relative to its folder, so such a row is refused naming the file, the row and what to
write instead; read literally it was skipped as missing media within ``data.max_skip``, unseen."""

import json

import pytest

from softfer.data.formats import read_manifest
from softfer.io.tables import file_place
from tests.data.test_formats import _frames


@pytest.mark.parametrize("text", ["~/x.mp4", "~", "~alice/clips/a", " ~/x.mp4"])
def test_a_manifest_path_starting_with_a_tilde_is_refused_naming_file_and_row(tmp_path, text):
    _frames(tmp_path / "clips" / "a", n=2, size=8)
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"path,label\nclips/a,Sad\n{text},Happy\n")
    with pytest.raises(ValueError) as err:
        read_manifest(manifest, max_skip=0.9)  # a skip within max_skip is what went unseen before
    msg = str(err.value)  # the CSV reader strips cells: " ~/x.mp4" is shown as read
    assert msg.startswith(
        f"{file_place(manifest)}:line 3: path {text.strip()!r} starts with '~', which a dataset file does not"
    )
    assert f"relative to {tmp_path};" in msg and "'./~...'" in msg


def test_a_tilde_in_a_jsonl_manifest_is_refused_with_allow_outside_root_too(tmp_path):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"path": "~/x.mp4", "label": 0}) + "\n")
    with pytest.raises(ValueError, match=r"m\.jsonl:line 1: path '~/x\.mp4' starts with '~'"):
        read_manifest(manifest, allow_outside_root=True)


def test_a_folder_really_named_tilde_is_read_as_dot_slash_tilde(tmp_path):
    _frames(tmp_path / "~" / "a", n=2, size=8)
    _frames(tmp_path / "b~", n=2, size=8)  # a ~ later in the name is an ordinary character
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label\n./~/a,Happy\nb~,Sad\n")
    records = read_manifest(manifest, max_skip=0)
    assert [r.path for r in records] == [tmp_path / "~" / "a", tmp_path / "b~"]
    assert [len(r.frames) for r in records] == [2, 2]


def test_every_dataset_file_refuses_a_path_starting_with_a_tilde(tmp_path):
    """Review: the refusal sat in the manifest reader only; a Former-DFER list row ``~/x`` was still read as
    a folder named ``~`` and skipped as missing. It now lives in the one path check all readers use."""
    from softfer.data.records import dataset_path

    with pytest.raises(ValueError, match=r"list\.txt:line 2: path '~/clip' starts with '~'"):
        dataset_path(tmp_path, "~/clip", root=tmp_path, where="list.txt:line 2")
    assert dataset_path(tmp_path, "./~/clip", root=tmp_path, where="x") == tmp_path / "~" / "clip"
