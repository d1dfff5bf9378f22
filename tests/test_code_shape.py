"""The house rules that keep the code readable: short functions, no oversized training module."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "softfer"
MAX_FUNCTION_LINES = 80


def _functions(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node, node.end_lineno - node.lineno + 1


def test_no_function_over_80_lines():
    long = [
        f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name} ({n} lines)"
        for path in sorted(PACKAGE.rglob("*.py"))
        for node, n in _functions(path)
        if n > MAX_FUNCTION_LINES
    ]
    assert not long, "functions over 80 lines:\n" + "\n".join(long)


def test_training_module_stays_small():
    assert len((PACKAGE / "engine" / "train.py").read_text().splitlines()) < 350
