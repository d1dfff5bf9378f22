"""The one output rule of every softfer command that writes (docs/RELIABILITY.md, "Outputs").

1. Never onto or inside an input: an output whose resolved path (symbolic links followed) is an input, is
   the same file as one (a hard link), or lies inside an input folder is refused, with ``--overwrite`` too;
   so is an output inside a folder the command fills with files it does not name in advance (``fills``:
   a generated dataset), where one of them could replace it.
2. Never replace a file this command did not create: an output that already exists is refused unless the
   user passed ``--overwrite``. Commands check every output they will write before they start working, so
   a refusal costs nothing and leaves everything as it was.
3. Names that come from data or config (a config's ``name``, a media file's path) become paths only through
   ``confined`` (a plain name, refused otherwise, that stays inside the output folder) or ``safe_name``
   (sanitised); a confined name is at most ``NAME_BYTES`` long.
4. A file is never written where a folder is, nor a folder where a file is (``kind``), and no output lies
   below an existing file.

Every refusal is a ValueError (exit 2) naming the file and what to do. Ground floor: no torch here.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Literal

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# The longest name ``confined`` makes a folder of (UTF-8 bytes): file systems stop at 255, and the runs
# and files a study puts under it add their own parts.
NAME_BYTES = 120


def _identity(path: Path) -> tuple[int, int] | None:
    # (device, inode) of an existing file: two names of one file (a hard link) share it
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _exists(path: Path) -> bool:
    return path.exists() or path.is_symlink()  # a dangling link is replaced too


def _check_kind(out: Path, kind: Literal["file", "folder"] | None, what: str) -> None:
    # A folder where a file is expected (and the reverse) is refused, --overwrite or not: replacing one by
    # the other would delete what is there, and the system's own error names neither file nor option.
    real = out.resolve()
    above = next((p for p in real.parents if p.exists()), None)
    if above is not None and not above.is_dir():
        raise ValueError(
            f"{above} exists and is not a folder, so {out} cannot be written: choose another {what}"
        )
    if kind == "file" and real.is_dir():
        raise ValueError(
            f"{out} is a folder, and {what} names a file: give a file name (e.g. {out / 'NAME'})"
        )
    if kind == "folder" and _exists(out) and not real.is_dir():
        raise ValueError(f"{out} exists and is not a folder: choose another {what}")


def _check_outside_inputs(
    out: Path, same: Path | None, inputs: dict[Path, Path], filled: dict[Path, Path], option: str
) -> None:
    """Rule 1: ``out`` is not an input (``same``: the input it resolves to or shares an inode with), nor
    inside an input folder or a folder the command fills (both keyed by resolved path)."""
    if same is not None:
        raise ValueError(
            f"{out} is an input of this command ({same}): writing it would destroy it; "
            f"choose another {option}"
        )
    real = out.resolve()
    folder = next((inputs[d] for d in real.parents if d in inputs), None)
    if folder is not None:
        raise ValueError(
            f"{out} lies inside the input folder {folder}, which this command reads: choose another "
            f"{option} outside it"
        )
    folder = next((filled[d] for d in (real, *real.parents) if d in filled), None)
    if folder is not None:
        raise ValueError(
            f"{out} lies inside {folder}, which this command fills with files of its own: choose "
            f"another {option} outside it"
        )


def _check_existing(
    existing: list[tuple[Path, str]],
    overwrite: bool,
    overwrite_option: str,
    ours: Callable[[Path], bool] | None,
) -> None:
    """Rule 2: the outputs that exist (with the option that named each) are replaced only with
    ``overwrite``, and a derived one only where ``ours`` recognises it, with ``overwrite`` too."""
    foreign = [(p, o) for p, o in existing if ours is not None and not ours(p)]
    if foreign:
        out, option = foreign[0]
        raise ValueError(
            f"{out} exists and is not a file this command writes (its name comes from {option}): it is not "
            f"replaced, {overwrite_option} or not; choose another {option}"
        )
    if existing and not overwrite:
        shown = ", ".join(str(p) for p, _ in existing[:3])
        more = f" and {len(existing) - 3} more" if len(existing) > 3 else ""
        raise ValueError(
            f"{shown}{more}: output already exists (from before this run); pass {overwrite_option} "
            f"to replace it, or choose another {existing[0][1]}"
        )


def check_outputs(
    paths: Iterable[str | Path],
    *,
    inputs: Iterable[str | Path] = (),
    overwrite: bool = False,
    what: str | Sequence[str] = "--out",
    kind: Literal["file", "folder"] | None = None,
    fills: Iterable[str | Path] = (),
    suffix: str | Sequence[str | None] | None = None,
    overwrite_option: str = "--overwrite",
    ours: Callable[[Path], bool] | None = None,
) -> list[Path]:
    """Check, before anything is written, that every one of ``paths`` may be written; returns them.

    Args:
        paths: the files (or folders) the command will write or replace.
        inputs: the files and folders the command reads; nothing is written onto one or inside one.
        overwrite: the user's ``--overwrite``: existing outputs may be replaced (inputs never).
        what: the option that chose the outputs, named in the messages ("--out", "--onnx", "run.out_dir"),
            or one option per path.
        kind: every path is a "file" or a "folder" (None: not checked); the other kind is refused.
        fills: folders the command fills with files it does not name in advance (a generated dataset);
            no output may lie inside one.
        suffix: the extension a file must have where readers choose the format by it (an ONNX file named
            model.pt would be read as a PyTorch checkpoint and called corrupt), or one per path (None:
            any).
        overwrite_option: how the caller's user says "replace", named in the advice ("--overwrite"; a
            Python API's ``overwrite=True``).
        ours: for outputs whose names the command derives (a report beside --out): whether an existing
            one is a file of the kind this command writes (``json_holding``); with ``overwrite`` too, any
            other is refused. A user who names ``--out NAME.pt`` to replace it has not named the run's
            NAME.json beside it.

    Raises:
        ValueError: an output is an input, the same file as one, inside an input folder or a filled
            folder, below an existing file, of the other ``kind``, given twice, or exists without
            ``overwrite``, or not named with its ``suffix``, or exists and is not ``ours``; the message
            names the file and the option that chose it.
    """
    outs = [Path(p) for p in paths]
    options = [what] * len(outs) if isinstance(what, str) else list(what)
    suffixes = [suffix] * len(outs) if suffix is None or isinstance(suffix, str) else list(suffix)
    given = [Path(p) for p in inputs if p is not None]
    resolved = {p.resolve(): p for p in given}
    filled = {Path(p).resolve(): Path(p) for p in fills}
    identities = {_identity(p): p for p in given}
    identities.pop(None, None)
    seen: dict[Path, Path] = {}
    existing = []
    for out, option, wanted in zip(outs, options, suffixes, strict=True):
        real = out.resolve()
        _check_outside_inputs(
            out, resolved.get(real) or identities.get(_identity(out)), resolved, filled, option
        )
        if real in seen:
            raise ValueError(f"{seen[real]} and {out} are one file: give each output its own name")
        seen[real] = out
        _check_kind(out, kind, option)
        if wanted is not None and out.suffix.lower() != wanted:
            raise ValueError(f"{option} {out}: the file written is {wanted}; name it NAME{wanted}")
        if _exists(out):
            existing.append((out, option))
    _check_existing(existing, overwrite, overwrite_option, ours)
    return outs


def json_holding(*keys: str, suffix: str = ".json") -> Callable[[Path], bool]:
    """For ``check_outputs(ours=...)``: a path ending in ``suffix`` is this command's when it is a JSON
    object holding every one of ``keys``; a path with another suffix is left to the other checks."""

    def holds(path: Path) -> bool:
        if path.suffix.lower() != suffix:
            return True
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return isinstance(value, dict) and all(k in value for k in keys)

    return holds


def check_output(
    path: str | Path,
    *,
    inputs: Iterable[str | Path] = (),
    overwrite: bool = False,
    what: str = "--out",
    kind: Literal["file", "folder"] | None = "file",
    fills: Iterable[str | Path] = (),
    suffix: str | None = None,
) -> Path:
    """``check_outputs`` for one output, a file unless ``kind`` says otherwise; returns it as a Path."""
    kw = {"inputs": inputs, "overwrite": overwrite, "what": what, "kind": kind, "fills": fills}
    return check_outputs([path], suffix=suffix, **kw)[0]


def check_folder(
    folder: str | Path,
    *,
    inputs: Iterable[str | Path] = (),
    overwrite: bool = False,
    what: str = "OUT",
    staged: bool = False,
) -> Path:
    """Check a folder whose files are not known in advance (a generated dataset): refused when it is or lies
    inside an input, and, without ``overwrite``, when it exists and is not empty (files of the same names
    would be replaced). Returns it as a Path.

    ``staged``: the folder is built beside it and renamed into place (``softfer.io.files.staged_folder``),
    so it must be new or empty, with ``overwrite`` too (it replaces no file), and neither the current
    folder nor one holding it (which a rename cannot replace).
    """
    folder = Path(folder)
    check_outputs([folder], inputs=inputs, overwrite=True, what=what)
    if staged:
        real, here = folder.resolve(), Path.cwd().resolve()
        if real == here or real in here.parents:
            where = "the current folder" if real == here else f"a folder above the current one ({here})"
            raise ValueError(
                f"{what} {folder} is {where}, which a generated set cannot replace: name a new folder (e.g. "
                f"{folder / 'data'}), or run the command from the folder above"
            )
    if folder.is_dir():
        if staged and any(folder.iterdir()):
            raise ValueError(
                f"{folder} exists and is not empty: a generated set is written only into a new or empty "
                f"folder and replaces no file there (--overwrite neither); choose another {what}, or move "
                f"{folder} away first"
            )
        if not overwrite and any(folder.iterdir()):
            raise ValueError(
                f"{folder} is not empty: files in it would be replaced; pass --overwrite to write into it, "
                f"or choose another {what}"
            )
    elif _exists(folder):
        raise ValueError(f"{folder} exists and is not a folder: choose another {what}")
    return folder


def safe_name(text: str) -> str:
    """``text`` as one safe path part: letters, digits and ``._-`` (others become ``_``), never empty, never
    ``.``, ``..`` or a hidden name. For names that come from data (file or clip names)."""
    return _UNSAFE.sub("_", text).lstrip(".") or "_"


def confined(out_dir: str | Path, name: str, *, what: str = "name") -> Path:
    """``out_dir / name`` for a name that comes from a config or data, checked to stay inside ``out_dir``.

    Raises:
        ValueError: ``name`` is empty, ``.`` or ``..``, absolute, holds a path separator or is longer than
            ``NAME_BYTES``, or the path leads outside ``out_dir`` (through a symbolic link); the message
            names ``what`` (e.g. "config name").
    """
    text = str(name)
    if text in ("", ".", "..") or "/" in text or "\\" in text or "\0" in text or os.path.isabs(text):
        raise ValueError(
            f"{what} {text!r} cannot name a folder: use a plain name (letters, digits, '-', '_', '.'; "
            "no '/', no '..')"
        )
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > NAME_BYTES:
        raise ValueError(
            f"{what} {text[:40]!r}... is {size} bytes long: a folder name may have at most {NAME_BYTES}; "
            "choose a shorter one"
        )
    root = Path(out_dir)
    target = root / text
    real_root, real = root.resolve(), target.resolve()
    if real_root not in real.parents:
        raise ValueError(f"{what} {text!r}: {target} leads outside {root} (a symbolic link?); choose another")
    return target
