"""The dataset formats softfer reads: ``FORMATS``, the one table of format names.

Each reader module holds its reader functions and one ``FORMAT`` entry (``DatasetFormat``: reader, splits,
class vocabulary, media kind, default test split). The config validates ``data.format`` against this
table, the CLI takes its choices from it, the engine and ``data inspect`` look formats up in it. A new
format is one reader module and one name in ``_MODULES``.
"""

from softfer.data.formats import afew, affectnet, affwild, dfew, ferplus, ferv39k, former_dfer, manifest
from softfer.data.formats.afew import AFEW_SPLITS, read_afew
from softfer.data.formats.affectnet import AFFECTNET_SPLITS, read_affectnet
from softfer.data.formats.affwild import AFFWILD_SPLITS, read_affect_stats, read_affwild
from softfer.data.formats.base import DatasetFormat, ReadRequest
from softfer.data.formats.dfew import DFEW_SPLITS, read_dfew, read_votes
from softfer.data.formats.ferv39k import FERV39K_SPLITS, read_ferv39k
from softfer.data.formats.former_dfer import read_former_dfer_list
from softfer.data.formats.manifest import read_manifest

_MODULES = (dfew, ferv39k, afew, affectnet, affwild, manifest, former_dfer, ferplus)


def _table(entries: tuple[DatasetFormat, ...]) -> dict[str, DatasetFormat]:
    table: dict[str, DatasetFormat] = {}
    for entry in entries:
        if entry.name in table:  # two modules claiming one name: refuse rather than keep the last
            raise ValueError(f"dataset format {entry.name!r} is registered twice")
        table[entry.name] = entry
    return table


FORMATS: dict[str, DatasetFormat] = _table(tuple(m.FORMAT for m in _MODULES))

# The largest fold any format comes in (the range of data.fold and --folds).
MAX_FOLD: int = max(max(f.folds, default=1) for f in FORMATS.values())

# The split names each reader with fixed splits accepts (any other raises); derived from FORMATS.
FORMAT_SPLITS: dict[str, tuple[str, ...]] = {n: f.splits for n, f in FORMATS.items() if f.splits is not None}


def get_format(name: str) -> DatasetFormat:
    """The ``FORMATS`` entry of ``name``.

    Raises:
        ValueError: for a name not in ``FORMATS``, listing the known ones.
    """
    if name not in FORMATS:
        raise ValueError(f"unknown data format {name!r}; the formats are {', '.join(FORMATS)}")
    return FORMATS[name]


__all__ = [
    "AFEW_SPLITS",
    "AFFECTNET_SPLITS",
    "AFFWILD_SPLITS",
    "DFEW_SPLITS",
    "FERV39K_SPLITS",
    "FORMATS",
    "FORMAT_SPLITS",
    "MAX_FOLD",
    "DatasetFormat",
    "ReadRequest",
    "get_format",
    "read_afew",
    "read_affect_stats",
    "read_affectnet",
    "read_affwild",
    "read_dfew",
    "read_ferv39k",
    "read_former_dfer_list",
    "read_manifest",
    "read_votes",
]
