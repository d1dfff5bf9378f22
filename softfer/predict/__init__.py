"""Emotions of every face in real videos and photos: ``Predictor`` for notebooks, ``predict_media`` for
`softfer predict`. Layout: pipeline.py (crops, classification, windows), results.py (tables and files),
api.py (``Predictor``), media.py (files and folders), annotate.py (the annotated video)."""

from softfer.predict.api import SYNTHETIC_NOTE, FaceSettings, Predictor, provenance
from softfer.predict.media import output_paths, predict_media
from softfer.predict.pipeline import classify as _classify
from softfer.predict.results import Prediction

__all__ = [
    "SYNTHETIC_NOTE",
    "FaceSettings",
    "Prediction",
    "Predictor",
    "_classify",
    "output_paths",
    "predict_media",
    "provenance",
]
