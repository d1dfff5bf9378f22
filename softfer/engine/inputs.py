"""What a config makes a command read, for the output rule and the data reads: ``config_inputs`` (every
input: no output lands onto or inside one), ``listed_media`` (the media a manifest or list names),
``inputs_for`` (the optional inputs a format's read is given) and ``check_cache_dir``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from softfer.config import DataConfig, ExperimentConfig
from softfer.data.formats import get_format
from softfer.data.formats.base import OPTIONAL_INPUTS, DatasetFormat, check_inputs
from softfer.io.outputs import check_output


def config_inputs(cfg: ExperimentConfig) -> list[Path]:
    """The files and folders ``cfg`` makes a command read: its config files (with the ``base`` chain),
    ``data.root`` (a manifest: its file), ``data.test_root``, the media a manifest or list names
    (``listed_media``), ``data.soft_labels``, ``data.affectnet_stats``, a local ``model.pretrained``. Every
    command that writes passes them to the output rule (``softfer.io.outputs``) as inputs: no output lands
    onto or inside the data (a run folder in a clip folder would become frames of the clip)."""
    d = cfg.data
    pretrained = cfg.model.pretrained if cfg.model.pretrained != "hub" else None
    named = (d.root, d.test_root, d.soft_labels, d.affectnet_stats, pretrained)
    # an empty setting is no path (Path("") is the working folder)
    return [*cfg.source_files, *(Path(p) for p in named if p), *listed_media(d)]


def listed_media(d: DataConfig) -> list[Path]:
    """The media the lists ``d`` reads name, for formats whose root lists media by path (their entry's
    ``listed_media``: a manifest's clip folders, not its folder; Former-DFER rows, which may lead outside
    the root). A list that cannot be read names none (reading the data then refuses it, naming the file)."""
    found: dict[Path, None] = {}
    for fmt, root in dict.fromkeys([(d.format, d.root), (d.test_format or d.format, d.test_root or d.root)]):
        lister = get_format(fmt).listed_media
        if root and lister is not None:
            try:
                found.update(dict.fromkeys(lister(Path(root))))
            except (OSError, ValueError):
                continue
    return list(found)


def check_cache_dir(cfg: ExperimentConfig) -> None:
    """Refuse a ``data.cache_dir`` the frame cache and the FER2013 face cache cannot use: inside the data
    (their files would join the clips), onto an input file, or an existing file (``softfer.io.outputs``).

    Raises:
        ValueError: naming ``data.cache_dir`` and what to do.
    """
    if cfg.data.cache_dir:
        inputs = config_inputs(cfg)
        check_output(cfg.data.cache_dir, inputs=inputs, overwrite=True, what="data.cache_dir", kind="folder")


def inputs_for(data: DataConfig, entry: DatasetFormat) -> dict[str, Any]:
    """The optional inputs (``OPTIONAL_INPUTS``: data.soft_labels, data.affectnet_stats) of ``data`` that
    the format ``entry`` reads, for its ``ReadRequest``. A config's inputs serve its training format or its
    test format (AffectNet trained, Aff-Wild tested with AffectNet's statistics), so one that neither reads
    is refused, once for the config, and each read is given only its own.

    Raises:
        ValueError: an input that neither ``data.format`` nor ``data.test_format`` reads (``check_inputs``).
    """
    formats = [get_format(f) for f in dict.fromkeys([data.format, data.test_format or data.format])]
    given = {key: getattr(data, key) for key in OPTIONAL_INPUTS if getattr(data, key)}
    for key, value in given.items():
        if not any(key in f.reads for f in formats):
            check_inputs(formats[0], {key: value})  # refused, naming the formats that read it
    return {key: value for key, value in given.items() if key in entry.reads}
