"""The summaries of a part of a cv study's folds (``--folds 1`` after ``--folds 1,2,3``): their names beside
the study's own summary, the title both are written under, and which existing files at those names are
softfer's own (rewritten without --overwrite)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

from softfer.io.outputs import json_holding

PART_SUMMARY = re.compile(r"summary_folds_[0-9]+(?:_[0-9]+)*\.(?:json|md)")  # summary_files' names only


def fold_list(folds: Sequence[int]) -> str:
    return ",".join(map(str, sorted(set(folds))))  # as --folds takes them


def title_tail(folds: list[int]) -> str:
    # the summary title after the config's name: written by summary_markdown, recognised by _own_part_md
    return f"{len(folds)}-fold cross-validation (folds {folds})"


def summary_files(folder: Path, folds: Sequence[int], part: bool) -> list[Path]:
    """summary.json and summary.md of a study, or of a ``part`` of its folds summary_folds_1_2.json and .md
    (named by the folds: summaries of two parts, or of a part and the whole, never replace each other)."""
    stem = "summary_folds_" + "_".join(map(str, sorted(set(folds)))) if part else "summary"
    return [Path(folder) / f"{stem}.json", Path(folder) / f"{stem}.md"]


def part_summaries(folder: Path) -> list[Path]:
    """The summaries of parts of the study in ``folder`` (``summary_files``) that are there and softfer's
    own (``_own_part``): a user's file at such a name is no summary of a part, never removed with them."""
    named = (p for p in Path(folder).glob("summary_folds_*") if PART_SUMMARY.fullmatch(p.name))
    return sorted(p for p in named if _own_part(p))


def _own_part(path: Path) -> bool:
    # the folds its name gives, then the same reading as check_part_summaries: the .md only beside its .json
    folds = sorted({int(f) for f in path.stem.removeprefix("summary_folds_").split("_")})
    json_file, md_file = summary_files(path.parent, folds, True)
    if path not in (json_file, md_file):
        return False  # summary_folds_2_1.json, _01_2.md: names softfer never writes
    own_json = not path.is_symlink() and _own_part_json(json_file, folds)
    return own_json if path == json_file else own_json and _own_part_md(md_file, folds)


_SUMMARY_JSON = json_holding("folds", "metrics", "per_class_recall")  # what summarize writes


def _own_part_json(json_file: Path, folds: list[int]) -> bool:
    # a JSON object of summarize's keys whose "folds" are the ones its name gives
    try:
        return _SUMMARY_JSON(json_file) and json.loads(json_file.read_text("utf-8"))["folds"] == folds
    except (OSError, ValueError):
        return False


def _own_part_md(md_file: Path, folds: list[int]) -> bool:
    # a Markdown file that begins with summary_markdown's title of those folds
    try:
        with md_file.open(encoding="utf-8") as f:
            title = f.readline().rstrip("\n")
    except (OSError, ValueError):  # missing, a folder, unreadable, not UTF-8: not softfer's
        return False
    return title.startswith("## ") and title.endswith(f": {title_tail(folds)}")


def check_part_summaries(folder: Path, folds: Sequence[int]) -> None:
    """Refuse to replace files at a part's summary names (``summary_files``) that softfer did not write
    there: a part summary is rewritten without --overwrite, so only one that reads as the summary of the
    same folds (``_own_part_json``, ``_own_part_md``) is replaced, and the .md only beside such a .json.

    Raises:
        ValueError: naming the file that is not a part summary, and what to do.
    """
    json_file, md_file = summary_files(folder, folds, True)
    want = sorted(set(folds))
    own_json = _own_part_json(json_file, want)
    for path, own in ((json_file, own_json), (md_file, own_json and _own_part_md(md_file, want))):
        if (path.exists() or path.is_symlink()) and not own:
            raise ValueError(
                f"{path} exists and does not read as the summary softfer writes of folds "
                f"{fold_list(folds)}: it is not replaced; move it away to summarise this part there, or "
                "use another run.out_dir"
            )
