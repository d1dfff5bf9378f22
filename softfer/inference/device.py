"""One check of a device name, for training, evaluation and prediction alike.

torch accepts "cuda" on a machine without CUDA and fails at the first tensor moved there, with an error
that names neither the setting nor what to do; "gpu" or "tpu" fail inside torch's parser. Here each is one
line naming the setting and the devices this machine has.
"""

from __future__ import annotations

import torch

KINDS = ("cpu", "cuda", "mps")  # the device types softfer runs on; "auto" picks CUDA when available


def resolve_device(name: str | torch.device, setting: str = "run.device") -> torch.device:
    """The torch device ``name`` stands for ("auto": the first CUDA device when available, else the CPU).

    Raises:
        ValueError: naming ``setting``: not a device name, a kind softfer does not run on, or a device this
            machine does not have (no CUDA, a CUDA index beyond its devices, no MPS).
    """
    if str(name) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"{setting}={name!r} is not a device: use auto, cpu, cuda or cuda:N (or mps on Apple)"
        ) from None
    if device.type not in KINDS:
        raise ValueError(f"{setting}={name!r}: softfer runs on {', '.join(KINDS)} devices (or auto)")
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if not count:
            raise ValueError(
                f"{setting}={name!r}, but this machine has no CUDA device (torch {torch.__version__}); "
                "use cpu or auto"
            )
        if device.index is not None and device.index >= count:
            raise ValueError(
                f"{setting}={name!r}, but this machine has {count} CUDA device(s): cuda:0..{count - 1}"
            )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"{setting}={name!r}, but MPS is not available here; use cpu or auto")
    return device
