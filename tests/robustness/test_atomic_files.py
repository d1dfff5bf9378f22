"""Issue 14: a write that fails half-way (a full disk) leaves the old file whole and says which file."""

import errno

import pytest
import torch

from softfer.cli import main
from softfer.inference.checkpoint import save_checkpoint
from softfer.io import files
from softfer.io.files import atomic_write, write_text_atomic


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


class _FullDisk:
    """A file that takes ``room`` bytes, then fails as a full disk does."""

    def __init__(self, f, room: int) -> None:
        self._f, self._room = f, room

    def write(self, data) -> int:
        if self._f.tell() + len(data) > self._room:
            raise OSError(errno.ENOSPC, "No space left on device")
        return self._f.write(data)

    def __getattr__(self, name):
        return getattr(self._f, name)


def test_a_full_disk_during_a_checkpoint_save_names_the_checkpoint(tmp_path, monkeypatch):
    # torch turns the OSError of the file into "[enforce fail at inline_container.cc...] unexpected pos"
    real_save = torch.save
    monkeypatch.setattr(torch, "save", lambda obj, f: real_save(obj, _FullDisk(f, room=200)))
    target = tmp_path / "last.pt"
    with pytest.raises(OSError, match=r"No space left on device while writing: '.*last\.pt'") as err:
        save_checkpoint({"model": {"w": torch.zeros(1000)}}, target)
    assert err.value.errno == errno.ENOSPC and "enforce fail" not in str(err.value)
    assert list(tmp_path.iterdir()) == []  # no checkpoint, no temporary file


def test_a_torch_write_error_without_its_cause_still_names_the_checkpoint(tmp_path, monkeypatch):
    def failed_write(obj, f):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 228 vs 0")

    monkeypatch.setattr(torch, "save", failed_write)
    target = tmp_path / "best.pt"
    target.write_bytes(b"the previous checkpoint")
    with pytest.raises(OSError, match=r"torch could not write the file .*inline_container.* '.*best\.pt'"):
        save_checkpoint({"model": {}}, target)
    assert target.read_bytes() == b"the previous checkpoint"
    assert [p.name for p in tmp_path.iterdir()] == ["best.pt"]


def test_a_staged_folder_is_removed_when_its_block_fails_and_replaces_a_reused_pids_leftover(tmp_path):
    final = tmp_path / "data"
    leftover = files.staging_path(final)  # this process's id: an earlier process's, the id reused since
    leftover.mkdir()
    (leftover / "old.txt").write_text("half")
    with files.staged_folder(final) as tmp:
        assert tmp == leftover and list(tmp.iterdir()) == []
        (tmp / "new.txt").write_text("whole")
        tmp.rename(final)
    assert [p.name for p in tmp_path.iterdir()] == ["data"]
    with pytest.raises(RuntimeError, match="broke"):
        with files.staged_folder(tmp_path / "other") as tmp:
            (tmp / "a.txt").write_text("a")
            raise RuntimeError("broke")
    assert [p.name for p in tmp_path.iterdir()] == ["data"]


def test_a_dot_dot_in_the_path_creates_no_folder_on_the_way(tmp_path):
    """Found (audit U9): `--out DIR/x.csv/../y.csv` made a folder x.csv before writing y.csv."""
    write_text_atomic(tmp_path / "x.csv" / ".." / "y.csv", "written")
    assert (tmp_path / "y.csv").read_text() == "written"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["y.csv"]
