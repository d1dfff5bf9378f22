"""Docs review 11, M1: the README's FER+ demo-sized recipe (`softfer synth ferplus ...`, `softfer train
ferplus/demo_soft.yaml`) wrote into ./softfer_demo, the default --out of `softfer demo`, which then refused
that folder as not its own ("softfer_demo is not empty and holds no earlier run of this demo"). Every
packaged config but the demo's own now reads and writes outside the demo's default folder."""

import inspect
from pathlib import Path

import pytest

from softfer import demo
from softfer.cli.parser import build_parser
from softfer.config import load_config, packaged_configs


def _demo_default_out() -> Path:
    """The folder `softfer demo` writes when given no --out (the CLI's and the Python API's default)."""
    cli = build_parser().parse_args(["demo"]).out
    api = inspect.signature(demo.run_demo).parameters["out"].default
    assert Path(cli) == Path(api)  # one default, whichever way the demo is started
    return Path(cli)


def _not_the_demos_own() -> list[Path]:
    """Every packaged config except the demo's (the demo sets their data.root and run.out_dir itself)."""
    own = demo.demo_config_dir()
    found = sorted(p for p in packaged_configs().rglob("*.yaml") if not p.is_relative_to(own))
    assert any(p.parent.name == "ferplus" and p.stem.startswith("demo_") for p in found)
    return found


@pytest.mark.parametrize("path", _not_the_demos_own(), ids=lambda p: str(p.relative_to(packaged_configs())))
def test_a_packaged_config_reads_and_writes_outside_the_demos_default_folder(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    default = (tmp_path / _demo_default_out()).resolve()
    cfg = load_config(path)
    for key, value in (("data.root", cfg.data.root), ("run.out_dir", cfg.run.out_dir)):
        where = (tmp_path / value).resolve()
        assert not where.is_relative_to(default), f"{path.name}: {key} {value} lies in the demo's folder"


def test_the_ferplus_recipe_leaves_the_demos_default_folder_free(tmp_path, monkeypatch):
    # the README's order: the FER+ recipe's data and runs first, then `softfer demo` with its default --out
    monkeypatch.chdir(tmp_path)
    for stem in ("demo_hard", "demo_soft", "demo_soft_midas"):
        cfg = load_config(f"ferplus/{stem}.yaml")
        for folder in (cfg.data.root, cfg.run.out_dir):
            (tmp_path / folder).mkdir(parents=True, exist_ok=True)
            (tmp_path / folder / "written.txt").write_text("x")
    assert demo._foreign_entries(tmp_path / _demo_default_out()) == []
