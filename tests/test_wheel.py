"""softfer built as a wheel and installed (not editable) runs from another directory (issue 13, item 8).

The wheel is built from a copy of the package (so no build/ folder lands in the checkout), installed
without dependencies into a venv that sees the system's packages (torch etc.; no network needed), and
its own `softfer` command runs the quick demo and lists the paper tables with cwd outside the checkout.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from softfer.studies.reproduce import table_paths

REPO = Path(__file__).resolve().parents[1]


def _run(cmd: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"{' '.join(cmd)} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A venv with softfer installed from a freshly built wheel."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(REPO / "softfer", src / "softfer", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    pip_quiet = ["--no-deps", "--no-index", "--disable-pip-version-check", "-q"]
    _run(
        [sys.executable, "-m", "pip", "wheel", str(src), "--no-build-isolation", *pip_quiet, "-w", "dist"],
        tmp,
    )
    (wheel,) = (tmp / "dist").glob("softfer-*.whl")
    # The system's pip installs into the venv (its sys.prefix); --ignore-installed leaves the editable
    # softfer of the system site-packages alone.
    _run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", "venv"], tmp)
    python = tmp / "venv" / "bin" / "python"
    _run([str(python), "-m", "pip", "install", "--ignore-installed", *pip_quiet, str(wheel)], tmp)
    return tmp / "venv"


@pytest.mark.slow
def test_the_venv_imports_the_wheel_not_the_checkout(venv):
    out = _run([str(venv / "bin" / "python"), "-c", "import softfer; print(softfer.__file__)"], venv.parent)
    where = Path(out.stdout.strip())
    assert where.is_relative_to(venv / "lib"), where
    packaged = where.parent / "configs"
    assert len(list(packaged.rglob("*.yaml"))) == len(list((REPO / "softfer" / "configs").rglob("*.yaml")))
    templates = sorted(t.name for t in (REPO / "softfer" / "analysis" / "templates").glob("*.html.j2"))
    assert sorted(t.name for t in (where.parent / "analysis" / "templates").iterdir()) == templates  # report
    viewer = sorted(t.name for t in (REPO / "softfer" / "predict" / "templates").glob("*.html.j2"))
    assert viewer and sorted(t.name for t in (where.parent / "predict" / "templates").iterdir()) == viewer


@pytest.mark.slow
def test_wheel_runs_the_quick_demo_from_another_directory(venv):
    out_dir = venv.parent / "demo" / "quick"  # the quick demo's own folder in OUT
    _run([str(venv / "bin" / "softfer"), "demo", "--quick", "--out", str(venv.parent / "demo")], venv.parent)
    results = json.loads((out_dir / "results.json").read_text())
    assert sorted(results) == ["hard", "midas", "soft"]
    assert all(0.0 <= m["uar"] <= 1.0 for m in results.values())
    for name in (
        "comparison.png",
        "coexisting_emotions.png",
        "runs/midas/model.pt",
        "runs/hard/metrics.json",
    ):
        assert (out_dir / name).is_file(), name


@pytest.mark.slow
def test_wheel_lists_every_paper_table(venv):
    out = _run([str(venv / "bin" / "softfer"), "reproduce", "--list"], venv.parent)
    expected = table_paths()  # from the checkout, independently of the wheel
    assert len(expected) >= 10
    for table, paths in expected.items():
        line = f"  {table}: " + ", ".join(p.stem for p in paths)
        assert line in out.stdout.splitlines(), line
