"""softfer: ambiguity-aware facial expression recognition.

Soft labels from annotator votes, MIDAS mixing for video clips, dual-domain (valence/arousal) label
fusion, the architectures and evaluation protocols of the MIDAS and dual-domain papers.
"""

from softfer.classes import AFFECTNET_CLASSES, DFEW_CLASSES

__version__ = "0.1.0"
__all__ = ["AFFECTNET_CLASSES", "DFEW_CLASSES", "__version__"]
