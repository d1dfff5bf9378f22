"""Review 11 of audit 11's G7 fix: a config's optional inputs serve its training format or its test format.
The first fix refused an input the *training* format does not read even when the test format reads it:
AffectNet trained and Aff-Wild tested with AffectNet's statistics could not be trained at all, DFEW
trained and FERV39k-Plus tested lost its vote table. Now an input is refused only when neither format
reads it, and each read is given only its own (``engine.inputs.inputs_for``). And (F3) a text file
beside Former-DFER's lists no longer hides the clip folders the lists name from the output rule."""

import re

import pytest

from softfer.config import load_config
from softfer.data.formats import get_format
from softfer.engine.inputs import inputs_for, listed_media


def _config(tmp_path, *sets):
    return load_config("demo/base.yaml", [f"data.root={tmp_path}", *sets])


def test_affectnet_trained_affwild_tested_gets_the_statistics_for_affwild_only(tmp_path):
    stats = tmp_path / "stats.json"
    stats.write_text("{}")
    sets = ["data.format=affectnet", "data.test_format=affwild", f"data.test_root={tmp_path}"]
    cfg = _config(tmp_path, *sets, f"data.affectnet_stats={stats}", "data.num_classes=7")
    assert inputs_for(cfg.data, get_format("affectnet")) == {}
    assert inputs_for(cfg.data, get_format("affwild")) == {"affectnet_stats": str(stats)}


def test_dfew_trained_ferv39k_tested_gets_the_vote_table_for_ferv39k_only(tmp_path):
    table = tmp_path / "votes.csv"
    table.write_text("x")
    sets = ["data.test_format=ferv39k", f"data.test_root={tmp_path}", f"data.soft_labels={table}"]
    cfg = _config(tmp_path, *sets)
    assert inputs_for(cfg.data, get_format("dfew")) == {}
    assert inputs_for(cfg.data, get_format("ferv39k")) == {"soft_labels": str(table)}


def test_an_input_neither_format_reads_is_refused_naming_its_readers(tmp_path):
    table = tmp_path / "votes.csv"
    table.write_text("x")
    cfg = _config(tmp_path, f"data.soft_labels={table}")
    said = f"data.soft_labels {table}: the dfew format does not read it (only the ferv39k format reads"
    with pytest.raises(ValueError, match=re.escape(said)):
        inputs_for(cfg.data, get_format("dfew"))
    sets = ["data.test_format=afew", f"data.test_root={tmp_path}"]
    with pytest.raises(ValueError, match=re.escape(said)):
        inputs_for(_config(tmp_path, f"data.soft_labels={table}", *sets).data, get_format("afew"))


def test_a_text_file_beside_former_dfer_lists_hides_no_clip_folder(tmp_path):
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "train.txt").write_text("../clips/00001 3 1\n../clips/00002 3 2\n")
    (tmp_path / "lists" / "test.txt").write_text("../clips/00003 3 1\n")
    (tmp_path / "lists" / "README.txt").write_text("lists made by me, on the 3rd\n")
    cfg = load_config("demo/base.yaml", ["data.format=former_dfer", f"data.root={tmp_path / 'lists'}"])
    got = sorted(p.name for p in listed_media(cfg.data))
    assert got == ["00001", "00002", "00003"]
