"""The engine's shape: imports at the top, no synthetic generator, outputs apart from training, a short fit;
and the provenance of the training data travels with the data."""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import torch

from softfer.config import load_config, packaged_configs
from softfer.data import provenance
from softfer.data.synthetic import generate
from softfer.engine.data import build_data
from softfer.engine.outputs import write_model
from softfer.models import create_model
from tests.engine.conftest import tiny_config

ENGINE = Path(__file__).resolve().parents[2] / "softfer" / "engine"
DEMO_BASE = packaged_configs() / "demo" / "base.yaml"


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _imported(tree: ast.AST) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names += [a.name for a in node.names]
    return names


def test_engine_imports_sit_at_module_level():
    hidden = [
        f"{path.name}:{inner.lineno}"
        for path in sorted(ENGINE.glob("*.py"))
        for node in ast.walk(_tree(path))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        for inner in ast.walk(node)
        if isinstance(inner, ast.Import | ast.ImportFrom)
    ]
    assert not hidden, f"imports inside functions hide an edge: {hidden}"


def test_engine_never_imports_the_synthetic_generator():
    for path in sorted(ENGINE.glob("*.py")):
        assert not [m for m in _imported(_tree(path)) if m.startswith("softfer.data.synthetic")], path.name


def test_evaluating_a_saved_run_does_not_load_the_training_module():
    for name in ("runs.py", "outputs.py", "evaluate.py"):
        assert "softfer.engine.train" not in _imported(_tree(ENGINE / name)), name
    code = "import sys, softfer.engine.runs; print('softfer.engine.train' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_fit_reads_in_one_screen():
    fit = next(
        n for n in ast.walk(_tree(ENGINE / "train.py")) if isinstance(n, ast.FunctionDef) and n.name == "fit"
    )
    assert fit.end_lineno - fit.lineno + 1 <= 50


def test_the_synthetic_marker_is_the_generators():
    assert provenance.GROUND_TRUTH == generate.GROUND_TRUTH


def test_provenance_travels_with_the_data_into_model_pt(tiny_dfew, tmp_path):
    real = tmp_path / "real"
    shutil.copytree(tiny_dfew, real)
    (real / provenance.GROUND_TRUTH).unlink()  # same files, without the generator's marker
    for root, synthetic in ((tiny_dfew, True), (real, False)):
        cfg = load_config(DEMO_BASE, tiny_config(root, tmp_path / "run"))
        data = build_data(cfg)
        assert data.synthetic is synthetic
        assert build_data(cfg, with_train=False).synthetic is False  # no training data, nothing trained on
        model = create_model(cfg.model.name, num_classes=len(data.classes), **cfg.model.options)
        write_model(model, data, cfg, tmp_path)
        saved = torch.load(tmp_path / "model.pt", weights_only=True)
        assert saved["trained_on"] == {"format": "dfew", "synthetic": synthetic}
