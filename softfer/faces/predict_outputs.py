"""Which pictures and videos in a folder are `softfer predict`'s own outputs, not media.

The rule lives on the faces floor so that every command that lists a folder of media uses the same one:
`predict` (``softfer.predict.media``) and `preprocess` (``softfer.faces.preprocess``) sit above it, and
a folder that predict wrote into (``--out`` beside the videos) must not hand its annotated copies to
preprocess as new videos: their pixels hold predict's boxes and emotion text. The dataset readers
(``softfer.data``) leave them out of every frame folder (``records.frame_index``) and class folder too.
"""

from __future__ import annotations

import os
from pathlib import Path

# The outputs with a picture or video suffix, which a folder's listing would take for media.
MEDIA_TAILS = ("_timeline.png", "_annotated.jpg", "_annotated.mp4")


def is_own_output(path: str | Path) -> bool:
    """Whether ``path`` is a picture or video `predict` wrote: ``NAME`` + one of ``MEDIA_TAILS``, with that
    run's ``NAME.json`` beside it (a user's own ``x_timeline.png`` without ``x.json`` is media)."""
    # str paths and os.path: frame folders list every frame through here (``records.frame_index``)
    name = os.path.basename(path)
    for tail in MEDIA_TAILS:
        if name.endswith(tail) and len(name) > len(tail):
            return os.path.isfile(os.path.join(os.path.dirname(path), name[: -len(tail)] + ".json"))
    return False
