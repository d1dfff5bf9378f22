"""The ground floor: tables (CSV/XLSX), images (JPEG decoding), video (PyAV), media suffixes and atomic
file writes. It imports nothing of softfer but the class vocabulary."""
