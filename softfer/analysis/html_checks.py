"""What `softfer report` checks before a file of the folder reaches the page.

Figures: the page is made to be mailed or published, so it embeds only real PNG files that lie inside the
folder (a link out of it, to a private file, is left out) and names each one it leaves out. Summaries: a
cross-validation's summary.json is read as metrics.json is (``engine.evaluate.read_metrics``): every
number within its metric's range, and its means, spreads and intervals those of the folds' own values.
Folders: a file, a missing path or a folder of runs given for the folder is refused saying which folder
to give. Provenance: environment.json is read as softfer writes it, or refused naming it.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from softfer.engine.evaluate import number_problem, read_metrics
from softfer.metric_table import metric_range
from softfer.stats import mean_ci

# The file that makes a folder a page, in the order they are looked for (a comparison's folder holds runs).
REPORT_FILES = ("comparison.json", "summary.json", "metrics.json")
SHOWN_BELOW = 3  # finished folders one level down named in the refusal of a folder that is none
ENVIRONMENT_PARTS = ("data", "packages", "machine")  # environment.json's objects the page reads
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# softfer's figures are a few hundred KB; a larger ".png" is no figure of softfer's, and is not read whole
FIGURE_MAX_BYTES = 32 * 2**20
# summary.json holds the floats computed from the folds' values (JSON keeps them exactly); the slack only
# allows for another numpy summing in another order
SUMMARY_TOLERANCE = 1e-9


def _figure_problem(root: Path, path: Path) -> str | None:
    """Why ``path`` may not be embedded: outside ``root`` once links are followed, no regular file, too
    large, or no PNG by its first bytes; None when it may."""
    target = path.resolve()
    if target != root and root not in target.parents:
        return "links outside the folder"
    if not target.is_file():
        return "is not a file"
    if target.stat().st_size > FIGURE_MAX_BYTES:
        return f"is larger than {FIGURE_MAX_BYTES // 2**20} MiB"
    with target.open("rb") as f:
        if f.read(len(PNG_SIGNATURE)) != PNG_SIGNATURE:
            return "is not a PNG"
    return None


def page_figures(root: Path, paths: Iterable[Path]) -> list[dict[str, str]]:
    """Each figure of ``paths`` as ``{"name", "data", "note"}``: embedded (``data``, base64) when it is a
    PNG file inside ``root`` (the folder the page is made of, resolved), else a note saying why it was
    left out (``data`` empty), named by its path below ``root``."""
    resolved = root.resolve()
    out = []
    for path in paths:
        why = _figure_problem(resolved, path)
        if why is None:
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            out.append({"name": path.stem, "data": data, "note": ""})
        else:
            shown = path.relative_to(root) if root in path.parents else path.name
            out.append({"name": path.stem, "data": "", "note": f"figure {shown} {why}: left out"})
    return out


def fold_metrics(cv_dir: Path, fold: int) -> dict[str, Any]:
    """FOLD's metrics.json, refused when it is missing (an unfinished cross-validation) or its fingerprint
    says another fold made it (a file copied in)."""
    path = cv_dir / f"fold_{fold}" / "metrics.json"
    if not path.is_file():
        raise ValueError(
            f"{cv_dir}: fold {fold} has no metrics.json ({path}): the cross-validation is not finished; "
            "run softfer cv again"
        )
    m = read_metrics(path)
    made = ((m.get("fingerprint") or {}).get("run") or {}).get("data.fold")
    if isinstance(made, int) and made != fold:  # a fingerprint as softfer writes it names its fold
        raise ValueError(
            f"{path}: made by a run of fold {made}, not fold {fold}; run the cross-validation again"
        )
    return m


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=SUMMARY_TOLERANCE, abs_tol=SUMMARY_TOLERANCE)


def _fold_values(source: Path, name: str, folds: list[Any], per_fold: dict[Any, dict[str, Any]]) -> list:
    """The folds' own values of metric ``name`` (from their metrics.json, as ``summary_scalars`` flattens
    them), refused where a fold has none: summary.json then summarises something the folds do not hold."""
    values = [per_fold[k].get(name) for k in folds]
    missing = [k for k, v in zip(folds, values, strict=True) if number_problem(name, v, -math.inf, math.inf)]
    if missing:
        raise ValueError(
            f"{source}: metrics.{name} is summarised, but fold {missing[0]}'s metrics.json has no number "
            f"for {name}: the summary is not of these folds; run softfer cv again"
        )
    return values


def _check_entry(source: Path, name: str, entry: dict[str, Any], values: list[float]) -> None:
    """One metric of summary.json against its range and against ``values``, the folds' own."""
    field = f"metrics.{name}"
    low, high = metric_range(name) or (-math.inf, math.inf)
    bounds = {"mean": (low, high), "std": (0.0, math.inf), "ci_low": (low, high), "ci_high": (low, high)}
    for key, (lo, hi) in bounds.items():
        value = entry.get(key)
        problem = None if value is None and key != "mean" else number_problem(f"{field}.{key}", value, lo, hi)
        if problem:
            raise ValueError(f"{source}: {problem}; not as softfer writes it: run softfer cv again")
    written = entry.get("values")
    if written is not None and (
        not isinstance(written, list)
        or len(written) != len(values)
        or not all(isinstance(w, int | float) and _close(w, v) for w, v in zip(written, values, strict=False))
    ):
        raise ValueError(
            f"{source}: {field}.values is {str(written)[:80]}, but the folds' metrics.json give "
            f"{[round(v, 4) for v in values]}; the summary is not of these folds: run softfer cv again"
        )
    # as crossval.summarize computes them (cut at the range since summaries write ci_cut)
    expected = mean_ci(values, bounds=metric_range(name) if "ci_cut" in entry else None)
    checked = ("mean",) if len(values) < 2 else ("mean", "std", "ci_low", "ci_high")
    for key in checked:
        shown, want = entry.get(key), expected[key]
        if shown is None or not _close(shown, want):
            raise ValueError(
                f"{source}: {field}.{key} is {shown}, but the folds' values "
                f"{[round(v, 4) for v in values]} give {want:.6g}; the summary is not of these folds: "
                "run softfer cv again"
            )


def check_summary(source: Path, summary: dict[str, Any], per_fold: dict[Any, dict[str, Any]]) -> None:
    """Refuse a summary.json (``source``) whose numbers softfer did not write for these folds: a value
    outside its metric's range (``metric_table.metric_range``; spreads >= 0), or a mean, per-fold value,
    standard deviation or interval that is not what the folds' own metrics.json values give
    (``per_fold``: fold -> its flattened metrics). One line naming the file and the field.
    """
    for name, entry in summary["metrics"].items():
        if not isinstance(entry, dict):
            raise TypeError(f"metrics.{name} is no object")  # reported as not as softfer writes it
        _check_entry(source, name, entry, _fold_values(source, name, summary["folds"], per_fold))


def check_report_folder(folder: Path) -> None:
    """Refuse a ``folder`` that is a file (``report RUN/model.pt``) or does not exist, saying what to give.

    Raises:
        ValueError: one line naming the path and the folder to give instead.
    """
    if folder.is_file():
        raise ValueError(
            f"{folder}: a file; report takes the folder of a run, cross-validation or comparison: "
            f"softfer report {folder.parent}"
        )
    if not folder.exists():
        raise ValueError(
            f"{folder}: no such folder; give the folder of a run, cross-validation or comparison"
        )


def finished_below(folder: Path) -> list[Path]:
    """The folders one level below ``folder`` that hold one of ``REPORT_FILES`` (sorted)."""
    try:
        below = sorted(p for p in folder.iterdir() if p.is_dir())
    except OSError:
        return []
    return [p for p in below if any((p / name).is_file() for name in REPORT_FILES)]


def not_a_report_folder(folder: Path) -> ValueError:
    """The refusal of a folder that holds none of ``REPORT_FILES``, naming up to ``SHOWN_BELOW`` finished
    folders one level below it (a folder of runs, such as a ``run.out_dir`` parent)."""
    text = (
        f"{folder}: not a finished run, cross-validation or comparison (no metrics.json, summary.json or "
        "comparison.json)"
    )
    below = finished_below(folder)
    if below:
        shown = ", ".join(str(p) for p in below[:SHOWN_BELOW])
        more = f" and {len(below) - SHOWN_BELOW} more" if len(below) > SHOWN_BELOW else ""
        text += f"; below it: {shown}{more}: report one of them (softfer report {below[0]})"
    return ValueError(text)


def read_environment(path: Path) -> dict[str, Any]:
    """environment.json as a run writes it (``engine.environment.environment``): a JSON object whose
    ``ENVIRONMENT_PARTS`` are objects (or absent).

    Raises:
        ValueError: one line naming the file, what is wrong and what to do (it is written when the run
            starts, so it cannot be made again without training again).
    """
    advice = "restore the run's own file, or move it away (the page then shows no provenance)"
    try:
        env = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not JSON as softfer writes it ({exc}); {advice}") from None
    if not isinstance(env, dict):
        raise ValueError(f"{path}: a JSON {type(env).__name__}, not an object as softfer writes it; {advice}")
    for part in ENVIRONMENT_PARTS:
        if part in env and not isinstance(env[part], dict):
            shown = json.dumps(env[part])[:60]
            raise ValueError(f"{path}: {part} is {shown}, not an object as softfer writes it; {advice}")
    return env
