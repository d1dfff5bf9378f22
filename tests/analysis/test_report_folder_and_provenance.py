"""Audit 7 U1 and U2: `softfer report` names the file that is broken and the folder to give.

U1: a damaged environment.json was reported as "RUN/metrics.json: not as softfer writes it, or a file it
names is not (...)", naming the wrong file. U2: `report RUN/model.pt` said model.pt "exists and is not a
folder ... choose another --out", and a folder of runs said only that it was none, not which runs lie
below it. The folders are written by hand (no training).
"""

import json

import pytest

from softfer.cli import main


def _run(folder, environment: str | None = None):
    """A finished run as the page reads it: metrics.json, and environment.json as given."""
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({"uar": 0.5, "war": 0.5}))
    if environment is not None:
        (folder / "environment.json").write_text(environment)
    return folder


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("{bad", "not JSON as softfer writes it (Expecting property name"),
        ("[1, 2]", "a JSON list, not an object as softfer writes it"),
        ('{"data": [1]}', "data is [1], not an object as softfer writes it"),
        ('{"packages": "torch"}', 'packages is "torch", not an object as softfer writes it'),
        ('{"machine": null}', "machine is null, not an object as softfer writes it"),
    ],
)
def test_a_damaged_environment_json_is_named_itself(tmp_path, capsys, text, said):
    run = _run(tmp_path / "run", text)
    assert main(["report", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"softfer: error: {run / 'environment.json'}: {said}"), err
    assert "metrics.json" not in err and "move it away" in err
    assert not (run / "report.html").exists()


def test_a_data_kind_that_is_no_boolean_is_shown_as_unknown(tmp_path):
    """`synthetic: [1]` raised a TypeError (unhashable) reported as metrics.json's; `1` was taken for true."""
    for value in ([1], 1, None):
        env = {"data": {"root": "/x", "synthetic": value}, "packages": {}, "machine": {}}
        run = _run(tmp_path / f"run{value}", json.dumps(env))
        assert main(["report", str(run)]) == 0
        page = (run / "report.html").read_text()
        assert "<td>unknown</td>" in page and "synthetic benchmark" not in page


def test_a_file_given_for_the_folder_names_its_folder(tmp_path, capsys):
    run = _run(tmp_path / "run")
    (run / "model.pt").write_bytes(b"weights")
    for name in ("model.pt", "metrics.json"):
        assert main(["report", str(run / name)]) == 2
        err = capsys.readouterr().err.strip()
        assert err == (
            f"softfer: error: {run / name}: a file; report takes the folder of a run, cross-validation or "
            f"comparison: softfer report {run}"
        )
    assert main(["report", str(tmp_path / "nothing")]) == 2
    assert f"{tmp_path / 'nothing'}: no such folder" in capsys.readouterr().err


def test_a_folder_of_runs_names_the_runs_below_it(tmp_path, capsys):
    runs = tmp_path / "runs"
    for name in ("d", "b", "a", "c"):
        _run(runs / name)
    (runs / "empty").mkdir()  # no result: not named
    (runs / "e" / "fold_1").mkdir(parents=True)
    (runs / "e" / "fold_1" / "metrics.json").write_text("{}")  # two levels down: not named
    (runs / "cv").mkdir()
    (runs / "cv" / "summary.json").write_text("{}")  # a cross-validation: named
    assert main(["report", str(runs)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"softfer: error: {runs}: not a finished run, cross-validation or comparison (no metrics.json, "
        f"summary.json or comparison.json); below it: {runs / 'a'}, {runs / 'b'}, {runs / 'c'} and 2 more: "
        f"report one of them (softfer report {runs / 'a'})"
    )
    assert main(["report", str(runs / "empty")]) == 2
    assert capsys.readouterr().err.strip().endswith("(no metrics.json, summary.json or comparison.json)")
    assert main(["report", str(runs / "a")]) == 0
