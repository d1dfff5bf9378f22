"""Class vocabularies of the datasets softfer reads, in each dataset's own index order."""

# DFEW label order (labels 1..7 in the release files map to 0..6 here); MIDAS uses the same order.
DFEW_CLASSES: tuple[str, ...] = ("happy", "sad", "neutral", "angry", "surprise", "disgust", "fear")

# AffectNet expression codes 0..7 (8 = none, 9 = uncertain, 10 = no-face are not classes).
AFFECTNET_CLASSES: tuple[str, ...] = (
    "neutral",
    "happy",
    "sad",
    "surprise",
    "fear",
    "disgust",
    "anger",
    "contempt",
)
