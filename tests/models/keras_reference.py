"""An independent NumPy forward pass of a Keras 2 HDF5 model, written from Keras' layer definitions.

It interprets the file's own layer graph (model_config) layer by layer in channels-last float64, with
TensorFlow's padding rules, so that it shares no code and no layout conventions with softfer's PyTorch
port: the test compares the two.
"""

from __future__ import annotations

import io
import json
import math

import h5py
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _pad_amounts(n: int, k: int, s: int, padding: str) -> tuple[int, int]:
    if padding == "valid":
        return 0, 0
    total = max((math.ceil(n / s) - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def _windows(x: np.ndarray, k: tuple[int, int], s: tuple[int, int], padding: str, fill: float) -> np.ndarray:
    """(B, H', W', C, kh, kw) windows of channels-last x."""
    (top, bottom), (left, right) = (
        _pad_amounts(x.shape[1], k[0], s[0], padding),
        _pad_amounts(x.shape[2], k[1], s[1], padding),
    )
    x = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=fill)
    w = sliding_window_view(x, k, axis=(1, 2))
    return w[:, :: s[0], :: s[1]]


def _conv(x, kernel, strides, padding):
    w = _windows(x, kernel.shape[:2], strides, padding, 0.0)  # (B, H, W, Cin, kh, kw)
    return np.einsum("bhwcij,ijco->bhwo", w, kernel)


def _depthwise(x, kernel, padding):
    w = _windows(x, kernel.shape[:2], (1, 1), padding, 0.0)
    return np.einsum("bhwcij,ijc->bhwc", w, kernel[..., 0])


def _apply(layer: dict, inputs: list[np.ndarray], weights: dict[str, np.ndarray]) -> np.ndarray:
    kind, cfg = layer["class_name"], layer["config"]
    x = inputs[0]
    if kind == "Conv2D":
        y = _conv(x, weights["kernel"], tuple(cfg["strides"]), cfg["padding"])
        return y + weights["bias"] if cfg["use_bias"] else y
    if kind == "SeparableConv2D":
        y = _depthwise(x, weights["depthwise_kernel"], cfg["padding"])
        return np.einsum("bhwc,co->bhwo", y, weights["pointwise_kernel"][0, 0])
    if kind == "BatchNormalization":
        scale = weights["gamma"] / np.sqrt(weights["moving_variance"] + cfg["epsilon"])
        return (x - weights["moving_mean"]) * scale + weights["beta"]
    if kind == "Activation":
        if cfg["activation"] == "relu":
            return np.maximum(x, 0)
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    if kind == "MaxPooling2D":
        w = _windows(x, tuple(cfg["pool_size"]), tuple(cfg["strides"]), cfg["padding"], -np.inf)
        return w.max(axis=(-2, -1))
    if kind == "Add":
        return sum(inputs)
    if kind == "GlobalAveragePooling2D":
        return x.mean(axis=(1, 2))
    raise NotImplementedError(kind)


def keras_forward(hdf5: bytes, grey: np.ndarray) -> np.ndarray:
    """The model's output (its softmax) for (B, H, W) grey inputs already scaled as the model expects."""
    with h5py.File(io.BytesIO(hdf5), "r") as f:
        layers = json.loads(f.attrs["model_config"])["config"]["layers"]
        group = f["model_weights"]
        values: dict[str, np.ndarray] = {}
        for layer in layers:
            name = layer["config"]["name"]
            if layer["class_name"] == "InputLayer":
                values[name] = grey[..., None].astype(np.float64)
                continue
            g = group[name]
            weights = {
                n.decode().split("/")[-1].split(":")[0]: np.asarray(g[n], np.float64)
                for n in g.attrs["weight_names"]
            }
            inputs = [values[node[0]] for node in layer["inbound_nodes"][0]]
            values[name] = _apply(layer, inputs, weights)
        return values[layers[-1]["config"]["name"]]
