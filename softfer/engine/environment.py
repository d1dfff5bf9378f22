"""What a run ran on: package versions, the softfer commit, the machine, and the data it read.

Written beside config.yaml as environment.json when a run starts, so that a report made later (or on
another machine) states where its numbers came from rather than where the report was made.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

PACKAGES = ("softfer", "torch", "torchvision", "timm", "torchmetrics", "numpy", "av", "facenet-pytorch")


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def git_commit(where: Path | None = None) -> str | None:
    """The commit of the softfer checkout this code runs from (with "+dirty" when it has local changes),
    or None for an installed wheel or when git is not at hand."""
    where = where or Path(__file__).resolve().parents[2]
    if not (where / ".git").exists():
        return None

    def git(*args: str) -> str:
        cmd = ["git", "-C", str(where), *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=5, check=True).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        return commit + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.SubprocessError):
        return None


def machine() -> dict[str, Any]:
    """The machine in a few fields: OS, CPU architecture and count, accelerators."""
    gpus = (
        [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        if torch.cuda.is_available()
        else []
    )
    return {
        "platform": platform.platform(),
        "cpu": platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpus": gpus,
    }


def environment(data_root: str | None = None, synthetic: bool | None = None) -> dict[str, Any]:
    """Versions, commit, machine and data provenance of the current process, as environment.json holds."""
    return {
        "python": sys.version.split()[0],
        "packages": {name: _version(name) for name in PACKAGES},
        "softfer_commit": git_commit(),
        "machine": machine(),
        "data": {"root": data_root, "synthetic": synthetic},
    }
