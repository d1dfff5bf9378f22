"""Class vocabularies of the datasets softfer reads, in each dataset's own index order, and the one rule
that calls a voted clip clear (its constants live here, on the ground floor, so that the labels, the metrics
and the config schema share one default)."""

# MIDAS section 5.5's "clear" group: a clip is clear when its top class holds more than this share of the
# votes. The one default of `data.clear_threshold`, the metrics' clear/ambiguous split and the clear
# training group (`softfer.labels.votes.split_clear_mixed`).
CLEAR_THRESHOLD = 0.9
# Vote shares pass through float32 (6/10 is stored as 0.60000002): a share within this of the threshold
# counts as on it, i.e. ambiguous.
SHARE_TOLERANCE = 1e-6

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

# FER+ (Barsoum et al. 2016) vote columns 0..7 of fer2013new.csv, in its order, named as softfer names
# them; the file's two last columns (unknown, NF "not a face") are not classes. The first 7 are the
# classes shared with DFEW (``data.num_classes: 7`` drops contempt).
FERPLUS_CLASSES: tuple[str, ...] = (
    "neutral",
    "happy",
    "surprise",
    "sad",
    "angry",
    "disgust",
    "fear",
    "contempt",
)

# Spellings seen in FER annotation files, mapped to softfer's canonical class names.
CLASS_SYNONYMS: dict[str, str] = {
    "happiness": "happy",
    "happy": "happy",
    "sadness": "sad",
    "sad": "sad",
    "neutral": "neutral",
    "anger": "angry",
    "angry": "angry",
    "surprise": "surprise",
    "surprised": "surprise",
    "disgust": "disgust",
    "disgusted": "disgust",
    "fear": "fear",
    "fearful": "fear",
    "contempt": "contempt",
}


def class_order(have: tuple[str, ...] | list[str], want: tuple[str, ...] | list[str]) -> list[int] | None:
    """For each of ``want``, the index of the class of ``have`` that is it (names compared through
    ``CLASS_SYNONYMS``: AffectNet's anger is FER+'s angry); None when the two are not the same set of
    distinct classes. FER2013's angry, disgust, fear, happy, sad, surprise, neutral for DFEW's happy, sad,
    neutral, angry, surprise, disgust, fear: [3, 4, 6, 0, 5, 1, 2]."""
    a = [CLASS_SYNONYMS.get(n.lower(), n.lower()) for n in have]
    b = [CLASS_SYNONYMS.get(n.lower(), n.lower()) for n in want]
    if len(set(a)) != len(a) or sorted(a) != sorted(b):
        return None
    return [a.index(name) for name in b]


def changed_order(
    have: tuple[str, ...] | list[str], want: tuple[str, ...] | list[str], refusal: str
) -> list[int] | None:
    """``class_order(have, want)`` when it moves any class, None when ``have`` already is ``want`` (names
    through ``CLASS_SYNONYMS``): the one step before records or a model's outputs are reordered.

    Raises:
        ValueError: ``refusal``, when ``have`` is not ``want``'s set of classes in any order.
    """
    order = class_order(have, want)
    if order is None:
        raise ValueError(refusal)
    return None if order == sorted(order) else order
