"""The one output rule of every softfer command that writes (docs/RELIABILITY.md, "Outputs").

1. Never onto or inside an input: an output whose resolved path (symbolic links followed) is an input, is
   the same file as one (a hard link), or lies inside an input folder is refused, with ``--overwrite`` too.
2. Never replace a file this command did not create: an output that already exists is refused unless the
   user passed ``--overwrite``. Commands check every output they will write before they start working, so
   a refusal costs nothing and leaves everything as it was.
3. Names that come from data or config (a config's ``name``, a media file's path) become paths only through
   ``confined`` (a plain name, refused otherwise, that stays inside the output folder) or ``safe_name``
   (sanitised).

Every refusal is a ValueError (exit 2) naming the file and what to do. Ground floor: no torch here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _identity(path: Path) -> tuple[int, int] | None:
    # (device, inode) of an existing file: two names of one file (a hard link) share it
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _exists(path: Path) -> bool:
    return path.exists() or path.is_symlink()  # a dangling link is replaced too


def check_outputs(
    paths: Iterable[str | Path],
    *,
    inputs: Iterable[str | Path] = (),
    overwrite: bool = False,
    what: str = "--out",
) -> list[Path]:
    """Check, before anything is written, that every one of ``paths`` may be written; returns them.

    Args:
        paths: the files (or folders) the command will write or replace.
        inputs: the files and folders the command reads; nothing is written onto one or inside one.
        overwrite: the user's ``--overwrite``: existing outputs may be replaced (inputs never).
        what: the option that chose the outputs, named in the messages ("--out", "--onnx", "run.out_dir").

    Raises:
        ValueError: an output is an input, the same file as one, inside an input folder, given twice, or
            exists without ``overwrite``; the message names the file and what to do.
    """
    outs = [Path(p) for p in paths]
    given = [Path(p) for p in inputs if p is not None]
    resolved = {p.resolve(): p for p in given}
    identities = {_identity(p): p for p in given}
    identities.pop(None, None)
    seen: dict[Path, Path] = {}
    existing = []
    for out in outs:
        real = out.resolve()
        inp = resolved.get(real) or identities.get(_identity(out))  # type: ignore[arg-type]
        if inp is not None:
            raise ValueError(
                f"{out} is an input of this command ({inp}): writing it would destroy it; "
                f"choose another {what}"
            )
        folder = next((resolved[d] for d in real.parents if d in resolved), None)
        if folder is not None:
            raise ValueError(
                f"{out} lies inside the input folder {folder}, which this command reads: choose another "
                f"{what} outside it"
            )
        if real in seen:
            raise ValueError(f"{seen[real]} and {out} are one file: give each output its own name")
        seen[real] = out
        if _exists(out):
            existing.append(out)
    if existing and not overwrite:
        shown = ", ".join(str(p) for p in existing[:3])
        more = f" and {len(existing) - 3} more" if len(existing) > 3 else ""
        raise ValueError(
            f"{shown}{more}: output already exists (not written by this command); pass --overwrite "
            f"to replace it, or choose another {what}"
        )
    return outs


def check_output(
    path: str | Path, *, inputs: Iterable[str | Path] = (), overwrite: bool = False, what: str = "--out"
) -> Path:
    """``check_outputs`` for one output; returns it as a Path."""
    return check_outputs([path], inputs=inputs, overwrite=overwrite, what=what)[0]


def check_folder(
    folder: str | Path, *, inputs: Iterable[str | Path] = (), overwrite: bool = False, what: str = "OUT"
) -> Path:
    """Check a folder whose files are not known in advance (a generated dataset): refused when it is or lies
    inside an input, and, without ``overwrite``, when it exists and is not empty (files of the same names
    would be replaced). Returns it as a Path."""
    folder = Path(folder)
    check_outputs([folder], inputs=inputs, overwrite=True, what=what)
    if folder.is_dir():
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
        ValueError: ``name`` is empty, ``.`` or ``..``, absolute or holds a path separator, or the path leads
            outside ``out_dir`` (through a symbolic link); the message names ``what`` (e.g. "config name").
    """
    text = str(name)
    if text in ("", ".", "..") or "/" in text or "\\" in text or "\0" in text or os.path.isabs(text):
        raise ValueError(
            f"{what} {text!r} cannot name a folder: use a plain name (letters, digits, '-', '_', '.'; "
            "no '/', no '..')"
        )
    root = Path(out_dir)
    target = root / text
    real_root, real = root.resolve(), target.resolve()
    if real_root not in real.parents:
        raise ValueError(f"{what} {text!r}: {target} leads outside {root} (a symbolic link?); choose another")
    return target
