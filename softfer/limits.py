"""The numeric caps shared by the config schema and the CLI's range-checked options, and the settings
`eval` and `calibrate` may change (ground floor: imports nothing, so that the parser can use them without
loading the schema and torch).

Every numeric key and option has a lower and an upper bound: an open upper end lets a typo (epochs 4500000,
lr 20) or inf through. The caps are far above any sensible value; raise one here if a real experiment needs
more.
"""

MAX_EPOCHS = 100_000
MAX_STEPS = 1_000_000_000
MAX_SEED = 2**32 - 1  # numpy's generators take seeds in [0, 2**32)
MAX_LR = 10.0

# `softfer predict` and `softfer.Predictor` share these ranges (the CLI's range types, the API's checks).
MAX_SECONDS = 86_400.0  # a window or stride in seconds: above 0 (0 gave zero-length windows), at most a day
MAX_FPS = 1000.0  # the frame rate of frames given to Predictor.predict: above 0
MAX_EVERY = 10_000  # detect faces every k frames: at least 1
MAX_THREADS = 1024  # torch CPU threads: at least 1

# `softfer export --opset`: opsets torch's TorchScript exporter writes (the one softfer uses; within torch's
# ONNX_MIN_OPSET and ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET, checked by a test). A model may need more than
# the lowest: an operator missing from an old opset is refused by the exporter, in one line.
OPSETS = (7, 20)

# What `eval` and `calibrate` --set may change on a trained model: the data it reads and where it runs
# (a key ending in "." is a section). Every other setting describes the model or its training; changing it
# would change nothing but the config recorded beside the score.
HELD_OUT_SETTABLE = ("data.", "run.device", "run.amp", "run.progress", "run.deterministic")
# The data settings that change what a trained model sees (its input clips): `eval --set` may change them
# (a measured experiment, recorded in its fingerprint), `calibrate` may not (the temperature it stores is
# applied wherever the model is used with its own settings).
MODEL_INPUT_KEYS = ("data.size", "data.segments", "data.frames_per_segment", "data.reduced_decode")


def held_out_settable_words() -> str:
    """``HELD_OUT_SETTABLE`` as the help and the errors say it: "data.*, run.device, ... or run.x"."""
    words = [k + "*" if k.endswith(".") else k for k in HELD_OUT_SETTABLE]
    return f"{', '.join(words[:-1])} or {words[-1]}"


# Annotator votes for one class of one clip or face (every vote table: `labels votes`, DFEW, FER+). The
# datasets have 10 to 40 annotators, so a larger count is a damaged cell; checked before the int64 cast,
# which would wrap a count above 9.2e18 into a negative one.
MAX_VOTES = 1000

# Windows of `softfer predict` and `softfer.Predictor` per frame: the stride must be at least the frames'
# spacing / MAX_WINDOWS_PER_FRAME (checked where the spacing is known: a video's times, or the fps given
# with frames). A stride below the spacing repeats the same frames window after window, and a tiny stride
# or frame rate (fps 1e-9: frames 1e9 s apart) asked for billions of windows, which failed for lack of
# memory; with this bound the windows take memory in proportion to the frames.
MAX_WINDOWS_PER_FRAME = 10
