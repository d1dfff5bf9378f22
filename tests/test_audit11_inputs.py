"""Audit 11, G7, G9 and L5: the optional inputs a format reads, and the data given once to eval/calibrate.

G7: ``data.soft_labels`` (read by ferv39k alone) and ``data.affectnet_stats`` (affwild alone) were accepted
by every format: train on DFEW with a vote table, or a missing file, trained on DFEW's own labels, exit 0,
with the table recorded in config.yaml. Each ``FORMATS`` entry now declares what it reads
(``DatasetFormat.reads``) and its ``read`` refuses the rest (``check_inputs``).
G9: ``eval``/``calibrate --data ROOT`` lost silently to ``--set data.root=...`` (or data.test_root, ...).
L5: calibrate's config errors said "eval overrides".
"""

import pytest

from softfer.cli import main
from softfer.config import DataConfig, ExperimentConfig
from softfer.data.formats import FORMATS, ReadRequest
from softfer.data.synthetic.layouts import build_smoke_tree
from softfer.engine.data import read_records
from softfer.engine.runs import held_out_config
from tests.faces.test_faces import _checkpoint
from tests.robustness.test_cli_errors import _stderr_line

# The optional inputs of a read and their settings (``OPTIONAL_INPUTS``, written out here).
SETTINGS = {"soft_labels": "data.soft_labels", "affectnet_stats": "data.affectnet_stats"}
# A file of each optional input that no reader can take: a reader that reads the input fails naming it.
GARBAGE = {"soft_labels": "clip,what\nx,1\n", "affectnet_stats": "{}\n"}


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("inputs")
    paths = build_smoke_tree(root, size=32)
    # a Former-DFER list over three DFEW frame folders (absolute paths, outside the list's folder)
    clips = sorted((paths["dfew"] / "Clip" / "clip_224x224").iterdir())[:3]
    lists = root / "data" / "former_dfer"
    lists.mkdir()
    lines = [f"{c} {len(list(c.glob('*.jpg')))} {i}" for i, c in enumerate(clips)]
    (lists / "test.txt").write_text("\n".join(lines) + "\n")
    paths["former_dfer"] = lists
    paths["manifest"] = paths["morphset"]
    for key, text in GARBAGE.items():
        paths[f"garbage_{key}"] = root / f"garbage_{key}.txt"
        paths[f"garbage_{key}"].write_text(text)
    return paths


def _request(tree, name: str, **inputs) -> ReadRequest:
    entry = FORMATS[name]
    split = entry.default_test_split or ("test" if name == "former_dfer" else "val")
    if "affectnet_stats" in entry.reads:  # Aff-Wild reads nothing without its statistics
        inputs.setdefault("affectnet_stats", tree["affectnet_stats"])
    return ReadRequest(
        root=tree[name],
        split=split,
        num_classes=len(entry.classes),
        allow_outside_root=name == "former_dfer",
        **inputs,
    )


@pytest.mark.parametrize("key", sorted(SETTINGS))
@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_format_reads_an_optional_input_or_refuses_it(tree, name, key):
    """The entry is complete when, for every format, a set input either reaches the reader (a file no
    reader can take fails naming it) or is refused naming the setting: never read past."""
    garbage = tree[f"garbage_{key}"]
    setting = SETTINGS[key]
    with pytest.raises(ValueError) as caught:
        FORMATS[name].read(_request(tree, name, **{key: garbage}))
    message = str(caught.value)
    assert str(garbage) in message
    if key not in FORMATS[name].reads:
        readers = [n for n, f in FORMATS.items() if key in f.reads]
        assert message.startswith(f"{setting} {garbage}: the {name} format does not read it (only the ")
        assert all(f" {r} " in message for r in readers) and readers


def test_the_formats_that_read_an_input_read_it(tree):
    """The declared readers: FERV39k's soft labels become the records' vote distributions, Aff-Wild's
    statistics their labels (the smoke tree's own files)."""
    assert {n for n, f in FORMATS.items() if f.reads} == {"ferv39k", "affwild"}
    plain = FORMATS["ferv39k"].read(_request(tree, "ferv39k"))
    voted = FORMATS["ferv39k"].read(_request(tree, "ferv39k", soft_labels=tree["ferv39k_soft_labels"]))
    assert all(r.soft is None for r in plain) and all(r.soft is not None for r in voted)
    assert len(FORMATS["affwild"].read(_request(tree, "affwild"))) > 0


def test_train_reads_refuse_an_input_the_format_does_not_read(tree, tmp_path):
    """G7's commands, at the read every command makes (``read_records``): DFEW with the FERV39k-Plus
    table, with a missing table, with AffectNet's statistics."""
    dfew = str(tree["dfew"])
    votes = str(tree["ferv39k_soft_labels"])
    cases = {
        "soft_labels": votes,
        "affectnet_stats": str(tree["affectnet_stats"]),
    }
    for key, value in cases.items():
        data = DataConfig(format="dfew", root=dfew, **{key: value})
        with pytest.raises(ValueError, match=rf"^data\.{key} .*: the dfew format does not read it"):
            read_records(data, "train")
    missing = DataConfig(format="dfew", root=dfew, soft_labels=str(tmp_path / "does_not_exist.csv"))
    with pytest.raises(ValueError, match=r"only the ferv39k format reads a FERV39k-Plus vote table"):
        read_records(missing, "train")


def test_a_missing_file_is_refused_naming_the_setting_where_it_is_read(tree, tmp_path):
    for name, key in (("ferv39k", "soft_labels"), ("affwild", "affectnet_stats")):
        data = DataConfig(format=name, root=str(tree[name]), num_classes=len(FORMATS[name].classes))
        data = data.model_copy(update={key: str(tmp_path / "nope")})
        with pytest.raises(ValueError, match=rf"^data\.{key} {tmp_path / 'nope'}: no such file"):
            read_records(data, "train")


def test_a_cross_dataset_test_read_leaves_the_training_formats_input_aside(tree):
    """FERV39k-Plus training tested on DFEW: the DFEW test read is given the table too
    (``read_records``), which belongs to the training format; it reads DFEW's own labels."""
    data = DataConfig(
        format="ferv39k",
        root=str(tree["ferv39k"]),
        soft_labels=str(tree["ferv39k_soft_labels"]),
        test_format="dfew",
        test_root=str(tree["dfew"]),
    )
    records = read_records(data, "test", fmt="dfew", root=str(tree["dfew"]), test=True)
    assert records and len(records) == len(read_records(DataConfig(root=str(tree["dfew"])), "test"))


def test_data_inspect_refuses_them_with_its_own_option_names(tree, capsys):
    stats = str(tree["affectnet_stats"])
    assert main(["data", "inspect", "dfew", str(tree["dfew"]), "--affectnet-stats", stats]) == 2
    line = _stderr_line(capsys)
    assert f"--affectnet-stats {stats}: the dfew format does not read it (only the affwild format" in line
    votes = str(tree["ferv39k_soft_labels"])
    assert main(["data", "inspect", "afew", str(tree["afew"]), "--soft-labels", votes]) == 2
    assert f"--soft-labels {votes}: the afew format does not read it" in _stderr_line(capsys)


def _cfg(**data) -> ExperimentConfig:
    return ExperimentConfig.model_validate({"data": {"root": "/data/dfew", **data}})


@pytest.mark.parametrize(
    ("options", "item"),
    [
        ({"root": "/data/d"}, "data.root=/data/dd"),
        ({"root": "/data/d"}, "data.test_root=/data/fp"),
        ({"root": "/data/d"}, "data.test_format=ferplus"),
        ({"root": "/data/fp", "fmt": "ferplus"}, "data.test_root=/data/other"),
        ({"root": "/data/fp", "fmt": "ferplus"}, "data.format=afew"),
        ({"fmt": "ferplus"}, "data.test_format=afew"),
        ({"split": "test"}, "data.test_split=train"),
    ],
)
def test_the_data_is_given_once(options, item):
    """G9: the --set of a data setting an option gives was applied after the option and won silently."""
    with pytest.raises(ValueError, match=rf"^--set {item}: --\w+ \S+ already gives the data read; give the"):
        held_out_config(_cfg(), overrides=[item], **options)


def test_a_set_alone_or_another_key_beside_the_options_still_applies():
    assert held_out_config(_cfg(), overrides=["data.root=/data/moved"]).data.root == "/data/moved"
    got = held_out_config(_cfg(), root="/data/d", split="test", overrides=["data.fold=2"]).data
    assert (got.root, got.test_split, got.fold) == ("/data/d", "test", 2)


def test_data_without_format_is_refused_for_a_cross_dataset_model():
    """A DFEW-to-AFEW model's config reads data.test_root: --data alone went to data.root, unread."""
    cfg = _cfg(test_format="afew", test_root="/data/afew")
    with pytest.raises(ValueError, match=r"^--data /data/new: the model's config tests on data.test_format"):
        held_out_config(cfg, root="/data/new")
    assert held_out_config(cfg, root="/data/new", fmt="afew").data.test_root == "/data/new"


def test_eval_set_of_an_input_the_evaluated_format_does_not_read_is_refused(tmp_path):
    table = tmp_path / "votes.csv"
    table.write_text("clip,angry\nx,1\n")
    with pytest.raises(ValueError, match=r"^data.soft_labels .*: the dfew format does not read it"):
        held_out_config(_cfg(), overrides=[f"data.soft_labels={table}"])
    got = held_out_config(_cfg(), root="/data/f", fmt="ferv39k", overrides=[f"data.soft_labels={table}"])
    assert got.data.soft_labels == str(table)


def test_eval_and_calibrate_refuse_the_data_twice_and_name_themselves(tmp_path, capsys):
    ckpt = _checkpoint(tmp_path / "model.pt")
    data = tmp_path / "d"
    data.mkdir()
    for command in ("eval", "calibrate"):
        args = [command, str(ckpt), "--data", str(data), "--out", str(tmp_path / f"{command}.pt")]
        assert main([*args, "--set", f"data.root={tmp_path / 'dd'}"]) == 2
        assert "give the data once" in _stderr_line(capsys)
        # L5: the config error names the command that refused it
        assert main([*args, "--set", "data.fold=9"]) == 2
        message = _stderr_line(capsys, one_line=False)
        assert message.startswith(f"softfer: error: {command} --set: invalid configuration")
