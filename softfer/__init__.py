"""softfer: ambiguity-aware facial expression recognition.

Soft labels from annotator votes, MIDAS mixing for video clips, dual-domain (valence/arousal) label
fusion, the architectures and evaluation protocols of the MIDAS and dual-domain papers, and emotions of
every face in real videos (``softfer.Predictor``).

The top level is lazy: ``import softfer`` (and so ``softfer --version`` and every ``--help``) loads no
torch; ``softfer.Predictor`` and ``softfer.Prediction`` import the prediction floor on first use.
"""

from softfer._lazy import lazy_attributes

__version__ = "0.1.0"

_NAMES = {
    "AFFECTNET_CLASSES": "softfer.classes",
    "DFEW_CLASSES": "softfer.classes",
    "Prediction": "softfer.predict",
    "Predictor": "softfer.predict",
}

__all__ = ["AFFECTNET_CLASSES", "DFEW_CLASSES", "Prediction", "Predictor", "__version__"]
__getattr__, __dir__ = lazy_attributes(__name__, _NAMES, globals())
