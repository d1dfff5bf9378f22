"""The house rules that keep the code readable: functions under ~60 lines and modules under ~400 (docstrings
included), no oversized training module."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "softfer"
MAX_FUNCTION_LINES = 65
MAX_MODULE_LINES = 400


def _functions(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node, node.end_lineno - node.lineno + 1


def test_no_function_over_65_lines():
    long = [
        f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name} ({n} lines)"
        for path in sorted(PACKAGE.rglob("*.py"))
        for node, n in _functions(path)
        if n > MAX_FUNCTION_LINES
    ]
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(long)


def test_no_module_over_400_lines():
    big = [
        f"{path.relative_to(PACKAGE.parent)} ({n} lines)"
        for path in sorted(PACKAGE.rglob("*.py"))
        if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    ]
    assert not big, f"modules over {MAX_MODULE_LINES} lines (split by what they do):\n" + "\n".join(big)


def test_training_module_stays_small():
    assert len((PACKAGE / "engine" / "train.py").read_text().splitlines()) < 350
