"""Issue 14: a write that fails half-way (a full disk) leaves the old file whole and says which file."""

import errno

import pytest

from softfer.cli import main
from softfer.io import files
from softfer.io.files import atomic_write


def test_a_full_disk_leaves_the_old_file_and_names_the_destination(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text('{"uar": 0.5}')
    with pytest.raises(OSError, match=r"No space left on device while writing: '.*metrics\.json'") as err:
        with atomic_write(target) as f:
            f.write('{"uar": 0.')
            raise OSError(errno.ENOSPC, "No space left on device")  # as f.write/flush raise it
    assert err.value.errno == errno.ENOSPC
    assert target.read_text() == '{"uar": 0.5}'
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # no temporary file left


def test_a_full_disk_in_a_command_is_one_line_and_exit_1(tmp_path, monkeypatch, capsys):
    votes = tmp_path / "votes.csv"
    votes.write_text("clip,happy,sad,neutral,angry,surprise,disgust,fear\na,3,1,0,0,0,0,0\nb,0,4,0,0,0,0,0\n")

    def full_disk(fd):  # the kernel reports a full disk when the data reaches it
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", full_disk)
    assert main(["labels", "votes", str(votes), "--out", str(tmp_path / "out.csv")]) == 1
    err = capsys.readouterr().err.strip()
    assert (
        err == f"softfer: error: [Errno 28] No space left on device while writing: '{tmp_path / 'out.csv'}'"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["votes.csv"]
