"""Issue 21: `softfer report` shows whatever a run folder holds as text, never as markup.

Real run, cross-validation and comparison folders are copied, then markup is written into every string of
their metrics.json, config.yaml, environment.json and summaries (numbers of metrics.json included, as a
hand-edited file may hold a string where a number belongs), into the keys that name data (classes,
splits, configs) and into the file names (figures, fold and config folders, the folder itself). The page
must show all of it escaped: no injected tag, attribute or script reaches the HTML.
"""

import json
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml

from softfer.cli import main
from softfer.config import load_config, packaged_configs
from softfer.engine.evaluate import COUNT_KEYS
from softfer.engine.train import fit
from softfer.metric_table import METRICS_BY_NAME
from softfer.studies.compare import compare_configs
from softfer.studies.crossval import cross_validate
from tests.tiny import tiny_overrides

SCRIPT = "<script>alert(1)</script>"
ATTRIBUTE = '"><img src=x onerror=alert(1)>'  # no "/": it fits in a file name too
MARK = SCRIPT + ATTRIBUTE


@pytest.fixture(scope="module")
def folders(tiny_dfew, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("injection")
    sets = tiny_overrides(tiny_dfew)
    hard = packaged_configs() / "demo" / "hard.yaml"
    fit(load_config(hard, [*sets, f"run.out_dir={tmp / 'run'}"]))
    cross_validate(load_config(hard, [*sets, f"run.out_dir={tmp / 'cv'}"]), folds=(1, 2))
    compare_configs(["demo/hard.yaml", "demo/midas.yaml"], seeds=(0,), out=tmp / "cmp", overrides=sets)
    return {"run": tmp / "run", "cv": tmp / "cv", "compare": tmp / "cmp"}


def _mark(obj: Any, mark: str, *, numbers: bool, free: dict[str, int], levels: int = 0) -> Any:
    """``obj`` with ``mark`` appended to every string (and put in place of every number when ``numbers``,
    into every empty list), and to the keys of the maps named in ``free``, which are keyed by data (class,
    split or config names) for the given number of levels."""
    if isinstance(obj, dict):
        return {
            (f"{k}{mark}" if levels else k): _mark(
                v, mark, numbers=numbers, free=free, levels=levels - 1 if levels else free.get(k, 0)
            )
            for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [_mark(v, mark, numbers=numbers, free=free) for v in obj] if obj else [mark]
    if isinstance(obj, str):
        return obj + mark
    if numbers and isinstance(obj, int | float) and not isinstance(obj, bool):
        return mark
    return obj


def _rewrite_json(path: Path, mark: str, *, numbers: bool, free: dict[str, int]) -> dict[str, Any]:
    marked = _mark(json.loads(path.read_text()), mark, numbers=numbers, free=free)
    path.write_text(json.dumps(marked))
    return marked


def _hostile_copy(source: Path, tmp: Path) -> Path:
    """A copy of ``source`` with markup in every field the report reads and in every file name."""
    folder = tmp / source.name
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns("tensorboard", "*.pt"))
    for path in folder.rglob("metrics.json"):
        free = {"per_class_recall": 1, "data_reading": 1, "dropped": 1}
        original = json.loads(path.read_text())
        marked = _rewrite_json(path, MARK, numbers=True, free=free)
        # the metric table's scores and the counts stay numbers: a metrics.json whose score is text is
        # refused, not shown (test_html_report.py::test_a_metric_that_is_not_a_number_is_refused_naming_
        # the_file, engine.evaluate.metric_value_problems); their strings and class names are still marked
        checked = _mark(original, MARK, numbers=False, free=free)
        numeric = (*METRICS_BY_NAME, *COUNT_KEYS, "clear_vs_ambiguous", "per_class_recall")
        kept = {k: checked[k] for k in (*numeric, "confusion_matrix", "skipped") if k in original}
        path.write_text(json.dumps({**marked, **kept}))
    for path in folder.rglob("environment.json"):
        _rewrite_json(path, MARK, numbers=False, free={"packages": 1, "machine": 1})
    for path in folder.rglob("config.yaml"):
        # the settings that name, place or show a run (REUSE_SAFE): an edit of any other makes a config
        # that is invalid or not the run's, which the report refuses rather than shows
        # (test_html_report.py::test_a_run_whose_config_yaml_was_edited_is_refused)
        config = yaml.safe_load(path.read_text())
        config["name"] += MARK
        config["run"]["out_dir"] += MARK
        config["reference"] = _mark(config["reference"], MARK, numbers=False, free={})
        path.write_text(yaml.safe_dump(config))
    if (folder / "summary.json").is_file():  # cross-validation: mark the fold numbers and their folders
        summary = _mark(json.loads((folder / "summary.json").read_text()), MARK, numbers=False, free={})
        for k in summary["folds"]:
            (folder / f"fold_{k}").rename(folder / f"fold_{k}{ATTRIBUTE}")
        summary["folds"] = [f"{k}{ATTRIBUTE}" for k in summary["folds"]]
        (folder / "summary.json").write_text(json.dumps(summary))
    if (folder / "comparison.json").is_file():  # configs are named by folders: the same mark in both
        free = {"per_config": 1, "per_class_recall": 2}
        summary = _rewrite_json(folder / "comparison.json", ATTRIBUTE, numbers=False, free=free)
        for name in summary["configs"]:
            (folder / name.removesuffix(ATTRIBUTE)).rename(folder / name)
    for png in list(folder.rglob("*.png")):
        if png.name != "comparison.png":  # the one figure the report finds by its name
            png.rename(png.with_name(f"{png.stem}{ATTRIBUTE}.png"))
    return folder.rename(folder.with_name(f"{folder.name}{ATTRIBUTE}"))


class _Tags(HTMLParser):
    """Every start tag of a page, with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


@pytest.mark.parametrize("kind", ["run", "cv", "compare"])
def test_markup_in_every_field_and_file_name_is_shown_escaped(folders, kind, tmp_path):
    folder = _hostile_copy(folders[kind], tmp_path)
    out = tmp_path / "report.html"
    assert main(["report", str(folder), "--out", str(out)]) == 0
    page = out.read_text()
    for raw in (SCRIPT, ATTRIBUTE, "<img src=x"):
        assert raw not in page, f"{raw!r} reached the page raw"
    # shown, as text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    parser = _Tags()
    parser.feed(page)
    assert [t for t, _ in parser.tags].count("script") == 1  # the page's own image check, nothing else
    for tag, attrs in parser.tags:
        assert not [name for name, _ in attrs if name.startswith("on")], (tag, attrs)
        if tag == "img":
            assert sorted(name for name, _ in attrs) == ["alt", "src"]
            assert dict(attrs)["src"].startswith("data:image/png;base64,")
