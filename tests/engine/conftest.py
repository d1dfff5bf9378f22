import pytest

from softfer.data.synthetic.generate import generate_dfew


@pytest.fixture(scope="session")
def tiny_dfew(tmp_path_factory):
    """A 60-clip synthetic DFEW-layout set at 32 px, shared by the engine tests."""
    root = tmp_path_factory.mktemp("tiny_dfew") / "dfew"
    generate_dfew(root, clips=60, size=32, seed=0, workers=1)
    return root


def tiny_config(root, out, **over) -> list[str]:
    """Overrides turning the packaged demo/base.yaml into a seconds-long CPU run."""
    sets = {
        "data.root": str(root),
        "data.size": 32,
        "data.segments": 4,
        "model.options": "{width: 8, dropout: 0.5}",
        "optim.epochs": 2,
        "optim.batch_size": 4,
        "optim.name": "adam",
        "optim.lr": 0.001,
        "run.out_dir": str(out),
        "run.progress": "false",
    }
    sets.update(over)
    return [f"{k}={v}" for k, v in sets.items()]
