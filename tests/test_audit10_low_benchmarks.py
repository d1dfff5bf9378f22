"""Audit 10's L5 and L6: `demo_reference.py --confirmed-by A --confirmed-by B` kept only B (A silently
dropped), and `learning_curves.py --metrics uar,uar` drew uar twice."""

import sys
from pathlib import Path

import pytest

from tests.test_learning_curves import fake_compare, uar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))  # the scripts import each other as `python benchmarks/x.py` does
import demo_reference as dr  # noqa: E402
import learning_curves as lc  # noqa: E402


def test_confirmed_by_given_twice_keeps_every_folder(monkeypatch, tmp_path, capsys):
    seen = {}

    def write_reference(folder, out=None, **kw):
        seen.update(kw, folder=folder)
        return tmp_path / "ref.json"

    monkeypatch.setattr(dr, "write_reference", write_reference)
    argv = ["demo_reference.py", "e32", "--confirmed-by", "e64", "e96", "--confirmed-by", "e160"]
    monkeypatch.setattr(sys, "argv", argv)
    dr.main()
    assert seen["longer"] == (Path("e64"), Path("e96"), Path("e160"))
    assert seen["folder"] == Path("e32")
    monkeypatch.setattr(sys, "argv", argv[:2])
    dr.main()
    assert seen["longer"] == ()


def test_a_metric_given_twice_is_refused(tmp_path, monkeypatch, capsys):
    a = fake_compare(tmp_path / "e8", 8, uar(0.50, 0.45, 0.30))
    b = fake_compare(tmp_path / "e16", 16, uar(0.55, 0.60, 0.35))
    with pytest.raises(ValueError, match=r"--metrics names uar more than once: give each metric once"):
        lc.learning_curves([a, b], ["uar", "war", "uar"])
    monkeypatch.setattr(sys, "argv", ["learning_curves.py", str(a), str(b), "--metrics", "nll,uar,nll"])
    with pytest.raises(SystemExit) as exit_:
        lc.main()
    assert exit_.value.code == 2
    assert "learning_curves.py: --metrics names nll more than once" in capsys.readouterr().err
    assert "| uar | 8 epochs | 16 epochs |" in lc.learning_curves([a, b], ["uar", "war"])  # each once: read


def test_budget_table_refuses_a_metric_given_twice_too(monkeypatch, capsys):
    # the same rule as learning_curves (budget_table.check_metric_names), before any folder is read
    import budget_table as bt

    with pytest.raises(ValueError, match=r"--metrics names war more than once: give each metric once"):
        bt.budget_markdown(Path("nowhere-short"), Path("nowhere-long"), ["war", "uar", "war"])
    monkeypatch.setattr(sys, "argv", ["budget_table.py", "a", "b", "--metrics", "uar,uar"])
    with pytest.raises(SystemExit) as exit_:
        bt.main()
    assert exit_.value.code == 2
    assert "budget_table.py: --metrics names uar more than once" in capsys.readouterr().err
