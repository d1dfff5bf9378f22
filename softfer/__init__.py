"""softfer: ambiguity-aware facial expression recognition.

Soft labels from annotator votes, MIDAS mixing for video clips, dual-domain (valence/arousal) label
fusion, the architectures and evaluation protocols of the MIDAS and dual-domain papers, and emotions of
every face in real videos (``softfer.Predictor``).
"""

# defined before the imports below: the CLI, which they do not import, reads it
__version__ = "0.1.0"

from softfer.classes import AFFECTNET_CLASSES, DFEW_CLASSES
from softfer.predict import Prediction, Predictor

__all__ = ["AFFECTNET_CLASSES", "DFEW_CLASSES", "Prediction", "Predictor", "__version__"]
