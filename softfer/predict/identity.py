"""The identity of the media file a result was predicted from: its size in bytes and the SHA-256 of its
bytes, recorded by predict in ``meta.media_identity`` and checked by ``softfer view``, so that a page never
draws one file's faces over another (a photo of the same pixel size, a clip re-cut to the same length, a
different file now at the path predict recorded).

Media given as pixels (a PIL image, a numpy array, a torch tensor) have no file: their result records
``null``, and ``softfer view`` checks the media it is given by pixel size and frame count only, and says
so; as it does for results written before predict recorded the identity (no such field).
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

IDENTITY_KEY = "media_identity"
_CHUNK = 1 << 20
_SHA256 = re.compile(r"[0-9a-f]{64}")


def media_identity(path: str | Path) -> dict[str, Any]:
    """``{"bytes": size, "sha256": hex digest}`` of the file at ``path`` (read once, in 1 MiB blocks:
    about a second per GB, small beside predicting it)."""
    h, size = hashlib.sha256(), 0
    with Path(path).open("rb") as f:
        while block := f.read(_CHUNK):
            h.update(block)
            size += len(block)
    return {"bytes": size, "sha256": h.hexdigest()}


def is_identity(value: Any) -> bool:
    """Whether ``value`` is an identity as ``media_identity`` writes it."""
    if not isinstance(value, dict):
        return False
    size, digest = value.get("bytes"), value.get("sha256")
    whole = isinstance(size, int) and not isinstance(size, bool) and size >= 0
    return whole and isinstance(digest, str) and _SHA256.fullmatch(digest) is not None


def _said(identity: dict[str, Any]) -> str:
    return f"{identity['bytes']} bytes, sha256 {identity['sha256']}"


def check_media_identity(result: Path, meta: dict[str, Any], media: Path) -> None:
    """Refuse ``media`` when it is not the file ``result`` was predicted from (``meta.media_identity``,
    checked as the JSON was read); without one, log that only its pixel size and frame count are checked.

    Raises:
        ValueError: naming the media, its size and digest, and those the result records.
    """
    if IDENTITY_KEY not in meta:
        log.warning(
            "%s: written by an earlier softfer, which recorded no identity of its media: %s is checked by "
            "its pixel size and frame count only (predict it again to have the file itself checked)",
            result,
            media,
        )
        return
    recorded = meta[IDENTITY_KEY]
    if recorded is None:
        log.warning(
            "%s: predicted from pixels (an array or image given to Predictor.predict), not a file, so no "
            "identity of the media is recorded: %s is checked by its pixel size and frame count only",
            result,
            media,
        )
        return
    found = media_identity(media)
    if found["bytes"] != recorded["bytes"] or found["sha256"] != recorded["sha256"]:
        raise ValueError(
            f"{media}: {_said(found)}, but {result} was predicted from a file of {_said(recorded)} "
            f"(meta.{IDENTITY_KEY}): another file, or this one edited or re-encoded since; pass --media the "
            "video or photo that was predicted, or predict this one again"
        )
