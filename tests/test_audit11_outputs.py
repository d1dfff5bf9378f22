"""Audit 11, G1 and G3: the output rule's inputs hold the media a manifest (or a Former-DFER list) names, so
no evaluation, calibrated copy, run or cache lands in one of its clip folders (its figures became frames of
that clip); and `calibrate --overwrite` replaces only a calibrated copy, never a run's resume checkpoint."""

import pytest

from softfer.cli import main
from softfer.config import ExperimentConfig
from softfer.engine.data import config_inputs
from softfer.io.outputs import check_output, check_outputs
from tests.faces.test_faces import _checkpoint
from tests.robustness.test_cli_errors import _stderr_line


def _listing(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def _manifest_set(tmp_path):
    """man/m.csv naming two clip folders (man/clips/00009, 00017) and a video (man/videos/a.mp4)."""
    man = tmp_path / "man"
    for clip in ("00009", "00017"):
        (man / "clips" / clip).mkdir(parents=True)
        (man / "clips" / clip / "00001.jpg").write_bytes(b"a frame")
    (man / "videos").mkdir()
    (man / "videos" / "a.mp4").write_bytes(b"a video")
    rows = "path,label,split\nclips/00009,0,test\nclips/00017,1,test\nvideos/a.mp4,2,train\n"
    (man / "m.csv").write_text(rows)
    return man


def _manifest_config(manifest, **data) -> ExperimentConfig:
    return ExperimentConfig.model_validate({"data": {"format": "manifest", "root": str(manifest), **data}})


def test_eval_and_calibrate_refuse_an_output_inside_a_clip_folder_a_manifest_names(tmp_path, capsys):
    man = _manifest_set(tmp_path)
    ckpt = _checkpoint(tmp_path / "model.pt")
    before = _listing(man)
    data = ["--data", str(man / "m.csv"), "--format", "manifest", "--split", "test"]
    assert main(["eval", str(ckpt), *data, "--out", str(man / "clips" / "00009"), "--overwrite"]) == 2
    err = _stderr_line(capsys)
    assert "inside the input folder" in err and "00009" in err
    out = man / "clips" / "00017" / "x.pt"
    assert main(["calibrate", str(ckpt), *data, "--out", str(out), "--overwrite"]) == 2
    err = _stderr_line(capsys)
    assert "inside the input folder" in err and "00017" in err
    assert _listing(man) == before  # nothing written into the data


def test_train_refuses_a_run_folder_inside_a_clip_folder_a_manifest_names(tmp_path, capsys):
    man = _manifest_set(tmp_path)
    before = _listing(man)
    sets = ["--set", "data.format=manifest", "--set", f"data.root={man / 'm.csv'}"]
    assert main(["train", "demo/hard.yaml", *sets, "--set", f"run.out_dir={man / 'clips' / '00009'}"]) == 2
    err = _stderr_line(capsys)
    assert (
        "00009" in err and "run.out_dir" in err and ("inside the input folder" in err or "is an input" in err)
    )
    assert _listing(man) == before


def test_a_manifests_media_are_inputs_and_a_new_folder_beside_them_is_not(tmp_path):
    man = _manifest_set(tmp_path)
    inputs = config_inputs(_manifest_config(man / "m.csv"))
    # inside a clip folder, the clip folder itself, onto a listed video: refused with --overwrite too
    for out, kind in ((man / "clips/00009/metrics.json", "file"), (man / "clips/00017", "folder")):
        with pytest.raises(ValueError, match=r"00009|00017"):
            check_output(out, inputs=inputs, overwrite=True, kind=kind)
    with pytest.raises(ValueError, match=r"a\.mp4 is an input"):
        check_output(man / "videos" / "a.mp4", inputs=inputs, overwrite=True)
    # beside them (the manifest's folder is no input: runs sit beside a manifest): allowed
    check_outputs([man / "clips" / "run1" / "metrics.json", man / "eval" / "x.json"], inputs=inputs)
    # a clip folder reached through a link: the output through the link's target is refused too
    real = tmp_path / "fast" / "clips"
    real.parent.mkdir()
    (man / "clips").rename(real)
    (man / "clips").symlink_to(real)
    with pytest.raises(ValueError, match=r"inside the input folder"):
        check_output(real / "00009" / "metrics.json", inputs=config_inputs(_manifest_config(man / "m.csv")))


def test_a_manifest_as_the_cross_dataset_test_root_gives_its_media_as_inputs(tmp_path):
    man = _manifest_set(tmp_path)
    cfg = ExperimentConfig.model_validate(
        {"data": {"root": str(tmp_path / "dfew"), "test_format": "manifest", "test_root": str(man / "m.csv")}}
    )
    with pytest.raises(ValueError, match=r"inside the input folder .*00009"):
        check_output(man / "clips" / "00009" / "x.png", inputs=config_inputs(cfg))


def test_an_unreadable_or_missing_manifest_names_only_its_file(tmp_path):
    # report/analyze of a run whose manifest has since gone: the inputs are the file, no error here (reading
    # the data is what refuses it, naming the file)
    missing = tmp_path / "gone.csv"
    assert config_inputs(_manifest_config(missing))[-1] == missing
    bad = tmp_path / "bad.csv"
    bad.write_text("label\n0\n")  # no path column
    assert config_inputs(_manifest_config(bad))[-1] == bad


def test_former_dfer_clips_outside_the_root_are_inputs_with_allow_outside_root(tmp_path, capsys):
    outside = tmp_path / "oc"
    for clip in ("00009", "00017"):
        (outside / clip).mkdir(parents=True)
        (outside / clip / "00001.jpg").write_bytes(b"a frame")
    lists = tmp_path / "fdl"
    lists.mkdir()
    (lists / "test.txt").write_text(f"{outside / '00009'} 1 2\n{outside / '00017'} 1 1\n")
    before = _listing(outside)
    ckpt = _checkpoint(tmp_path / "model.pt")
    argv = ["eval", str(ckpt), "--data", str(lists), "--format", "former_dfer", "--split", "test"]
    sets = ["--set", "data.allow_outside_root=true", "--overwrite"]
    assert main([*argv, *sets, "--out", str(outside / "00017")]) == 2
    err = _stderr_line(capsys)
    assert "inside the input folder" in err and "00017" in err
    assert _listing(outside) == before
    # a single list file as the root: its rows are relative to its folder, which is not the root
    (lists / "clips" / "00001").mkdir(parents=True)
    one = lists / "one.txt"
    one.write_text("clips/00001 1 0\n")
    cfg = ExperimentConfig.model_validate({"data": {"format": "former_dfer", "root": str(one)}})
    with pytest.raises(ValueError, match=r"inside the input folder .*00001"):
        check_output(lists / "clips" / "00001" / "x.png", inputs=config_inputs(cfg))


# --- G3: calibrate --overwrite replaces a calibrated copy only ---------------------------------------------


def test_calibrate_overwrite_replaces_its_calibrated_copy_but_never_a_training_checkpoint(
    tiny_dfew, tmp_path, capsys
):
    ckpt = _checkpoint(tmp_path / "model.pt")
    data = ["--data", str(tiny_dfew), "--split", "test"]
    copy = tmp_path / "model_calibrated.pt"
    assert main(["calibrate", str(ckpt), *data]) == 0
    first = copy.stat().st_mtime_ns
    assert main(["calibrate", str(ckpt), *data, "--out", str(copy), "--overwrite"]) == 0  # its own copy
    assert copy.stat().st_mtime_ns != first
    capsys.readouterr()
    # a run's resume checkpoint (no calibration entry), another model, a file that is no checkpoint
    last = _checkpoint(tmp_path / "last.pt")
    junk = tmp_path / "notes.pt"
    junk.write_bytes(b"my notes")
    for target in (last, junk):
        kept = target.read_bytes()
        assert main(["calibrate", str(ckpt), *data, "--out", str(target), "--overwrite"]) == 2
        err = _stderr_line(capsys)
        assert target.name in err and "not a calibrated copy" in err and "choose another --out" in err
        assert target.read_bytes() == kept
        assert not target.with_suffix(".json").exists()  # nothing written beside it either
