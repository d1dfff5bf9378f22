"""Audit 8 F8: the quick demo and the full demo share one OUT (the quick one in OUT/quick), and no refusal
advises an --overwrite that would silently remove another demo's runs.

`softfer demo --quick` then `softfer demo` into the same --out (the default softfer_demo) was refused, and
the advised --overwrite removed the other demo's trainings. tests/engine/test_runs.py::test_demo_quick runs
the quick demo itself and then the full demo's checks in its OUT; here the other order and the folders a
demo meets, stopped where the demo would start writing (no training).
"""

import json
from pathlib import Path

import pytest

from softfer import demo
from softfer.cli import main
from softfer.studies.crossval import write_study


@pytest.fixture
def stop_at_writing(monkeypatch):
    """The demo stops where it would write its first file (after every check): exit 130."""

    def stop(*_):
        raise KeyboardInterrupt

    monkeypatch.setattr(demo, "write_study", stop)


def _full_demo(out: Path) -> dict[Path, bytes]:
    """A full demo's OUT as it writes it (its study record, runs and files); returns its files' bytes."""
    configs = demo._configs(out, out / "data", False, demo.DEMO_SIZE)
    write_study(out, "demo", configs, (1,), (configs[0].run.seed,))
    for regime in demo.REGIMES:
        (out / "runs" / regime).mkdir(parents=True)
        (out / "runs" / regime / "metrics.json").write_text(json.dumps({"uar": 0.5}))
    for name in demo.DEMO_FILES:
        (out / name).write_text(name)
    return {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_the_quick_demo_writes_beside_a_full_demo_and_touches_none_of_its_files(
    tmp_path, stop_at_writing, capsys
):
    out = tmp_path / "softfer_demo"
    before = _full_demo(out)
    assert main(["demo", "--quick", "--out", str(out)]) == 130  # every check passed
    assert main(["demo", "--quick", "--out", str(out), "--overwrite"]) == 130
    assert "already exists" not in capsys.readouterr().err
    assert {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()} == before


def test_a_demo_of_other_settings_in_out_is_named_with_what_overwrite_would_replace(tmp_path, capsys):
    out = tmp_path / "softfer_demo"
    # a quick demo written into OUT itself, as softfer did before quick demos had their own folder
    quick = demo._configs(out, out / "data_quick", True, 32)
    write_study(out, "demo", quick, (1,), (quick[0].run.seed,))
    (out / "runs" / "hard").mkdir(parents=True)
    assert main(["demo", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{out} holds a run of the demo with other settings" in err
    assert "--overwrite would replace its runs (runs/hard, runs/soft, runs/midas)" in err
    assert sorted(p.name for p in out.iterdir()) == ["runs", "study.json"]


def test_the_quick_demo_refuses_an_out_holding_other_files_unless_overwrite(
    tmp_path, stop_at_writing, capsys
):
    from softfer.demo import _check_quick_parent

    out = tmp_path / "mine"
    out.mkdir()
    _check_quick_parent(out, False)  # empty
    (out / "notes.txt").write_text("x")
    with pytest.raises(
        ValueError, match=r"mine is not empty and holds no earlier run of this demo: .*mine/quick"
    ):
        _check_quick_parent(out, False)
    _check_quick_parent(out, True)
    assert main(["demo", "--quick", "--out", str(out)]) == 2
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
