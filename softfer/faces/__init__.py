"""Real video: decoding (PyAV), face detection (MTCNN), alignment, preprocessing."""
