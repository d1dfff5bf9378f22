"""`softfer data inspect FORMAT ROOT`: what a dataset folder holds and what is wrong with it.

Besides counts, the report checks what would silently change a result:

- split overlap: a clip in a training split and in its paired evaluation split (``paired_splits``:
  ``train``/``test``, ``set_1_train``/``set_1_test``, within one fold), listed with the first ids;
- FERV39k-Plus soft labels: the vote table given, or ``ferv39k_plus_votes.csv`` found in a FERV39k root
  (``soft_labels_for``), is read as `train` reads ``data.soft_labels``, so its checks and the label-vs-vote
  check below run on it;
- labels against votes: per split, the share of items whose label is not a class with the most votes.
  Above ``LABEL_VOTE_THRESHOLD`` (10 %) the report warns loudly, naming the classes whose items mostly
  point elsewhere: a swapped column header in the annotation table shows up this way;
- with ``verify``, every image is decoded with the loader's decoder, counting what libjpeg warns about
  (``softfer.io.images.verify_images``), and every video is decoded whole, comparing its frames with the
  container's count (``softfer.io.video.video_info``).

FER+ read from fer2013.csv has its faces written once as PNG files into a cache (``fer2013_faces``):
``cache_dir`` (``--cache-dir``) means what ``data.cache_dir`` means to ``train``, refused by the same rule
(never onto or inside an input, never a file), so the cache inspect builds is the one a run reuses.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from softfer.data.formats import ReadRequest, get_format
from softfer.data.formats.base import check_inputs
from softfer.data.formats.fer2013_faces import cache_setting, face_cache_advice
from softfer.data.formats.ferplus import folders_root
from softfer.data.formats.ferv39k import PLUS_VOTES_NAME
from softfer.data.records import ReadReport, Record, image_region, is_regular_file, path_key
from softfer.data.splits import paired_splits, split_role
from softfer.io.console import progress
from softfer.io.errors import MediaError
from softfer.io.images import read_bytes, verify_images
from softfer.io.outputs import check_output
from softfer.io.video import VideoError, video_info

# Above this share of items whose label disagrees with their vote argmax, `data inspect` warns loudly.
LABEL_VOTE_THRESHOLD = 0.10
MIN_CLASS_ITEMS = 5  # a class is named as pointing elsewhere only with at least this many voted items
CACHE_OPTION = "--cache-dir"  # data inspect's name of data.cache_dir, in its errors and advice
# data inspect's names of the optional inputs (``OPTIONAL_INPUTS``), in the refusals of ``check_inputs``
INPUT_OPTIONS = {"soft_labels": "--soft-labels", "affectnet_stats": "--affectnet-stats"}


@dataclass
class _Split:
    fold: int | None
    name: str  # the split's name ("all" for a copy read whole)
    records: list[Record]
    report: ReadReport

    @property
    def title(self) -> str:
        return f"fold {self.fold} {self.name}" if self.fold else self.name


def soft_labels_for(fmt: str, root: str, given: str | None) -> tuple[str | None, list[str]]:
    """The FERV39k-Plus vote table to read with a FERV39k copy, and a report line saying which: ``given``,
    else ``ROOT/ferv39k_plus_votes.csv`` when it is there (inspect must check what `train` reads with
    ``data.soft_labels``); None for other formats, which refuse a ``given`` one as `train` does
    (``check_inputs``)."""
    check_inputs(get_format(fmt), {"soft_labels": given}, names=INPUT_OPTIONS)
    if fmt != "ferv39k":
        return None, []
    if given:
        return given, [f"soft labels (FERV39k-Plus): {given}"]
    found = Path(root) / PLUS_VOTES_NAME
    if found.is_file():
        return str(found), [f"soft labels (FERV39k-Plus): {found}, found in the root and read"]
    return None, [f"soft labels (FERV39k-Plus): none ({PLUS_VOTES_NAME} is not in the root)"]


def _check_cache_dir(fmt: str, cache_dir: str | None, inputs: list[str | None]) -> None:
    """Refuse a ``--cache-dir`` by ``train``'s rule for ``data.cache_dir`` (``engine.data.check_cache_dir``:
    the output rule, ``check_output``), and for a format that writes no cache here: only FER+'s faces from
    fer2013.csv are (the frame cache of clips is filled by training).

    Raises:
        ValueError: naming ``--cache-dir`` and what to do.
    """
    if not cache_dir:  # as data.cache_dir: empty is unset (the per-user cache folder)
        return
    if fmt != "ferplus":
        raise ValueError(
            f"{CACHE_OPTION} {cache_dir}: data inspect writes a cache for the ferplus format only (FER2013's "
            "faces from fer2013.csv as PNG files); leave the option out"
        )
    given = [p for p in inputs if p]
    check_output(cache_dir, inputs=given, overwrite=True, what=CACHE_OPTION, kind="folder")


def _face_lines(fmt: str, root: str, cache_dir: str | None, splits: list[_Split]) -> list[str]:
    """Where FER+'s faces from fer2013.csv were read: their PNG cache, which a run whose ``data.cache_dir``
    is this ``--cache-dir`` reuses; the FER+ folders' layout needs none."""
    if fmt != "ferplus":
        return []
    if folders_root(Path(root)) is not None:
        return (
            [f"{CACHE_OPTION}: not used (the FER+ folders hold the faces as PNG files)"] if cache_dir else []
        )
    folders = sorted({str(r.path.parent) for s in splits for r in s.records})
    return [f"FER2013's faces (fer2013.csv) as PNG files in {', '.join(folders)}"] if folders else []


def _splits(
    fmt: str,
    root: str,
    *,
    affectnet_stats: str | None = None,
    allow_outside_root: bool = False,
    soft_labels: str | None = None,
    cache_dir: str | None = None,
) -> list[_Split]:
    """Every fold and split the copy at ``root`` holds, read through ``FORMATS[fmt]``: leniently
    (``max_skip=1``), so inspect reports every problem instead of stopping at the first, without the
    readers' overlap refusal (inspect reports the overlap), and accepting raw videos, which describe the
    copy (training refuses them). ``cache_dir`` is ``data.cache_dir`` (FER+'s faces from fer2013.csv)."""
    entry = get_format(fmt)
    entry.check_root(root)  # before any reader: a file given for a folder is named as such
    _check_cache_dir(fmt, cache_dir, [root, affectnet_stats, soft_labels])
    out = []
    for fold in entry.folds or (None,):
        for split in entry.present_splits(root):
            rep = ReadReport()
            request = ReadRequest(
                root=root,
                split=split,
                fold=fold or 1,
                num_classes=len(entry.classes),
                max_skip=1.0,
                affectnet_stats=affectnet_stats,
                soft_labels=soft_labels,
                allow_raw_videos=True,
                report=rep,
                allow_outside_root=allow_outside_root,
                check_overlap=False,
                cache_dir=cache_dir,
            )
            with cache_setting(CACHE_OPTION):  # the face cache's advice names this command's option
                out.append(_Split(fold, split or "all", entry.read(request), rep))
    return out


def _by_split(splits: list[_Split]) -> dict[int | None, dict[str, list[Record]]]:
    """fold -> split name -> records; a copy read whole is grouped by its records' own split names."""
    out: dict[int | None, dict[str, list[Record]]] = {}
    for s in splits:
        groups = out.setdefault(s.fold, {})
        if s.name == "all":
            for r in s.records:
                groups.setdefault(r.split or "all", []).append(r)
        else:
            groups.setdefault(s.name, []).extend(s.records)
    return out


def split_overlaps(splits: list[_Split]) -> list[str]:
    """One line per pair of paired splits (same fold) that share media, naming the first shared ids."""
    lines = []
    for fold, groups in _by_split(splits).items():
        for name, records in groups.items():
            if (split_role(name) or ("",))[0] != "train":
                continue  # each pair once, from its training side
            for other in paired_splits(name, groups):
                theirs = {path_key(r.path) for r in groups[other]}
                shared = sorted(r.id for r in records if path_key(r.path) in theirs)
                if shared:
                    where = f"fold {fold}: " if fold else ""
                    shown = ", ".join(shared[:5]) + (", ..." if len(shared) > 5 else "")
                    lines.append(
                        f"split overlap: {where}{name} and {other} share {len(shared)} item(s) ({shown})"
                    )
    return lines


def label_vote_disagreement(records: list[Record], classes: tuple[str, ...]) -> tuple[int, int, list[str]]:
    """(items with a label and votes, items whose label is not a class with the most votes, notes on the
    classes whose items mostly point to another class)."""
    voted = [r for r in records if r.soft is not None and r.label >= 0]
    per_class: dict[int, Counter[int]] = {}
    bad = 0
    for r in voted:
        soft = np.asarray(r.soft, dtype=float)
        top = np.flatnonzero(soft == soft.max())
        counts = per_class.setdefault(r.label, Counter())
        counts["n"] += 1
        if r.label not in top:  # a tie that includes the label agrees
            bad += 1
            counts[int(top[0])] += 1
    notes = []
    for label, counts in sorted(per_class.items()):
        n = counts.pop("n")
        if n >= MIN_CLASS_ITEMS and sum(counts.values()) > n / 2:
            target, k = counts.most_common(1)[0]
            name = classes[label] if label < len(classes) else str(label)
            to = classes[target] if target < len(classes) else str(target)
            notes.append(f"{name}: {k} of {n} point to {to}")
    return len(voted), bad, notes


def label_vote_check(records: list[Record], classes: tuple[str, ...], title: str) -> dict:
    """The label-vs-vote-argmax check of one split, as ``data inspect`` reports it and ``train``/``eval``
    record it in metrics.json ``data_reading``: {"voted", "disagree", "rate", "threshold", "warning"}
    (``rate`` None without voted items; ``warning`` the loud line above the threshold, else None)."""
    n, bad, notes = label_vote_disagreement(records, classes)
    rate = bad / n if n else None
    warning = None
    if rate is not None and rate > LABEL_VOTE_THRESHOLD:
        detail = f" ({'; '.join(notes)})" if notes else ""
        warning = (
            f"WARNING {title}: {rate:.1%} of its labels are not their votes' argmax, above "
            f"{LABEL_VOTE_THRESHOLD:.0%}{detail}: are the annotation table's class columns swapped?"
        )
    return {"voted": n, "disagree": bad, "rate": rate, "threshold": LABEL_VOTE_THRESHOLD, "warning": warning}


def _label_vote_lines(splits: list[_Split], classes: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """Report lines and warnings (problems) for the label/vote disagreement of every split."""
    lines, warnings = [], []
    for s in splits:
        check = label_vote_check(s.records, classes, s.title)
        if not check["voted"]:
            continue
        lines.append(
            f"  {s.title:16s} {check['rate']:6.1%} of {check['voted']} labels disagree with their vote argmax"
        )
        if check["warning"]:
            warnings.append(check["warning"])
    if lines:
        lines.insert(0, f"labels vs vote argmax (warning above {LABEL_VOTE_THRESHOLD:.0%}):")
    return lines, warnings


def _verify(records: dict[str, Record]) -> list[str]:
    """Problems found by decoding every image and video of ``records``."""
    images, videos, problems = [], [], []
    for r in records.values():
        if r.frames:
            images += [r.path / f for f in r.frames]
        elif not is_regular_file(r.path):
            problems.append(f"not a regular file: {r.path}")
        elif r.is_video_file:
            videos.append(r.path)
        else:
            images.append(r.path)
    for path in progress(videos, description="verify videos"):
        try:
            video_info(path)
        except VideoError as exc:
            problems.append(f"unreadable or truncated video: {exc}")
    checked = dict(verify_images(progress(images, description="verify images")))
    problems += [_damaged(p, why) for p, why in checked.items()]
    stills = [r for r in records.values() if not r.frames and not r.is_video_file and r.path not in checked]
    return problems + _still_image_problems(stills)


def _damaged(path: Path, why: str) -> str:
    """A file that failed to decode: the dataset's, or a face of softfer's FER2013 cache (whose folder to
    delete is said, as training says it: the cache is softfer's to write again, not the data's fault)."""
    advice = face_cache_advice(path)
    return f"unreadable or damaged image: {path} ({why})" + (f"; {advice}" if advice else "")


def _still_image_problems(records: list[Record]) -> list[str]:
    """What training's load of a still image refuses beyond the decode (``image_region``): a header that
    does not read, a face box outside its image."""
    problems = []
    for r in records:
        try:
            image_region(read_bytes(r.path), r.path, r.box)
        except MediaError as exc:
            problems.append(f"unusable image: {exc}")
    return problems


@dataclass
class Inspection:
    """What ``data inspect`` found: the text report, every problem line (the CLI exits 1 when there are
    any), and those of ``verify``: files that failed to decode, face boxes outside their image."""

    text: str
    problems: list[str]
    unreadable: list[str]


def _count_line(title: str, records: list[Record], classes: tuple[str, ...]) -> str:
    counts = Counter(r.label for r in records)
    per_class = ", ".join(f"{c}={counts.get(i, 0)}" for i, c in enumerate(classes))
    return f"  {title:16s} {len(records):7d} items  {per_class}"


def inspect_dataset(
    fmt: str,
    root: str,
    *,
    verify: bool = False,
    affectnet_stats: str | None = None,
    allow_outside_root: bool = False,
    soft_labels: str | None = None,
    cache_dir: str | None = None,
) -> str:
    """The text report of :func:`run_inspection` (same arguments)."""
    return run_inspection(
        fmt,
        root,
        verify=verify,
        affectnet_stats=affectnet_stats,
        allow_outside_root=allow_outside_root,
        soft_labels=soft_labels,
        cache_dir=cache_dir,
    ).text


def run_inspection(
    fmt: str,
    root: str,
    *,
    verify: bool = False,
    affectnet_stats: str | None = None,
    allow_outside_root: bool = False,
    soft_labels: str | None = None,
    cache_dir: str | None = None,
) -> Inspection:
    """Counts per split/fold/class, split overlap, labels against votes, vote ambiguity, missing and
    (``verify``) unreadable files.

    ``fmt`` is a name of ``FORMATS``; ``affectnet_stats`` is AffectNet's VA statistics file, which Aff-Wild's
    class labels are derived from (needed for ``affwild`` only); ``allow_outside_root`` accepts dataset
    paths leading outside ``root`` (``data.allow_outside_root``); ``soft_labels`` is a FERV39k-Plus vote
    table (``data.soft_labels``; default: ``ferv39k_plus_votes.csv`` in a FERV39k root, ``soft_labels_for``);
    ``cache_dir`` is ``data.cache_dir`` for FER+'s faces from fer2013.csv, named ``--cache-dir`` in errors.
    """
    classes = get_format(fmt).classes
    # refused as `train` refuses data.soft_labels and data.affectnet_stats, named by this command's options
    check_inputs(get_format(fmt), {"affectnet_stats": affectnet_stats}, names=INPUT_OPTIONS)
    soft_labels, soft_lines = soft_labels_for(fmt, root, soft_labels)
    lines = [f"{fmt} dataset at {root}", *soft_lines]
    all_records: dict[str, Record] = {}
    problems: list[str] = []
    splits = _splits(
        fmt,
        root,
        affectnet_stats=affectnet_stats,
        allow_outside_root=allow_outside_root,
        soft_labels=soft_labels,
        cache_dir=cache_dir,
    )
    lines += _face_lines(fmt, root, cache_dir, splits)
    for s in splits:
        lines.append(_count_line(s.title, s.records, classes))
        if s.name == "all" and any(r.split for r in s.records):  # a manifest: its rows name their splits
            for name, records in _by_split([s])[s.fold].items():
                lines.append(_count_line(f"  {name}", records, classes))
        problems += [f"{s.title}: {line}" for line in s.report.skipped + s.report.notes]
        if s.report.dropped:
            left = ", ".join(f"{k}: {n}" for k, n in s.report.dropped.items())
            lines.append(f"  {'':16s} left out by the format's rule: {left}")
        all_records.update({path_key(r.path): r for r in s.records})
    # a copy lacking a split it must hold (the format's ``missing_splits``): the others are still inspected
    entry = get_format(fmt)
    missing = entry.missing_splits(Path(root)) if entry.missing_splits else {}
    lines += [f"  {split:16s} missing" for split in missing]
    problems += [f"{split}: {why}" for split, why in missing.items()] + split_overlaps(splits)
    vote_lines, warnings = _label_vote_lines(splits, classes)
    lines += vote_lines
    problems += warnings
    lines += _ambiguity_lines([r.soft for r in all_records.values() if r.soft is not None])
    bad: list[str] = []
    if verify:
        bad = _verify(all_records)
        lines.append(f"verified every image and video file: {len(bad)} unreadable")
        problems += bad
    lines.append(f"problems: {len(problems)}")
    lines += [f"  {p}" for p in problems[:50]]
    if len(problems) > 50:
        lines.append(f"  ... and {len(problems) - 50} more")
    return Inspection("\n".join(lines), problems, bad)


def _ambiguity_lines(votes: list[np.ndarray]) -> list[str]:
    if not votes:
        return ["no soft labels / votes found"]
    share = np.stack(votes).max(axis=1)
    edges = np.round(np.linspace(0, 1, 11), 12)
    hist, _ = np.histogram(share, bins=edges)
    lines = [
        f"vote ambiguity over {len(votes)} clips (max share): mean {share.mean():.3f}, "
        f">= 0.9: {(share >= 0.9).mean():.1%}"
    ]
    lines += [f"  [{lo:.1f}, {lo + 0.1:.1f}) {int(n):6d}" for lo, n in zip(edges[:-1], hist, strict=True)]
    return lines
