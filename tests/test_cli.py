"""The `softfer` command end to end: each subcommand on small inputs, and its errors."""

import csv
import subprocess
import sys

import numpy as np
import pytest

from softfer.cli import build_parser, main
from softfer.data.synthetic.generate import write_xlsx


def _run(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "softfer.cli", *args], capture_output=True, text=True, cwd=cwd
    )


def test_help_lists_every_command():
    text = build_parser().format_help()
    for cmd in (
        "demo",
        "train",
        "eval",
        "cv",
        "reproduce",
        "analyze",
        "data",
        "labels",
        "synth",
        "models",
        "preprocess",
        "predict",
    ):
        assert cmd in text
    votes_help = _run("labels", "votes", "--help").stdout
    assert "--tie" in votes_help and "lowest class index" in votes_help


def test_labels_votes_from_xlsx(tmp_path):
    path = tmp_path / "annotation.xlsx"
    header = ["video_name", "Happiness", "Sadness", "Neutral", "Anger", "Surprise", "Disgust", "Fear"]
    write_xlsx(path, header, [["00001", 8, 0, 2, 0, 0, 0, 0], ["00002", 0, 5, 5, 0, 0, 0, 0]])
    out = tmp_path / "labels.csv"
    r = _run("labels", "votes", str(path), "--out", str(out), "--tie", "drop")
    assert r.returncode == 0, r.stderr
    assert "Fleiss' kappa" in r.stdout and "clips: 2" in r.stdout
    rows = list(csv.DictReader(out.open()))
    assert (
        rows[0]["id"] == "00001" and rows[0]["soft_happy"] == "0.800000" and rows[0]["hard_name"] == "happy"
    )
    assert rows[1]["hard_label"] == "-1"  # sad and neutral tie


def test_labels_votes_bad_row(tmp_path):
    path = tmp_path / "votes.csv"
    path.write_text("clip,happy,sad,neutral,angry,surprise,disgust,fear\n1,1,2,3,0,0,0,4\n2,1,-2,0,0,0,0,0\n")
    r = _run("labels", "votes", str(path), "--out", str(tmp_path / "o.csv"))
    assert r.returncode == 2
    assert "votes.csv:line 3 contains negative vote counts" in r.stderr
    assert not (tmp_path / "o.csv").exists()


def test_labels_va(tmp_path):
    path = tmp_path / "va.csv"
    rng = np.random.default_rng(0)
    rows = [
        [*np.clip(rng.normal(c, 0.1), -1, 1).round(3), k]
        for k, c in ((0, (0.7, 0.4)), (1, (-0.6, -0.3)))
        for _ in range(30)
    ]
    rows.append([-2, -2, 0])
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["valence", "arousal", "label"])
        w.writerows(rows)
    out = tmp_path / "fused.csv"
    stats = tmp_path / "stats.json"
    r = _run(
        "labels",
        "va",
        str(path),
        "--method",
        "euclid",
        "--alpha",
        "0.5",
        "--out",
        str(out),
        "--save-stats",
        str(stats),
    )
    assert r.returncode == 0, r.stderr
    assert "missing VA (-2): 1" in r.stdout
    got = list(csv.DictReader(out.open()))
    assert (
        float(got[0]["fused_neutral"]) > 0.5
        and got[-1]["va_missing"] == "1"
        and got[-1]["fused_neutral"] == ""
    )
    assert stats.is_file()
    path.write_text("valence,arousal,label\n0.1,0.2,0\n1.4,0.2,1\n")
    r = _run("labels", "va", str(path), "--out", str(out), "--overwrite")
    assert r.returncode == 2 and "va.csv:line 3" in r.stderr


def test_synth_models_and_data_inspect(tmp_path):
    out = tmp_path / "dfew"
    r = _run(
        "synth",
        "dfew",
        str(out),
        "--clips",
        "30",
        "--size",
        "32",
        "--workers",
        "1",
        "--stats",
        "--montage",
        str(tmp_path / "m.png"),
    )
    assert r.returncode == 0, r.stderr
    assert (
        "mean max share" in r.stdout
        and "single-labelled clips" in r.stdout
        and (tmp_path / "m.png").is_file()
    )
    r = _run("data", "inspect", "dfew", str(out), "--verify")
    assert r.returncode == 0, r.stderr
    assert "fold 1 train" in r.stdout and "unreadable" in r.stdout and "problems: 0" in r.stdout
    r = _run(
        "synth",
        "affectnet",
        str(tmp_path / "aff"),
        "--images",
        "20",
        "--size",
        "32",
        "--workers",
        "1",
        "--stats",
    )
    assert r.returncode == 0 and "expression counts" in r.stdout
    r = _run("models", "list", "--verbose", "--frames", "2", "--size", "32")
    assert r.returncode == 0 and "tsm_r18" in r.stdout and "GFLOPs" in r.stdout


def test_models_list_puts_every_models_options_on_its_line_in_one_column(capsys):
    from softfer.models import list_models, model_options

    assert main(["models", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    starts = set()
    for name in list_models():  # the names differ in length by more than the old fixed padding
        [line] = [x for x in lines if x.split()[:1] == [name]]
        options = ", ".join(f"{k}={v}" for k, v in model_options(name).items())
        assert options in line, line  # piped: not wrapped onto a second line
        starts.add(line.index(options))
    assert len(starts) == 1, lines


def test_reproduce_lists_tables_and_reports_absent_data(tmp_path):
    r = _run("reproduce", "midas-table2", "--list")
    assert (
        r.returncode == 0 and "midas-table2: dfew_tsm_hard" in r.stdout and "dual-domain-table3" in r.stdout
    )
    # in tmp_path: the study writes its runs/ folder (config.yaml, study.json) where it is called
    r = _run(
        "reproduce",
        "midas-table2",
        "--set",
        f"data.root={tmp_path / 'nowhere'}",
        "--folds",
        "1",
        cwd=tmp_path,
    )
    assert r.returncode == 2 and "the dfew dataset is not at" in r.stderr
    assert main(["reproduce", "no-such-table"]) == 2


def test_every_experiment_config_validates_and_names_missing_data(tmp_path):
    from softfer.config import load_config, packaged_configs
    from softfer.engine.data import build_data

    configs = [p for p in packaged_configs().rglob("*.yaml") if not p.name.startswith("base")]
    assert len(configs) >= 60
    for path in configs:
        cfg = load_config(path, [f"data.root={tmp_path / 'absent'}"])
        if "demo" in path.parts:
            continue
        with pytest.raises(ValueError, match=r"not at|data.affectnet_stats|not set"):
            build_data(cfg)
    with pytest.raises(ValueError, match=r"optim.lrr: Extra inputs are not permitted"):
        load_config(configs[0], ["optim.lrr=0.1"])


def test_cv_out_names_the_study_folder_as_compare_out_does(monkeypatch, tmp_path):
    """README walk: cv had no --out (its folder only through --set run.out_dir)."""
    import softfer.studies.crossval as crossval

    seen = {}

    def fake(cfg, **kw):
        seen["out_dir"] = cfg.run.out_dir
        return {"folds": [], "metrics": {}, "per_class_recall": {}}

    monkeypatch.setattr(crossval, "cross_validate", fake)
    monkeypatch.setattr(crossval, "summary_markdown", lambda name, summary: "")
    odd = tmp_path / "my cv: null"  # a path YAML would read as something else unquoted
    assert main(["cv", "demo/soft.yaml", "--out", str(odd)]) in (0, None)
    assert seen["out_dir"] == str(odd)
