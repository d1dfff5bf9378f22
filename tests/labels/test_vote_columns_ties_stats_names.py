"""Audit 6: `labels votes` dropped vote columns outside its 7 classes without a word (F1), its report counted
majorities by the `first` tie rule whatever `--tie` wrote (F9), and VA statistics carried no class names,
so `--stats` / `data.affectnet_stats` applied them to another class order silently (F12)."""

import csv
import json
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from softfer.classes import AFFECTNET_CLASSES, DFEW_CLASSES, FERPLUS_CLASSES
from softfer.cli import main
from softfer.data.formats import FORMATS
from softfer.data.formats.base import ReadRequest
from softfer.data.formats.ferplus import VOTE_COLUMNS, leave_out_reason
from softfer.data.label_files import va_to_labels, votes_to_labels
from softfer.data.synthetic.generate import write_xlsx
from softfer.labels.affect import AffectStats

FERPLUS_HEADER = ["Image name", "neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear"]
FERPLUS_HEADER += ["contempt", "unknown", "NF"]


def _err(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    return err


def _write(path: Path, header: list[str], rows: list[list]) -> Path:
    with path.open("w", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    return path


def _rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.open()))


# --- F1: vote columns outside the classes read ---------------------------------------------------------


def test_a_contempt_column_is_refused_not_dropped(tmp_path, capsys):
    # 9 contempt votes and 1 happy vote were written as a unanimous happy clip, exit 0
    path = _write(tmp_path / "c.csv", ["id", *DFEW_CLASSES, "contempt"], [["a", 1, 0, 0, 0, 0, 0, 0, 9]])
    out = tmp_path / "o.csv"
    assert main(["labels", "votes", str(path), "--out", str(out)]) == 2
    err = _err(capsys)
    assert "c.csv" in err and "'contempt'" in err
    assert "--other-votes" in err and "--classes" in err and "--ignore-columns" in err
    assert not out.exists()


def test_ferplus_columns_are_refused_naming_all_three(tmp_path):
    rows = [["fer0.png", 0, 1, 0, 0, 0, 0, 0, 0, 0, 9]]
    path = _write(tmp_path / "fp.csv", FERPLUS_HEADER, rows)
    with pytest.raises(ValueError, match=r"fp\.csv: column\(s\) 'contempt', 'unknown', 'NF' may hold votes"):
        votes_to_labels(path, tmp_path / "o.csv")


def test_an_unnamed_count_column_is_refused_and_ignore_columns_reads_it_knowingly(tmp_path):
    path = _write(tmp_path / "v.csv", ["clip", *DFEW_CLASSES, "raters"], [["1", 3, 1, 0, 0, 0, 0, 0, 4]])
    with pytest.raises(ValueError, match=r"'raters' may hold votes"):
        votes_to_labels(path, tmp_path / "o.csv")
    votes_to_labels(path, tmp_path / "o.csv", ignore_columns=["raters"])
    row = _rows(tmp_path / "o.csv")[0]
    assert row["soft_happy"] == "0.750000" and row["soft_sad"] == "0.250000"


def _ferplus_paper_rule(votes: np.ndarray, k: int) -> bool:
    """Kept by FER+'s rule, written out from its definition (independent of softfer's code): one class of
    the first ``k`` has strictly more votes than unknown, than NF, and (7 classes) than contempt."""
    return int(votes[:k].max()) > max(int(v) for v in votes[k:])


def test_ferplus_reasons_on_hand_made_ties():
    """order: neutral happiness surprise sadness anger disgust fear contempt unknown NF"""
    cases = [
        ([3, 0, 0, 0, 0, 0, 0, 0, 3, 3], 8, "majority NF (not a face)"),  # unknown = NF = top class
        ([3, 0, 0, 0, 0, 0, 0, 0, 3, 0], 8, "majority unknown"),
        ([3, 0, 0, 0, 0, 0, 0, 3, 0, 0], 8, None),  # contempt is a class with 8
        ([3, 0, 0, 0, 0, 0, 0, 3, 0, 0], 7, "majority contempt (7 classes)"),
        ([2, 0, 0, 0, 0, 0, 0, 3, 3, 0], 7, "majority unknown"),  # unknown before contempt on a tie
        ([4, 0, 0, 0, 0, 0, 0, 3, 3, 3], 7, None),
    ]
    for votes, k, want in cases:
        assert leave_out_reason(np.array(votes), k) == want, (votes, k)


def test_other_votes_follow_the_ferplus_readers_rule(tmp_path):
    """Kept faces and their soft labels are those of the FER+ reader's rule (``leave_out_reason``), with 7
    classes (contempt, unknown, NF not classes) and with 8 (contempt a class)."""
    rng = np.random.default_rng(3)
    votes = np.array([rng.multinomial(10, p) for p in rng.dirichlet(np.full(10, 0.4), size=300)])
    votes[:40] = rng.integers(0, 4, size=(40, 10))  # many ties, including with unknown / NF
    votes[votes.sum(axis=1) == 0, 9] = 1
    rows = [[f"fer{i:07d}.png", *v.tolist()] for i, v in enumerate(votes)]
    path = _write(tmp_path / "fp.csv", FERPLUS_HEADER, rows)
    for k, other in ((7, ["contempt", "unknown", "NF"]), (8, ["unknown", "NF"])):
        out = tmp_path / f"o{k}.csv"
        report = votes_to_labels(path, out, classes=FERPLUS_CLASSES[:k], other_votes=other)
        kept = [i for i, v in enumerate(votes) if leave_out_reason(v, k) is None]
        assert kept == [i for i, v in enumerate(votes) if _ferplus_paper_rule(v, k)]
        got = _rows(out)
        assert [r["id"] for r in got] == [rows[i][0] for i in kept]  # "Image name" is the id
        want = votes[kept, :k] / votes[kept, :k].sum(axis=1, keepdims=True)
        soft = np.array([[float(r[f"soft_{c}"]) for c in FERPLUS_CLASSES[:k]] for r in got])
        np.testing.assert_allclose(soft, want, atol=1e-6)
        assert f"left out, majority in a column that is no class: {len(votes) - len(kept)} " in report
    assert VOTE_COLUMNS[7:] == ("contempt", "unknown", "NF")  # the columns the reference rule reads


def test_a_row_of_only_not_a_face_votes_is_left_out_not_fatal(tmp_path):
    rows = [["a.png", 0, 1, 0, 0, 0, 0, 0, 0, 0, 9], ["b.png", 0, 0, 0, 0, 0, 0, 0, 0, 0, 10]]
    rows.append(["c.png", 2, 7, 0, 0, 0, 0, 0, 1, 0, 0])
    path = _write(tmp_path / "fp.csv", FERPLUS_HEADER, rows)
    report = votes_to_labels(path, tmp_path / "o.csv", other_votes=["contempt", "unknown", "NF"])
    got = _rows(tmp_path / "o.csv")
    assert [r["id"] for r in got] == ["c.png"] and got[0]["hard_name"] == "happy"
    assert got[0]["soft_happy"] == "0.777778"  # 7 of the 9 class votes; the contempt vote is no class
    assert "left out, majority in a column that is no class: 2 (contempt: 0, unknown: 0, NF: 2)" in report


def test_classes_reads_contempt_as_a_class(tmp_path, capsys):
    path = _write(tmp_path / "c.csv", ["id", *DFEW_CLASSES, "contempt"], [["a", 1, 0, 0, 0, 0, 0, 0, 9]])
    out = tmp_path / "o.csv"
    classes = ",".join([*DFEW_CLASSES, "contempt"])
    assert main(["labels", "votes", str(path), "--out", str(out), "--classes", classes]) in (None, 0)
    row = _rows(out)[0]
    assert row["hard_name"] == "contempt" and row["soft_contempt"] == "0.900000"


def test_the_dfew_annotation_layout_and_a_remapped_class_read_without_options(tmp_path):
    """No false alarm: DFEW's workbook holds order, label and single_labeled beside the votes, and a header
    whose class is read from another column (--column) is the user's choice."""
    header = ["order", "video_name", *DFEW_CLASSES, "label", "single_labeled"]
    write_xlsx(path := tmp_path / "annotation.xlsx", header, [[1, "00001", 8, 1, 1, 0, 0, 0, 0, 1, 1]])
    votes_to_labels(path, tmp_path / "o.csv")
    assert _rows(tmp_path / "o.csv")[0]["soft_happy"] == "0.800000"
    two = _write(
        tmp_path / "two.csv", ["clip", "happy", "happy2", *DFEW_CLASSES[1:]], [[1, 3, 0, 1] + [0] * 5]
    )
    votes_to_labels(two, tmp_path / "o2.csv", column_map={"happy": "happy2"})
    assert _rows(tmp_path / "o2.csv")[0]["hard_name"] == "sad"


def test_misgiven_columns_are_refused(tmp_path):
    path = _write(tmp_path / "c.csv", ["id", *DFEW_CLASSES, "contempt"], [["a", 1, 0, 0, 0, 0, 0, 0, 9]])
    out = tmp_path / "o.csv"
    with pytest.raises(ValueError, match=r"--other-votes 'cont': .*c\.csv has no such column"):
        votes_to_labels(path, out, other_votes=["cont"])
    with pytest.raises(
        ValueError, match=r"column 'contempt' is given as --other-votes and as --ignore-columns"
    ):
        votes_to_labels(path, out, other_votes=["contempt"], ignore_columns=["contempt"])
    with pytest.raises(ValueError, match=r"column 'happy' is given as a class's votes and as --other-votes"):
        votes_to_labels(path, out, other_votes=["happy"], ignore_columns=["contempt"])
    with pytest.raises(ValueError, match=r"--classes .*'happy' and 'Happiness' name one class"):
        votes_to_labels(path, out, classes=["happy", "Happiness", "sad"])
    assert not out.exists()


# --- F9: the report counts majorities by the tie rule of the file ---------------------------------------


@pytest.mark.parametrize("tie", ["first", "random", "drop"])
def test_the_report_counts_the_majorities_the_file_holds(tmp_path, tie):
    rows = [[f"c{i}", 1, 1, 1, 0, 0, 0, 0] for i in range(30)] + [["x", 0, 0, 0, 5, 0, 0, 0]]
    path = _write(tmp_path / "ties.csv", ["id", *DFEW_CLASSES], rows)
    report = votes_to_labels(path, out := tmp_path / "o.csv", tie=tie)
    names = [r["hard_name"] for r in _rows(out)]
    want = ", ".join(f"{c}={names.count(c)}" for c in DFEW_CLASSES)
    if tie == "drop":
        assert names.count("") == 30
        want += ", dropped (tie): 30"
    elif tie == "random":
        assert len({n for n in names[:30]}) > 1  # the old report said happy=30 for any rule
    assert f"majority class counts: {want}\n" in report
    assert "clips with a tied top count: 30 " in report


# --- F12: VA statistics carry their class names -------------------------------------------------------------


def _va_tables(tmp_path: Path) -> tuple[Path, Path]:
    rng, rows = np.random.default_rng(0), []
    for k, (v, a) in enumerate([(0.1, 0.0), (0.8, 0.4), (-0.6, -0.3)]):
        for i in range(20):
            va = np.clip(np.array([v, a]) + rng.normal(0, 0.1, 2), -1, 1).round(4)
            rows.append([f"img{k}_{i}.jpg", *va.tolist(), k])
    header = ["name", "valence", "arousal", "label"]
    perm = [[n, v, a, 2 - k] for n, v, a, k in rows]  # the same points, classes numbered the other way
    return _write(tmp_path / "va.csv", header, rows), _write(tmp_path / "perm.csv", header, perm)


def test_saved_statistics_name_their_classes_and_another_order_is_refused(tmp_path, capsys):
    va, perm = _va_tables(tmp_path)
    stats = tmp_path / "named.json"
    va_to_labels(va, tmp_path / "n1.csv", class_names=["calm", "joy", "gloom"], save_stats=stats)
    assert json.loads(stats.read_text())["classes"] == ["calm", "joy", "gloom"]
    out = tmp_path / "p1.csv"
    argv = ["labels", "va", str(perm), "--stats", str(stats), "--out", str(out)]
    assert main([*argv, "--class-names", "gloom,joy,calm"]) == 2  # exit 0 and swapped labels before
    err = _err(capsys)
    assert "named.json" in err and "calm, joy, gloom" in err and "gloom, joy, calm" in err
    assert main(argv) == 2  # default names (AffectNet's) are not the statistics' names either
    assert "neutral, happy, sad" in _err(capsys)
    assert not out.exists()
    # the same names (case aside) in the same order are applied
    va_to_labels(va, out, class_names=["Calm", "joy", "gloom"], stats_path=stats)
    assert _rows(out)[0]["pva_Calm"] != ""


def test_statistics_without_names_still_load_in_the_tables_order_with_a_warning(tmp_path, caplog):
    va, _ = _va_tables(tmp_path)
    va_to_labels(
        va, tmp_path / "fit.csv", class_names=["calm", "joy", "gloom"], save_stats=tmp_path / "s.json"
    )
    d = json.loads((tmp_path / "s.json").read_text())
    del d["classes"]
    (old := tmp_path / "old.json").write_text(json.dumps(d))
    with caplog.at_level(logging.WARNING):
        va_to_labels(va, tmp_path / "o.csv", class_names=["calm", "joy", "gloom"], stats_path=old)
    assert "old.json: statistics without class names" in caplog.text and "calm, joy, gloom" in caplog.text
    assert _rows(tmp_path / "o.csv") == _rows(tmp_path / "fit.csv")


def _stats7(names: list[str] | None) -> dict:
    means = [[np.cos(t) * 0.6, np.sin(t) * 0.6] for t in np.linspace(0, 2 * np.pi, 7, endpoint=False)]
    d = AffectStats(
        np.full(7, 1 / 7), np.array(means), np.stack([np.eye(2) * 0.02] * 7), np.ones(7)
    ).to_dict()
    return d if names is None else {**d, "classes": names}


def _affwild(root: Path) -> None:
    for name in ("valence", "arousal"):
        (root / "annotations" / name).mkdir(parents=True)
        for v in ("v0", "v1"):
            (root / "annotations" / name / f"{v}.txt").write_text("0.6\n-0.4\n")
    for v in ("v0", "v1"):
        (folder := root / "frames" / v).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(folder / f"{i + 1:05d}.jpg")


def test_affwild_refuses_statistics_named_in_another_order(tmp_path, caplog):
    _affwild(tmp_path / "aw")
    order = list(AFFECTNET_CLASSES[:7])
    for name, names in (("named", order), ("swapped", [order[1], order[0], *order[2:]]), ("old", None)):
        (tmp_path / f"{name}.json").write_text(json.dumps(_stats7(names)))

    def read(name: str) -> list:
        stats = tmp_path / f"{name}.json"
        request = ReadRequest(root=tmp_path / "aw", split="train", num_classes=7, affectnet_stats=stats)
        return FORMATS["affwild"].read(request)

    labels = [r.label for r in read("named")]
    with pytest.raises(ValueError, match=r"swapped\.json: statistics of the classes happy, neutral, sad"):
        read("swapped")
    with caplog.at_level(logging.WARNING):
        assert [r.label for r in read("old")] == labels
    assert "old.json: statistics without class names" in caplog.text


def test_stats_names_are_compared_as_classes_not_as_spellings():
    """Found (review): statistics recorded as Anger, Happiness were refused for data naming angry, happy,
    in the same order; another order is still refused."""
    import numpy as np

    from softfer.labels.affect import check_stats_classes, fit_affect_stats

    rng = np.random.default_rng(0)
    va = rng.uniform(-1, 1, (30, 2))
    stats = fit_affect_stats(va, np.arange(30) % 3, 3, classes=["Anger", "Happiness", "neutral"])
    assert check_stats_classes(stats, ["angry", "happy", "Neutral"], "s.json", "the table's").classes
    with pytest.raises(ValueError, match="each class would get another's statistics"):
        check_stats_classes(stats, ["happy", "angry", "neutral"], "s.json", "the table's")
