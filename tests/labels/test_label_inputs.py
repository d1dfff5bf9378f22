"""Damaged inputs of `labels votes`, `labels va --stats` and the vote readers: refused in one line naming the
file and the cell or field, never turned into wrong labels (audit 2, items 4, 5, 6 and 8b)."""

import json

import numpy as np
import pytest
from openpyxl import Workbook

from softfer.classes import DFEW_CLASSES
from softfer.cli import main
from softfer.data.formats.affwild import read_affect_stats
from softfer.data.formats.dfew import read_votes
from softfer.data.label_files import va_to_labels, votes_to_labels
from softfer.io.tables import find_class_columns, read_table
from softfer.labels import AffectStats, fit_affect_stats, validate_votes
from softfer.limits import MAX_VOTES

HEADER = "clip," + ",".join(DFEW_CLASSES)


def _votes_csv(path, *rows):
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return path


def _err(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    return err


# --- 1. a vote count above the cap ------------------------------------------------------------------------


@pytest.mark.parametrize("count", [5e18, 1e30, MAX_VOTES + 1])
def test_a_count_above_the_cap_is_refused_naming_row_and_column(count):
    votes = [[3, 1], [count, count]]
    with pytest.raises(ValueError, match=rf"a\.csv: line 3 .* in column 'Happy', above {MAX_VOTES}") as e:
        validate_votes(votes, source="a.csv", row_names=["line 2", "line 3"], columns=["Happy", "Sad"])
    assert "negative" not in str(e.value)
    # without header names, the column is named by its place
    with pytest.raises(ValueError, match=r"row 1 has a vote count of .* in vote column 1 of 2"):
        validate_votes(votes)
    assert validate_votes([[MAX_VOTES, 0]]).tolist() == [[MAX_VOTES, 0]]  # the cap itself is a count


def test_labels_votes_and_the_dfew_reader_refuse_a_count_that_would_wrap(tmp_path, capsys):
    # 5e18 + 5e18 overflows int64: the old code wrote soft labels of -0.59 and exit 0
    path = _votes_csv(
        tmp_path / "ovf.csv", "1,5000000000000000000,5000000000000000000,0,0,0,0,0", "2,1,0,0,0,0,0,0"
    )
    out = tmp_path / "o.csv"
    assert main(["labels", "votes", str(path), "--out", str(out)]) == 2
    err = _err(capsys)
    assert "ovf.csv:line 2" in err and "'happy'" in err and "MAX_VOTES" in err
    assert not out.exists()
    with pytest.raises(ValueError, match=r"ovf\.csv:line 2 has a vote count of 5e\+18"):
        read_votes(path)


def test_the_manifest_reader_caps_vote_counts_as_every_reader_does(tmp_path):
    """Found (audit 4): manifest class columns of counts up to 2**62 were votes (5000 read silently)."""
    from softfer.data.formats.manifest import read_manifest

    header = "path,split,happy,sad,neutral,angry,surprise,disgust,fear\n"
    for clip in ("a", "b"):
        (tmp_path / clip).mkdir()
        (tmp_path / clip / "00001.jpg").write_bytes(b"")  # frames are listed, not decoded, here
    path = tmp_path / "m.csv"
    path.write_text(header + f"a,train,{MAX_VOTES + 1},1,0,0,0,0,0\nb,test,3,1,0,0,0,0,0\n")
    with pytest.raises(ValueError, match=rf"m\.csv:line 2: .*count of {MAX_VOTES + 1} in column 'happy'"):
        read_manifest(path, split="train")
    path.write_text(header + f"a,train,{MAX_VOTES},1,0,0,0,0,0\nb,test,3,1,0,0,0,0,0\n")
    assert read_manifest(path, split="train")[0].votes.tolist() == [MAX_VOTES, 1, 0, 0, 0, 0, 0]


# --- 2. the statistics file of `labels va --stats` and data.affectnet_stats ------------------------------


def _stats() -> dict:
    rng = np.random.default_rng(0)
    centres = np.array([[0.5, 0.2], [-0.5, -0.3], [0.0, 0.6]])
    labels = np.repeat(np.arange(3), 50)
    va = np.clip(centres[labels] + rng.normal(0, 0.15, size=(150, 2)), -1, 1)
    return fit_affect_stats(va, labels, 3).to_dict()


def _nan_mean(d):
    d["means"][0][0] = float("nan")


def _set(field, value):
    def edit(d):
        d[field] = value

    return edit


def _set_cov(value):
    def edit(d):
        d["covs"][1] = value

    return edit


BAD_STATS = {
    "nan_mean": (_nan_mean, "'means' holds NaN"),
    "negative_variance": (_set_cov([[-1.0, 0.0], [0.0, 0.01]]), "'covs': class 1"),
    "singular": (_set_cov([[0.0, 0.0], [0.0, 0.0]]), "'covs': class 1"),
    "asymmetric": (_set_cov([[0.01, 0.5], [-0.5, 0.01]]), "'covs': class 1"),
    "variance_above_1": (_set_cov([[4.0, 0.0], [0.0, 0.01]]), "'covs': class 1"),
    "negative_prior": (_set("priors", [-1.0, 1.0, 1.0]), "'priors' holds a negative"),
    "zero_priors": (_set("priors", [0.0, 0.0, 0.0]), "'priors' sums to 0"),
    "mean_outside_va": (_set("means", [[50.0, 50.0], [0.0, 0.0], [0.1, 0.1]]), "'means': class 0"),
    "means_shape": (_set("means", [[0, 0, 0]] * 3), r"'means' has shape \(3, 3\), expected \(3, 2\)"),
    "short_covs": (lambda d: d["covs"].pop(), r"'covs' has shape \(2, 2, 2\), expected \(3, 2, 2\)"),
    "ragged": (_set("means", [[0.1, 0.1], [0.2]]), "'means' is not an array of numbers"),
    "text": (_set("counts", "many"), "'counts' is not an array of numbers"),
    "no_covs": (lambda d: d.pop("covs"), "no field 'covs'"),
    "empty_object": (lambda d: d.clear(), "no field 'priors', 'means', 'covs', 'counts'"),
}


@pytest.mark.parametrize("case", sorted(BAD_STATS))
def test_a_damaged_statistics_file_is_refused_naming_file_and_field(tmp_path, case):
    edit, message = BAD_STATS[case]
    d = _stats()
    edit(d)
    path = tmp_path / "stats.json"
    path.write_text(json.dumps(d))  # json writes NaN as NaN, and reads it back
    with pytest.raises(ValueError, match=rf"stats\.json: .*{message}"):
        read_affect_stats(path)


def test_a_statistics_file_that_is_a_list_is_refused(tmp_path):
    (path := tmp_path / "stats.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"stats\.json: .*an object with the fields priors, means"):
        read_affect_stats(path)


def test_fitted_statistics_read_back_unchanged(tmp_path):
    d = _stats()
    (path := tmp_path / "stats.json").write_text(json.dumps(d))
    got = read_affect_stats(path)
    want = AffectStats(*(np.asarray(d[k]) for k in ("priors", "means", "covs", "counts")))
    for k in ("priors", "means", "covs", "counts"):
        np.testing.assert_array_equal(getattr(got, k), getattr(want, k))


def test_labels_va_refuses_nan_statistics_in_one_line(tmp_path, capsys):
    # the old code wrote empty pva_ cells with va_argmax 0 and exit 0
    rows = ["name,valence,arousal,label"] + [
        f"c{i},{0.1 * (i % 5)},{-0.1 * (i % 3)},{i % 3}" for i in range(12)
    ]
    (va := tmp_path / "va.csv").write_text("\n".join(rows) + "\n")
    d = _stats()
    _nan_mean(d)
    (stats := tmp_path / "st_nan.json").write_text(json.dumps(d))
    out = tmp_path / "o.csv"
    assert main(["labels", "va", str(va), "--out", str(out), "--stats", str(stats)]) == 2
    err = _err(capsys)
    assert "st_nan.json" in err and "'means'" in err
    assert not out.exists()


# --- 3. a column map whose key names no class -------------------------------------------------------------


def _two_raters(tmp_path):
    path = tmp_path / "two.csv"
    path.write_text("clip,happy,happy_rater2," + ",".join(DFEW_CLASSES[1:]) + "\n1,3,0,1,0,0,0,0,0\n")
    return read_table(path)


def test_a_column_map_key_is_a_class_named_as_a_header_names_it(tmp_path):
    table = _two_raters(tmp_path)
    for key in ("happy", "Happy", "HAPPINESS"):  # the old code ignored all but "happy"
        cols = find_class_columns(table, DFEW_CLASSES, column_map={key: "happy_rater2"})
        assert cols[0] == table.header.index("happy_rater2")


def test_a_column_map_key_naming_no_class_is_refused_naming_it_and_the_classes(tmp_path):
    table = _two_raters(tmp_path)
    with pytest.raises(ValueError, match=r"'Joy', 'sadd' name\(s\) no class; the classes are happy, sad,"):
        find_class_columns(table, DFEW_CLASSES, column_map={"Joy": "happy_rater2", "sadd": "sad"})
    with pytest.raises(ValueError, match="two keys name class 'happy'"):
        find_class_columns(table, DFEW_CLASSES, column_map={"happy": "happy", "Happiness": "happy_rater2"})


def test_labels_votes_refuses_an_unknown_or_repeated_column_key(tmp_path, capsys):
    table = _two_raters(tmp_path)
    base = ["labels", "votes", str(table.path), "--out", str(tmp_path / "o.csv")]
    assert main([*base, "--column", "Joy=happy_rater2"]) == 2
    assert "'Joy'" in _err(capsys)
    assert main([*base, "--column", "happy=happy", "--column", "happy=happy_rater2"]) == 2
    assert "'happy' given twice" in _err(capsys)
    assert not (tmp_path / "o.csv").exists()


# --- 4. the output's name says the format written ----------------------------------------------------------


def test_label_tables_are_written_only_under_a_csv_name(tmp_path):
    good = _votes_csv(tmp_path / "good.csv", "1,3,1,0,0,0,0,0", "2,0,0,4,0,0,0,1")
    with pytest.raises(ValueError, match=r"--out .*o\.xlsx: the file written is \.csv; name it NAME\.csv"):
        votes_to_labels(good, tmp_path / "o.xlsx")
    (va := tmp_path / "va.csv").write_text("name,valence,arousal,label\na,0.1,0.2,0\n")
    with pytest.raises(ValueError, match=r"o\.xlsx: the file written is \.csv"):
        va_to_labels(va, tmp_path / "o.xlsx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.csv", "va.csv"]


# --- 5. a folder, and a formula no spreadsheet computed ----------------------------------------------------


def test_a_folder_given_as_a_table_is_called_a_folder(tmp_path, capsys):
    (folder := tmp_path / "lv").mkdir()
    assert main(["labels", "votes", str(folder), "--out", str(tmp_path / "o.csv")]) == 2
    err = _err(capsys)
    assert "is a folder" in err and "not found" not in err


def test_an_uncomputed_formula_cell_is_hinted_at(tmp_path):
    wb = Workbook()
    wb.active.append(["clip", *DFEW_CLASSES])
    wb.active.append([1, "=1+2", 1, 0, 0, 0, 0, 0])  # openpyxl stores no computed value
    wb.save(path := tmp_path / "formula.xlsx")
    with pytest.raises(ValueError, match=r"formula\.xlsx:row 2 contains NaN .*formula cell never computed"):
        votes_to_labels(path, tmp_path / "o.csv")
    _votes_csv(csv := tmp_path / "empty.csv", "1,,1,0,0,0,0,0")
    with pytest.raises(ValueError, match=r"an empty cell reads as NaN\)") as e:
        votes_to_labels(csv, tmp_path / "o.csv")
    assert "formula cell" not in str(e.value)  # the hint is for workbooks only
