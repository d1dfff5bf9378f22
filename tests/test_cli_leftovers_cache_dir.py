"""`softfer data inspect ferplus ROOT --cache-dir DIR`: FER2013's faces from fer2013.csv go where a run with
``data.cache_dir: DIR`` reads them, and that run reuses them as they are; DIR is refused by training's rule
for data.cache_dir (never inside the data, never a file), and every refusal or advice names the option the
command has (``--cache-dir``), never data.cache_dir, which `data inspect` does not read.

Before, inspect took no such option: its cache landed in the per-user folder only, and its advice said to
set data.cache_dir. Expected folders are written out from the documented layout (docs/DATASETS.md:
``DIR/fer2013_png/<hash of fer2013.csv>/NNNNNN.png``), not taken from the code under test.
"""

import hashlib
from pathlib import Path

import pytest

from softfer.cli import main
from softfer.data.formats import fer2013_faces, ferplus
from tests.data.test_ferplus import write_csv_layout, write_folder_layout


def tree(folder: Path) -> dict[str, tuple[int, int, int]]:
    """Every file and folder below ``folder`` (and itself) -> (size, mtime_ns, inode): a rebuild, a write
    or a replaced folder anywhere shows."""
    out = {}
    for path in [folder, *sorted(folder.rglob("*"))]:
        st = path.lstat()
        out[str(path.relative_to(folder))] = (st.st_size if path.is_file() else 0, st.st_mtime_ns, st.st_ino)
    return out


def csv_key(path: Path) -> str:
    """The documented key of a face folder: a hash of fer2013.csv's bytes (blake2b, 8 bytes)."""
    return hashlib.blake2b(path.read_bytes(), digest_size=8).hexdigest()


@pytest.fixture
def data(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    root = tmp_path / "FERPlus"
    write_csv_layout(root)  # 11 faces, 4 training faces with 8 classes
    return root


def test_inspect_builds_the_cache_a_run_with_the_same_data_cache_dir_reuses_unchanged(
    data, tmp_path, monkeypatch, capsys
):
    cache = tmp_path / "lab-cache"
    data_before = tree(data)
    assert main(["data", "inspect", "ferplus", str(data), "--cache-dir", str(cache)]) == 0
    faces = cache / "fer2013_png" / csv_key(data / "fer2013.csv")
    assert sorted(p.name for p in faces.glob("*.png")) == [f"{i:06d}.png" for i in range(11)]
    assert f"FER2013's faces (fer2013.csv) as PNG files in {faces}" in capsys.readouterr().out
    assert tree(data) == data_before and not (tmp_path / "xdg").exists()
    built = tree(cache)

    def never(*args, **kwargs):
        raise AssertionError("the faces were written again")

    read_from = []

    def recorded(*args, **kwargs):  # the folder the run's reader is given
        folder, usage = fer2013_faces.face_cache(*args, **kwargs)
        read_from.append(folder)
        return folder, usage

    monkeypatch.setattr(fer2013_faces, "_write_faces", never)
    monkeypatch.setattr(ferplus, "face_cache", recorded)
    run = tmp_path / "run"
    (tmp_path / "c.yaml").write_text(
        f"""name: ferplus-cache
data: {{format: ferplus, root: {data}, num_classes: 8, size: 48, val_fraction: 0.0, num_workers: 0,
        cache_dir: {cache}}}
model: {{name: fer_mini_xception}}
labels: {{target: soft, mixing: none}}
optim: {{epochs: 1, batch_size: 2}}
run: {{out_dir: {run}, progress: false}}
"""
    )
    assert main(["train", str(tmp_path / "c.yaml")]) == 0
    assert read_from and set(read_from) == {faces}  # the folder inspect built (train and test splits)
    assert tree(cache) == built  # not rebuilt: every file and folder as inspect left it
    assert not (tmp_path / "xdg").exists() and tree(data) == data_before
    assert (run / "metrics.json").is_file()
    # and inspect again, on the cache the run used, reads it as it is too
    assert main(["data", "inspect", "ferplus", str(data), "--cache-dir", str(cache)]) == 0
    assert tree(cache) == built


def test_a_cache_dir_inside_the_data_or_on_a_file_is_refused_naming_the_option(data, tmp_path, capsys):
    before = tree(data)
    assert main(["data", "inspect", "ferplus", str(data), "--cache-dir", str(data / "cache")]) == 2
    err = capsys.readouterr().err
    assert "--cache-dir" in err and "FERPlus" in err and "data.cache_dir" not in err, err
    assert main(["data", "inspect", "ferplus", str(data), "--cache-dir", str(data)]) == 2
    assert "--cache-dir" in capsys.readouterr().err
    (tmp_path / "a-file").write_text("not a folder")
    assert main(["data", "inspect", "ferplus", str(data), "--cache-dir", str(tmp_path / "a-file")]) == 2
    err = capsys.readouterr().err
    assert "a-file exists and is not a folder" in err and "--cache-dir" in err, err
    assert tree(data) == before and not (tmp_path / "xdg").exists()


def test_the_per_user_caches_advice_names_the_option_inspect_has(data, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(data / "xdg"))  # the per-user cache inside the data
    assert main(["data", "inspect", "ferplus", str(data)]) == 2
    err = capsys.readouterr().err
    assert "--cache-dir (or XDG_CACHE_HOME)" in err and "data.cache_dir" not in err, err
    assert not (data / "xdg").exists()

    def homeless(cls):
        raise RuntimeError("no home")

    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setattr(Path, "home", classmethod(homeless))
    assert main(["data", "inspect", "ferplus", str(data)]) == 2
    err = capsys.readouterr().err
    assert "set --cache-dir, or XDG_CACHE_HOME" in err and "data.cache_dir" not in err, err


def test_training_still_names_data_cache_dir(data, monkeypatch):
    """The option's name is inspect's alone: a config's reader keeps naming its setting."""
    from softfer.config import DataConfig
    from softfer.engine.data import read_records

    monkeypatch.setenv("XDG_CACHE_HOME", str(data / "xdg"))
    config = DataConfig(format="ferplus", root=str(data), num_classes=8)
    with pytest.raises(ValueError, match=r"choose another data\.cache_dir \(or XDG_CACHE_HOME\)"):
        read_records(config, "train")


def test_cache_dir_is_refused_for_a_format_inspect_writes_no_cache_for(tiny_dfew, tmp_path, capsys):
    assert main(["data", "inspect", "dfew", str(tiny_dfew), "--cache-dir", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert "--cache-dir" in err and "ferplus format only" in err, err
    assert not (tmp_path / "c").exists()


def test_a_tilde_in_cache_dir_is_the_home_folder_as_in_data_cache_dir(data, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    assert main(["data", "inspect", "ferplus", str(data), "--cache-dir=~/faces"]) == 0
    assert (tmp_path / "home" / "faces" / "fer2013_png" / csv_key(data / "fer2013.csv")).is_dir()
    assert not (tmp_path / "~").exists()


def test_the_ferplus_folders_layout_says_it_does_not_use_the_cache_dir(tmp_path, capsys):
    root = tmp_path / "FERPlus"
    write_folder_layout(root)  # the FER+ repository's PNG folders: nothing to convert
    assert main(["data", "inspect", "ferplus", str(root), "--cache-dir", str(tmp_path / "c")]) == 0
    assert "--cache-dir: not used (the FER+ folders hold the faces as PNG files)" in capsys.readouterr().out
    assert not (tmp_path / "c").exists()
