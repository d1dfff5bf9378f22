"""Readers for the datasets' published layouts; each returns a list of ``Record``."""

from softfer.data.formats.afew import AFEW_SPLITS, read_afew
from softfer.data.formats.affectnet import AFFECTNET_SPLITS, AFFWILD_SPLITS, read_affectnet, read_affwild
from softfer.data.formats.dfew import DFEW_SPLITS, read_dfew, read_votes
from softfer.data.formats.ferv39k import FERV39K_SPLITS, read_ferv39k
from softfer.data.formats.lists import read_former_dfer_list, read_manifest

# The split names each reader accepts (any other raises). A manifest's splits are the values of its
# ``split`` column; a Former-DFER list's split is its file name (``<split>.txt``).
FORMAT_SPLITS: dict[str, tuple[str, ...]] = {
    "dfew": DFEW_SPLITS,
    "ferv39k": FERV39K_SPLITS,
    "afew": AFEW_SPLITS,
    "affectnet": AFFECTNET_SPLITS,
    "affwild": AFFWILD_SPLITS,
}

__all__ = [
    "AFEW_SPLITS",
    "AFFECTNET_SPLITS",
    "AFFWILD_SPLITS",
    "DFEW_SPLITS",
    "FERV39K_SPLITS",
    "FORMAT_SPLITS",
    "read_afew",
    "read_affectnet",
    "read_affwild",
    "read_dfew",
    "read_ferv39k",
    "read_former_dfer_list",
    "read_manifest",
    "read_votes",
]
