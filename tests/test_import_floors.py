"""The floors hold at run time: help and version load no heavy library, no package loads a higher floor,
and docs/ARCHITECTURE.md draws the floors the import-linter contracts enforce."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "matplotlib", "av", "pandas", "cv2", "onnxruntime")


def _layers() -> list[list[str]]:
    """The layers contract, ground floor first, each floor's packages."""
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    layers = next(c for c in contracts if c["type"] == "layers")["layers"]
    return [[p.strip() for p in floor.split("|")] for floor in reversed(layers)]


def _loaded_after(code: str) -> set[str]:
    probe = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_version_and_every_help_import_no_heavy_library():
    code = (
        "import contextlib, io\n"
        "from softfer.cli import build_parser, main\n"
        "def commands(parser, prefix=()):\n"
        "    for action in parser._subparsers._group_actions if parser._subparsers else ():\n"
        "        for name, sub in action.choices.items():\n"
        "            yield (*prefix, name)\n"
        "            yield from commands(sub, (*prefix, name))\n"
        "argvs = [['--version'], ['--help']] + [[*c, '--help'] for c in commands(build_parser())]\n"
        "for argv in argvs:\n"
        "    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "        main(argv)\n"
        "assert len(argvs) > 20, argvs\n"
    )
    loaded = _loaded_after(code)
    assert not [m for m in HEAVY if m in loaded], [m for m in HEAVY if m in loaded]


def test_import_softfer_is_lazy_and_its_public_names_still_resolve():
    assert not [m for m in HEAVY if m in _loaded_after("import softfer")]
    loaded = _loaded_after("import softfer\nassert softfer.Predictor.__name__ == 'Predictor'")
    assert "softfer.predict" in loaded


def test_the_model_registry_costs_torch_only():
    """timm and torchvision are loaded when a model is built, not when the registry is read."""
    loaded = _loaded_after("import softfer.models\nassert softfer.models.list_models()")
    assert not [m for m in ("timm", "torchvision") if m in loaded]


@pytest.mark.parametrize("floor", range(len(_layers()) - 1), ids=lambda i: "|".join(_layers()[i]))
def test_importing_a_floor_loads_nothing_from_a_higher_floor(floor):
    layers = _layers()
    higher = [p for upper in layers[floor + 1 :] for p in upper]
    for package in layers[floor]:
        loaded = _loaded_after(f"import {package}")
        above = sorted(m for m in loaded if any(m == h or m.startswith(h + ".") for h in higher))
        assert not above, f"import {package} loads higher floors: {above}"


def test_architecture_doc_draws_the_contracted_floors():
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    block = re.search(r"```\n(.*?)```", text, re.S).group(1)
    drawn = [
        sorted(p.strip() for p in m.group(1).split("|"))
        for m in (re.match(r"^(\S+(?: \| \S+)*)\s{2,}", line) for line in block.splitlines())
        if m
    ]
    contracted = [sorted(p.removeprefix("softfer.") for p in floor) for floor in reversed(_layers())]
    assert drawn == contracted
