"""The free-disk check of the synthetic writers: a set that cannot fit is refused before any job is listed
or rendered (a full disk halfway through would leave a staging folder of no use)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from softfer.data.synthetic.render import encode_jpeg


def check_free_space(folder: Path, files: int, size: int, quality: int, what: str) -> None:
    """Refuse a set that cannot fit on the disk of ``folder`` (a new folder of this process) before it is
    rendered: ``files`` JPEG files of ``size`` x ``size`` pixels need at least ``files`` times what one flat
    frame at JPEG ``quality`` (the lowest the renderer draws) takes on this file system, the smallest a
    rendered frame can be; real frames take several times more, so only a set clearly too large is refused.

    Raises:
        ValueError: naming ``what``, the lower bound and the free space.
    """
    probe = folder / "softfer_space_probe.jpg"
    probe.write_bytes(encode_jpeg(np.full((size, size, 3), 128, np.uint8), quality))
    try:  # the blocks the file system gives one such file (4 KiB on ext4); its bytes where it packs them
        stat = probe.stat()
        per_file = max(stat.st_size, getattr(stat, "st_blocks", 0) * 512)
    finally:
        probe.unlink()
    require_space(
        folder, files * per_file, what, f"{files} frames of at least {per_file} bytes on this file system"
    )


def require_space(folder: Path, need: int, what: str, detail: str) -> None:
    """Raise a ValueError naming ``what`` when its files, at least ``need`` bytes (``detail`` says of what),
    cannot fit on the disk of ``folder``: before any job is listed or rendered."""
    free = shutil.disk_usage(folder).free
    if need > free:
        raise ValueError(
            f"{what} needs at least {_amount(need)} ({detail}), but {folder.parent} has {_amount(free)} "
            "free: ask for fewer, or write OUT to a larger disk"
        )


def _amount(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"
