"""Emotions of every face in real videos and photos: ``Predictor`` for notebooks, ``predict_media`` for
`softfer predict`. Layout: pipeline.py (crops, classification, windows), results.py (tables and files),
api.py (``Predictor``), media.py (files and folders), annotate.py (annotated videos and photos),
colours.py (one colour per face, different for faces on screen together), view.py (the viewer page of
`softfer view`), result_json.py (a result JSON read back and checked), identity.py (the media file's size
and SHA-256, recorded by predict and checked by view)."""

from softfer._lazy import lazy_attributes

# Imported on first use: `softfer view` reads a result without loading torch.
_NAMES = {
    "SYNTHETIC_NOTE": "softfer.predict.api",
    "FaceSettings": "softfer.predict.api",
    "Predictor": "softfer.predict.api",
    "provenance": "softfer.predict.api",
    "output_paths": "softfer.predict.media",
    "predict_media": "softfer.predict.media",
    "Prediction": "softfer.predict.results",
}

__all__ = sorted(_NAMES)
__getattr__, __dir__ = lazy_attributes(__name__, _NAMES, globals())
