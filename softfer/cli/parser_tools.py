"""Range-checked argparse types, and the `softfer labels` and `softfer synth` argument parsers."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from typing import Any

from softfer.cli import commands as c
from softfer.data.formats import MAX_FOLD
from softfer.limits import MAX_SEED

# Every numeric option takes one of these types (tests/robustness/test_settings_bounds.py walks the parser):
# a value outside its range is a usage error, exit 2, that names the range. Each type carries its range as
# attributes (lo, hi, lo_open) for that test.


def _ascii_number(text: str) -> str:
    """``text`` if it is written with ASCII characters and no underscore, else a ValueError: Python's int()
    and float() also read "1_0" as 10 and other scripts' digits ("١") as numbers."""
    if not text.isascii() or "_" in text:
        raise ValueError(text)
    return text


def int_range(lo: int, hi: int) -> Callable[[str], int]:
    """argparse type: an integer in [lo, hi]."""

    def parse(text: str) -> int:
        try:
            value = int(_ascii_number(text))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer in [{lo}, {hi}], got {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"expected an integer in [{lo}, {hi}], got {value}")
        return value

    parse.lo, parse.hi, parse.lo_open = lo, hi, False  # type: ignore[attr-defined]
    return parse


def float_range(lo: float, hi: float, *, lo_open: bool = False) -> Callable[[str], float]:
    """argparse type: a number in [lo, hi], or in (lo, hi] with ``lo_open``; nan and inf are refused."""
    span = f"{'(' if lo_open else '['}{lo:g}, {hi:g}]"

    def parse(text: str) -> float:
        try:
            value = float(_ascii_number(text))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number in {span}, got {text!r}") from None
        # WHY written so: every comparison with nan is false, so nan fails here too.
        if not ((lo < value if lo_open else lo <= value) and value <= hi):
            raise argparse.ArgumentTypeError(f"expected a number in {span}, got {text}")
        return value

    parse.lo, parse.hi, parse.lo_open = lo, hi, lo_open  # type: ignore[attr-defined]
    return parse


# ASCII digits only, comma-separated, each item spaced or not: int() also read "1,,2" as 1,2, "01" as 1 and
# Arabic-Indic digits ("١") as 1.
_INT_LIST = re.compile(r" *(?:0|[1-9][0-9]*) *(?:, *(?:0|[1-9][0-9]*) *)*")


def distinct_ints(lo: int, hi: int, what: str) -> Callable[[str], tuple[int, ...]]:
    """argparse type: comma-separated distinct integers in [lo, hi] ("1,2,3"); ``what`` names them."""

    def parse(text: str) -> tuple[int, ...]:
        if not _INT_LIST.fullmatch(text):
            raise argparse.ArgumentTypeError(
                f"expected comma-separated {what} (ASCII digits 0-9, no leading zero, no empty item: "
                f"e.g. 1,2,3), got {text!r}"
            )
        values = tuple(int(v) for v in text.split(","))
        if min(values) < lo or max(values) > hi or len(set(values)) != len(values):
            raise argparse.ArgumentTypeError(f"expected distinct {what} in [{lo}, {hi}], got {text!r}")
        return values

    parse.lo, parse.hi, parse.lo_open = lo, hi, False  # type: ignore[attr-defined]
    return parse


class PathArgument(argparse.Action):
    """argparse action of every option or positional that names a file or folder: a blank name (empty or
    spaces only) is a usage error naming the option; the value is kept as given (a str)."""

    # WHY an action and not a type: `--cache-dir ' '` wrote the cache into a folder named ' ', and every
    # path-valued option takes the same check in one place (a type would read as a numeric option to
    # tests/robustness/test_settings_bounds.py, which walks the parser's types).
    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        for value in values if isinstance(values, list) else [values]:
            if not str(value).strip():
                raise argparse.ArgumentError(self, f"a blank path ({value!r}): give a file or folder name")
        setattr(namespace, self.dest, values)


SEED = int_range(0, MAX_SEED)
# argparse types of --folds ("1,2,3") and --seeds ("0,1,2"): the ranges of data.fold and run.seed.
folds_type = distinct_ints(1, MAX_FOLD, "fold numbers")
seeds_type = distinct_ints(0, MAX_SEED, "seeds")

CONFIG_HELP = (
    "experiment YAML file, or a packaged config name such as midas/dfew_tsm_midas.yaml "
    "(`softfer reproduce --list` names them)"
)


def add_label_commands(sub, parents: dict[str, argparse.ArgumentParser]) -> None:
    """softfer labels votes | va."""
    labels = sub.add_parser("labels", help="label tools: votes -> soft/hard labels, VA -> mixed/fused labels")
    lsub = labels.add_subparsers(dest="labels_command", required=True, metavar="TOOL")
    _add_labels_votes(lsub, parents)
    _add_labels_va(lsub, parents)


def _add_labels_votes(lsub, parents: dict[str, argparse.ArgumentParser]) -> None:
    votes = lsub.add_parser(
        "votes",
        parents=[parents["common"], parents["overwrite"]],
        help="vote counts (CSV or XLSX) -> soft and hard labels + agreement report",
        description="Read per-clip annotator vote counts, one column per class (found by name: happy, sad, "
        "neutral, angry, surprise, disgust, fear, or --classes; common spellings such as 'Happiness' or "
        "'anger' accepted), and write soft labels (vote proportions), majority labels and per-clip "
        "agreement. A column that may hold other votes (one named after a class or answer such as contempt, "
        "unknown or NF, or whole numbers under another header) is refused until --classes, --other-votes "
        "or --ignore-columns says how to treat it.",
    )
    votes.add_argument("file", action=PathArgument, help="CSV or XLSX file with one row per clip")
    votes.add_argument("--out", action=PathArgument, required=True, help="output CSV")
    votes.add_argument(
        "--column", action="append", metavar="CLASS=COLUMN", help="map a class to a differently named column"
    )
    votes.add_argument(
        "--classes",
        help="comma-separated classes to read, in the output's order (default: DFEW's happy,sad,neutral,"
        "angry,surprise,disgust,fear; FER+: neutral,happy,surprise,sad,angry,disgust,fear,contempt)",
    )
    votes.add_argument(
        "--other-votes",
        metavar="COLS",
        help="comma-separated columns of answers that are no class (FER+: unknown,NF, or contempt with 7 "
        "classes): their votes leave the soft labels, and a clip where one has at least the top class's "
        "votes is left out, as the FER+ reader does",
    )
    votes.add_argument(
        "--ignore-columns", metavar="COLS", help="comma-separated columns that hold no votes (ignored)"
    )
    votes.add_argument(
        "--id-column",
        help="column naming the clip (default: video_name/clip/name/id/image name if present)",
    )
    votes.add_argument(
        "--tie",
        choices=["first", "random", "drop"],
        default="first",
        help="majority ties: lowest class index (first), seeded random choice (random), or label -1 (drop)",
    )
    votes.set_defaults(func=c.cmd_labels_votes)


def _add_labels_va(lsub, parents: dict[str, argparse.ArgumentParser]) -> None:
    va = lsub.add_parser(
        "va",
        parents=[parents["common"], parents["overwrite"]],
        help="valence/arousal + class columns -> GMM or Euclidean mixed labels and fused labels",
        description="Fit per-class valence/arousal statistics (or load them with --stats), derive mixed "
        "labels from VA (dual-domain paper eq. 2 or 3) and fuse them with the one-hot class labels (eq. 4). "
        "Needs columns valence, arousal and label/expression/class. -2 marks missing VA.",
    )
    va.add_argument("file", action=PathArgument, help="CSV or XLSX file")
    va.add_argument(
        "--method",
        choices=["gmm", "euclid"],
        default="gmm",
        help="GMM posterior (eq. 2) or distances (eq. 3)",
    )
    va.add_argument(
        "--alpha",
        type=float_range(0.0, 1.0),
        default=0.5,
        help="fusion weight of the one-hot label (eq. 4; default 0.5)",
    )
    va.add_argument(
        "--unsquared", action="store_true", help="euclid: unsquared distances (public reference code)"
    )
    va.add_argument(
        "--num-classes",
        type=int_range(2, 1000),
        help="number of classes (default: 8 for AffectNet's official lists, where codes 8-10 and, with 7, "
        "contempt are not classes; otherwise the number of --class-names, else the largest label + 1 up to "
        "AffectNet's 8; a label outside the classes is refused naming its row)",
    )
    va.add_argument(
        "--class-names",
        help="comma-separated names of classes 0..K-1 for the output columns (default: AffectNet's order)",
    )
    va.add_argument(
        "--stats",
        action=PathArgument,
        help="JSON statistics from a training set (--save-stats) instead of fitting on FILE",
    )
    va.add_argument("--save-stats", action=PathArgument, help="write the fitted statistics to this JSON file")
    va.add_argument("--out", action=PathArgument, required=True, help="output CSV")
    va.set_defaults(func=c.cmd_labels_va)


def add_synth_commands(sub, parents: dict[str, argparse.ArgumentParser]) -> None:
    synth = sub.add_parser("synth", help="built-in synthetic benchmark of ambiguous facial expressions")
    ssub = synth.add_subparsers(dest="synth_command", required=True, metavar="LAYOUT")
    common = argparse.ArgumentParser(add_help=False, parents=[parents["common"], parents["overwrite"]])
    common.add_argument(
        "out",
        action=PathArgument,
        help="output folder, new or empty (--overwrite replaces only an existing --montage file)",
    )
    common.add_argument("--seed", type=SEED, default=0)
    common.add_argument("--workers", type=int_range(0, 256), default=0, help="processes (default: all cores)")
    common.add_argument("--stats", action="store_true", help="print class counts and vote statistics")
    common.add_argument("--montage", action=PathArgument, metavar="PNG", help="save a grid of sample frames")
    sd = ssub.add_parser(
        "dfew", parents=[common], help="video clips in the DFEW release layout, with annotator votes"
    )
    sd.add_argument(
        "--clips", type=int_range(5, 10_000_000), default=1500, help="clips (at least one per fold)"
    )
    sd.add_argument(
        "--size", type=int_range(16, 1024), default=112, help="frame size in pixels (default 112)"
    )
    sd.set_defaults(func=c.cmd_synth_dfew)
    sa = ssub.add_parser(
        "affectnet",
        parents=[common],
        help="still images with an AffectNet-style CSV (class + valence/arousal)",
    )
    sa.add_argument("--images", type=int_range(1, 10_000_000), default=5000)
    sa.add_argument(
        "--size", type=int_range(16, 1024), default=112, help="image size in pixels (default 112)"
    )
    sa.set_defaults(func=c.cmd_synth_affectnet)
    sl = ssub.add_parser(
        "all",
        parents=[parents["common"], parents["overwrite"]],
        help="small trees of every dataset layout the paper configs read (DFEW, FERV39k(-Plus), AFEW, "
        "AffectNet, Aff-Wild, MorphSet, FER+) + weight files: run `softfer reproduce TABLE --smoke` in OUT",
    )
    sl.add_argument(
        "out",
        action=PathArgument,
        help="output folder, new or empty (data/ and weights/ are written below it)",
    )
    sl.add_argument("--size", type=int_range(16, 1024), default=32, help="frame size in pixels (default 32)")
    sl.add_argument("--seed", type=SEED, default=0)
    sl.set_defaults(func=c.cmd_synth_all)
    sf = ssub.add_parser(
        "ferplus",
        parents=[common],
        help="48x48 grey faces with 10 votes each, as FER+ (fer2013.csv + fer2013new.csv) and as its "
        "script's FER2013Train/Valid/Test folders (in OUT/images)",
    )
    sf.add_argument("--images", type=int_range(10, 10_000_000), default=2000, help="rows (default 2000)")
    sf.set_defaults(func=c.cmd_synth_ferplus)
