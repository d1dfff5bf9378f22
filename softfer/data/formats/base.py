"""What a dataset format is: one reader with a uniform signature, its split names and class vocabulary.

Each reader module ends with one ``FORMAT = DatasetFormat(...)`` entry whose ``read`` adapts a
``ReadRequest`` to the module's own reader function; ``softfer.data.formats.FORMATS`` collects them. The
config, the CLI, the engine and ``data inspect`` look formats up there, so a new format is one reader
file and one line in that table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from softfer.data.records import ReadReport, Record

Media = Literal["clip", "image", "any"]
MEDIA: tuple[str, ...] = ("clip", "image", "any")
RootKind = Literal["folder", "file", "any"]

# The optional inputs a ``ReadRequest`` carries beside the data: (the setting that gives each, what it is).
# A format reads those its entry names in ``DatasetFormat.reads``; ``check_inputs`` refuses the others.
OPTIONAL_INPUTS: dict[str, tuple[str, str]] = {
    "soft_labels": ("data.soft_labels", "a FERV39k-Plus vote table"),
    "affectnet_stats": ("data.affectnet_stats", "AffectNet's VA statistics"),
}


@dataclass(frozen=True)
class ReadRequest:
    """One read of a dataset copy: which split, and the reading options the config gives.

    Attributes:
        root: the dataset folder (a manifest: its file; Former-DFER: the folder of ``<split>.txt`` lists,
            or one list file with ``split=None``).
        split: a split name of the format, or None for the whole copy where the format allows it.
        fold: the fold of formats that come in folds (DFEW's 1..5); ignored by the others.
        num_classes: the classes the model predicts (AffectNet: 7 or 8).
        max_skip: the largest share of records whose media may be missing before the read fails.
        soft_labels: a FERV39k-Plus vote table joined by clip path (FERV39k only: ``DatasetFormat.reads``).
        affectnet_stats: AffectNet's VA statistics file (JSON) Aff-Wild's labels are derived from.
        test: the records are evaluated, not trained on (AffectNet then keeps its VA-only code-8 images).
        allow_raw_videos: accept AFEW's raw (unaligned) videos instead of refusing them; only for
            ``data inspect``, which describes a copy rather than training on it.
        report: collects the records skipped for missing media, when given.
        allow_outside_root: accept dataset files whose paths lead outside the data root (``..``, absolute
            paths elsewhere); by default they are refused, naming the file and row (``dataset_path``).
        check_overlap: refuse a copy whose training and evaluation split files share a clip
            (``check_disjoint``); ``data inspect`` turns it off to report the overlap instead. The
            reader functions take it as a keyword (default off); the ``FORMATS`` entries check by default.
        cache_dir: ``data.cache_dir``, where a format that converts its media once writes them (FER+'s CSV
            layout: its faces as PNG files); None: softfer's per-user cache folder. Never the data root.
    """

    root: str | Path
    split: str | None
    fold: int = 1
    num_classes: int = 7
    max_skip: float = 0.01
    soft_labels: str | Path | None = None
    affectnet_stats: str | Path | None = None
    test: bool = False
    allow_raw_videos: bool = False
    report: ReadReport | None = None
    allow_outside_root: bool = False
    check_overlap: bool = True
    cache_dir: str | Path | None = None


@dataclass(frozen=True)
class DatasetFormat:
    """One entry of ``FORMATS``.

    Attributes:
        name: the name configs and the CLI use (``data.format``).
        read: ``read(request) -> list[Record]``; an unknown split raises a ValueError naming the valid ones.
        splits: the split names ``read`` accepts, or None when the copy names them (a manifest's ``split``
            column, a folder of Former-DFER lists).
        classes: the class vocabulary, in the order of the labels ``read`` returns.
        media: "clip" (frame folders or videos), "image" (still images) or "any" (decided by the data).
        description: one line for help texts and docs.
        default_test_split: the split evaluated when the format is the cross-dataset test set
            (``data.test_format``), e.g. AFEW's "Val"; None for formats whose splits come from the copy.
        folds: the folds the splits come in (DFEW: 1..5); empty for one fixed partition.
        splits_present: ``root -> split names`` a given copy holds, for formats whose copies differ
            (AFEW with or without split folders; None stands for "the whole copy"). Default: ``splits``.
        missing_splits: ``root -> {split: what is missing}`` for formats whose copy must hold every split
            but may be found without one (the FER+ folders without FER2013Test/): ``data inspect`` reads
            the splits there are and reports these as problems; train and eval refuse such a copy.
        borrows_va_stats: the labels are derived from another dataset's VA statistics
            (``data.affectnet_stats``: Aff-Wild uses AffectNet's GMM), so fused training targets must use
            those statistics too instead of refitting them on this dataset.
        root_kind: what the root is: a "folder" (the dataset's), a "file" (a manifest) or "any"
            (Former-DFER: a folder of lists, or one list); ``check_root`` refuses the other kind.
        class_counts: the ``data.num_classes`` values ``read`` supports, each the first so many of
            ``classes`` (AffectNet: 7 leaves contempt out, or 8); empty: all of ``classes`` only.
        listed_media: for a format whose root is a list naming media by path (a manifest, Former-DFER's
            lists, which may lead outside the root): the media paths the lists of ``root`` name, from
            their rows only (no media read; ValueError for a list that cannot be read). They are inputs
            of the output rule (``engine.data.config_inputs``); None: everything lies under the root.
        reads: the optional inputs of ``OPTIONAL_INPUTS`` the reader reads (FERV39k: ``soft_labels``,
            Aff-Wild: ``affectnet_stats``). ``read`` checks every request first (``check_inputs``): one
            this format does not read is refused rather than left unread, one it reads must be a file.
    """

    name: str
    read: Callable[[ReadRequest], list[Record]]
    splits: tuple[str, ...] | None
    classes: tuple[str, ...]
    media: Media
    description: str
    default_test_split: str | None = None
    folds: tuple[int, ...] = ()
    splits_present: Callable[[Path], tuple[str | None, ...]] | None = None
    missing_splits: Callable[[Path], dict[str, str]] | None = None
    borrows_va_stats: bool = False
    root_kind: RootKind = "folder"
    class_counts: tuple[int, ...] = ()
    reads: tuple[str, ...] = ()
    listed_media: Callable[[Path], list[Path]] | None = None

    def __post_init__(self) -> None:
        # A malformed entry fails when softfer is imported, not halfway through a run.
        if not self.name or not self.name.isidentifier():
            raise ValueError(f"dataset format name {self.name!r} must be a non-empty identifier")
        if self.media not in MEDIA:
            raise ValueError(f"format {self.name}: media {self.media!r} is not one of {MEDIA}")
        if not self.classes:
            raise ValueError(f"format {self.name}: empty class vocabulary")
        if not all(2 <= n <= len(self.classes) for n in self.class_counts):
            raise ValueError(
                f"format {self.name}: class_counts {self.class_counts} outside 2..{len(self.classes)}"
            )
        if self.splits is not None and not self.splits:
            raise ValueError(f"format {self.name}: splits must be None or a non-empty tuple")
        if self.default_test_split is not None and self.splits is not None:
            if self.default_test_split not in self.splits:
                raise ValueError(
                    f"format {self.name}: default_test_split {self.default_test_split!r} is not one of "
                    f"its splits {self.splits}"
                )
        unknown = set(self.reads) - set(OPTIONAL_INPUTS)
        if unknown:
            raise ValueError(f"format {self.name}: reads {sorted(unknown)}, not in {list(OPTIONAL_INPUTS)}")
        object.__setattr__(self, "read", _CheckedRead(self, self.read))

    def class_names(self, num_classes: int) -> tuple[str, ...]:
        """The first ``num_classes`` names of the vocabulary (AffectNet's 7 classes drop contempt).

        Raises:
            ValueError: when the format does not read ``num_classes`` classes (``class_counts``): fewer
                than its labels and votes have would fail in the loss, or score other classes.
        """
        counts = self.class_counts or (len(self.classes),)
        if num_classes not in counts:
            raise ValueError(
                f"data.num_classes={num_classes}, but the {self.name} format reads "
                f"{' or '.join(map(str, counts))} classes {list(self.classes[: max(counts)])}"
            )
        return self.classes[:num_classes]

    def check_root(self, root: str | Path) -> None:
        """Refuse a root that is missing, or a file where this format reads a folder (or the reverse),
        saying what the path is and what is expected (the readers would report a missing split file).

        Raises:
            ValueError: naming the root, what it is and what the format reads.
        """
        path = Path(root)
        wanted = {"folder": "the dataset's folder", "file": "a manifest file (CSV or JSONL)"}.get(
            self.root_kind, "a folder of list files or one list file"
        )
        if not path.exists():
            raise ValueError(f"{path}: no such file or folder; the {self.name} format reads {wanted}")
        if self.root_kind == "folder" and not path.is_dir():
            raise ValueError(f"{path} is a file, not a folder: the {self.name} format reads {wanted}")
        if self.root_kind == "file" and not path.is_file():
            raise ValueError(f"{path} is a folder, not a file: the {self.name} format reads {wanted}")

    def present_splits(self, root: str | Path) -> tuple[str | None, ...]:
        """The splits the copy at ``root`` holds (None: the whole copy, for formats without fixed splits)."""
        if self.splits_present is not None:
            return self.splits_present(Path(root))
        return self.splits if self.splits is not None else (None,)


class _CheckedRead:
    """A format's reader behind ``check_inputs``: every caller of ``FORMATS[...].read`` (train, eval,
    calibrate, cv, compare, ``data inspect``) gets the check. A class rather than a closure, so that an
    entry still pickles; ``replace`` of an entry does not wrap its reader twice."""

    def __init__(self, entry: DatasetFormat, read: Callable[[ReadRequest], list[Record]]) -> None:
        self.entry = entry
        self.reader = read.reader if isinstance(read, _CheckedRead) else read

    def __call__(self, request: ReadRequest) -> list[Record]:
        given = {key: getattr(request, key) for key in OPTIONAL_INPUTS}
        check_inputs(self.entry, given, test=request.test)
        return self.reader(request)


def readers_of(key: str) -> list[str]:
    """The names of the formats of ``FORMATS`` whose entry reads the optional input ``key``."""
    from softfer.data.formats import FORMATS  # the table imports this module: looked up when refusing

    return [name for name, entry in FORMATS.items() if key in entry.reads]


def check_inputs(
    entry: DatasetFormat, given: dict[str, object], *, test: bool = False, names: dict[str, str] | None = None
) -> None:
    """Refuse an optional input (``OPTIONAL_INPUTS``) given to a format whose entry does not read it: the
    run would record a table or statistics that change nothing. One it reads must be a file.

    ``test``: the read is of evaluation data, which may be a cross-dataset test set (``data.test_format``)
    given the training format's inputs too; an input its format does not read is then left aside (the
    training read, or ``held_out_config`` for eval and calibrate, has checked it). ``names``: the options
    that gave the inputs where they are not the config's settings (``data inspect``'s ``--soft-labels``).

    Raises:
        ValueError: naming the setting, its value, the format and the formats that read it.
    """
    for key, value in given.items():
        if value is None or value == "":  # as in the config: empty is unset
            continue
        setting, what = OPTIONAL_INPUTS[key]
        said = f"{(names or {}).get(key, setting)} {value}"
        if key in entry.reads:
            if not Path(str(value)).is_file():
                raise ValueError(f"{said}: no such file (the {entry.name} format reads {what} from it)")
        elif not test:
            readers = readers_of(key)
            one = len(readers) == 1
            which = (
                f"only the {' and '.join(readers)} format{'' if one else 's'} read{'s' if one else ''}"
                if readers
                else "no format reads"
            )
            raise ValueError(
                f"{said}: the {entry.name} format does not read it ({which} {what}); leave it out"
            )
